"""Minidump on-disk layouts as the builder writes them, declared from Microsoft's headers.

This module deliberately does not import :mod:`dumplib.format`: the builder's
idea of every structure is written down here a second time, from
``minidumpapiset.h`` (which packs its structures to 4 bytes), ``winnt.h`` and
the MINIDUMP_* pages on learn.microsoft.com, so that a wrong layout in the
parser cannot agree with itself in the tests. Every ``struct.Struct`` below
uses little-endian, no-padding format strings, with the padding that the
4-byte packing produces written out by hand, and :data:`EXPECTED_SIZES`
records the documented ``sizeof`` of each so the tests can check them.
"""

from __future__ import annotations

import enum
import re
import struct

__all__ = [
    "EXPECTED_SIZES",
    "MINIDUMP_SIGNATURE",
    "MINIDUMP_VERSION",
    "DumpFlags",
    "MiscInfoFlags",
    "ProcessorArchitecture",
    "StreamType",
    "snake_case",
]

#: ``'MDMP'`` read as a little-endian ULONG32.
MINIDUMP_SIGNATURE = 0x504D444D
#: Low word of ``MINIDUMP_HEADER.Version``.
MINIDUMP_VERSION = 0xA793


class StreamType(enum.IntEnum):
    """``MINIDUMP_STREAM_TYPE`` values the builder can write (plus the unused slot)."""

    UNUSED = 0
    THREAD_LIST = 3
    MODULE_LIST = 4
    MEMORY_LIST = 5
    EXCEPTION = 6
    SYSTEM_INFO = 7
    THREAD_EX_LIST = 8
    MEMORY64_LIST = 9
    COMMENT_A = 10
    COMMENT_W = 11
    HANDLE_DATA = 12
    FUNCTION_TABLE = 13
    UNLOADED_MODULE_LIST = 14
    MISC_INFO = 15
    MEMORY_INFO_LIST = 16
    THREAD_INFO_LIST = 17
    HANDLE_OPERATION_LIST = 18
    TOKEN = 19
    SYSTEM_MEMORY_INFO = 21
    PROCESS_VM_COUNTERS = 22
    THREAD_NAMES = 24


class DumpFlags(enum.IntFlag):
    """``MINIDUMP_TYPE`` bits the builder sets in the header's ``Flags``."""

    NORMAL = 0x00000000
    WITH_DATA_SEGS = 0x00000001
    WITH_FULL_MEMORY = 0x00000002
    WITH_HANDLE_DATA = 0x00000004
    WITH_UNLOADED_MODULES = 0x00000020
    WITH_PROCESS_THREAD_DATA = 0x00000100
    WITH_FULL_MEMORY_INFO = 0x00000800
    WITH_THREAD_INFO = 0x00001000
    WITH_TOKEN_INFORMATION = 0x00040000


class MiscInfoFlags(enum.IntFlag):
    """``MINIDUMP_MISC_INFO.Flags1`` bits: which groups of fields are valid."""

    PROCESS_ID = 0x001
    PROCESS_TIMES = 0x002
    PROCESSOR_POWER_INFO = 0x004
    PROCESS_INTEGRITY = 0x010
    PROCESS_EXECUTE_FLAGS = 0x020
    TIMEZONE = 0x040
    PROTECTED_PROCESS = 0x080
    BUILDSTRING = 0x100
    PROCESS_COOKIE = 0x200


class ProcessorArchitecture(enum.IntEnum):
    """``PROCESSOR_ARCHITECTURE_*`` values for ``MINIDUMP_SYSTEM_INFO``."""

    INTEL = 0
    ARM = 5
    AMD64 = 9
    ARM64 = 12
    ARM64_BREAKPAD = 0x8003


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake_case(name: str) -> str:
    """Return the snake_case spelling of a Microsoft field name.

    Args:
        name: a CamelCase field name such as ``"ProcessCreateTime"`` or ``"CSDVersion"``.

    Returns:
        ``"process_create_time"``, ``"csd_version"``.
    """
    return _CAMEL.sub("_", name).lower()


# --- header and directory -------------------------------------------------------------

