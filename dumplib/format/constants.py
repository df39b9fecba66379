"""Codes and flags of the minidump format, as enums with Microsoft's names.

Values come from ``minidumpapiset.h`` / ``winnt.h`` as documented on Microsoft
Learn, and from the vendor extensions written by breakpad, crashpad and wine.
"""

from __future__ import annotations

import enum

__all__ = [
    "MINIDUMP_SIGNATURE",
    "MINIDUMP_VERSION",
    "VENDOR_STREAM_NAMES",
    "Arch",
    "DumpType",
    "ExceptionCode",
    "MemoryProtect",
    "MemoryState",
    "MemoryType",
    "MiscInfoFlags",
    "PlatformId",
    "ProcessorArchitecture",
    "ProductType",
    "StreamType",
    "ThreadInfoDumpFlags",
    "stream_type_name",
]

#: ``'MDMP'`` read as a little-endian 32-bit integer.
MINIDUMP_SIGNATURE = 0x504D444D
#: Low 16 bits of the header's version field.
MINIDUMP_VERSION = 0xA793


class StreamType(enum.IntEnum):
    """MINIDUMP_STREAM_TYPE: the documented stream types."""

    UnusedStream = 0
    ReservedStream0 = 1
    ReservedStream1 = 2
    ThreadListStream = 3
    ModuleListStream = 4
    MemoryListStream = 5
    ExceptionStream = 6
    SystemInfoStream = 7
    ThreadExListStream = 8
    Memory64ListStream = 9
    CommentStreamA = 10
    CommentStreamW = 11
    HandleDataStream = 12
    FunctionTableStream = 13
    UnloadedModuleListStream = 14
    MiscInfoStream = 15
    MemoryInfoListStream = 16
    ThreadInfoListStream = 17
    HandleOperationListStream = 18
    TokenStream = 19
    JavaScriptDataStream = 20
    SystemMemoryInfoStream = 21
    ProcessVmCountersStream = 22
    IptTraceStream = 23
    ThreadNamesStream = 24
    ceStreamNull = 0x8000
    ceStreamSystemInfo = 0x8001
    ceStreamException = 0x8002
    ceStreamModuleList = 0x8003
    ceStreamProcessList = 0x8004
    ceStreamThreadList = 0x8005
    ceStreamThreadContextList = 0x8006
    ceStreamThreadCallStackList = 0x8007
    ceStreamMemoryVirtualList = 0x8008
    ceStreamMemoryPhysicalList = 0x8009
    ceStreamBucketParameters = 0x800A
    ceStreamProcessModuleMap = 0x800B
    ceStreamDiagnosisList = 0x800C
    LastReservedStream = 0xFFFF


#: Names of vendor streams that are not part of Microsoft's enumeration.
VENDOR_STREAM_NAMES: dict[int, str] = {
    0xFFF0: "WineHostLibraries",
    0x47670001: "BreakpadInfo",
    0x47670002: "BreakpadAssertionInfo",
    0x47670003: "LinuxCpuInfo",
    0x47670004: "LinuxProcStatus",
    0x47670005: "LinuxLsbRelease",
    0x47670006: "LinuxCmdLine",
    0x47670007: "LinuxEnviron",
    0x47670008: "LinuxAuxv",
    0x47670009: "LinuxMaps",
    0x4767000A: "LinuxDsoDebug",
    0x4767000B: "LinuxProcStat",
    0x4767000C: "LinuxProcUptime",
    0x4767000D: "LinuxProcLimits",
    0x4767000E: "LinuxProcPssRollup",
    0x43500001: "CrashpadInfo",
    0x4B6B0002: "StabilityReport",
    0x4D7A0001: "MozMacosCrashInfo",
    0x4D7A0002: "MozMacosBootargs",
    0x4D7A0003: "MozLinuxLimits",
}


def stream_type_name(stream_type: int) -> str:
    """Return the name of a stream type, documented, vendor or ``Unknown(0x...)``."""
    try:
        return StreamType(stream_type).name
    except ValueError:
        return VENDOR_STREAM_NAMES.get(stream_type, f"Unknown(0x{stream_type:x})")


