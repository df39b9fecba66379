"""The :class:`DumpFile`: a minidump opened lazily (the base of :class:`dumplib.Dump`).

Opening reads the 32-byte header and the stream directory, nothing else. Each
stream is decoded on first access to the property that needs it, once, and
cached. Optional streams that are absent give an empty value (``()``, ``None``);
streams that are present but corrupt raise a :class:`~dumplib.DumpError`
subclass naming the stream and offset. What was cut or skipped is listed in
:attr:`Dump.warnings`.
"""

from __future__ import annotations

import datetime as _dt
import warnings as _warnings
from collections.abc import Callable
from functools import cached_property
from types import TracebackType

from dumplib._exc import TYPE_CHECKING, CorruptDumpError, DumpError, MemoryNotInDump, TruncatedError
from dumplib.format import parse as P
from dumplib.format.constants import Arch, DumpType, PlatformId, StreamType
from dumplib.format.records import (
    DirectoryEntry,
    ExceptionRecord,
    FunctionTableDescriptor,
    HandleDescriptor,
    HandleOperation,
    MemoryInfo,
    MinidumpHeader,
    MiscInfo,
    ProcessVmCounters,
    SystemMemoryInfo,
    ThreadInfo,
    ThreadRecord,
    TokenInfo,
)
from dumplib.model.memory import Memory
from dumplib.model.objects import (
    ExceptionInfo,
    Module,
    ModuleList,
    System,
    Thread,
    ThreadList,
    UnloadedModule,
)
from dumplib.source import Source, SourceLike

if TYPE_CHECKING:
    from typing_extensions import Self

    from dumplib.format.context import Context
    from dumplib.model.kernel import Bugcheck
    from dumplib.model.vendor import VendorStreams

__all__ = ["DumpFile", "DumpWarning"]

if TYPE_CHECKING:
    from typing import TypeVar

    T = TypeVar("T")
#: Deepest chain of nested exception records followed through memory.
MAX_EXCEPTION_CHAIN = 32
_EXCEPTION_RECORD64_SIZE = 152


class DumpWarning(UserWarning):
    """Issued when a dump is cut short or holds inconsistent data that was skipped."""