#: MINIDUMP_HEADER: Signature, Version (low word) , implementation version (high word),
#: NumberOfStreams, StreamDirectoryRva, CheckSum, TimeDateStamp, Flags (ULONG64).
HEADER = struct.Struct("<IHHIIIIQ")
#: MINIDUMP_DIRECTORY: StreamType, Location.DataSize, Location.Rva.
DIRECTORY = struct.Struct("<III")
#: MINIDUMP_LOCATION_DESCRIPTOR: DataSize, Rva.
LOCATION = struct.Struct("<II")
#: MINIDUMP_MEMORY_DESCRIPTOR: StartOfMemoryRange, Memory.DataSize, Memory.Rva.
MEMORY_DESCRIPTOR = struct.Struct("<QII")
#: MINIDUMP_MEMORY_DESCRIPTOR64: StartOfMemoryRange, DataSize.
MEMORY_DESCRIPTOR64 = struct.Struct("<QQ")
#: MINIDUMP_MEMORY64_LIST header: NumberOfMemoryRanges, BaseRva (both ULONG64).
MEMORY64_LIST = struct.Struct("<QQ")
U32 = struct.Struct("<I")

# --- threads --------------------------------------------------------------------------

#: MINIDUMP_THREAD: ThreadId, SuspendCount, PriorityClass, Priority, Teb,
#: Stack (MEMORY_DESCRIPTOR), ThreadContext (LOCATION_DESCRIPTOR).
THREAD = struct.Struct("<IIIIQ" "QII" "II")
#: MINIDUMP_THREAD_EX: MINIDUMP_THREAD followed by BackingStore (MEMORY_DESCRIPTOR).
THREAD_EX = struct.Struct("<IIIIQ" "QII" "II" "QII")
#: MINIDUMP_THREAD_INFO_LIST: SizeOfHeader, SizeOfEntry, NumberOfEntries.
THREAD_INFO_LIST = struct.Struct("<III")
#: MINIDUMP_THREAD_INFO: ThreadId, DumpFlags, DumpError, ExitStatus, CreateTime, ExitTime,
#: KernelTime, UserTime, StartAddress, Affinity.
THREAD_INFO = struct.Struct("<IIIIQQQQQQ")
#: MINIDUMP_THREAD_NAME: ThreadId, RvaOfThreadName (RVA64), packed to 4.
THREAD_NAME = struct.Struct("<IQ")

# --- modules --------------------------------------------------------------------------

#: VS_FIXEDFILEINFO: 13 DWORDs, dwSignature first.
VS_FIXEDFILEINFO = struct.Struct("<13I")
VS_FIXEDFILEINFO_SIGNATURE = 0xFEEF04BD
#: MINIDUMP_MODULE: BaseOfImage, SizeOfImage, CheckSum, TimeDateStamp, ModuleNameRva,
#: VersionInfo (52 bytes), CvRecord, MiscRecord, Reserved0, Reserved1.
MODULE = struct.Struct("<QIIII" "52s" "II" "II" "QQ")
#: MINIDUMP_UNLOADED_MODULE_LIST: SizeOfHeader, SizeOfEntry, NumberOfEntries.
UNLOADED_MODULE_LIST = struct.Struct("<III")
#: MINIDUMP_UNLOADED_MODULE: BaseOfImage, SizeOfImage, CheckSum, TimeDateStamp, ModuleNameRva.
UNLOADED_MODULE = struct.Struct("<QIIII")
#: CV_INFO_PDB70 head: CvSignature 'RSDS', Signature (GUID, 16 bytes), Age; then the name.
CV_PDB70 = struct.Struct("<I16sI")
CV_PDB70_SIGNATURE = 0x53445352  # 'RSDS'
#: CV_INFO_PDB20 head: CvHeader.Signature 'NB10', CvHeader.Offset, Signature, Age; then the name.
CV_PDB20 = struct.Struct("<IIII")
CV_PDB20_SIGNATURE = 0x3031424E  # 'NB10'

# --- exception ------------------------------------------------------------------------

