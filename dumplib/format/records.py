"""Typed, frozen records of the on-disk minidump structures.

Field names are the snake_case of Microsoft's names in ``minidumpapiset.h``
(``SuspendCount`` -> ``suspend_count``), so the documentation applies directly.
These are the raw records; the model layer wraps them in friendlier objects.
"""

from __future__ import annotations

from dumplib._exc import TYPE_CHECKING

#: mypy reads the standard decorator; at run time dumplib._record builds the same
#: frozen records without compiling six methods each (issue #16)
if TYPE_CHECKING:
    from dataclasses import dataclass
else:
    from dumplib._record import dataclass

if TYPE_CHECKING:  # uuid (and the platform module it loads) only when a GUID is parsed
    import uuid

__all__ = [
    "CodeViewElf",
    "CodeViewPdb20",
    "CodeViewPdb70",
    "CodeViewRecord",
    "CpuInformation",
    "DirectoryEntry",
    "ExceptionRecord",
    "ExceptionStreamRecord",
    "FixedFileInfo",
    "FunctionTableDescriptor",
    "HandleDescriptor",
    "HandleObjectInfo",
    "HandleOperation",
    "LocationDescriptor",
    "MemoryDescriptor",
    "MemoryInfo",
    "MinidumpHeader",
    "MiscInfo",
    "MiscRecord",
    "ModuleRecord",
    "ProcessVmCounters",
    "SystemInfo",
    "SystemMemoryInfo",
    "SystemTime",
    "ThreadInfo",
    "ThreadName",
    "ThreadRecord",
    "TimeZoneInformation",
    "TokenInfo",
    "UnloadedModuleRecord",
    "XStateConfig",
]


@dataclass(frozen=True, slots=True)
class MinidumpHeader:
    """MINIDUMP_HEADER, the first 32 bytes of every minidump."""

    signature: int
    version: int
    number_of_streams: int
    stream_directory_rva: int
    checksum: int
    time_date_stamp: int
    flags: int


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """MINIDUMP_DIRECTORY: one stream's type and location.

    Attributes:
        index: position in the directory.
        name: the stream type's name (documented, vendor or ``Unknown(0x...)``).
    """

    index: int
    stream_type: int
    data_size: int
    rva: int
    name: str


@dataclass(frozen=True, slots=True)
class LocationDescriptor:
    """MINIDUMP_LOCATION_DESCRIPTOR: a (size, file offset) pair."""

    data_size: int
    rva: int


@dataclass(frozen=True, slots=True)
class MemoryDescriptor:
    """MINIDUMP_MEMORY_DESCRIPTOR: captured memory at a virtual address."""

    start_of_memory_range: int
    data_size: int
    rva: int


@dataclass(frozen=True, slots=True)
class ThreadRecord:
    """MINIDUMP_THREAD (or MINIDUMP_THREAD_EX when ``backing_store`` is set)."""

    thread_id: int
    suspend_count: int
    priority_class: int
    priority: int
    teb: int
    stack: MemoryDescriptor
    thread_context: LocationDescriptor
    backing_store: MemoryDescriptor | None = None


@dataclass(frozen=True, slots=True)
class FixedFileInfo:
    """VS_FIXEDFILEINFO: the binary part of a version resource."""

    signature: int
    struc_version: int
    file_version_ms: int
    file_version_ls: int
    product_version_ms: int
    product_version_ls: int
    file_flags_mask: int
    file_flags: int
    file_os: int
    file_type: int
    file_subtype: int
    file_date_ms: int
    file_date_ls: int

    #: The value of ``signature`` in a valid record.
    SIGNATURE = 0xFEEF04BD

    @property
    def valid(self) -> bool:
        """True when the record carries the VS_FIXEDFILEINFO signature."""
        return self.signature == self.SIGNATURE

    @property
    def file_version(self) -> tuple[int, int, int, int]:
        """The file version as four 16-bit parts."""
        ms, ls = self.file_version_ms, self.file_version_ls
        return (ms >> 16, ms & 0xFFFF, ls >> 16, ls & 0xFFFF)

    @property
    def product_version(self) -> tuple[int, int, int, int]:
        """The product version as four 16-bit parts."""
        ms, ls = self.product_version_ms, self.product_version_ls
        return (ms >> 16, ms & 0xFFFF, ls >> 16, ls & 0xFFFF)


