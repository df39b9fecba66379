"""Raw PE/COFF layouts (Microsoft's names) and the codes found in them.

Every fixed-size structure the reader touches is declared here once as a
precompiled little-endian :class:`struct.Struct`, with the field order of
``winnt.h`` in the comment beside it. The enums name the codes; values the
enums do not know are kept as plain ints by the parsers.
"""

from __future__ import annotations

import enum
import struct

__all__ = [
    "DEBUG_DIRECTORY",
    "DOS_HEADER_LFANEW",
    "EXPORT_DIRECTORY",
    "FILE_HEADER",
    "MAX_CHAIN_DEPTH",
    "MAX_DEBUG_ENTRIES",
    "MAX_EXPORTS",
    "MAX_RESOURCE_ENTRIES",
    "MAX_RUNTIME_FUNCTIONS",
    "MAX_SECTIONS",
    "MAX_STRING_LENGTH",
    "MAX_VERSION_RESOURCE",
    "OPTIONAL_HEADER32",
    "OPTIONAL_HEADER64",
    "RESOURCE_DATA_ENTRY",
    "RESOURCE_DIRECTORY",
    "RESOURCE_DIRECTORY_ENTRY",
    "RUNTIME_FUNCTION",
    "SECTION_HEADER",
    "U16",
    "U32",
    "VS_FIXEDFILEINFO",
    "DebugType",
    "DirectoryEntry",
    "DllCharacteristics",
    "FileCharacteristics",
    "Machine",
    "SectionCharacteristics",
    "Subsystem",
]

U16 = struct.Struct("<H")
U32 = struct.Struct("<I")

#: Offset of ``e_lfanew`` (file offset of the NT headers) in IMAGE_DOS_HEADER.
DOS_HEADER_LFANEW = 0x3C

#: IMAGE_FILE_HEADER: Machine, NumberOfSections, TimeDateStamp, PointerToSymbolTable,
#: NumberOfSymbols, SizeOfOptionalHeader, Characteristics.
FILE_HEADER = struct.Struct("<HHIIIHH")

#: IMAGE_OPTIONAL_HEADER32 up to NumberOfRvaAndSizes: Magic, linker version (2 B),
#: SizeOfCode, SizeOfInitializedData, SizeOfUninitializedData, AddressOfEntryPoint,
#: BaseOfCode, BaseOfData, ImageBase, SectionAlignment, FileAlignment, OS/image/subsystem
#: versions (6 H), Win32VersionValue, SizeOfImage, SizeOfHeaders, CheckSum, Subsystem,
#: DllCharacteristics, stack and heap reserve/commit (4 I), LoaderFlags, NumberOfRvaAndSizes.
OPTIONAL_HEADER32 = struct.Struct("<HBBIIIIIIIIIHHHHHHIIIIHHIIIIII")

#: IMAGE_OPTIONAL_HEADER64 up to NumberOfRvaAndSizes: as PE32 without BaseOfData and
#: with 64-bit ImageBase and stack/heap sizes.
OPTIONAL_HEADER64 = struct.Struct("<HBBIIIIIQIIHHHHHHIIIIHHQQQQII")

#: IMAGE_SECTION_HEADER: Name[8], VirtualSize, VirtualAddress, SizeOfRawData,
#: PointerToRawData, PointerToRelocations, PointerToLinenumbers, NumberOfRelocations,
#: NumberOfLinenumbers, Characteristics.
SECTION_HEADER = struct.Struct("<8sIIIIIIHHI")

#: IMAGE_EXPORT_DIRECTORY: Characteristics, TimeDateStamp, MajorVersion, MinorVersion,
#: Name, Base, NumberOfFunctions, NumberOfNames, AddressOfFunctions, AddressOfNames,
#: AddressOfNameOrdinals.
EXPORT_DIRECTORY = struct.Struct("<IIHHIIIIIII")

#: RUNTIME_FUNCTION (AMD64 .pdata entry): BeginAddress, EndAddress, UnwindData.
RUNTIME_FUNCTION = struct.Struct("<III")

#: IMAGE_DEBUG_DIRECTORY: Characteristics, TimeDateStamp, MajorVersion, MinorVersion,
#: Type, SizeOfData, AddressOfRawData, PointerToRawData.
DEBUG_DIRECTORY = struct.Struct("<IIHHIIII")

#: IMAGE_RESOURCE_DIRECTORY: Characteristics, TimeDateStamp, MajorVersion,
#: MinorVersion, NumberOfNamedEntries, NumberOfIdEntries.
RESOURCE_DIRECTORY = struct.Struct("<IIHHHH")

#: IMAGE_RESOURCE_DIRECTORY_ENTRY: Name (or id), OffsetToData (high bit: subdirectory).
RESOURCE_DIRECTORY_ENTRY = struct.Struct("<II")

#: IMAGE_RESOURCE_DATA_ENTRY: OffsetToData (an RVA), Size, CodePage, Reserved.
RESOURCE_DATA_ENTRY = struct.Struct("<IIII")

#: VS_FIXEDFILEINFO: dwSignature, dwStrucVersion, dwFileVersionMS/LS,
#: dwProductVersionMS/LS, dwFileFlagsMask, dwFileFlags, dwFileOS, dwFileType,
#: dwFileSubtype, dwFileDateMS/LS.
VS_FIXEDFILEINFO = struct.Struct("<13I")