EXCEPTION_MAXIMUM_PARAMETERS = 15
#: MINIDUMP_EXCEPTION_STREAM: ThreadId, __alignment, then MINIDUMP_EXCEPTION: ExceptionCode,
#: ExceptionFlags, ExceptionRecord, ExceptionAddress, NumberParameters, __unusedAlignment,
#: ExceptionInformation[15]; then ThreadContext (LOCATION_DESCRIPTOR).
EXCEPTION_STREAM = struct.Struct("<II" "IIQQII15Q" "II")
#: EXCEPTION_RECORD64 as it lies in a 64-bit process's memory (same shape as MINIDUMP_EXCEPTION).
EXCEPTION_RECORD64 = struct.Struct("<IIQQII15Q")
#: EXCEPTION_RECORD32 as it lies in a 32-bit process's memory.
EXCEPTION_RECORD32 = struct.Struct("<IIIII15I")

# --- system information -----------------------------------------------------------------

#: MINIDUMP_SYSTEM_INFO up to the CPU union: ProcessorArchitecture, ProcessorLevel,
#: ProcessorRevision, NumberOfProcessors, ProductType, MajorVersion, MinorVersion, BuildNumber,
#: PlatformId, CSDVersionRva, SuiteMask, Reserved2.
SYSTEM_INFO = struct.Struct("<HHHBBIIIIIHH")
#: CPU_INFORMATION.X86CpuInfo: VendorId[3], VersionInformation, FeatureInformation,
#: AMDExtendedCpuFeatures.
CPU_X86 = struct.Struct("<3IIII")
#: CPU_INFORMATION.OtherCpuInfo: ProcessorFeatures[2].
CPU_OTHER = struct.Struct("<QQ")

#: MINIDUMP_MISC_INFO(_2) leading fields: 11 ULONG32s (the first 6 form MINIDUMP_MISC_INFO).
MISC_HEAD = struct.Struct("<11I")
#: The MINIDUMP_MISC_INFO_3 additions before TimeZone: ProcessIntegrityLevel,
#: ProcessExecuteFlags, ProtectedProcess, TimeZoneId.
MISC3_HEAD = struct.Struct("<4I")
#: SYSTEMTIME: wYear, wMonth, wDayOfWeek, wDay, wHour, wMinute, wSecond, wMilliseconds.
SYSTEMTIME = struct.Struct("<8H")
#: TIME_ZONE_INFORMATION: Bias, StandardName[32], StandardDate, StandardBias, DaylightName[32],
#: DaylightDate, DaylightBias.
TIME_ZONE_INFORMATION = struct.Struct("<i64s16si64s16si")
#: XSTATE_CONFIG_FEATURE_MSC_INFO head: SizeOfInfo, ContextSize, EnabledFeatures;
#: then XSTATE_FEATURE Features[64] (Offset, Size).
XSTATE_CONFIG_HEAD = struct.Struct("<IIQ")
XSTATE_FEATURE = struct.Struct("<II")
MAXIMUM_XSTATE_FEATURES = 64
MISC_INFO_SIZES = {1: 24, 2: 44, 3: 232, 4: 832, 5: 1364}

# --- memory information ---------------------------------------------------------------

#: MINIDUMP_MEMORY_INFO_LIST: SizeOfHeader, SizeOfEntry, NumberOfEntries (ULONG64).
MEMORY_INFO_LIST = struct.Struct("<IIQ")
#: MINIDUMP_MEMORY_INFO: BaseAddress, AllocationBase, AllocationProtect, __alignment1,
#: RegionSize, State, Protect, Type, __alignment2.
MEMORY_INFO = struct.Struct("<QQIIQIIII")

# --- handles --------------------------------------------------------------------------