@dataclass(frozen=True, slots=True)
class CodeViewPdb70:
    """A CodeView 'RSDS' record: the PDB 7.0 identity of an image."""

    guid: uuid.UUID
    age: int
    pdb_name: str

    @property
    def guid_hex(self) -> str:
        """The GUID as symbol stores spell it: 32 upper-case hex digits, no dashes."""
        return self.guid.hex.upper()

    @property
    def store_key(self) -> str:
        """The symbol-store directory key: GUID followed by the age in hex."""
        return f"{self.guid_hex}{self.age:X}"


@dataclass(frozen=True, slots=True)
class CodeViewPdb20:
    """A CodeView 'NB10' record: the PDB 2.0 identity of an image."""

    offset: int
    signature: int
    age: int
    pdb_name: str

    @property
    def store_key(self) -> str:
        """The symbol-store directory key: signature then age, in hex."""
        return f"{self.signature:08X}{self.age:X}"


@dataclass(frozen=True, slots=True)
class CodeViewElf:
    """A breakpad/crashpad CodeView 'BpEL' record: an ELF image's build id.

    Breakpad's debug id of an ELF file is the first 16 bytes of the build id
    (zero-padded) read as a GUID (little-endian fields), with age 0.
    """

    build_id: bytes

    @property
    def guid(self) -> uuid.UUID:
        """The GUID breakpad derives from the build id."""
        import uuid

        return uuid.UUID(bytes_le=self.build_id[:16].ljust(16, b"\0"))

    @property
    def debug_id(self) -> str:
        """Breakpad's debug id: the GUID, upper-case, then the age 0."""
        return self.guid.hex.upper() + "0"

    @property
    def code_id(self) -> str:
        """The build id in lower-case hex, as breakpad and crashpad spell a code id."""
        return self.build_id.hex()


#: Any decoded CodeView record.
CodeViewRecord = CodeViewPdb70 | CodeViewPdb20 | CodeViewElf


@dataclass(frozen=True, slots=True)
class MiscRecord:
    """IMAGE_DEBUG_MISC: the legacy misc debug record of a module."""

    data_type: int
    length: int
    unicode: bool
    data: bytes


@dataclass(frozen=True, slots=True)
class ModuleRecord:
    """MINIDUMP_MODULE with its name and debug records resolved.

    ``cv_record`` holds the raw CodeView bytes; ``codeview`` the decoded record
    when its signature is known.
    """

    base_of_image: int
    size_of_image: int
    checksum: int
    time_date_stamp: int
    module_name: str
    version_info: FixedFileInfo
    cv_record: bytes
    codeview: CodeViewRecord | None
    misc_record: MiscRecord | None


@dataclass(frozen=True, slots=True)
class UnloadedModuleRecord:
    """MINIDUMP_UNLOADED_MODULE with its name resolved."""

    base_of_image: int
    size_of_image: int
    checksum: int
    time_date_stamp: int
    module_name: str


@dataclass(frozen=True, slots=True)
class ExceptionRecord:
    """MINIDUMP_EXCEPTION (the 64-bit EXCEPTION_RECORD)."""

    exception_code: int
    exception_flags: int
    exception_record: int
    exception_address: int
    number_parameters: int
    exception_information: tuple[int, ...]

    @property
    def parameters(self) -> tuple[int, ...]:
        """The first ``number_parameters`` entries of ``exception_information``."""
        return self.exception_information[: min(self.number_parameters, 15)]


