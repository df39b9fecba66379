"""Lay a :class:`~dumplib.builder.DumpBuilder`'s contents out as a minidump file.

:class:`StreamWriter` decides the stream directory, places each stream (its
strings, contexts and records just before the stream body) and then all
captured memory at ``mem_base``, contiguous in address order. The builder runs
it twice: once to learn where the metadata ends, once with the real
``mem_base``; both runs place the metadata identically.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from dumplib.builder import _layouts as L
from dumplib.builder._context import CONTEXT_SIZES
from dumplib.builder._output import Assembly, Data
from dumplib.builder.records import BuiltDump, MemoryPlacement, StreamPlacement

if TYPE_CHECKING:
    from dumplib.builder.builder import DumpBuilder

__all__ = ["StreamWriter"]

_U32 = 1 << 32
_ST = L.StreamType


def _const(data: Data) -> Callable[[Assembly], Data]:
    """An emitter for a stream whose bytes are already known."""
    return lambda out: data


def _minidump_string(text: str) -> bytes:
    raw = text.encode("utf-16-le")
    return L.U32.pack(len(raw)) + raw + b"\0\0"


class StreamWriter:
    """One layout pass over a builder's contents.

    Args:
        b: the builder.
        ranges: captured memory, sorted by address, non-overlapping.
        mem_base: file offset where the memory block starts.
    """

    def __init__(self, b: DumpBuilder, ranges: list[tuple[int, Data]], mem_base: int) -> None:
        self.b = b
        self.ranges = ranges
        self.mem_base = mem_base
        self.memory: list[MemoryPlacement] = []
        rva = mem_base
        for address, data in ranges:
            self.memory.append(MemoryPlacement(address, len(data), rva))
            rva += len(data)
        self.mem_rva = {m.address: m.rva for m in self.memory}
        self.strings: dict[str, int] = {}
        self.contexts: dict[int, tuple[int, int]] = {}

    # -- helpers -------------------------------------------------------------------------

    def _string(self, out: Assembly, text: str) -> int:
        rva = out.put(_minidump_string(text), align=4)
        self.strings.setdefault(text, rva)
        return rva

    @staticmethod
    def _rva32(what: str, rva: int) -> int:
        if rva >= _U32:
            raise ValueError(f"{what} at file offset {rva:#x} is beyond 32-bit RVA reach")
        return rva

    def _plan(self) -> list[tuple[int, Callable[[Assembly], bytes | Data]]]:
        b = self.b
        plan: list[tuple[int, Callable[[Assembly], bytes | Data]]] = []
        if b.thread_list:
            plan.append((_ST.THREAD_LIST, lambda o: self._thread_list(o, ex=False)))
        if b.thread_ex_list:
            plan.append((_ST.THREAD_EX_LIST, lambda o: self._thread_list(o, ex=True)))
        if any(t.name is not None for t in b._threads):
            plan.append((_ST.THREAD_NAMES, self._thread_names))
        plan.append((_ST.MODULE_LIST, self._module_list))
        if b._unloaded:
            plan.append((_ST.UNLOADED_MODULE_LIST, self._unloaded_list))
        if b._exception is not None:
            plan.append((_ST.EXCEPTION, self._exception))
        plan.append((_ST.SYSTEM_INFO, self._system_info))
        if b._misc is not None:
            plan.append((_ST.MISC_INFO, _const(b._misc)))
        if b._handles:
            plan.append((_ST.HANDLE_DATA, self._handle_data))
        if b._handle_ops:
            plan.append((_ST.HANDLE_OPERATION_LIST, self._handle_ops))
        if b._function_tables:
            plan.append((_ST.FUNCTION_TABLE, self._function_table))
        if b._memory_info:
            plan.append((_ST.MEMORY_INFO_LIST, self._memory_info))
        if b._thread_info:
            plan.append((_ST.THREAD_INFO_LIST, self._thread_info))
        if b._tokens:
            plan.append((_ST.TOKEN, self._token))
        if b._system_memory_info is not None:
            plan.append((_ST.SYSTEM_MEMORY_INFO, _const(b._system_memory_info)))
        if b._vm_counters is not None:
            plan.append((_ST.PROCESS_VM_COUNTERS, _const(b._vm_counters)))
        for stream_type, text in b._comments:
            plan.append((stream_type, _const(text)))
        for stream_type, data in b._raw:
            plan.append((stream_type, _const(data)))
        if b.full_memory:
            plan.append((_ST.MEMORY64_LIST, self._memory64_list))
        else:
            plan.append((_ST.MEMORY_LIST, self._memory_list))
        return [(t, f) for t, f in plan if t not in b.omit]

    # -- the pass ------------------------------------------------------------------------

    def measure(self) -> int:
        """Return the file offset where the metadata (header, directory, streams) ends."""
        return self._place_streams()[0].size

    def run(self) -> BuiltDump:
        """Place everything and return the :class:`BuiltDump`."""
        b = self.b
        out, placements, n_dir, dir_rva = self._place_streams()
        if out.size > self.mem_base:
            raise AssertionError("metadata grew between layout passes")
        out.size = self.mem_base
        for (_, data), placement in zip(self.ranges, self.memory, strict=True):
            rva = out.put(data)
            assert rva == placement.rva
        header = L.HEADER.pack(
            L.MINIDUMP_SIGNATURE, L.MINIDUMP_VERSION, b.implementation_version, n_dir, dir_rva,
            b.checksum, b.time_date_stamp, b.computed_flags(),
        )
        directory = b"".join(L.DIRECTORY.pack(p.stream_type, p.size, p.rva) for p in placements)
        out.place_at(0, header + directory)
        return BuiltDump(
            size=out.size, streams=tuple(placements), memory=tuple(self.memory),
            thread_contexts=dict(self.contexts), strings=dict(self.strings), _assembly=out,
        )

    def _place_streams(self) -> tuple[Assembly, list[StreamPlacement], int, int]:
        b = self.b
        plan = self._plan()
        n_dir = len(plan) + b.unused_directory_entries
        dir_rva = L.HEADER.size
        out = Assembly(start=dir_rva + n_dir * L.DIRECTORY.size)
        placements: list[StreamPlacement] = []
        for index, (stream_type, emit) in enumerate(plan):
            body = emit(out)
            rva = out.put(body, align=8)
            placements.append(StreamPlacement(index, int(stream_type),
                                              self._rva32("stream", rva), len(body)))
        for i in range(b.unused_directory_entries):
            placements.append(StreamPlacement(len(plan) + i, 0, 0, 0))
        out.align(16)
        return out, placements, n_dir, dir_rva

    # -- streams -------------------------------------------------------------------------

    def _stack_descriptor(self, start: int, data: Data | None) -> tuple[int, int, int]:
        if data is None:
            return (start, 0, 0)
        rva = self.mem_rva[start]
        if self.b.stack_rva_mode == "wine" or rva >= _U32:
            rva = 0
        if len(data) >= _U32:
            raise ValueError(f"stack at {start:#x} is 4 GiB or more")
        return (start, len(data), rva)

    def _context(self, out: Assembly, thread_id: int, context: bytes) -> tuple[int, int]:
        if thread_id in self.contexts:
            return self.contexts[thread_id]
        rva = self._rva32("CONTEXT", out.put(context, align=16))
        self.contexts[thread_id] = (rva, len(context))
        return rva, len(context)

    def _thread_list(self, out: Assembly, *, ex: bool) -> bytes:
        threads = self.b._threads
        entries = []
        for t in threads:
            ctx_rva, ctx_size = self._context(out, t.thread_id, t.context)
            stack = self._stack_descriptor(t.stack_start, t.stack)
            fields = (t.thread_id, t.suspend_count, t.priority_class, t.priority, t.teb,
                      *stack, ctx_size, ctx_rva)
            if ex:
                entries.append(L.THREAD_EX.pack(*fields, *t.backing_store))
            else:
                entries.append(L.THREAD.pack(*fields))
        return L.U32.pack(len(threads)) + b"".join(entries)

    def _thread_names(self, out: Assembly) -> bytes:
        named = [t for t in self.b._threads if t.name is not None]
        entries = [L.THREAD_NAME.pack(t.thread_id, self._string(out, t.name or ""))
                   for t in named]
        return L.U32.pack(len(named)) + b"".join(entries)

    def _module_list(self, out: Assembly) -> bytes:
        entries = []
        for m in self.b._modules:
            name_rva = self._rva32("module name", self._string(out, m.path))
            cv = (0, 0)
            if m.cv_record is not None:
                cv = (len(m.cv_record), self._rva32("CodeView", out.put(m.cv_record, align=4)))
            misc = (0, 0)
            if m.misc_record is not None:
                misc = (len(m.misc_record),
                        self._rva32("misc record", out.put(m.misc_record, align=4)))
            entries.append(L.MODULE.pack(m.base, m.size, m.checksum, m.time_date_stamp,
                                         name_rva, m.version_info, *cv, *misc, 0, 0))
        return L.U32.pack(len(entries)) + b"".join(entries)

    def _unloaded_list(self, out: Assembly) -> bytes:
        entries = []
        for path, base, size, checksum, stamp in self.b._unloaded:
            name_rva = self._rva32("module name", self._string(out, path))
            entries.append(L.UNLOADED_MODULE.pack(base, size, checksum, stamp, name_rva))
        head = L.UNLOADED_MODULE_LIST.pack(L.UNLOADED_MODULE_LIST.size, L.UNLOADED_MODULE.size,
                                           len(entries))
        return head + b"".join(entries)

    def _exception(self, out: Assembly) -> bytes:
        e = self.b._exception
        assert e is not None
        if e.context is not None:
            ctx_rva = self._rva32("exception CONTEXT", out.put(e.context, align=16))
            ctx = (len(e.context), ctx_rva)
        else:
            thread = next((t for t in self.b._threads if t.thread_id == e.thread_id), None)
            if thread is not None:
                rva, size = self._context(out, thread.thread_id, thread.context)
                ctx = (size, rva)
            else:
                blank = bytes(CONTEXT_SIZES[self.b.arch])
                ctx = (len(blank), self._rva32("exception CONTEXT", out.put(blank, align=16)))
        params = e.parameters + (0,) * (L.EXCEPTION_MAXIMUM_PARAMETERS - len(e.parameters))
        return L.EXCEPTION_STREAM.pack(e.thread_id, 0, e.code, e.flags, e.record, e.address,
                                       len(e.parameters), 0, *params, *ctx)

    def _system_info(self, out: Assembly) -> bytes:
        b = self.b
        csd_rva = self._rva32("CSDVersion", self._string(out, b.csd_version))
        (arch, level, rev, nproc, product, major, minor, build, platform,
         suite) = b._system_info
        head = L.SYSTEM_INFO.pack(arch, level, rev, nproc, product, major, minor, build,
                                  platform, csd_rva, suite, 0)
        if arch == L.ProcessorArchitecture.INTEL:
            return head + L.CPU_X86.pack(*b._x86_cpu)
        # CPU_INFORMATION is a union: 24 bytes (the X86CpuInfo size) whatever the member.
        return head + L.CPU_OTHER.pack(*b._other_cpu).ljust(L.CPU_X86.size, b"\0")

    def _handle_data(self, out: Assembly) -> bytes:
        b = self.b
        v2 = b.handle_descriptor_version == 2
        shape = L.HANDLE_DESCRIPTOR_2 if v2 else L.HANDLE_DESCRIPTOR
        entries = []
        for h in b._handles:
            type_rva = 0 if h.type_name is None else self._string(out, h.type_name)
            name_rva = 0 if h.object_name is None else self._string(out, h.object_name)
            fields = (h.handle, self._rva32("handle type name", type_rva),
                      self._rva32("handle object name", name_rva), h.attributes,
                      h.granted_access, h.handle_count, h.pointer_count)
            if v2:
                entries.append(shape.pack(*fields, self._object_info(out, h.object_info), 0))
            else:
                entries.append(shape.pack(*fields))
        head = L.HANDLE_DATA.pack(L.HANDLE_DATA.size, shape.size, len(entries), 0)
        return head + b"".join(entries)

    def _object_info(self, out: Assembly, infos: tuple[tuple[int, bytes], ...]) -> int:
        # Place the chain back to front so each record knows its successor's RVA.
        next_rva = 0
        for info_type, data in reversed(infos):
            record = L.HANDLE_OBJECT_INFORMATION.pack(next_rva, info_type, len(data)) + data
            next_rva = self._rva32("handle object information", out.put(record, align=4))
        return next_rva

    def _handle_ops(self, out: Assembly) -> bytes:
        ops = self.b._handle_ops
        head = L.HANDLE_OPERATION_LIST.pack(L.HANDLE_OPERATION_LIST.size,
                                            L.AVRF_HANDLE_OPERATION.size, len(ops), 0)
        return head + b"".join(ops)

    def _function_table(self, out: Assembly) -> bytes:
        tables = self.b._function_tables
        native = len(tables[0].native_descriptor)
        entry_size = (L.RUNTIME_FUNCTION_AMD64.size if self.b.arch == "amd64"
                      else L.RUNTIME_FUNCTION_ARM64.size)
        parts = [L.FUNCTION_TABLE_STREAM.pack(L.FUNCTION_TABLE_STREAM.size,
                                              L.FUNCTION_TABLE_DESCRIPTOR.size, native,
                                              entry_size, len(tables), 0)]
        for t in tables:
            body = t.native_descriptor + t.entries
            pad = (-(L.FUNCTION_TABLE_DESCRIPTOR.size + len(body))) % 8
            parts.append(L.FUNCTION_TABLE_DESCRIPTOR.pack(t.minimum_address, t.maximum_address,
                                                          t.base_address, t.entry_count, pad))
            parts.append(body + bytes(pad))
        return b"".join(parts)

    def _memory_info(self, out: Assembly) -> bytes:
        infos = self.b._memory_info
        head = L.MEMORY_INFO_LIST.pack(L.MEMORY_INFO_LIST.size, L.MEMORY_INFO.size, len(infos))
        return head + b"".join(infos)

    def _thread_info(self, out: Assembly) -> bytes:
        infos = self.b._thread_info
        head = L.THREAD_INFO_LIST.pack(L.THREAD_INFO_LIST.size, L.THREAD_INFO.size, len(infos))
        return head + b"".join(infos)

    def _token(self, out: Assembly) -> bytes:
        tokens = self.b._tokens
        body = b"".join(tokens)
        size = L.TOKEN_INFO_LIST.size + len(body)
        return L.TOKEN_INFO_LIST.pack(size, len(tokens), L.TOKEN_INFO_LIST.size,
                                      L.TOKEN_INFO_HEADER.size) + body

    def _memory_list(self, out: Assembly) -> bytes:
        entries = []
        for m in self.memory:
            if m.size >= _U32:
                raise ValueError(f"memory range at {m.address:#x} needs full_memory=True "
                                 "(MemoryList sizes are 32-bit)")
            entries.append(L.MEMORY_DESCRIPTOR.pack(m.address, m.size,
                                                    self._rva32("memory range", m.rva)))
        return L.U32.pack(len(entries)) + b"".join(entries)

    def _memory64_list(self, out: Assembly) -> bytes:
        head = L.MEMORY64_LIST.pack(len(self.memory), self.mem_base)
        return head + b"".join(L.MEMORY_DESCRIPTOR64.pack(m.address, m.size)
                               for m in self.memory)