#: MINIDUMP_HANDLE_DATA_STREAM: SizeOfHeader, SizeOfDescriptor, NumberOfDescriptors, Reserved.
HANDLE_DATA = struct.Struct("<IIII")
#: MINIDUMP_HANDLE_DESCRIPTOR: Handle, TypeNameRva, ObjectNameRva, Attributes, GrantedAccess,
#: HandleCount, PointerCount.
HANDLE_DESCRIPTOR = struct.Struct("<QIIIIII")
#: MINIDUMP_HANDLE_DESCRIPTOR_2: the above plus ObjectInfoRva, Reserved0.
HANDLE_DESCRIPTOR_2 = struct.Struct("<QIIIIIIII")
#: MINIDUMP_HANDLE_OBJECT_INFORMATION head: NextInfoRva, InfoType, SizeOfInfo.
HANDLE_OBJECT_INFORMATION = struct.Struct("<III")
#: MINIDUMP_HANDLE_OPERATION_LIST: SizeOfHeader, SizeOfEntry, NumberOfEntries, Reserved.
HANDLE_OPERATION_LIST = struct.Struct("<IIII")
AVRF_MAX_TRACES = 32
#: AVRF_HANDLE_OPERATION: Handle, ProcessId, ThreadId, OperationType, Spare0, then
#: AVRF_BACKTRACE_INFORMATION: Depth, Index, ReturnAddresses[32].
AVRF_HANDLE_OPERATION = struct.Struct("<QIIII" "II32Q")

# --- function tables ------------------------------------------------------------------

#: MINIDUMP_FUNCTION_TABLE_STREAM: SizeOfHeader, SizeOfDescriptor, SizeOfNativeDescriptor,
#: SizeOfFunctionEntry, NumberOfDescriptors, SizeOfAlignPad.
FUNCTION_TABLE_STREAM = struct.Struct("<6I")
#: MINIDUMP_FUNCTION_TABLE_DESCRIPTOR: MinimumAddress, MaximumAddress, BaseAddress,
#: EntryCount, SizeOfAlignPad.
FUNCTION_TABLE_DESCRIPTOR = struct.Struct("<QQQII")
#: AMD64 DYNAMIC_FUNCTION_TABLE (winnt.h): ListEntry (Flink, Blink), FunctionTable, TimeStamp,
#: MinimumAddress, MaximumAddress, BaseAddress, Callback, Context, OutOfProcessCallbackDll,
#: Type, EntryCount.
DYNAMIC_FUNCTION_TABLE_AMD64 = struct.Struct("<QQQQQQQQQQII")
#: AMD64 RUNTIME_FUNCTION: BeginAddress, EndAddress, UnwindInfoAddress (image RVAs).
RUNTIME_FUNCTION_AMD64 = struct.Struct("<III")
#: ARM64 RUNTIME_FUNCTION (IMAGE_ARM64_RUNTIME_FUNCTION_ENTRY): BeginAddress, UnwindData.
RUNTIME_FUNCTION_ARM64 = struct.Struct("<II")

# --- token, system memory, VM counters ------------------------------------------------

#: MINIDUMP_TOKEN_INFO_LIST: TokenListSize, TokenListEntries, ListHeaderSize, ElementHeaderSize.
TOKEN_INFO_LIST = struct.Struct("<IIII")
#: MINIDUMP_TOKEN_INFO_HEADER: TokenSize (including this header), TokenId, TokenHandle.
TOKEN_INFO_HEADER = struct.Struct("<IIQ")

#: (field name, struct code) of MINIDUMP_SYSTEM_MEMORY_INFO_1, in order, with the four
#: nested structures flattened (BasicInfo, FileCacheInfo, BasicPerfInfo, PerfInfo). Field
#: names of the nested structures are prefixed with the structure's member name in
#: snake_case keyword arguments (e.g. ``basic_info_page_size``).
_PERF_ULONGS = (
    "IoReadOperationCount IoWriteOperationCount IoOtherOperationCount AvailablePages "
    "CommittedPages CommitLimit PeakCommitment PageFaultCount CopyOnWriteCount TransitionCount "
    "CacheTransitionCount DemandZeroCount PageReadCount PageReadIoCount CacheReadCount "
    "CacheIoCount DirtyPagesWriteCount DirtyWriteIoCount MappedPagesWriteCount "
    "MappedWriteIoCount PagedPoolPages NonPagedPoolPages PagedPoolAllocs PagedPoolFrees "
    "NonPagedPoolAllocs NonPagedPoolFrees FreeSystemPtes ResidentSystemCodePage "
    "TotalSystemDriverPages TotalSystemCodePages NonPagedPoolLookasideHits "
    "PagedPoolLookasideHits AvailablePagedPoolPages ResidentSystemCachePage "
    "ResidentPagedPoolPage ResidentSystemDriverPage CcFastReadNoWait CcFastReadWait "
    "CcFastReadResourceMiss CcFastReadNotPossible CcFastMdlReadNoWait CcFastMdlReadWait "
    "CcFastMdlReadResourceMiss CcFastMdlReadNotPossible CcMapDataNoWait CcMapDataWait "
    "CcMapDataNoWaitMiss CcMapDataWaitMiss CcPinMappedDataCount CcPinReadNoWait CcPinReadWait "
    "CcPinReadNoWaitMiss CcPinReadWaitMiss CcCopyReadNoWait CcCopyReadWait "
    "CcCopyReadNoWaitMiss CcCopyReadWaitMiss CcMdlReadNoWait CcMdlReadWait "
    "CcMdlReadNoWaitMiss CcMdlReadWaitMiss CcReadAheadIos CcLazyWriteIos CcLazyWritePages "
    "CcDataFlushes CcDataPages ContextSwitches FirstLevelTbFills SecondLevelTbFills SystemCalls"
).split()