class DumpType(enum.IntFlag):
    """MINIDUMP_TYPE: the header's Flags field, what the writer was asked to include."""

    MiniDumpNormal = 0x00000000
    MiniDumpWithDataSegs = 0x00000001
    MiniDumpWithFullMemory = 0x00000002
    MiniDumpWithHandleData = 0x00000004
    MiniDumpFilterMemory = 0x00000008
    MiniDumpScanMemory = 0x00000010
    MiniDumpWithUnloadedModules = 0x00000020
    MiniDumpWithIndirectlyReferencedMemory = 0x00000040
    MiniDumpFilterModulePaths = 0x00000080
    MiniDumpWithProcessThreadData = 0x00000100
    MiniDumpWithPrivateReadWriteMemory = 0x00000200
    MiniDumpWithoutOptionalData = 0x00000400
    MiniDumpWithFullMemoryInfo = 0x00000800
    MiniDumpWithThreadInfo = 0x00001000
    MiniDumpWithCodeSegs = 0x00002000
    MiniDumpWithoutAuxiliaryState = 0x00004000
    MiniDumpWithFullAuxiliaryState = 0x00008000
    MiniDumpWithPrivateWriteCopyMemory = 0x00010000
    MiniDumpIgnoreInaccessibleMemory = 0x00020000
    MiniDumpWithTokenInformation = 0x00040000
    MiniDumpWithModuleHeaders = 0x00080000
    MiniDumpFilterTriage = 0x00100000
    MiniDumpWithAvxXStateContext = 0x00200000
    MiniDumpWithIptTrace = 0x00400000
    MiniDumpScanInaccessiblePartialPages = 0x00800000
    MiniDumpFilterWriteCombinedMemory = 0x01000000

    @classmethod
    def names_of(cls, value: int) -> list[str]:
        """Names of every flag set in ``value`` (unknown bits as ``0x...``)."""
        names = [m.name for m in cls if m.value and value & m.value and m.name]
        known = 0
        for m in cls:
            known |= m.value
        if value & ~known:
            names.append(f"0x{value & ~known:x}")
        return names or ["MiniDumpNormal"]


class ProcessorArchitecture(enum.IntEnum):
    """PROCESSOR_ARCHITECTURE_* values of the SystemInfo stream."""

    INTEL = 0
    MIPS = 1
    ALPHA = 2
    PPC = 3
    SHX = 4
    ARM = 5
    IA64 = 6
    ALPHA64 = 7
    MSIL = 8
    AMD64 = 9
    IA32_ON_WIN64 = 10
    NEUTRAL = 11
    ARM64 = 12
    ARM32_ON_WIN64 = 13
    IA32_ON_ARM64 = 14
    SPARC = 0x8001
    PPC64 = 0x8002
    ARM64_OLD = 0x8003
    MIPS64 = 0x8004
    UNKNOWN = 0xFFFF


class Arch(str, enum.Enum):
    """The CPU architecture of a dump, as a short lower-case string."""

    AMD64 = "amd64"
    X86 = "x86"
    ARM64 = "arm64"
    ARM = "arm"
    IA64 = "ia64"
    MIPS = "mips"
    PPC = "ppc"
    PPC64 = "ppc64"
    SPARC = "sparc"
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def from_processor_architecture(cls, value: int) -> Arch:
        """Map a PROCESSOR_ARCHITECTURE_* value to an :class:`Arch`."""
        return _ARCH_OF.get(value, cls.UNKNOWN)


_ARCH_OF: dict[int, Arch] = {
    0: Arch.X86,
    10: Arch.X86,
    14: Arch.X86,
    9: Arch.AMD64,
    12: Arch.ARM64,
    0x8003: Arch.ARM64,
    5: Arch.ARM,
    13: Arch.ARM,
    6: Arch.IA64,
    1: Arch.MIPS,
    0x8004: Arch.MIPS,
    3: Arch.PPC,
    0x8002: Arch.PPC64,
    0x8001: Arch.SPARC,
}


class PlatformId(enum.IntEnum):
    """VER_PLATFORM_* values; breakpad adds its own for non-Windows systems."""

    WIN32s = 0
    WIN32_WINDOWS = 1
    WIN32_NT = 2
    WIN32_CE = 3
    UNIX = 0x8000
    MAC_OS_X = 0x8101
    IOS = 0x8102
    LINUX = 0x8201
    SOLARIS = 0x8202
    ANDROID = 0x8203
    PS3 = 0x8204
    NACL = 0x8205
    FUCHSIA = 0x8206


class ProductType(enum.IntEnum):
    """VER_NT_* product types."""

    UNKNOWN = 0
    WORKSTATION = 1
    DOMAIN_CONTROLLER = 2
    SERVER = 3


class MiscInfoFlags(enum.IntFlag):
    """MINIDUMP_MISC* bits of MINIDUMP_MISC_INFO.Flags1: which fields are valid."""

    PROCESS_ID = 0x001
    PROCESS_TIMES = 0x002
    PROCESSOR_POWER_INFO = 0x004
    PROCESS_INTEGRITY = 0x010
    PROCESS_EXECUTE_FLAGS = 0x020
    TIMEZONE = 0x040
    PROTECTED_PROCESS = 0x080
    BUILDSTRING = 0x100
    PROCESS_COOKIE = 0x200


class MemoryState(enum.IntFlag):
    """MEM_COMMIT / MEM_RESERVE / MEM_FREE of a memory region."""

    MEM_COMMIT = 0x1000
    MEM_RESERVE = 0x2000
    MEM_FREE = 0x10000


