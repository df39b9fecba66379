""":class:`dumplib.dump.KernelDump`: a Windows kernel crash dump behind the process-dump API.

``dumplib.open`` returns one for files that start with ``PAGEDU64``/``PAGEDUMP``. What a
process dump calls its streams comes from the kernel dump's header and memory here:

* ``system`` -- machine type, build (``MinorVersion``), processor count; the major and
  minor version from KUSER_SHARED_DATA when that page is in the dump;
* ``memory`` -- the kernel's virtual address space through the header's
  DirectoryTableBase (triage dumps: the blocks of memory they keep); ``physical`` --
  the physical pages, kept apart;
* ``bugcheck`` -- the stop code and parameters, named and explained;
* ``threads`` -- the bugchecking processor's thread, with the header's context record;
* ``exception`` -- the header's exception record, on that thread;
* ``modules`` -- the loaded drivers, from PsLoadedModuleList (triage: its driver list);
* ``unloaded_modules`` -- the triage dump's unloaded-driver list.

Nothing is read at open beyond the header and (bitmap dumps) a rank index over the
bitmap; everything else is decoded on first use and cached.
"""

from __future__ import annotations

import datetime as _dt
import os
import struct
import warnings as _warnings
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from dumplib._exc import CorruptDumpError, DumpError, MemoryNotInDump, TruncatedError
from dumplib.format.constants import Arch, DumpType
from dumplib.format.context import AMD64_CONTEXT_SIZE, X86_CONTEXT_SIZE, Context, parse_context
from dumplib.format.kernel import (
    KernelDumpType,
    KernelHeader,
    TriageLayout,
    parse_bitmap_layout,
    parse_kernel_header,
    parse_rdmp_ranges,
    parse_triage_layout,
)
from dumplib.format.records import (
    ExceptionRecord,
    FixedFileInfo,
    LocationDescriptor,
    MemoryDescriptor,
    MinidumpHeader,
    ModuleRecord,
    ThreadRecord,
)
from dumplib.model.dump import DumpFile, DumpWarning
from dumplib.model.kernel_memory import PhysicalMemory, VirtualMemory
from dumplib.model.memory import Memory
from dumplib.model.objects import (
    ExceptionInfo,
    Module,
    ModuleList,
    System,
    Thread,
    ThreadList,
    UnloadedModule,
    basename,
)
from dumplib.source import Source, SourceLike

if TYPE_CHECKING:
    from dumplib.model.kernel_processes import KernelProcess

__all__ = ["Bugcheck", "KernelDumpFile"]

