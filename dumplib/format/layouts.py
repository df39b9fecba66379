"""Declarations of the minidump structures, in one place.

Fixed records that are parsed once per dump (SystemInfo, MiscInfo, the
exception stream, memory/VM counters ...) are declared field by field with
:class:`Layout` (name and ``struct`` code per member, nested layouts and
arrays), which reads close to the C definitions. Records that come in lists of
hundreds or thousands (threads, modules, memory descriptors, memory info) use
precompiled ``struct.Struct`` objects directly because they sit on the
open/read hot path.

(These fixed records were declared with ``construct`` until issue #16: its
import alone cost ~20 ms of every ``dumplib`` command's start-up, more than
the rest of the format layer. :class:`Layout` compiles each declaration to
one ``struct.Struct``.)
"""

from __future__ import annotations

import struct

from dumplib._exc import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any, Union

__all__ = [
    "CODEVIEW_NB10",
    "CODEVIEW_RSDS",
    "DIRECTORY_ENTRY",
    "EXCEPTION_STREAM",
    "HEADER",
    "MEMORY64_DESCRIPTOR",
    "MEMORY64_LIST_HEADER",
    "MEMORY_DESCRIPTOR",
    "MEMORY_INFO",
    "MISC_INFO",
    "MODULE",
    "PROCESS_VM_COUNTERS",
    "SYSTEM_INFO",
    "SYSTEM_MEMORY_INFO",
    "THREAD",
    "THREAD_EX",
    "THREAD_INFO",
    "U32",
    "U64",
    "UNLOADED_MODULE",
    "Array",
    "Container",
    "Layout",
]

U32 = struct.Struct("<I")
U64 = struct.Struct("<Q")

#: MINIDUMP_HEADER: Signature, Version, NumberOfStreams, StreamDirectoryRva,
#: CheckSum, TimeDateStamp, Flags.
HEADER = struct.Struct("<IIIIIIQ")
#: MINIDUMP_DIRECTORY: StreamType, Location.DataSize, Location.Rva.
DIRECTORY_ENTRY = struct.Struct("<III")
#: MINIDUMP_THREAD: ThreadId, SuspendCount, PriorityClass, Priority, Teb,
#: Stack (Start, DataSize, Rva), ThreadContext (DataSize, Rva).
THREAD = struct.Struct("<IIIIQQIIII")
#: MINIDUMP_THREAD_EX: MINIDUMP_THREAD plus BackingStore (Start, DataSize, Rva).
THREAD_EX = struct.Struct("<IIIIQQIIIIQII")
#: MINIDUMP_MODULE: BaseOfImage, SizeOfImage, CheckSum, TimeDateStamp,
#: ModuleNameRva, VS_FIXEDFILEINFO (13 DWORDs), CvRecord, MiscRecord, Reserved0/1.
MODULE = struct.Struct("<QIIII13IIIIIQQ")
#: MINIDUMP_UNLOADED_MODULE: BaseOfImage, SizeOfImage, CheckSum, TimeDateStamp, ModuleNameRva.
UNLOADED_MODULE = struct.Struct("<QIIII")
#: MINIDUMP_MEMORY_DESCRIPTOR: StartOfMemoryRange, DataSize, Rva.
MEMORY_DESCRIPTOR = struct.Struct("<QII")
#: MINIDUMP_MEMORY64_LIST header: NumberOfMemoryRanges, BaseRva.
MEMORY64_LIST_HEADER = struct.Struct("<QQ")
#: MINIDUMP_MEMORY_DESCRIPTOR64: StartOfMemoryRange, DataSize.
MEMORY64_DESCRIPTOR = struct.Struct("<QQ")
#: MINIDUMP_MEMORY_INFO: BaseAddress, AllocationBase, AllocationProtect, pad,
#: RegionSize, State, Protect, Type, pad.
MEMORY_INFO = struct.Struct("<QQI4xQIII4x")
#: MINIDUMP_THREAD_INFO: ThreadId, DumpFlags, DumpError, ExitStatus, CreateTime,
#: ExitTime, KernelTime, UserTime, StartAddress, Affinity.
THREAD_INFO = struct.Struct("<IIIIQQQQQQ")