@dataclass(frozen=True, slots=True)
class ExceptionStreamRecord:
    """MINIDUMP_EXCEPTION_STREAM."""

    thread_id: int
    exception_record: ExceptionRecord
    thread_context: LocationDescriptor


@dataclass(frozen=True, slots=True)
class CpuInformation:
    """CPU_INFORMATION: vendor/version/feature words (x86) or feature bits (others)."""

    vendor_id: str | None
    version_information: int | None
    feature_information: int | None
    amd_extended_cpu_features: int | None
    processor_features: tuple[int, int]


@dataclass(frozen=True, slots=True)
class SystemInfo:
    """MINIDUMP_SYSTEM_INFO with the CSD version string resolved."""

    processor_architecture: int
    processor_level: int
    processor_revision: int
    number_of_processors: int
    product_type: int
    major_version: int
    minor_version: int
    build_number: int
    platform_id: int
    csd_version: str
    suite_mask: int
    cpu: CpuInformation


@dataclass(frozen=True, slots=True)
class SystemTime:
    """SYSTEMTIME."""

    year: int
    month: int
    day_of_week: int
    day: int
    hour: int
    minute: int
    second: int
    milliseconds: int


@dataclass(frozen=True, slots=True)
class TimeZoneInformation:
    """TIME_ZONE_INFORMATION."""

    bias: int
    standard_name: str
    standard_date: SystemTime
    standard_bias: int
    daylight_name: str
    daylight_date: SystemTime
    daylight_bias: int


@dataclass(frozen=True, slots=True)
class XStateConfig:
    """XSTATE_CONFIG_FEATURE_MSC_INFO: the extended-state layout of contexts."""

    size_of_info: int
    context_size: int
    enabled_features: int
    features: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class MiscInfo:
    """MINIDUMP_MISC_INFO levels 1 to 5; fields of higher levels are None when absent.

    ``flags1`` says which fields are valid (see ``MiscInfoFlags``); ``level`` is
    1..5 from ``size_of_info``.
    """

    size_of_info: int
    level: int
    flags1: int
    process_id: int
    process_create_time: int
    process_user_time: int
    process_kernel_time: int
    processor_max_mhz: int | None = None
    processor_current_mhz: int | None = None
    processor_mhz_limit: int | None = None
    processor_max_idle_state: int | None = None
    processor_current_idle_state: int | None = None
    process_integrity_level: int | None = None
    process_execute_flags: int | None = None
    protected_process: int | None = None
    time_zone_id: int | None = None
    time_zone: TimeZoneInformation | None = None
    build_string: str | None = None
    dbg_bld_str: str | None = None
    xstate_data: XStateConfig | None = None
    process_cookie: int | None = None


@dataclass(frozen=True, slots=True)
class MemoryInfo:
    """MINIDUMP_MEMORY_INFO: one region of the process's address space."""

    base_address: int
    allocation_base: int
    allocation_protect: int
    region_size: int
    state: int
    protect: int
    type: int

    @property
    def end(self) -> int:
        """First address after the region."""
        return self.base_address + self.region_size


@dataclass(frozen=True, slots=True)
class ThreadInfo:
    """MINIDUMP_THREAD_INFO: times, start address and state of a thread."""

    thread_id: int
    dump_flags: int
    dump_error: int
    exit_status: int
    create_time: int
    exit_time: int
    kernel_time: int
    user_time: int
    start_address: int
    affinity: int


@dataclass(frozen=True, slots=True)
class HandleObjectInfo:
    """MINIDUMP_HANDLE_OBJECT_INFORMATION: one typed blob attached to a handle."""

    info_type: int
    data: bytes


@dataclass(frozen=True, slots=True)
class HandleDescriptor:
    """MINIDUMP_HANDLE_DESCRIPTOR(_2) with its type and object names resolved."""

    handle: int
    type_name: str | None
    object_name: str | None
    attributes: int
    granted_access: int
    handle_count: int
    pointer_count: int
    object_info: tuple[HandleObjectInfo, ...] = ()