class MemoryType(enum.IntFlag):
    """MEM_PRIVATE / MEM_MAPPED / MEM_IMAGE of a memory region."""

    MEM_PRIVATE = 0x20000
    MEM_MAPPED = 0x40000
    MEM_IMAGE = 0x1000000


class MemoryProtect(enum.IntFlag):
    """PAGE_* protection constants."""

    PAGE_NOACCESS = 0x01
    PAGE_READONLY = 0x02
    PAGE_READWRITE = 0x04
    PAGE_WRITECOPY = 0x08
    PAGE_EXECUTE = 0x10
    PAGE_EXECUTE_READ = 0x20
    PAGE_EXECUTE_READWRITE = 0x40
    PAGE_EXECUTE_WRITECOPY = 0x80
    PAGE_GUARD = 0x100
    PAGE_NOCACHE = 0x200
    PAGE_WRITECOMBINE = 0x400

    @property
    def executable(self) -> bool:
        """True when code may run from pages with this protection."""
        return bool(self & 0xF0)

    @property
    def writable(self) -> bool:
        """True when pages with this protection may be written."""
        return bool(self & 0xCC)


class ThreadInfoDumpFlags(enum.IntFlag):
    """MINIDUMP_THREAD_INFO_* bits of MINIDUMP_THREAD_INFO.DumpFlags."""

    ERROR_THREAD = 0x01
    WRITING_THREAD = 0x02
    EXITED_THREAD = 0x04
    INVALID_INFO = 0x08
    INVALID_CONTEXT = 0x10
    INVALID_TEB = 0x20


class ExceptionCode(enum.IntEnum):
    """Exception codes with their conventional names (winnt.h, minwinbase.h, CLR, MSVC)."""

    EXCEPTION_GUARD_PAGE = 0x80000001
    EXCEPTION_DATATYPE_MISALIGNMENT = 0x80000002
    EXCEPTION_BREAKPOINT = 0x80000003
    EXCEPTION_SINGLE_STEP = 0x80000004
    EXCEPTION_ACCESS_VIOLATION = 0xC0000005
    EXCEPTION_IN_PAGE_ERROR = 0xC0000006
    EXCEPTION_INVALID_HANDLE = 0xC0000008
    EXCEPTION_ILLEGAL_INSTRUCTION = 0xC000001D
    EXCEPTION_NONCONTINUABLE_EXCEPTION = 0xC0000025
    EXCEPTION_INVALID_DISPOSITION = 0xC0000026
    EXCEPTION_ARRAY_BOUNDS_EXCEEDED = 0xC000008C
    EXCEPTION_FLT_DENORMAL_OPERAND = 0xC000008D
    EXCEPTION_FLT_DIVIDE_BY_ZERO = 0xC000008E
    EXCEPTION_FLT_INEXACT_RESULT = 0xC000008F
    EXCEPTION_FLT_INVALID_OPERATION = 0xC0000090
    EXCEPTION_FLT_OVERFLOW = 0xC0000091
    EXCEPTION_FLT_STACK_CHECK = 0xC0000092
    EXCEPTION_FLT_UNDERFLOW = 0xC0000093
    EXCEPTION_INT_DIVIDE_BY_ZERO = 0xC0000094
    EXCEPTION_INT_OVERFLOW = 0xC0000095
    EXCEPTION_PRIV_INSTRUCTION = 0xC0000096
    EXCEPTION_STACK_OVERFLOW = 0xC00000FD
    EXCEPTION_POSSIBLE_DEADLOCK = 0xC0000194
    STATUS_HEAP_CORRUPTION = 0xC0000374
    STATUS_STACK_BUFFER_OVERRUN = 0xC0000409
    STATUS_INVALID_CRUNTIME_PARAMETER = 0xC0000417
    STATUS_ASSERTION_FAILURE = 0xC0000420
    STATUS_FATAL_APP_EXIT = 0x40000015
    DBG_CONTROL_C = 0x40010005
    DBG_PRINTEXCEPTION_C = 0x40010006
    DBG_PRINTEXCEPTION_WIDE_C = 0x4001000A
    MS_VC_EXCEPTION_SET_THREAD_NAME = 0x406D1388
    CPP_EH_EXCEPTION = 0xE06D7363
    CLR_EXCEPTION = 0xE0434352
    CLR_EXCEPTION_V2 = 0xE0434F4D
    RPC_S_SERVER_UNAVAILABLE = 0x000006BA
    RPC_S_CALL_FAILED = 0x000006BE
    STATUS_BREAKPOINT_WOW64 = 0x4000001F
    STATUS_SINGLE_STEP_WOW64 = 0x4000001E

    @classmethod
    def name_of(cls, code: int) -> str | None:
        """The conventional name of an exception code, or None when unknown."""
        try:
            return cls(code).name
        except ValueError:
            return None
