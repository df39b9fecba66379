"""Decoders for the minidump header, directory and every documented stream.

Each ``parse_*`` function takes the :class:`~dumplib.source.Source` and the
stream's :class:`~dumplib.format.records.DirectoryEntry` and returns typed
records. Counts are checked against the bytes that exist before anything is
allocated. A list stream cut short by the end of the file yields the entries
that are whole and appends a note to ``warnings``; a count that contradicts the
stream's own declared size raises :class:`~dumplib.CorruptDumpError`.
"""

from __future__ import annotations

import struct

from dumplib._exc import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

from dumplib._exc import CorruptDumpError, NotADumpError, TruncatedError
from dumplib.format import layouts as L
from dumplib.format.constants import MINIDUMP_SIGNATURE, MINIDUMP_VERSION, stream_type_name
from dumplib.format.records import (
    CodeViewElf,
    CodeViewPdb20,
    CodeViewPdb70,
    CodeViewRecord,
    CpuInformation,
    DirectoryEntry,
    ExceptionRecord,
    ExceptionStreamRecord,
    FixedFileInfo,
    FunctionTableDescriptor,
    HandleDescriptor,
    HandleObjectInfo,
    HandleOperation,
    LocationDescriptor,
    MemoryDescriptor,
    MemoryInfo,
    MinidumpHeader,
    MiscInfo,
    MiscRecord,
    ModuleRecord,
    ProcessVmCounters,
    SystemInfo,
    SystemMemoryInfo,
    SystemTime,
    ThreadInfo,
    ThreadName,
    ThreadRecord,
    TimeZoneInformation,
    TokenInfo,
    UnloadedModuleRecord,
    XStateConfig,
)
from dumplib.source import Source

__all__ = [
    "MAX_STRING_BYTES",
    "parse_comment",
    "parse_exception",
    "parse_function_table",
    "parse_handle_data",
    "parse_handle_operations",
    "parse_memory64_list",
    "parse_memory_info_list",
    "parse_memory_list",
    "parse_memory_list_ranges",
    "parse_misc_info",
    "parse_module_list",
    "parse_process_vm_counters",
    "parse_system_info",
    "parse_system_memory_info",
    "parse_thread_info_list",
    "parse_thread_list",
    "parse_thread_names",
    "parse_token",
    "parse_unloaded_module_list",
    "read_directory",
    "read_header",
    "read_string",
]

#: Longest MINIDUMP_STRING accepted (bytes); module paths are at most 32K WCHARs.
MAX_STRING_BYTES = 0x10000
#: Longest CodeView / misc record accepted (bytes).
MAX_DEBUG_RECORD = 0x10000
#: Most entries accepted in a handle object-information chain.
MAX_OBJECT_INFO_CHAIN = 64

Warnings = list[str]


def read_header(src: Source) -> MinidumpHeader:
    """Read and check MINIDUMP_HEADER at offset 0.

    Raises:
        NotADumpError: the signature or version is not a minidump's.
    """
    if src.size < L.HEADER.size:
        raise NotADumpError(
            f"file is {src.size} bytes, too short for a minidump header",
            stream="file header", offset=0,
        )
    fields = L.HEADER.unpack_from(src.view(0, L.HEADER.size, what="header"))
    header = MinidumpHeader(*fields)
    if header.signature != MINIDUMP_SIGNATURE:
        raise NotADumpError(
            f"not a minidump: signature 0x{header.signature:08x}, expected 'MDMP'",
            stream="file header",
            offset=0,
        )
    if header.version & 0xFFFF != MINIDUMP_VERSION:
        raise NotADumpError(
            f"unsupported minidump version 0x{header.version & 0xFFFF:04x}",
            stream="file header",
            offset=4,
        )
    return header