@dataclass(frozen=True, slots=True)
class HandleOperation:
    """AVRF_HANDLE_OPERATION: an application-verifier handle trace entry.

    ``back_trace`` holds the first ``Depth`` return addresses of the trace.
    """

    handle: int
    process_id: int
    thread_id: int
    operation_type: int
    back_trace: tuple[int, ...]
    back_trace_index: int = 0


@dataclass(frozen=True, slots=True)
class FunctionTableDescriptor:
    """MINIDUMP_FUNCTION_TABLE_DESCRIPTOR with its native descriptor and entries.

    ``entries`` holds the raw function-table entries (RUNTIME_FUNCTION on AMD64,
    ``size_of_function_entry`` bytes each), relative to ``base_address``.
    """

    minimum_address: int
    maximum_address: int
    base_address: int
    entry_count: int
    size_of_function_entry: int
    native_descriptor: bytes
    entries: bytes

    def runtime_functions(self) -> list[tuple[int, int, int]]:
        """Decode AMD64 RUNTIME_FUNCTION entries as (begin, end, unwind) RVAs."""
        if self.size_of_function_entry < 12:
            return []
        step = self.size_of_function_entry
        out = []
        for i in range(len(self.entries) // step):
            off = i * step
            begin = int.from_bytes(self.entries[off : off + 4], "little")
            end = int.from_bytes(self.entries[off + 4 : off + 8], "little")
            unwind = int.from_bytes(self.entries[off + 8 : off + 12], "little")
            out.append((begin, end, unwind))
        return out


@dataclass(frozen=True, slots=True)
class ThreadName:
    """MINIDUMP_THREAD_NAME with the name resolved."""

    thread_id: int
    name: str


@dataclass(frozen=True, slots=True)
class SystemMemoryInfo:
    """MINIDUMP_SYSTEM_MEMORY_INFO_1.

    The basic, file-cache and basic-performance parts are decoded;
    ``performance_information`` keeps the large SYSTEM_PERFORMANCE_INFORMATION
    part as raw bytes.
    """

    revision: int
    flags: int
    timer_resolution: int
    page_size: int
    number_of_physical_pages: int
    lowest_physical_page_number: int
    highest_physical_page_number: int
    allocation_granularity: int
    minimum_user_mode_address: int
    maximum_user_mode_address: int
    active_processors_affinity_mask: int
    number_of_processors: int
    file_cache_current_size: int
    file_cache_peak_size: int
    file_cache_page_fault_count: int
    file_cache_minimum_working_set: int
    file_cache_maximum_working_set: int
    file_cache_current_size_including_transition_in_pages: int
    file_cache_peak_size_including_transition_in_pages: int
    file_cache_transition_re_purpose_count: int
    file_cache_flags: int
    available_pages: int
    committed_pages: int
    commit_limit: int
    peak_commitment: int
    performance_information: bytes


@dataclass(frozen=True, slots=True)
class ProcessVmCounters:
    """MINIDUMP_PROCESS_VM_COUNTERS_1 or _2 (the _2 fields are None for revision 1)."""

    revision: int
    flags: int
    page_fault_count: int
    peak_working_set_size: int
    working_set_size: int
    quota_peak_paged_pool_usage: int
    quota_paged_pool_usage: int
    quota_peak_non_paged_pool_usage: int
    quota_non_paged_pool_usage: int
    pagefile_usage: int
    peak_pagefile_usage: int
    private_usage: int
    peak_virtual_size: int | None = None
    virtual_size: int | None = None
    private_working_set_size: int | None = None
    shared_commit_usage: int | None = None
    job_shared_commit_usage: int | None = None
    job_private_commit_usage: int | None = None
    job_peak_private_commit_usage: int | None = None
    job_private_commit_limit: int | None = None
    job_total_commit_limit: int | None = None


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """MINIDUMP_TOKEN_INFO_HEADER with the token bytes that follow it."""

    token_id: int
    token_handle: int
    data: bytes