SYSTEM_MEMORY_INFO_1_FIELDS: tuple[tuple[str, str], ...] = (
    ("Revision", "H"),
    ("Flags", "H"),
    # MINIDUMP_SYSTEM_BASIC_INFORMATION
    *((f"BasicInfo{n}", "I") for n in (
        "TimerResolution", "PageSize", "NumberOfPhysicalPages", "LowestPhysicalPageNumber",
        "HighestPhysicalPageNumber", "AllocationGranularity")),
    *((f"BasicInfo{n}", "Q") for n in (
        "MinimumUserModeAddress", "MaximumUserModeAddress", "ActiveProcessorsAffinityMask")),
    ("BasicInfoNumberOfProcessors", "I"),
    # MINIDUMP_SYSTEM_FILECACHE_INFORMATION
    ("FileCacheInfoCurrentSize", "Q"),
    ("FileCacheInfoPeakSize", "Q"),
    ("FileCacheInfoPageFaultCount", "I"),
    ("FileCacheInfoMinimumWorkingSet", "Q"),
    ("FileCacheInfoMaximumWorkingSet", "Q"),
    ("FileCacheInfoCurrentSizeIncludingTransitionInPages", "Q"),
    ("FileCacheInfoPeakSizeIncludingTransitionInPages", "Q"),
    ("FileCacheInfoTransitionRePurposeCount", "I"),
    ("FileCacheInfoFlags", "I"),
    # MINIDUMP_SYSTEM_BASIC_PERFORMANCE_INFORMATION
    *((f"BasicPerfInfo{n}", "Q") for n in (
        "AvailablePages", "CommittedPages", "CommitLimit", "PeakCommitment")),
    # MINIDUMP_SYSTEM_PERFORMANCE_INFORMATION
    *((f"PerfInfo{n}", "Q") for n in (
        "IdleProcessTime", "IoReadTransferCount", "IoWriteTransferCount",
        "IoOtherTransferCount")),
    *((f"PerfInfo{n}", "I") for n in _PERF_ULONGS),
    ("PerfInfoCcTotalDirtyPages", "Q"),
    ("PerfInfoCcDirtyPageThreshold", "Q"),
    ("PerfInfoResidentAvailablePages", "q"),
    ("PerfInfoSharedCommittedPages", "Q"),
)
SYSTEM_MEMORY_INFO_1 = struct.Struct("<" + "".join(c for _, c in SYSTEM_MEMORY_INFO_1_FIELDS))