#: CodeView PDB 7.0: 'RSDS', GUID, Age, then the NUL-terminated PDB path.
CODEVIEW_RSDS = struct.Struct("<4s16sI")
#: CodeView PDB 2.0: 'NB10', Offset, Signature, Age, then the PDB path.
CODEVIEW_NB10 = struct.Struct("<4sIII")

class Container(dict[str, "Any"]):
    """A parsed :class:`Layout`: a dict whose keys are also attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class Array:
    """``count`` consecutive members of one type (a ``struct`` code or a :class:`Layout`);
    parsed as a tuple (of :class:`Container` for layouts)."""

    def __init__(self, count: int, item: Field) -> None:
        self.count = count
        self.item = item


#: A member's type: a ``struct`` code (``"H"``, ``"I"``, ``"Q"``, ``"64s"`` ...),
#: a nested :class:`Layout` or an :class:`Array`.
if TYPE_CHECKING:
    Field = Union[str, "Layout", Array]  # noqa: UP007


def _code(field: Field) -> str:
    if isinstance(field, str):
        return field
    if isinstance(field, Layout):
        return field.code
    return _code(field.item) * field.count


def _take(field: Field, values: tuple[Any, ...], i: int) -> tuple[Any, int]:
    if isinstance(field, str):
        return values[i], i + 1
    if isinstance(field, Layout):
        return field.build(values, i)
    out = []
    for _ in range(field.count):
        v, i = _take(field.item, values, i)
        out.append(v)
    return tuple(out), i


class Layout:
    """A little-endian C structure declared as ``(name, type)`` members, with no
    implicit padding (as the minidump structures are packed)."""

    def __init__(self, *members: tuple[str, Field]) -> None:
        self.members = members
        self.code = "".join(_code(f) for _, f in members)
        self._struct = struct.Struct("<" + self.code)

    def sizeof(self) -> int:
        """Size in bytes."""
        return self._struct.size

    def parse(self, data: bytes) -> Container:
        """Decode the first :meth:`sizeof` bytes of ``data`` (``struct.error`` if shorter)."""
        return self.build(self._struct.unpack_from(data), 0)[0]

    def build(self, values: tuple[Any, ...], i: int) -> tuple[Container, int]:
        """The container made from ``values[i:]``, and the index after its members."""
        out = Container()
        for name, field in self.members:
            out[name], i = _take(field, values, i)
        return out, i


_SYSTEMTIME = Layout(
    ("year", "H"),
    ("month", "H"),
    ("day_of_week", "H"),
    ("day", "H"),
    ("hour", "H"),
    ("minute", "H"),
    ("second", "H"),
    ("milliseconds", "H"),
)

#: TIME_ZONE_INFORMATION (172 bytes).
TIME_ZONE_INFORMATION = Layout(
    ("bias", "i"),
    ("standard_name", "64s"),
    ("standard_date", _SYSTEMTIME),
    ("standard_bias", "i"),
    ("daylight_name", "64s"),
    ("daylight_date", _SYSTEMTIME),
    ("daylight_bias", "i"),
)

#: MINIDUMP_SYSTEM_INFO (56 bytes); ``cpu`` is the 24-byte CPU_INFORMATION union.
SYSTEM_INFO = Layout(
    ("processor_architecture", "H"),
    ("processor_level", "H"),
    ("processor_revision", "H"),
    ("number_of_processors", "B"),
    ("product_type", "B"),
    ("major_version", "I"),
    ("minor_version", "I"),
    ("build_number", "I"),
    ("platform_id", "I"),
    ("csd_version_rva", "I"),
    ("suite_mask", "H"),
    ("reserved2", "H"),
    ("cpu", "24s"),
)

#: MINIDUMP_MISC_INFO through _5; later parts are read only when SizeOfInfo covers them.
MISC_INFO = {
    1: Layout(
        ("size_of_info", "I"),
        ("flags1", "I"),
        ("process_id", "I"),
        ("process_create_time", "I"),
        ("process_user_time", "I"),
        ("process_kernel_time", "I"),
    ),
    2: Layout(
        ("processor_max_mhz", "I"),
        ("processor_current_mhz", "I"),
        ("processor_mhz_limit", "I"),
        ("processor_max_idle_state", "I"),
        ("processor_current_idle_state", "I"),
    ),
    3: Layout(
        ("process_integrity_level", "I"),
        ("process_execute_flags", "I"),
        ("protected_process", "I"),
        ("time_zone_id", "I"),
        ("time_zone", TIME_ZONE_INFORMATION),
    ),
    4: Layout(
        ("build_string", "520s"),
        ("dbg_bld_str", "80s"),
    ),
    5: Layout(
        ("xstate_size_of_info", "I"),
        ("xstate_context_size", "I"),
        ("xstate_enabled_features", "Q"),
        ("xstate_features", Array(64, Layout(("offset", "I"), ("size", "I")))),
        ("process_cookie", "I"),
    ),
}
#: Size of MINIDUMP_MISC_INFO at each level.
MISC_INFO_SIZES = {1: 24, 2: 44, 3: 232, 4: 832, 5: 1364}

#: MINIDUMP_EXCEPTION_STREAM (168 bytes).
EXCEPTION_STREAM = Layout(
    ("thread_id", "I"),
    ("alignment", "I"),
    ("exception_code", "I"),
    ("exception_flags", "I"),
    ("exception_record", "Q"),
    ("exception_address", "Q"),
    ("number_parameters", "I"),
    ("unused_alignment", "I"),
    ("exception_information", Array(15, "Q")),
    ("context_data_size", "I"),
    ("context_rva", "I"),
)

#: MINIDUMP_SYSTEM_MEMORY_INFO_1 up to (not including) its PerfInfo part.
SYSTEM_MEMORY_INFO = Layout(
    ("revision", "H"),
    ("flags", "H"),
    ("timer_resolution", "I"),
    ("page_size", "I"),
    ("number_of_physical_pages", "I"),
    ("lowest_physical_page_number", "I"),
    ("highest_physical_page_number", "I"),
    ("allocation_granularity", "I"),
    ("minimum_user_mode_address", "Q"),
    ("maximum_user_mode_address", "Q"),
    ("active_processors_affinity_mask", "Q"),
    ("number_of_processors", "I"),
    ("file_cache_current_size", "Q"),
    ("file_cache_peak_size", "Q"),
    ("file_cache_page_fault_count", "I"),
    ("file_cache_minimum_working_set", "Q"),
    ("file_cache_maximum_working_set", "Q"),
    ("file_cache_current_size_including_transition_in_pages", "Q"),
    ("file_cache_peak_size_including_transition_in_pages", "Q"),
    ("file_cache_transition_re_purpose_count", "I"),
    ("file_cache_flags", "I"),
    ("available_pages", "Q"),
    ("committed_pages", "Q"),
    ("commit_limit", "Q"),
    ("peak_commitment", "Q"),
)

_VM_COMMON = (
    ("page_fault_count", "I"),
    ("peak_working_set_size", "Q"),
    ("working_set_size", "Q"),
    ("quota_peak_paged_pool_usage", "Q"),
    ("quota_paged_pool_usage", "Q"),
    ("quota_peak_non_paged_pool_usage", "Q"),
    ("quota_non_paged_pool_usage", "Q"),
    ("pagefile_usage", "Q"),
    ("peak_pagefile_usage", "Q"),
    ("private_usage", "Q"),
)

#: MINIDUMP_PROCESS_VM_COUNTERS_1 (Revision 1, 80 bytes) and _2 (Revision 2, 152 bytes);
#: _2 inserts PeakVirtualSize and VirtualSize before PrivateUsage.
PROCESS_VM_COUNTERS = {
    1: Layout(("revision", "H"), ("flags", "H"), *_VM_COMMON),
    2: Layout(
        ("revision", "H"),
        ("flags", "H"),
        *_VM_COMMON[:9],
        ("peak_virtual_size", "Q"),
        ("virtual_size", "Q"),
        _VM_COMMON[9],
        ("private_working_set_size", "Q"),
        ("shared_commit_usage", "Q"),
        ("job_shared_commit_usage", "Q"),
        ("job_private_commit_usage", "Q"),
        ("job_peak_private_commit_usage", "Q"),
        ("job_private_commit_limit", "Q"),
        ("job_total_commit_limit", "Q"),
    ),
}
PROCESS_VM_COUNTERS_SIZES = {1: 80, 2: 152}


def fields(container: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """Pick ``names`` out of a parsed :class:`Container` as a plain dict."""
    return {name: container[name] for name in names}