# Caps in the spirit of pefile's MAX_*: a header claiming more is corrupt.
#: Most sections an image may declare (the Windows loader accepts 96; pefile allows 2048).
MAX_SECTIONS = 0x800
#: Most export address-table entries (ordinals are 16-bit).
MAX_EXPORTS = 0x10000
#: Most RUNTIME_FUNCTION entries read from one exception directory.
MAX_RUNTIME_FUNCTIONS = 0x100000
#: Most debug directory entries.
MAX_DEBUG_ENTRIES = 256
#: Most entries in one resource directory.
MAX_RESOURCE_ENTRIES = 0x1000
#: Longest chain of chained unwind infos followed.
MAX_CHAIN_DEPTH = 32
#: Longest NUL-terminated name read (export names, forwarders, DLL and PDB names).
MAX_STRING_LENGTH = 0x1000
#: Largest VS_VERSIONINFO resource parsed.
MAX_VERSION_RESOURCE = 0x100000


class Machine(enum.IntEnum):
    """IMAGE_FILE_MACHINE_* values of IMAGE_FILE_HEADER.Machine."""

    UNKNOWN = 0x0
    I386 = 0x14C
    R4000 = 0x166
    ARM = 0x1C0
    ARMNT = 0x1C4
    IA64 = 0x200
    AMD64 = 0x8664
    ARM64 = 0xAA64
    ARM64EC = 0xA641
    ARM64X = 0xA64E


class Subsystem(enum.IntEnum):
    """IMAGE_SUBSYSTEM_* values of the optional header."""

    UNKNOWN = 0
    NATIVE = 1
    WINDOWS_GUI = 2
    WINDOWS_CUI = 3
    OS2_CUI = 5
    POSIX_CUI = 7
    NATIVE_WINDOWS = 8
    WINDOWS_CE_GUI = 9
    EFI_APPLICATION = 10
    EFI_BOOT_SERVICE_DRIVER = 11
    EFI_RUNTIME_DRIVER = 12
    EFI_ROM = 13
    XBOX = 14
    WINDOWS_BOOT_APPLICATION = 16


class FileCharacteristics(enum.IntFlag):
    """IMAGE_FILE_* flags of IMAGE_FILE_HEADER.Characteristics."""

    RELOCS_STRIPPED = 0x0001
    EXECUTABLE_IMAGE = 0x0002
    LINE_NUMS_STRIPPED = 0x0004
    LOCAL_SYMS_STRIPPED = 0x0008
    AGGRESIVE_WS_TRIM = 0x0010
    LARGE_ADDRESS_AWARE = 0x0020
    BYTES_REVERSED_LO = 0x0080
    MACHINE_32BIT = 0x0100
    DEBUG_STRIPPED = 0x0200
    REMOVABLE_RUN_FROM_SWAP = 0x0400
    NET_RUN_FROM_SWAP = 0x0800
    SYSTEM = 0x1000
    DLL = 0x2000
    UP_SYSTEM_ONLY = 0x4000
    BYTES_REVERSED_HI = 0x8000


class DllCharacteristics(enum.IntFlag):
    """IMAGE_DLLCHARACTERISTICS_* flags of the optional header."""

    HIGH_ENTROPY_VA = 0x0020
    DYNAMIC_BASE = 0x0040
    FORCE_INTEGRITY = 0x0080
    NX_COMPAT = 0x0100
    NO_ISOLATION = 0x0200
    NO_SEH = 0x0400
    NO_BIND = 0x0800
    APPCONTAINER = 0x1000
    WDM_DRIVER = 0x2000
    GUARD_CF = 0x4000
    TERMINAL_SERVER_AWARE = 0x8000


class SectionCharacteristics(enum.IntFlag):
    """IMAGE_SCN_* flags of IMAGE_SECTION_HEADER.Characteristics (the common ones)."""

    CNT_CODE = 0x00000020
    CNT_INITIALIZED_DATA = 0x00000040
    CNT_UNINITIALIZED_DATA = 0x00000080
    LNK_INFO = 0x00000200
    LNK_REMOVE = 0x00000800
    LNK_COMDAT = 0x00001000
    GPREL = 0x00008000
    LNK_NRELOC_OVFL = 0x01000000
    MEM_DISCARDABLE = 0x02000000
    MEM_NOT_CACHED = 0x04000000
    MEM_NOT_PAGED = 0x08000000
    MEM_SHARED = 0x10000000
    MEM_EXECUTE = 0x20000000
    MEM_READ = 0x40000000
    MEM_WRITE = 0x80000000


class DirectoryEntry(enum.IntEnum):
    """Indices of IMAGE_OPTIONAL_HEADER.DataDirectory (IMAGE_DIRECTORY_ENTRY_*)."""

    EXPORT = 0
    IMPORT = 1
    RESOURCE = 2
    EXCEPTION = 3
    SECURITY = 4
    BASERELOC = 5
    DEBUG = 6
    ARCHITECTURE = 7
    GLOBALPTR = 8
    TLS = 9
    LOAD_CONFIG = 10
    BOUND_IMPORT = 11
    IAT = 12
    DELAY_IMPORT = 13
    COM_DESCRIPTOR = 14
    RESERVED = 15


class DebugType(enum.IntEnum):
    """IMAGE_DEBUG_TYPE_* values of IMAGE_DEBUG_DIRECTORY.Type."""

    UNKNOWN = 0
    COFF = 1
    CODEVIEW = 2
    FPO = 3
    MISC = 4
    EXCEPTION = 5
    FIXUP = 6
    OMAP_TO_SRC = 7
    OMAP_FROM_SRC = 8
    BORLAND = 9
    RESERVED10 = 10
    CLSID = 11
    VC_FEATURE = 12
    POGO = 13
    ILTCG = 14
    MPX = 15
    REPRO = 16
    EMBEDDED_PORTABLE_PDB = 17
    PDB_CHECKSUM = 19
    EX_DLLCHARACTERISTICS = 20