#: Most drivers followed on PsLoadedModuleList (a loop or garbage ends the walk sooner).
MAX_DRIVERS = 4096
#: Most bytes above the context's sp taken as its stack (the largest kernel stacks, with
#: the expansions KeExpandKernelStackAndCallout adds, stay below this).
MAX_KERNEL_STACK = 0x20000
_KUSER_SHARED_DATA = {True: 0xFFFF_F780_0000_0000, False: 0xFFDF_0000}
_EMPTY_FFI = FixedFileInfo(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
_BUILD_VERSIONS = ((10240, (10, 0)), (9600, (6, 3)), (9200, (6, 2)), (7600, (6, 1)),
                   (6000, (6, 0)), (3790, (5, 2)), (2600, (5, 1)), (2195, (5, 0)))


@dataclass(frozen=True, slots=True)
class Bugcheck:
    """The stop code of a kernel dump and what it means.

    Attributes:
        code: the bug check code (``0xD1``).
        name: its name (``"DRIVER_IRQL_NOT_LESS_OR_EQUAL"``), or None when unknown.
        parameters: the four parameters.
        meaning: one sentence on what the code means ('' when not in the tables).
        parameter_meanings: what each parameter holds ('' when unknown).
        source: where the meaning comes from (Microsoft's reference page), or ''.
    """

    code: int
    name: str | None
    parameters: tuple[int, int, int, int]
    meaning: str
    parameter_meanings: tuple[str, str, str, str]
    source: str

    @classmethod
    def of(cls, code: int, parameters: tuple[int, int, int, int]) -> Bugcheck:
        """Name and explain ``code`` from the bug check tables."""
        from dumplib.codes.bugchecks import describe  # the code tables: only for kernel dumps

        info = describe(code)
        return cls(code, info.name, parameters, info.meaning, info.parameters,
                   info.meaning_source)


def _unicode_string(mem: Memory, address: int, is64: bool, limit: int = 1024) -> str | None:
    try:
        if is64:
            length, _maxlen, _pad, buf = struct.unpack("<HHIQ", mem.read(address, 16))
        else:
            length, _maxlen, buf = struct.unpack("<HHI", mem.read(address, 8))
        if not buf or not length or length > limit:
            return None
        return mem.read(buf, length & ~1).decode("utf-16-le", "replace")
    except MemoryNotInDump:
        return None


class KernelDumpFile(DumpFile):
    """An opened kernel crash dump (see the module docstring for what each property holds).

    :class:`dumplib.dump.KernelDump` adds stacks and analysis, as Dump does for DumpFile.

    Attributes:
        kernel_header: the typed DUMP_HEADER.
        warnings: what was cut, skipped or inconsistent.
    """

    def __init__(self, source: SourceLike | Source) -> None:
        self._src = source if isinstance(source, Source) else Source.open(source)
        self.name = self._src.name
        self.warnings: list[str] = []
        try:
            self.kernel_header: KernelHeader = parse_kernel_header(self._src)
            self._physical = self._index_physical()
        except BaseException:
            self._src.close()
            raise
        kh = self.kernel_header
        unix = max(0, (kh.system_time - 116444736000000000) // 10_000_000)
        self.header = MinidumpHeader(0, 0, 0, 0, 0, unix & 0xFFFFFFFF, 0)
        self.streams = []
        self._first = {}
        if self.warnings:
            _warnings.warn(f"{self.name}: " + "; ".join(self.warnings), DumpWarning, stacklevel=3)

    def _index_physical(self) -> PhysicalMemory | None:
        kh = self.kernel_header
        ps = 8 if kh.is64 else 4
        if kh.dump_type == KernelDumpType.FULL:
            return PhysicalMemory.from_runs(
                self._src, kh.physical_runs, kh.header_size, pointer_size=ps,
                warnings=self.warnings,
            )
        if kh.dump_type in (
            KernelDumpType.RDMP_KERNEL, KernelDumpType.RDMP_KERNEL_AND_USER,
            KernelDumpType.RDMP_COMPLETE,
        ):
            ranges, first = parse_rdmp_ranges(self._src, kh, self.warnings)
            return PhysicalMemory.from_runs(self._src, ranges, first, pointer_size=ps,
                                            warnings=self.warnings)
        if kh.dump_type in (
            KernelDumpType.BITMAP_FULL, KernelDumpType.BITMAP_KERNEL, KernelDumpType.BITMAP_LIVE,
        ):
            try:
                layout = parse_bitmap_layout(self._src, kh)
            except TruncatedError as exc:
                self.warnings.append(f"physical memory unreadable: {exc}")
                return None
            return PhysicalMemory.from_bitmap(self._src, layout, pointer_size=ps,
                                              warnings=self.warnings)
        if kh.dump_type != KernelDumpType.TRIAGE:
            self.warnings.append(f"dump type {kh.dump_type_name}: physical memory not read")
        return None

    def __repr__(self) -> str:
        code = self.kernel_header.bugcheck_code
        return f"<{type(self).__name__} {self.name!r} {self.kind} bugcheck 0x{code:x}>"

    # -- identity -----------------------------------------------------------------------

    @property
    def kind(self) -> str:
        """``"kernel-full"``, ``"kernel-bitmap"``, ``"kernel-triage"``, ..."""
        return self.kernel_header.kind

    @property
    def bugcheck(self) -> Bugcheck:
        """The stop code, its parameters and their meanings."""
        kh = self.kernel_header
        return Bugcheck.of(kh.bugcheck_code, kh.bugcheck_parameters)

    @property
    def fault_address(self) -> int:
        """Where the bug check says the fault was, else the bugchecking processor's ip."""
        kh = self.kernel_header
        code, params = kh.bugcheck_code, kh.bugcheck_parameters
        if code in (0x0A, 0xD1) and params[3]:
            return params[3]
        if code in (0x1E, 0x3B, 0x7E, 0x8E, 0x1000007E, 0x1000008E) and params[1]:
            return params[1]
        return self.threads[0].context.ip

    @property
    def dump_type(self) -> DumpType:
        """Kernel dumps carry no MINIDUMP_TYPE flags: always ``DumpType(0)``."""
        return DumpType(0)

    @property
    def dump_type_names(self) -> list[str]:
        """The kernel dump type's name (``["BITMAP_FULL"]``)."""
        return [self.kernel_header.dump_type_name]

    @property
    def time(self) -> _dt.datetime:
        """When the system crashed (the header's SystemTime), as UTC."""
        ft = self.kernel_header.system_time
        return _dt.datetime(1601, 1, 1, tzinfo=_dt.timezone.utc) + _dt.timedelta(
            microseconds=max(0, ft) // 10
        )

    @property
    def uptime(self) -> _dt.timedelta:
        """How long the system had been up (SystemUpTime)."""
        return _dt.timedelta(microseconds=max(0, self.kernel_header.system_uptime) // 10)

    @cached_property
    def system(self) -> System:
        """Architecture, version and processor count from the header (and KUSER_SHARED_DATA)."""
        kh = self.kernel_header
        arch = kh.arch
        build = kh.minor_version
        major, minor = next((v for b, v in _BUILD_VERSIONS if build >= b), (0, 0))
        try:
            kuser = _KUSER_SHARED_DATA[kh.is64]
            mj, mn = self.memory.read_u32(kuser + 0x26C), self.memory.read_u32(kuser + 0x270)
            if 5 <= mj <= 20 and mn < 10:
                major, minor = mj, mn
        except (DumpError, KeyError):
            pass
        pa = {Arch.AMD64: 9, Arch.X86: 0, Arch.ARM64: 12, Arch.ARM: 5}.get(arch, 0xFFFF)
        return System(
            arch=arch, os_version=(major, minor, build), csd_version="", platform_id=2,
            product_type=kh.product_type, processor_architecture=pa, processor_level=0,
            processor_revision=0, number_of_processors=kh.number_processors,
            suite_mask=kh.suite_mask, cpu=None, present=True, raw=None,
        )

    # -- memory -------------------------------------------------------------------------

    @property
    def physical(self) -> PhysicalMemory | None:
        """The physical address space (None for triage dumps, which keep no physical pages)."""
        return self._physical

    @cached_property
    def triage(self) -> TriageLayout | None:
        """The TRIAGE_DUMP directory of a small memory dump, else None."""
        if self.kernel_header.dump_type != KernelDumpType.TRIAGE:
            return None
        return parse_triage_layout(self._src, self.kernel_header)

    @cached_property
    def memory(self) -> Memory:
        """The kernel's virtual address space (translated through DirectoryTableBase)."""
        kh = self.kernel_header
        if self._physical is not None:
            mode = "x64" if kh.is64 else ("pae" if kh.pae_enabled else "x86")
            return VirtualMemory(self._physical, kh.directory_table_base, mode)
        tri = self.triage
        ps = 8 if kh.is64 else 4
        ranges: list[tuple[int, int, int]] = []
        if tri is not None:
            if tri.size_of_call_stack and tri.call_stack_offset:
                ranges.append((tri.top_of_stack, tri.size_of_call_stack, tri.call_stack_offset))
            if tri.data_page_size and tri.data_page_offset:
                ranges.append((tri.data_page_address, tri.data_page_size, tri.data_page_offset))
            ranges += self._triage_blocks(tri)
        mem = Memory.from_ranges(self._src, ranges, pointer_size=ps)
        self.warnings.extend(mem.warnings)
        return mem

    def _triage_blocks(self, tri: TriageLayout) -> list[tuple[int, int, int]]:
        kh = self.kernel_header
        if not tri.data_blocks_count or not tri.data_blocks_offset:
            return []
        size = 16  # TRIAGE_DATA_BLOCK: ULONG64 Address, ULONG Offset, ULONG Size (both arches)
        count = tri.data_blocks_count
        avail = max(0, (self._src.size - tri.data_blocks_offset) // size)
        if count > avail:
            self.warnings.append(f"triage data blocks: {count} listed, room for {avail}")
            count = avail
        raw = self._src.read(tri.data_blocks_offset, count * size, what="TRIAGE_DATA_BLOCK")
        mask = (1 << 64) - 1 if kh.is64 else 0xFFFF_FFFF  # x86 addresses are sign-extended
        return [(a & mask, s, o) for a, o, s in struct.iter_unpack("<QII", raw) if s]

    # -- threads and exception ----------------------------------------------------------

    @cached_property
    def _context_location(self) -> tuple[int, int]:
        kh = self.kernel_header
        size = AMD64_CONTEXT_SIZE if kh.is64 else X86_CONTEXT_SIZE
        tri = self.triage
        if tri is not None and tri.context_offset:
            return tri.context_offset, size
        return kh.context_offset, size

    def _load_kernel_context(self, rec: ThreadRecord | None = None) -> Context:
        off, size = self._context_location
        size = min(size, max(0, self._src.size - off))
        data = self._src.view(off, size, what="CONTEXT")
        try:
            return parse_context(self.kernel_header.arch, data, offset=off)
        except ValueError as exc:
            raise CorruptDumpError(str(exc), stream="CONTEXT", offset=off) from exc

    @cached_property
    def threads(self) -> ThreadList:
        """The bugchecking processor's thread (id 0 unless the dump names it)."""
        off, size = self._context_location
        stack = MemoryDescriptor(0, 0, 0)
        try:
            sp = self._load_kernel_context().sp
            end = (sp & ~0xFFF) + 0x1000
            while end - sp < MAX_KERNEL_STACK and end in self.memory:
                end += 0x1000
            if sp in self.memory:
                stack = MemoryDescriptor(sp, end - sp, 0)
        except DumpError as exc:
            self.warnings.append(f"bugcheck context unreadable: {exc}")
        rec = ThreadRecord(
            thread_id=0, suspend_count=0, priority_class=0, priority=0, teb=0,
            stack=stack, thread_context=LocationDescriptor(size, off),
        )
        return ThreadList([Thread(rec, self._load_kernel_context, "bugcheck processor")])

    @cached_property
    def exception(self) -> ExceptionInfo | None:
        """The header's exception record (triage: the one at ExceptionOffset), or None."""
        kh = self.kernel_header
        rec: ExceptionRecord = kh.exception
        tri = self.triage
        if tri is not None and tri.exception_offset:
            fmt = struct.Struct("<IIQQII15Q" if kh.is64 else "<IIIII15I")
            try:
                f = fmt.unpack(self._src.read(tri.exception_offset, fmt.size, what="exception"))
            except DumpError:
                f = None
            if f is not None:
                params = f[6:] if kh.is64 else f[5:]
                rec = ExceptionRecord(f[0], f[1], f[2], f[3], f[4], tuple(params[: min(f[4], 15)]))
        if rec.exception_code == 0 and rec.exception_address == 0:
            return None
        return ExceptionInfo(0, rec, lambda: self._load_kernel_context())

    # -- drivers ------------------------------------------------------------------------

    @cached_property
    def modules(self) -> ModuleList:
        """The loaded drivers (PsLoadedModuleList, or the triage dump's driver list)."""
        tri = self.triage
        if tri is not None:
            from dumplib.model.kernel_triage import triage_drivers

            return ModuleList(triage_drivers(self, tri))
        head = self.kernel_header.ps_loaded_module_list
        out: list[Module] = []
        try:
            out = self._walk_loaded_modules(head)
        except MemoryNotInDump as exc:
            self.warnings.append(f"PsLoadedModuleList at 0x{head:x} unreadable: {exc}")
        return ModuleList(out)

    def _walk_loaded_modules(self, head: int) -> list[Module]:
        mem = self.memory
        is64 = self.kernel_header.is64
        out: list[Module] = []
        seen = {head}
        entry = mem.read_pointer(head)
        while entry and entry not in seen:
            if len(out) >= MAX_DRIVERS:
                self.warnings.append(f"PsLoadedModuleList: stopped after {MAX_DRIVERS} drivers")
                break
            seen.add(entry)
            try:
                out.append(self.driver_at(entry))
                entry = mem.read_pointer(entry)
            except MemoryNotInDump as exc:
                self.warnings.append(f"PsLoadedModuleList: entry 0x{entry:x} unreadable: {exc}")
                break
        else:
            if entry and entry != head:
                self.warnings.append(f"PsLoadedModuleList loops at 0x{entry:x}")
        _ = is64
        return out

    def driver_at(self, entry: int) -> Module:
        """The driver described by the KLDR_DATA_TABLE_ENTRY at ``entry``.

        Raises:
            MemoryNotInDump: the entry is not in the dump.
        """
        mem = self.memory
        is64 = self.kernel_header.is64
        if is64:
            base, _entry_point, size = struct.unpack("<QQI", mem.read(entry + 0x30, 20))
            full = _unicode_string(mem, entry + 0x48, True)
            short = _unicode_string(mem, entry + 0x58, True)
        else:
            base, _entry_point, size = struct.unpack("<III", mem.read(entry + 0x18, 12))
            full = _unicode_string(mem, entry + 0x24, False)
            short = _unicode_string(mem, entry + 0x2C, False)
        return self.make_driver(base, size, full or short or f"driver@0x{base:x}", short)

    def make_driver(
        self, base: int, size: int, path: str, name: str | None = None, *,
        timestamp: int = 0, checksum: int = 0,
    ) -> Module:
        """A :class:`Module` for a driver, with timestamp, checksum, version and PDB from its
        image when the image's headers are in the dump (else the values given)."""
        ffi = _EMPTY_FFI
        version: tuple[int, int, int, int] | None = None
        pdb: tuple[str, str, int] | None = None
        try:
            from dumplib.pe.image import PeImage

            image = PeImage.from_memory(self.memory.read, base, size or None)
            timestamp, checksum = image.timestamp, image.checksum
            # Only VS_FIXEDFILEINFO is needed here (the analysis reads the strings when it
            # wants a vendor): find its signature in the RT_VERSION data, 4-byte aligned.
            found = image.find_resource(16)
            if found is not None:
                data = image.read(found[0], min(found[1], 0x400))
                at = data.find(b"\xbd\x04\xef\xfe")
                while at >= 0 and at % 4:
                    at = data.find(b"\xbd\x04\xef\xfe", at + 1)
                if at >= 0 and at + 52 <= len(data):
                    f = struct.unpack_from("<13I", data, at)
                    ffi = FixedFileInfo(*f)
                    version = (f[2] >> 16, f[2] & 0xFFFF, f[3] >> 16, f[3] & 0xFFFF)
            cv = image.codeview
            if cv is not None:
                pdb = (cv.pdb_name, cv.identifier, cv.age)
        except (DumpError, ValueError):
            pass
        rec = ModuleRecord(
            base_of_image=base, size_of_image=size, checksum=checksum,
            time_date_stamp=timestamp, module_name=path, version_info=ffi, cv_record=b"",
            codeview=None, misc_record=None,
        )
        return Module(
            name=name or basename(path), path=path, base=base, size=size, timestamp=timestamp,
            checksum=checksum, version=version, pdb=pdb, raw=rec,
        )

    @cached_property
    def unloaded_modules(self) -> list[UnloadedModule]:
        """Drivers unloaded before the crash: the triage dump's list, else MmUnloadedDrivers
        found through the KdDebuggerDataBlock (when the block is readable, not encoded)."""
        tri = self.triage
        from dumplib.model.kernel_triage import kdbg_unloaded, triage_unloaded

        if tri is None:
            return kdbg_unloaded(self)
        return triage_unloaded(self, tri)

    def processes(self, pdb: str | os.PathLike[str] | None = None) -> list[KernelProcess]:
        """The processes on PsActiveProcessHead, with offsets from the kernel's PDB.

        Raises:
            KernelTypesMissing: no PDB was given (EPROCESS changes with every build).
        """
        from dumplib.model.kernel_processes import list_processes

        return list_processes(self, pdb)

    def check(self) -> list[str]:
        """Decode everything; return the problems found (empty when all is well)."""
        problems: list[str] = []
        for prop in ("system", "memory", "threads", "exception", "modules", "unloaded_modules"):
            try:
                getattr(self, prop)
            except DumpError as exc:
                problems.append(f"{prop}: {exc}")
        try:
            self.threads[0].context  # noqa: B018 - decoding is the check
        except DumpError as exc:
            problems.append(f"context: {exc}")
        return problems