def read_directory(src: Source, header: MinidumpHeader, warnings: Warnings) -> list[DirectoryEntry]:
    """Read the stream directory; entries cut by the end of the file are dropped with a warning.

    Raises:
        CorruptDumpError: the directory starts outside the file.
    """
    rva, count = header.stream_directory_rva, header.number_of_streams
    if rva > src.size:
        raise CorruptDumpError(
            f"stream directory at 0x{rva:x} lies outside the {src.size}-byte file",
            stream="directory",
            offset=rva,
        )
    whole = min(count, (src.size - rva) // L.DIRECTORY_ENTRY.size)
    if whole < count:
        warnings.append(
            f"stream directory is cut: {count} entries declared, {whole} present "
            f"(directory at offset 0x{rva:x})"
        )
    view = src.view(rva, whole * L.DIRECTORY_ENTRY.size, what="directory")
    entries = []
    for i, (stype, size, srva) in enumerate(L.DIRECTORY_ENTRY.iter_unpack(view)):
        entries.append(DirectoryEntry(i, stype, size, srva, stream_type_name(stype)))
    return entries


def read_string(src: Source, rva: int, *, what: str) -> str:
    """Read a MINIDUMP_STRING (a 32-bit byte length, then UTF-16LE text).

    Raises:
        TruncatedError: the string runs past the end of the file.
        CorruptDumpError: the declared length is absurd.
    """
    length = L.U32.unpack_from(src.view(rva, 4, what=what))[0]
    if length > MAX_STRING_BYTES or length > src.size:
        raise CorruptDumpError(f"string length {length} is implausible", stream=what, offset=rva)
    data = src.view(rva + 4, length & ~1, what=what)
    return bytes(data).decode("utf-16-le", errors="replace")


def _stream_view(src: Source, entry: DirectoryEntry, minimum: int = 0) -> memoryview:
    """The whole stream; raises when it is cut or smaller than ``minimum``."""
    if entry.data_size < minimum:
        raise CorruptDumpError(
            f"stream is {entry.data_size} bytes, its header alone needs {minimum}",
            stream=entry.name,
            offset=entry.rva,
        )
    return src.view(entry.rva, entry.data_size, what=entry.name)


def _available(src: Source, entry: DirectoryEntry) -> int:
    """How many of the stream's declared bytes exist in the file."""
    if entry.rva >= src.size:
        return 0
    return min(entry.data_size, src.size - entry.rva)


def _list_entries(
    src: Source,
    entry: DirectoryEntry,
    header_size: int,
    count: int,
    entry_size: int,
    warnings: Warnings,
) -> tuple[memoryview, int]:
    """Bytes and number of whole entries of a counted list stream.

    Checks the count against the declared stream size (corruption) and against
    the bytes in the file (truncation, which yields a partial list and a warning).
    """
    declared_room = entry.data_size - header_size
    if entry_size <= 0 or count * entry_size > declared_room:
        raise CorruptDumpError(
            f"{count} entries of {entry_size} bytes do not fit the stream's "
            f"{entry.data_size} bytes",
            stream=entry.name,
            offset=entry.rva,
        )
    have = max(0, _available(src, entry) - header_size)
    whole = min(count, have // entry_size)
    if whole < count:
        warnings.append(
            f"{entry.name} is cut by the end of the file: {whole} of {count} entries present"
        )
    view = src.view(entry.rva + header_size, whole * entry_size, what=entry.name)
    return view, whole


def _counted_header(src: Source, entry: DirectoryEntry, fmt_size: int) -> memoryview:
    if entry.data_size < fmt_size:
        raise CorruptDumpError(
            f"stream is {entry.data_size} bytes, too small for its {fmt_size}-byte header",
            stream=entry.name,
            offset=entry.rva,
        )
    return src.view(entry.rva, fmt_size, what=entry.name)


def _simple_list_header(src: Source, entry: DirectoryEntry, entry_size: int) -> tuple[int, int]:
    """Count and header size of a list stream that starts with a 32-bit count.

    Some writers pad the count to 8 bytes; that layout is recognised from the
    stream size.
    """
    count = L.U32.unpack_from(_counted_header(src, entry, 4))[0]
    header = 4
    if entry.data_size == 8 + count * entry_size:
        header = 8
    return count, header


def parse_thread_list(
    src: Source, entry: DirectoryEntry, warnings: Warnings, *, ex: bool = False
) -> list[ThreadRecord]:
    """Decode ThreadListStream (or ThreadExListStream when ``ex``)."""
    layout = L.THREAD_EX if ex else L.THREAD
    count, header = _simple_list_header(src, entry, layout.size)
    view, _whole = _list_entries(src, entry, header, count, layout.size, warnings)
    out = []
    for f in layout.iter_unpack(view):
        backing = MemoryDescriptor(f[10], f[11], f[12]) if ex else None
        out.append(
            ThreadRecord(
                thread_id=f[0],
                suspend_count=f[1],
                priority_class=f[2],
                priority=f[3],
                teb=f[4],
                stack=MemoryDescriptor(f[5], f[6], f[7]),
                thread_context=LocationDescriptor(f[8], f[9]),
                backing_store=backing,
            )
        )
    return out


def _decode_codeview(data: bytes) -> CodeViewRecord | None:
    if len(data) >= L.CODEVIEW_RSDS.size and data[:4] == b"RSDS":
        _, guid, age = L.CODEVIEW_RSDS.unpack_from(data)
        name = data[L.CODEVIEW_RSDS.size :].split(b"\0", 1)[0].decode("utf-8", "replace")
        import uuid  # ~2 ms at start-up, needed only here

        return CodeViewPdb70(uuid.UUID(bytes_le=guid), age, name)
    if len(data) >= L.CODEVIEW_NB10.size and data[:4] == b"NB10":
        _, offset, sig, age = L.CODEVIEW_NB10.unpack_from(data)
        name = data[L.CODEVIEW_NB10.size :].split(b"\0", 1)[0].decode("latin-1")
        return CodeViewPdb20(offset, sig, age, name)
    if len(data) > 4 and data[:4] == b"LEpB":  # 'BpEL': breakpad's ELF build id record
        return CodeViewElf(bytes(data[4:]))
    return None


def _debug_record(src: Source, size: int, rva: int, what: str, warnings: Warnings) -> bytes:
    if size == 0 or rva == 0:
        return b""
    if size > MAX_DEBUG_RECORD:
        warnings.append(f"{what}: debug record of {size} bytes at 0x{rva:x} ignored (too large)")
        return b""
    try:
        return src.read(rva, size, what=what)
    except TruncatedError:
        warnings.append(f"{what}: debug record at 0x{rva:x} is cut by the end of the file")
        return b""


def _decode_misc(data: bytes) -> MiscRecord | None:
    if len(data) < 12:
        return None
    dtype, length = L.U32.unpack_from(data, 0)[0], L.U32.unpack_from(data, 4)[0]
    return MiscRecord(dtype, length, bool(data[8]), data[12:])


def parse_module_list(src: Source, entry: DirectoryEntry, warnings: Warnings) -> list[ModuleRecord]:
    """Decode ModuleListStream, resolving names, CodeView and misc records."""
    count, header = _simple_list_header(src, entry, L.MODULE.size)
    view, _ = _list_entries(src, entry, header, count, L.MODULE.size, warnings)
    out = []
    for i, f in enumerate(L.MODULE.iter_unpack(view)):
        what = f"{entry.name}[{i}]"
        name = _optional_string(src, f[4], what, warnings) or ""
        cv = _debug_record(src, f[18], f[19], what, warnings)
        misc = _debug_record(src, f[20], f[21], what, warnings)
        out.append(
            ModuleRecord(
                base_of_image=f[0],
                size_of_image=f[1],
                checksum=f[2],
                time_date_stamp=f[3],
                module_name=name,
                version_info=FixedFileInfo(*f[5:18]),
                cv_record=cv,
                codeview=_decode_codeview(cv),
                misc_record=_decode_misc(misc),
            )
        )
    return out


def _sized_list_header(
    src: Source, entry: DirectoryEntry, header_fmt: str, minimum_entry: int
) -> tuple[int, int, int]:
    """SizeOfHeader, SizeOfEntry, NumberOfEntries of a self-describing list stream."""
    layout = struct.Struct(header_fmt)
    fields = layout.unpack_from(_counted_header(src, entry, layout.size))
    size_of_header, size_of_entry, count = fields[0], fields[1], fields[2]
    if size_of_header < layout.size or size_of_header > entry.data_size:
        raise CorruptDumpError(
            f"SizeOfHeader {size_of_header} is impossible", stream=entry.name, offset=entry.rva
        )
    if size_of_entry < minimum_entry:
        raise CorruptDumpError(
            f"SizeOfEntry {size_of_entry} is smaller than the {minimum_entry}-byte record",
            stream=entry.name,
            offset=entry.rva + 4,
        )
    return size_of_header, size_of_entry, count


def parse_unloaded_module_list(
    src: Source, entry: DirectoryEntry, warnings: Warnings
) -> list[UnloadedModuleRecord]:
    """Decode UnloadedModuleListStream."""
    hsize, esize, count = _sized_list_header(src, entry, "<III", L.UNLOADED_MODULE.size)
    view, whole = _list_entries(src, entry, hsize, count, esize, warnings)
    out = []
    for i in range(whole):
        f = L.UNLOADED_MODULE.unpack_from(view, i * esize)
        what = f"{entry.name}[{i}]"
        name = _optional_string(src, f[4], what, warnings) or ""
        out.append(UnloadedModuleRecord(f[0], f[1], f[2], f[3], name))
    return out


def parse_memory_list(
    src: Source, entry: DirectoryEntry, warnings: Warnings
) -> list[MemoryDescriptor]:
    """Decode MemoryListStream."""
    count, header = _simple_list_header(src, entry, L.MEMORY_DESCRIPTOR.size)
    view, _ = _list_entries(src, entry, header, count, L.MEMORY_DESCRIPTOR.size, warnings)
    return [MemoryDescriptor(*f) for f in L.MEMORY_DESCRIPTOR.iter_unpack(view)]


def parse_memory_list_ranges(
    src: Source, entry: DirectoryEntry, warnings: Warnings
) -> list[tuple[int, int, int]]:
    """MemoryListStream as raw ``(StartOfMemoryRange, DataSize, Rva)`` tuples: what
    :func:`parse_memory_list` decodes, without a record per range (the memory
    index of a dump with thousands of ranges is built from these)."""
    count, header = _simple_list_header(src, entry, L.MEMORY_DESCRIPTOR.size)
    view, _ = _list_entries(src, entry, header, count, L.MEMORY_DESCRIPTOR.size, warnings)
    return list(L.MEMORY_DESCRIPTOR.iter_unpack(view))


def parse_memory64_list(
    src: Source, entry: DirectoryEntry, warnings: Warnings
) -> tuple[int, list[tuple[int, int]]]:
    """Decode Memory64ListStream as (BaseRva, [(start, size), ...]).

    The data of range *i* follows that of range *i-1* in the file, starting at BaseRva.
    """
    count, base_rva = L.MEMORY64_LIST_HEADER.unpack_from(
        _counted_header(src, entry, L.MEMORY64_LIST_HEADER.size)
    )
    view, _ = _list_entries(
        src, entry, L.MEMORY64_LIST_HEADER.size, count, L.MEMORY64_DESCRIPTOR.size, warnings
    )
    return base_rva, list(L.MEMORY64_DESCRIPTOR.iter_unpack(view))


def parse_exception(src: Source, entry: DirectoryEntry) -> ExceptionStreamRecord:
    """Decode ExceptionStream."""
    data = _stream_view(src, entry, L.EXCEPTION_STREAM.sizeof())
    x = L.EXCEPTION_STREAM.parse(bytes(data[: L.EXCEPTION_STREAM.sizeof()]))
    record = ExceptionRecord(
        exception_code=x.exception_code,
        exception_flags=x.exception_flags,
        exception_record=x.exception_record,
        exception_address=x.exception_address,
        number_parameters=x.number_parameters,
        exception_information=tuple(x.exception_information),
    )
    return ExceptionStreamRecord(
        int(x.thread_id), record, LocationDescriptor(x.context_data_size, x.context_rva)
    )


def _cpu_info(arch: int, raw: bytes) -> CpuInformation:
    lo, hi = L.U64.unpack_from(raw, 0)[0], L.U64.unpack_from(raw, 8)[0]
    if arch in (0, 10, 14):  # x86 flavours carry the CPUID words
        vendor = raw[:12].split(b"\0", 1)[0].decode("latin-1")
        words = [L.U32.unpack_from(raw, 12 + 4 * i)[0] for i in range(3)]
        return CpuInformation(vendor, words[0], words[1], words[2], (lo, hi))
    return CpuInformation(None, None, None, None, (lo, hi))


def parse_system_info(src: Source, entry: DirectoryEntry, warnings: Warnings) -> SystemInfo:
    """Decode SystemInfoStream with its CSD version string."""
    data = _stream_view(src, entry, L.SYSTEM_INFO.sizeof())
    s = L.SYSTEM_INFO.parse(bytes(data[: L.SYSTEM_INFO.sizeof()]))
    csd = ""
    if s.csd_version_rva:
        try:
            csd = read_string(src, s.csd_version_rva, what=f"{entry.name}.CSDVersion")
        except (TruncatedError, CorruptDumpError) as exc:
            warnings.append(f"SystemInfoStream: CSD version unreadable: {exc}")
    return SystemInfo(
        processor_architecture=s.processor_architecture,
        processor_level=s.processor_level,
        processor_revision=s.processor_revision,
        number_of_processors=s.number_of_processors,
        product_type=s.product_type,
        major_version=s.major_version,
        minor_version=s.minor_version,
        build_number=s.build_number,
        platform_id=s.platform_id,
        csd_version=csd,
        suite_mask=s.suite_mask,
        cpu=_cpu_info(s.processor_architecture, bytes(s.cpu)),
    )


def _wstr(raw: bytes) -> str:
    text = raw.decode("utf-16-le", errors="replace")
    return text.split("\0", 1)[0]


def _systemtime(x: Any) -> SystemTime:
    return SystemTime(
        x.year, x.month, x.day_of_week, x.day, x.hour, x.minute, x.second, x.milliseconds
    )


def parse_misc_info(src: Source, entry: DirectoryEntry) -> MiscInfo:
    """Decode MiscInfoStream at whatever level (1..5) its SizeOfInfo says."""
    data = bytes(_stream_view(src, entry, 24))
    size_of_info = L.U32.unpack_from(data, 0)[0]
    usable = min(size_of_info, len(data))
    level = max((lv for lv, sz in L.MISC_INFO_SIZES.items() if sz <= usable), default=0)
    if level == 0:
        raise CorruptDumpError(
            f"MiscInfo SizeOfInfo {size_of_info} is below the 24-byte level 1",
            stream=entry.name,
            offset=entry.rva,
        )
    values: dict[str, Any] = {}
    pos = 0
    for lv in range(1, level + 1):
        layout = L.MISC_INFO[lv]
        part = layout.parse(data[pos : pos + layout.sizeof()])
        values.update({k: v for k, v in part.items() if not k.startswith("_")})
        pos += layout.sizeof()
    tz = None
    if level >= 3:
        t = values.pop("time_zone")
        tz = TimeZoneInformation(
            bias=t.bias,
            standard_name=_wstr(t.standard_name),
            standard_date=_systemtime(t.standard_date),
            standard_bias=t.standard_bias,
            daylight_name=_wstr(t.daylight_name),
            daylight_date=_systemtime(t.daylight_date),
            daylight_bias=t.daylight_bias,
        )
    xstate = None
    if level >= 5:
        xstate = XStateConfig(
            size_of_info=values.pop("xstate_size_of_info"),
            context_size=values.pop("xstate_context_size"),
            enabled_features=values.pop("xstate_enabled_features"),
            features=tuple((f.offset, f.size) for f in values.pop("xstate_features")),
        )
    if level >= 4:
        values["build_string"] = _wstr(values["build_string"])
        values["dbg_bld_str"] = _wstr(values["dbg_bld_str"])
    values.pop("size_of_info")
    return MiscInfo(
        size_of_info=size_of_info, level=level, time_zone=tz, xstate_data=xstate, **values
    )


def parse_memory_info_list(
    src: Source, entry: DirectoryEntry, warnings: Warnings
) -> list[MemoryInfo]:
    """Decode MemoryInfoListStream."""
    hsize, esize, count = _sized_list_header(src, entry, "<IIQ", L.MEMORY_INFO.size)
    view, whole = _list_entries(src, entry, hsize, count, esize, warnings)
    if esize == L.MEMORY_INFO.size:
        return [MemoryInfo(*f) for f in L.MEMORY_INFO.iter_unpack(view)]
    return [MemoryInfo(*L.MEMORY_INFO.unpack_from(view, i * esize)) for i in range(whole)]


def parse_thread_info_list(
    src: Source, entry: DirectoryEntry, warnings: Warnings
) -> list[ThreadInfo]:
    """Decode ThreadInfoListStream."""
    hsize, esize, count = _sized_list_header(src, entry, "<III", L.THREAD_INFO.size)
    view, whole = _list_entries(src, entry, hsize, count, esize, warnings)
    return [ThreadInfo(*L.THREAD_INFO.unpack_from(view, i * esize)) for i in range(whole)]


def _optional_string(src: Source, rva: int, what: str, warnings: Warnings) -> str | None:
    if rva == 0:
        return None
    try:
        return read_string(src, rva, what=what)
    except (TruncatedError, CorruptDumpError) as exc:
        warnings.append(f"{what}: string unreadable: {exc}")
        return None


def _object_info_chain(
    src: Source, rva: int, what: str, warnings: Warnings
) -> tuple[HandleObjectInfo, ...]:
    out: list[HandleObjectInfo] = []
    seen: set[int] = set()
    while rva and len(out) < MAX_OBJECT_INFO_CHAIN:
        if rva in seen:
            warnings.append(f"{what}: object-information chain loops at 0x{rva:x}")
            break
        seen.add(rva)
        try:
            head = src.view(rva, 12, what=what)
            next_rva, info_type, size = (L.U32.unpack_from(head, i)[0] for i in (0, 4, 8))
            if size > MAX_DEBUG_RECORD:
                raise CorruptDumpError(f"object info of {size} bytes", stream=what, offset=rva)
            out.append(HandleObjectInfo(info_type, src.read(rva + 12, size, what=what)))
        except (TruncatedError, CorruptDumpError) as exc:
            warnings.append(f"{what}: object information unreadable: {exc}")
            break
        rva = next_rva
    return tuple(out)


def parse_handle_data(
    src: Source, entry: DirectoryEntry, warnings: Warnings
) -> list[HandleDescriptor]:
    """Decode HandleDataStream (descriptor version 1 or 2)."""
    hsize, esize, count = _sized_list_header(src, entry, "<IIII", 32)
    view, whole = _list_entries(src, entry, hsize, count, esize, warnings)
    d1 = struct.Struct("<QIIIIII")
    out = []
    for i in range(whole):
        f = d1.unpack_from(view, i * esize)
        what = f"{entry.name}[{i}]"
        info: tuple[HandleObjectInfo, ...] = ()
        if esize >= 40:
            info_rva = L.U32.unpack_from(view, i * esize + 32)[0]
            info = _object_info_chain(src, info_rva, what, warnings)
        out.append(
            HandleDescriptor(
                handle=f[0],
                type_name=_optional_string(src, f[1], what, warnings),
                object_name=_optional_string(src, f[2], what, warnings),
                attributes=f[3],
                granted_access=f[4],
                handle_count=f[5],
                pointer_count=f[6],
                object_info=info,
            )
        )
    return out


def parse_handle_operations(
    src: Source, entry: DirectoryEntry, warnings: Warnings
) -> list[HandleOperation]:
    """Decode HandleOperationListStream (AVRF_HANDLE_OPERATION entries)."""
    # AVRF_HANDLE_OPERATION: Handle, ProcessId, ThreadId, OperationType, Spare0,
    # then AVRF_BACKTRACE_INFORMATION: Depth, Index, ReturnAddresses[32].
    op = struct.Struct("<QIIIIII32Q")
    hsize, esize, count = _sized_list_header(src, entry, "<IIII", op.size)
    view, whole = _list_entries(src, entry, hsize, count, esize, warnings)
    out = []
    for i in range(whole):
        f = op.unpack_from(view, i * esize)
        depth = min(f[5], 32)
        out.append(HandleOperation(f[0], f[1], f[2], f[3], tuple(f[7 : 7 + depth]), f[6]))
    return out


def parse_comment(src: Source, entry: DirectoryEntry, *, wide: bool) -> str:
    """Decode CommentStreamA (ANSI) or CommentStreamW (UTF-16LE), up to the first NUL."""
    data = bytes(_stream_view(src, entry))
    if wide:
        return _wstr(data[: len(data) & ~1])
    return data.split(b"\0", 1)[0].decode("latin-1")


def parse_function_table(
    src: Source, entry: DirectoryEntry, warnings: Warnings
) -> list[FunctionTableDescriptor]:
    """Decode FunctionTableStream: descriptors with their native descriptor and entries."""
    head = struct.Struct("<IIIIII")
    fields = head.unpack_from(_counted_header(src, entry, head.size))
    size_of_header, size_of_desc, size_of_native, size_of_entry, count, align_pad = fields
    desc = struct.Struct("<QQQII")
    if size_of_header < head.size or size_of_desc < desc.size:
        raise CorruptDumpError(
            "function table header sizes are impossible", stream=entry.name, offset=entry.rva
        )
    data = src.view(entry.rva, _available(src, entry), what=entry.name)
    pos = size_of_header + align_pad
    out = []
    for i in range(count):
        if pos + size_of_desc > len(data):
            if pos + size_of_desc <= entry.data_size:
                warnings.append(f"{entry.name} is cut after {i} of {count} descriptors")
                break
            raise CorruptDumpError(
                f"descriptor {i} lies past the stream's end",
                stream=entry.name,
                offset=entry.rva + pos,
            )
        lo, hi, base, entry_count, pad = desc.unpack_from(data, pos)
        body = size_of_native + entry_count * size_of_entry
        start = pos + size_of_desc
        if start + body > entry.data_size:
            raise CorruptDumpError(
                f"descriptor {i} declares {entry_count} entries past the stream's end",
                stream=entry.name,
                offset=entry.rva + pos,
            )
        if start + body > len(data):
            warnings.append(f"{entry.name} is cut inside descriptor {i}")
            break
        native = bytes(data[start : start + size_of_native])
        entries = bytes(data[start + size_of_native : start + body])
        out.append(
            FunctionTableDescriptor(lo, hi, base, entry_count, size_of_entry, native, entries)
        )
        pos = start + body + pad
    return out


def parse_thread_names(src: Source, entry: DirectoryEntry, warnings: Warnings) -> list[ThreadName]:
    """Decode ThreadNamesStream (MINIDUMP_THREAD_NAME entries of 12 bytes)."""
    item = struct.Struct("<IQ")
    count = L.U32.unpack_from(_counted_header(src, entry, 4))[0]
    view, _whole = _list_entries(src, entry, 4, count, item.size, warnings)
    out = []
    for i, (tid, rva) in enumerate(item.iter_unpack(view)):
        name = _optional_string(src, rva, f"{entry.name}[{i}]", warnings)
        if name is not None:
            out.append(ThreadName(tid, name))
    return out


def parse_system_memory_info(src: Source, entry: DirectoryEntry) -> SystemMemoryInfo:
    """Decode SystemMemoryInfoStream (MINIDUMP_SYSTEM_MEMORY_INFO_1)."""
    size = L.SYSTEM_MEMORY_INFO.sizeof()
    data = bytes(_stream_view(src, entry, size))
    x = L.SYSTEM_MEMORY_INFO.parse(data[:size])
    values = {k: v for k, v in x.items() if not k.startswith("_")}
    return SystemMemoryInfo(**values, performance_information=data[size:])


def parse_process_vm_counters(src: Source, entry: DirectoryEntry) -> ProcessVmCounters:
    """Decode ProcessVmCountersStream (revision 1 or 2)."""
    data = bytes(_stream_view(src, entry, L.PROCESS_VM_COUNTERS_SIZES[1]))
    revision = int.from_bytes(data[:2], "little")
    level = 2 if revision >= 2 and len(data) >= L.PROCESS_VM_COUNTERS_SIZES[2] else 1
    x = L.PROCESS_VM_COUNTERS[level].parse(data[: L.PROCESS_VM_COUNTERS_SIZES[level]])
    values = {k: v for k, v in x.items() if not k.startswith("_")}
    if level == 1:
        values["flags"] = 0
    return ProcessVmCounters(**values)


def parse_token(src: Source, entry: DirectoryEntry, warnings: Warnings) -> list[TokenInfo]:
    """Decode TokenStream: MINIDUMP_TOKEN_INFO_LIST and its token entries."""
    head = struct.Struct("<IIII")
    _total, count, list_header, elem_header = head.unpack_from(
        _counted_header(src, entry, head.size)
    )
    if list_header < head.size or elem_header < 16:
        raise CorruptDumpError(
            "token list header sizes are impossible", stream=entry.name, offset=entry.rva
        )
    data = src.view(entry.rva, _available(src, entry), what=entry.name)
    item = struct.Struct("<IIQ")
    pos = list_header
    out = []
    for i in range(count):
        if pos + item.size > entry.data_size:
            raise CorruptDumpError(
                f"{count} tokens declared, the stream ends after {i}",
                stream=entry.name,
                offset=entry.rva + pos,
            )
        if pos + item.size > len(data):
            warnings.append(f"{entry.name} is cut after {i} of {count} tokens")
            break
        token_size, token_id, handle = item.unpack_from(data, pos)
        if token_size < elem_header or pos + token_size > entry.data_size:
            raise CorruptDumpError(
                f"token {i} has impossible size {token_size}",
                stream=entry.name,
                offset=entry.rva + pos,
            )
        out.append(TokenInfo(token_id, handle, bytes(data[pos + elem_header : pos + token_size])))
        pos += token_size
    return out