class DumpFile:
    """An opened minidump: the streams, threads, modules and memory.

    :class:`dumplib.Dump` extends this with stacks, symbols and analysis; use
    :func:`dumplib.open`, preferably as a context manager.

    Attributes:
        header: the MINIDUMP_HEADER.
        streams: the directory entries, in file order.
        warnings: notes on what was cut, skipped or inconsistent; grows as
            streams are decoded.
        name: the path or a description of the source.
    """

    def __init__(self, source: SourceLike | Source) -> None:
        self._src = source if isinstance(source, Source) else Source.open(source)
        self.name = self._src.name
        self.warnings: list[str] = []
        try:
            self.header: MinidumpHeader = P.read_header(self._src)
            self.streams: list[DirectoryEntry] = P.read_directory(
                self._src, self.header, self.warnings
            )
        except BaseException:
            self._src.close()
            raise
        self._first: dict[int, DirectoryEntry] = {}
        for entry in self.streams:
            if entry.stream_type in self._first:
                if entry.stream_type != StreamType.UnusedStream:
                    self.warnings.append(
                        f"duplicate {entry.name} at directory index {entry.index} ignored"
                    )
                continue
            self._first[entry.stream_type] = entry
            if entry.data_size and entry.rva + entry.data_size > self._src.size:
                self.warnings.append(
                    f"{entry.name} is cut: {entry.data_size} bytes at 0x{entry.rva:x}, "
                    f"file ends at 0x{self._src.size:x}"
                )
        if self.warnings:
            _warnings.warn(
                f"{self.name}: " + "; ".join(self.warnings), DumpWarning, stacklevel=3
            )

    # -- lifetime -----------------------------------------------------------

    def close(self) -> None:
        """Release the file mapping. Objects already read stay usable."""
        self._src.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {len(self.streams)} streams>"

    # -- directory ----------------------------------------------------------

    @property
    def source(self) -> Source:
        """The byte source behind the dump."""
        return self._src

    @property
    def file_size(self) -> int:
        """Size of the dump in bytes."""
        return self._src.size

    @property
    def kind(self) -> str:
        """``"user"``: a process minidump (kernel dumps say ``"kernel-..."``)."""
        return "user"

    @property
    def bugcheck(self) -> Bugcheck | None:
        """The bug check of a kernel dump (:class:`~dumplib.model.kernel.Bugcheck`); None
        for a process dump."""
        return None

    @property
    def flags(self) -> int:
        """The header's MINIDUMP_TYPE flags."""
        return self.header.flags

    @property
    def dump_type(self) -> DumpType:
        """The header's flags as a :class:`~dumplib.format.constants.DumpType`."""
        return DumpType(self.header.flags & 0xFFFFFFFF)

    @property
    def dump_type_names(self) -> list[str]:
        """Names of the MINIDUMP_TYPE flags set in the header."""
        return DumpType.names_of(self.header.flags)

    @property
    def time(self) -> _dt.datetime:
        """When the dump was written (header TimeDateStamp), as UTC."""
        return _dt.datetime.fromtimestamp(self.header.time_date_stamp, tz=_dt.timezone.utc)

    def stream(self, stream_type: int) -> DirectoryEntry | None:
        """The first directory entry of ``stream_type``, or None."""
        return self._first.get(stream_type)

    def raw_stream(self, stream_type: int) -> bytes | None:
        """The bytes of the first stream of ``stream_type`` (any type, vendor ones too).

        Raises:
            TruncatedError: the stream runs past the end of the file.
        """
        entry = self._first.get(stream_type)
        if entry is None:
            return None
        return self._src.read(entry.rva, entry.data_size, what=entry.name)

    def _parse(self, stream_type: StreamType, fn: Callable[[DirectoryEntry], T]) -> T | None:
        entry = self._first.get(stream_type)
        if entry is None:
            return None
        return self._parse_entry(entry, fn)

    def _warn_once(self, note: str) -> None:
        if note not in self.warnings:
            self.warnings.append(note)

    def _is_cut(self, rva: int, size: int) -> bool:
        return size > 0 and rva + size > self._src.size

    def _parse_entry(self, entry: DirectoryEntry, fn: Callable[[DirectoryEntry], T]) -> T | None:
        """``fn(entry)``; a stream the end of the file cuts, and that cannot be parsed
        from what is left, is served as absent (None) with one warning, so the whole
        streams before the cut stay usable. Damage inside the file still raises."""
        try:
            return fn(entry)
        except DumpError:
            if not self._is_cut(entry.rva, entry.data_size):
                raise
            # already reported once, when the directory was read ("... is cut: ...")
            return None

    # -- system -------------------------------------------------------------

    @cached_property
    def system(self) -> System:
        """Architecture and OS version (SystemInfoStream)."""
        raw = self._parse(
            StreamType.SystemInfoStream,
            lambda e: P.parse_system_info(self._src, e, self.warnings),
        )
        if raw is None:
            return System(
                arch=self._guess_arch(), os_version=(0, 0, 0), csd_version="", platform_id=0,
                product_type=0, processor_architecture=0xFFFF, processor_level=0,
                processor_revision=0, number_of_processors=0, suite_mask=0, cpu=None,
                present=False, raw=None,
            )
        return System(
            arch=Arch.from_processor_architecture(raw.processor_architecture),
            os_version=(raw.major_version, raw.minor_version, raw.build_number),
            csd_version=raw.csd_version,
            platform_id=raw.platform_id,
            product_type=raw.product_type,
            processor_architecture=raw.processor_architecture,
            processor_level=raw.processor_level,
            processor_revision=raw.processor_revision,
            number_of_processors=raw.number_of_processors,
            suite_mask=raw.suite_mask,
            cpu=raw.cpu,
            present=True,
            raw=raw,
        )

    def _guess_arch(self) -> Arch:
        """Infer the architecture from the size of the first thread context."""
        from dumplib.format.context import (
            AMD64_CONTEXT_SIZE,
            ARM64_CONTEXT_SIZE,
            X86_CONTEXT_SIZE,
            X86_CONTEXT_SIZE_NO_EXT,
        )

        for rec in self._thread_records:
            size = rec.thread_context.data_size
            if size >= AMD64_CONTEXT_SIZE and size < ARM64_CONTEXT_SIZE * 2 and size != 912:
                return Arch.AMD64
            if size == ARM64_CONTEXT_SIZE:
                return Arch.ARM64
            if size in (X86_CONTEXT_SIZE, X86_CONTEXT_SIZE_NO_EXT):
                return Arch.X86
        return Arch.UNKNOWN

    @cached_property
    def misc_info(self) -> MiscInfo | None:
        """MiscInfoStream (levels 1 to 5), or None."""
        return self._parse(StreamType.MiscInfoStream, lambda e: P.parse_misc_info(self._src, e))

    @property
    def process_id(self) -> int | None:
        """The process id (MiscInfoStream, else LinuxProcStatus), or None when not recorded."""
        mi = self.misc_info
        if mi is None or not mi.flags1 & 1:
            status = self.vendor.proc_status
            return status.pid if status is not None else None
        return mi.process_id

    @cached_property
    def vendor(self) -> VendorStreams:
        """Breakpad, crashpad and Mozilla vendor streams (Linux /proc copies,
        BreakpadInfo, crashpad annotations, macOS crash info), parsed on first use."""
        from dumplib.model.vendor import VendorStreams  # its parsers load on first use (#16)

        return VendorStreams(self)

    @property
    def process_create_time(self) -> _dt.datetime | None:
        """When the process started (MiscInfoStream), as UTC, or None."""
        mi = self.misc_info
        if mi is None or not mi.flags1 & 2 or not mi.process_create_time:
            return None
        return _dt.datetime.fromtimestamp(mi.process_create_time, tz=_dt.timezone.utc)

    @cached_property
    def system_memory_info(self) -> SystemMemoryInfo | None:
        """SystemMemoryInfoStream, or None."""
        return self._parse(
            StreamType.SystemMemoryInfoStream, lambda e: P.parse_system_memory_info(self._src, e)
        )

    @cached_property
    def process_vm_counters(self) -> ProcessVmCounters | None:
        """ProcessVmCountersStream, or None."""
        return self._parse(
            StreamType.ProcessVmCountersStream,
            lambda e: P.parse_process_vm_counters(self._src, e),
        )

    # -- threads ------------------------------------------------------------

    @cached_property
    def _thread_records(self) -> list[ThreadRecord]:
        ex = self._first.get(StreamType.ThreadExListStream)
        entry = self._first.get(StreamType.ThreadListStream)
        if entry is not None:
            return self._parse_entry(
                entry, lambda e: P.parse_thread_list(self._src, e, self.warnings)) or []
        if ex is not None:
            return self._parse_entry(
                ex, lambda e: P.parse_thread_list(self._src, e, self.warnings, ex=True)) or []
        return []

    def _context_at(self, data_size: int, rva: int, what: str) -> Context:
        if data_size == 0 or rva == 0:
            raise CorruptDumpError(f"{what} has no context record", stream=what, offset=rva)
        if data_size > 0x100000:
            raise CorruptDumpError(f"{what} context of {data_size} bytes", stream=what, offset=rva)
        data = self._src.view(rva, data_size, what=what)
        arch = self.system.arch
        from dumplib.format.context import parse_context  # CPU contexts load on first use

        try:
            return parse_context(arch, data, offset=rva)
        except ValueError as exc:
            raise CorruptDumpError(str(exc), stream=what, offset=rva) from exc

    def _load_thread_context(self, rec: ThreadRecord) -> Context:
        loc = rec.thread_context
        return self._context_at(loc.data_size, loc.rva, f"thread {rec.thread_id}")

    @cached_property
    def thread_names(self) -> dict[int, str]:
        """Thread descriptions from ThreadNamesStream, by thread id."""
        names = self._parse(
            StreamType.ThreadNamesStream,
            lambda e: P.parse_thread_names(self._src, e, self.warnings),
        )
        return {n.thread_id: n.name for n in names or ()}

    @cached_property
    def thread_infos(self) -> list[ThreadInfo]:
        """ThreadInfoListStream entries (times, start address, flags), or empty."""
        infos = self._parse(
            StreamType.ThreadInfoListStream,
            lambda e: P.parse_thread_info_list(self._src, e, self.warnings),
        )
        return infos or []

    @cached_property
    def threads(self) -> ThreadList:
        """The threads (ThreadListStream, else ThreadExListStream), in dump order."""
        # names and thread infos decorate threads; a bad one must not hide the threads
        try:
            names = self.thread_names
        except DumpError as exc:
            self.warnings.append(f"thread names unavailable: {exc}")
            names = {}
        try:
            infos = {i.thread_id: i for i in self.thread_infos}
        except DumpError as exc:
            self.warnings.append(f"thread infos unavailable: {exc}")
            infos = {}
        return ThreadList(
            [
                Thread(r, self._load_thread_context, names.get(r.thread_id), infos.get(r.thread_id))
                for r in self._thread_records
            ]
        )

    def thread_stack_bytes(self, thread: Thread) -> bytes:
        """The captured stack bytes of ``thread`` (empty when none were captured)."""
        st = thread.raw.stack
        if not st.data_size:
            return b""
        if st.rva:
            try:
                return self._src.read(st.rva, st.data_size, what=f"thread {thread.id} stack")
            except TruncatedError:
                pass
        return self.memory.read_available(st.start_of_memory_range, st.data_size)

    # -- modules ------------------------------------------------------------

    @cached_property
    def modules(self) -> ModuleList:
        """The loaded modules (ModuleListStream), with ``.find(address)``."""
        recs = self._parse(
            StreamType.ModuleListStream,
            lambda e: P.parse_module_list(self._src, e, self.warnings),
        )
        return ModuleList([Module.from_record(r) for r in recs or ()])

    @cached_property
    def unloaded_modules(self) -> list[UnloadedModule]:
        """Modules unloaded before the dump (UnloadedModuleListStream)."""
        recs = self._parse(
            StreamType.UnloadedModuleListStream,
            lambda e: P.parse_unloaded_module_list(self._src, e, self.warnings),
        )
        return [UnloadedModule.from_record(r) for r in recs or ()]

    # -- exception ----------------------------------------------------------

    @cached_property
    def exception(self) -> ExceptionInfo | None:
        """The ExceptionStream, or None for dumps written without an exception."""
        entry = self._first.get(StreamType.ExceptionStream)
        if entry is None:
            return None
        rec = self._parse_entry(entry, lambda e: P.parse_exception(self._src, e))
        if rec is None:
            return None
        loc = rec.thread_context

        def load() -> Context | None:
            if not loc.data_size or not loc.rva:
                return None
            if self._is_cut(loc.rva, loc.data_size):
                self._warn_once(
                    f"the exception's context record at 0x{loc.rva:x} is cut by the end "
                    "of the file; the exception is served without it")
                return None
            sysinfo = self._first.get(StreamType.SystemInfoStream)
            if (not self.system.present and sysinfo is not None
                    and self._is_cut(sysinfo.rva, sysinfo.data_size)
                    and self.system.arch is Arch.UNKNOWN):
                self._warn_once(
                    "the exception's context cannot be decoded: the SystemInfoStream, which "
                    "gives the CPU architecture, is cut by the end of the file")
                return None
            return self._context_at(loc.data_size, loc.rva, entry.name)

        return ExceptionInfo(
            rec.thread_id, rec.exception_record, load,
            self._nested_exceptions(rec.exception_record),
            self._platform_id,
        )

    def _platform_id(self) -> int:
        """The SystemInfo platform id; Windows when the stream is absent or corrupt."""
        try:
            return self.system.platform_id if self.system.present else PlatformId.WIN32_NT
        except DumpError:
            return PlatformId.WIN32_NT

    def _nested_exceptions(self, first: ExceptionRecord) -> list[ExceptionRecord]:
        import struct

        layout = struct.Struct("<IIQQII15Q")
        out: list[ExceptionRecord] = []
        seen: set[int] = set()
        ptr = first.exception_record
        while ptr and len(out) < MAX_EXCEPTION_CHAIN:
            if ptr in seen:
                self.warnings.append(f"nested exception records loop at 0x{ptr:x}")
                break
            seen.add(ptr)
            try:
                if self.system.pointer_size == 8:
                    f = layout.unpack(self.memory.read(ptr, _EXCEPTION_RECORD64_SIZE))
                    rec = ExceptionRecord(f[0], f[1], f[2], f[3], f[4], tuple(f[6:]))
                else:
                    raw32 = struct.unpack("<IIIII15I", self.memory.read(ptr, 80))
                    rec = ExceptionRecord(
                        raw32[0], raw32[1], raw32[2], raw32[3], raw32[4], tuple(raw32[5:])
                    )
            except MemoryNotInDump:
                break
            out.append(rec)
            ptr = rec.exception_record
        return out

    # -- memory -------------------------------------------------------------

    @cached_property
    def memory(self) -> Memory:
        """The captured memory (MemoryListStream and Memory64ListStream), indexed once."""
        ranges: list[tuple[int, int, int]] = []
        e32 = self._first.get(StreamType.MemoryListStream)
        if e32 is not None:
            ranges.extend(self._parse_entry(
                e32, lambda e: P.parse_memory_list_ranges(self._src, e, self.warnings)) or [])
        e64 = self._first.get(StreamType.Memory64ListStream)
        parsed64 = None if e64 is None else self._parse_entry(
            e64, lambda e: P.parse_memory64_list(self._src, e, self.warnings))
        if parsed64 is not None:
            base_rva, descs = parsed64
            off = base_rva
            for start, size in descs:
                ranges.append((start, size, off))
                off += size
        mem = Memory.from_ranges(
            self._src, ranges, pointer_size=self.system.pointer_size, memory_info=self.memory_info
        )
        self.warnings.extend(mem.warnings)
        return mem

    @cached_property
    def memory_info(self) -> list[MemoryInfo]:
        """MemoryInfoListStream: every region of the address space, or empty."""
        infos = self._parse(
            StreamType.MemoryInfoListStream,
            lambda e: P.parse_memory_info_list(self._src, e, self.warnings),
        )
        return infos or []

    # -- the rest -----------------------------------------------------------

    @cached_property
    def handles(self) -> list[HandleDescriptor]:
        """HandleDataStream: open handles with type and object names."""
        return self._parse(
            StreamType.HandleDataStream, lambda e: P.parse_handle_data(self._src, e, self.warnings)
        ) or []

    @cached_property
    def handle_operations(self) -> list[HandleOperation]:
        """HandleOperationListStream: application-verifier handle traces."""
        return self._parse(
            StreamType.HandleOperationListStream,
            lambda e: P.parse_handle_operations(self._src, e, self.warnings),
        ) or []

    @cached_property
    def comments(self) -> list[str]:
        """Text of every CommentStreamA/W in directory order (procdump writes its command here)."""
        out = []
        for entry in self.streams:
            if entry.stream_type == StreamType.CommentStreamA:
                out.append(P.parse_comment(self._src, entry, wide=False))
            elif entry.stream_type == StreamType.CommentStreamW:
                out.append(P.parse_comment(self._src, entry, wide=True))
        return out

    @cached_property
    def function_tables(self) -> list[FunctionTableDescriptor]:
        """FunctionTableStream: dynamic function tables (JIT code unwind data)."""
        return self._parse(
            StreamType.FunctionTableStream,
            lambda e: P.parse_function_table(self._src, e, self.warnings),
        ) or []

    @cached_property
    def tokens(self) -> list[TokenInfo]:
        """TokenStream entries."""
        return self._parse(
            StreamType.TokenStream, lambda e: P.parse_token(self._src, e, self.warnings)
        ) or []

    @property
    def process_times(self) -> dict[str, int] | None:
        """Process user/kernel time in seconds (MiscInfoStream), or None."""
        mi = self.misc_info
        if mi is None or not mi.flags1 & 2:
            return None
        return {"user": mi.process_user_time, "kernel": mi.process_kernel_time}

    def check(self) -> list[str]:
        """Decode every stream; return the problems found (an empty list when all is well).

        Unlike property access this never raises on bad streams: each failure is
        reported as ``"StreamName: message"``.
        """
        problems: list[str] = []
        props = (
            "system", "misc_info", "threads", "modules", "unloaded_modules", "exception",
            "memory", "memory_info", "thread_infos", "thread_names", "handles",
            "handle_operations", "comments", "function_tables", "tokens",
            "system_memory_info", "process_vm_counters",
        )
        for name in props:
            try:
                getattr(self, name)
            except DumpError as exc:
                problems.append(f"{name}: {exc}")
        try:
            threads = list(self.threads)
        except DumpError:
            threads = []  # already reported above
        for t in threads:
            try:
                t.context  # noqa: B018 - decoding is the check
            except DumpError as exc:
                problems.append(f"thread {t.id} context: {exc}")
        return problems