#: MINIDUMP_PROCESS_VM_COUNTERS_1 fields after Revision (u16, then 2 bytes of 4-packing pad).
VM_COUNTERS_1_FIELDS = (
    "PageFaultCount PeakWorkingSetSize WorkingSetSize QuotaPeakPagedPoolUsage "
    "QuotaPagedPoolUsage QuotaPeakNonPagedPoolUsage QuotaNonPagedPoolUsage PagefileUsage "
    "PeakPagefileUsage PrivateUsage"
).split()
VM_COUNTERS_1 = struct.Struct("<H2xI9Q")
#: MINIDUMP_PROCESS_VM_COUNTERS_2 fields after Revision and Flags.
VM_COUNTERS_2_FIELDS = (
    "PageFaultCount PeakWorkingSetSize WorkingSetSize QuotaPeakPagedPoolUsage "
    "QuotaPagedPoolUsage QuotaPeakNonPagedPoolUsage QuotaNonPagedPoolUsage PagefileUsage "
    "PeakPagefileUsage PeakVirtualSize VirtualSize PrivateUsage PrivateWorkingSetSize "
    "SharedCommitUsage JobSharedCommitUsage JobPrivateCommitUsage JobPeakPrivateCommitUsage "
    "JobPrivateCommitLimit JobTotalCommitLimit"
).split()
VM_COUNTERS_2 = struct.Struct("<HHI18Q")
#: MINIDUMP_PROCESS_VM_COUNTERS_* flag bits (for revision 2's Flags).
VM_COUNTERS_FLAG_BASE = 0x0001
VM_COUNTERS_FLAG_VIRTUALSIZE = 0x0002
VM_COUNTERS_FLAG_EX = 0x0004
VM_COUNTERS_FLAG_EX2 = 0x0008
VM_COUNTERS_FLAG_JOB = 0x0010

#: Documented ``sizeof`` of each structure, checked by the tests against the Structs above.
EXPECTED_SIZES: dict[str, tuple[struct.Struct, int]] = {
    "MINIDUMP_HEADER": (HEADER, 32),
    "MINIDUMP_DIRECTORY": (DIRECTORY, 12),
    "MINIDUMP_MEMORY_DESCRIPTOR": (MEMORY_DESCRIPTOR, 16),
    "MINIDUMP_MEMORY_DESCRIPTOR64": (MEMORY_DESCRIPTOR64, 16),
    "MINIDUMP_THREAD": (THREAD, 48),
    "MINIDUMP_THREAD_EX": (THREAD_EX, 64),
    "MINIDUMP_THREAD_INFO": (THREAD_INFO, 64),
    "MINIDUMP_THREAD_NAME": (THREAD_NAME, 12),
    "VS_FIXEDFILEINFO": (VS_FIXEDFILEINFO, 52),
    "MINIDUMP_MODULE": (MODULE, 108),
    "MINIDUMP_UNLOADED_MODULE": (UNLOADED_MODULE, 24),
    "MINIDUMP_EXCEPTION_STREAM": (EXCEPTION_STREAM, 168),
    "EXCEPTION_RECORD32": (EXCEPTION_RECORD32, 80),
    "MINIDUMP_SYSTEM_INFO (without CPU_INFORMATION)": (SYSTEM_INFO, 32),
    "CPU_INFORMATION": (CPU_X86, 24),
    "TIME_ZONE_INFORMATION": (TIME_ZONE_INFORMATION, 172),
    "MINIDUMP_MEMORY_INFO_LIST": (MEMORY_INFO_LIST, 16),
    "MINIDUMP_MEMORY_INFO": (MEMORY_INFO, 48),
    "MINIDUMP_HANDLE_DESCRIPTOR": (HANDLE_DESCRIPTOR, 32),
    "MINIDUMP_HANDLE_DESCRIPTOR_2": (HANDLE_DESCRIPTOR_2, 40),
    "AVRF_HANDLE_OPERATION": (AVRF_HANDLE_OPERATION, 288),
    "MINIDUMP_FUNCTION_TABLE_STREAM": (FUNCTION_TABLE_STREAM, 24),
    "MINIDUMP_FUNCTION_TABLE_DESCRIPTOR": (FUNCTION_TABLE_DESCRIPTOR, 32),
    "MINIDUMP_TOKEN_INFO_HEADER": (TOKEN_INFO_HEADER, 16),
    "MINIDUMP_SYSTEM_MEMORY_INFO_1": (SYSTEM_MEMORY_INFO_1, 492),
    "MINIDUMP_PROCESS_VM_COUNTERS_1": (VM_COUNTERS_1, 80),
    "MINIDUMP_PROCESS_VM_COUNTERS_2": (VM_COUNTERS_2, 152),
}
