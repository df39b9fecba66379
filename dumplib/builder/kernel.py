"""A writer of Windows kernel crash dumps (``PAGEDU64``), for tests and benchmarks.

Describe a crashed machine -- drivers with their functions, vendors and versions, the
call chain of the bugchecking thread, a bug check code -- and write it as a full
(run-based), bitmap (``SDMP``/``FDMP``) or triage dump::

    from dumplib.builder.kernel import KernelDumpBuilder, Function

    kb = KernelDumpBuilder(build=19041, bugcheck=0xD1)
    nt = kb.add_driver("ntoskrnl.exe", [Function("KeBugCheckEx"), Function("KiStartSystemThread")])
    flt = kb.add_driver("vsepflt.sys", [Function("VsepClassify", 0x48)],
                        company="Symantec Corporation", version=(14, 3, 1, 0))
    kb.set_crash_stack([("ntoskrnl.exe", "KeBugCheckEx", 0x40),
                        ("vsepflt.sys", "VsepClassify", 0x60),
                        ("ntoskrnl.exe", "KiStartSystemThread", 0x30)])
    info = kb.write("MEMORY.DMP", kind="bitmap")

Everything a reader needs is real: x64 4-level page tables (with 2 MB and 1 GB pages and
transition PTEs on request), a ``PsLoadedModuleList`` of ``KLDR_DATA_TABLE_ENTRY``
records, PE images with ``.pdata``, a stack whose frames unwind by those tables, and a
context record at the innermost frame. Layouts are declared here from Microsoft's
``DUMP_HEADER64`` and the x64 paging structures, not imported from the reader.
"""

from __future__ import annotations

import os
import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from dumplib.builder._context import encode_context
from dumplib.builder.kernel_image import DriverImage, Function, build_driver_image

__all__ = ["BuiltKernelDump", "Function", "KernelDumpBuilder"]

PAGE = 0x1000
_P, _W, _PS = 0x1, 0x2, 0x80
_LDR_SIZE = 0xA0
_KUSER = 0xFFFF_F780_0000_0000
_DRIVER_BASE = 0xFFFF_F800_1000_0000
_POOL_BASE = 0xFFFF_B000_0000_0000
_STACK_BASE = 0xFFFF_D000_2000_0000
#: DumpType of the Windows 10+ RDMP kinds the builder writes.
_RDMP_TYPES = {"rdmp-kernel": 8, "rdmp-active": 9, "rdmp-complete": 10}


@dataclass
class BuiltKernelDump:
    """What :meth:`KernelDumpBuilder.write` put where.

    Attributes:
        path: the file written; kind: ``"full"``, ``"bitmap"`` or ``"triage"``.
        dtb: the DirectoryTableBase; module_list: PsLoadedModuleList's address.
        drivers: driver name -> (base, size).
        frames: the crash stack as built: (ip, sp, driver, function), innermost first.
        mapped: every 4 KB mapping made: virtual page -> physical page.
        pages: every physical page with content: physical address -> bytes.
        file_size: bytes in the file (sparse holes included).
    """

    path: str
    kind: str
    dtb: int
    module_list: int
    drivers: dict[str, tuple[int, int]]
    frames: list[tuple[int, int, str, str]]
    mapped: dict[int, int]
    pages: dict[int, bytes]
    file_size: int


@dataclass
class _Driver:
    name: str
    path: str
    base: int
    image: DriverImage


@dataclass
class KernelDumpBuilder:
    """Builds an x64 kernel dump (see the module docstring).

    Attributes:
        build: Windows build number (header MinorVersion).
        bugcheck: the stop code; parameters: its four parameters.
        processors: NumberProcessors.
        physical_pages: size of the machine's physical memory in pages (the runs of a
            full dump and the bitmap of a bitmap dump cover it; untouched pages are zero
            and written as file holes).
        holes: (first page, page count) ranges of physical memory absent from the dump.
    """

    build: int = 19041
    bugcheck: int = 0xD1
    parameters: tuple[int, int, int, int] = (0, 2, 0, 0)
    processors: int = 2
    physical_pages: int = 0x4000
    holes: list[tuple[int, int]] = field(default_factory=list)
    system_time: int = 0x01DA_0000_0000_0000
    uptime: int = 36_000_000_000
    os_version: tuple[int, int] = (10, 0)
    #: Write the KdDebuggerDataBlock's 'KDBG' tag (False: as if encoded, Windows 8+).
    kdbg_tag: bool = True

    def __post_init__(self) -> None:
        self._pages: dict[int, bytearray] = {}
        self._next_pfn = 0x100
        self._pml4 = self._alloc()
        self.mapped: dict[int, int] = {}
        self._drivers: list[_Driver] = []
        self._next_driver = _DRIVER_BASE
        self._pool = _POOL_BASE
        self._frames: list[tuple[int, int, str, str]] = []
        self._context: dict[str, int] = {}
        self._exception: tuple[int, int, tuple[int, ...]] = (0, 0, ())
        self.module_list = 0

    # -- physical pages and page tables ---------------------------------------------------

    def _alloc(self) -> int:
        pfn = self._next_pfn
        while any(s <= pfn < s + n for s, n in self.holes):
            pfn += 1
        self._next_pfn = pfn + 1
        self._pages[pfn] = bytearray(PAGE)
        return pfn

    def _table(self, pfn: int, index: int) -> int:
        page = self._pages[pfn]
        entry: int = struct.unpack_from("<Q", page, index * 8)[0]
        if entry & _P:
            return (entry >> 12) & 0xFFFFFFFFFF
        new = self._alloc()
        struct.pack_into("<Q", page, index * 8, (new << 12) | _P | _W)
        return new

    def map_page(self, va: int, pfn: int | None = None, *, transition: bool = False) -> int:
        """Map the 4 KB page at ``va`` (to a new frame unless ``pfn`` is given); return the frame.

        ``transition=True`` writes a transition PTE (not valid, bit 11 set) instead.
        """
        pdpt = self._table(self._pml4, (va >> 39) & 0x1FF)
        pd = self._table(pdpt, (va >> 30) & 0x1FF)
        pt = self._table(pd, (va >> 21) & 0x1FF)
        if pfn is None:
            pfn = self._alloc()
        elif pfn not in self._pages:
            self._pages[pfn] = bytearray(PAGE)
        flags = 0x800 if transition else (_P | _W)
        struct.pack_into("<Q", self._pages[pt], ((va >> 12) & 0x1FF) * 8, (pfn << 12) | flags)
        self.mapped[va & ~0xFFF] = pfn
        return pfn

    def map_large(self, va: int, pa: int, *, huge: bool = False) -> None:
        """Map a 2 MB page (or a 1 GB page with ``huge``) at ``va`` onto physical ``pa``."""
        pdpt = self._table(self._pml4, (va >> 39) & 0x1FF)
        if huge:
            struct.pack_into("<Q", self._pages[pdpt], ((va >> 30) & 0x1FF) * 8, pa | _P | _W | _PS)
            return
        pd = self._table(pdpt, (va >> 30) & 0x1FF)
        struct.pack_into("<Q", self._pages[pd], ((va >> 21) & 0x1FF) * 8, pa | _P | _W | _PS)

    def write_physical(self, pa: int, data: bytes) -> None:
        """Put ``data`` at physical address ``pa`` (pages are created as needed)."""
        while data:
            pfn, off = pa >> 12, pa & 0xFFF
            take = min(len(data), PAGE - off)
            page = self._pages.setdefault(pfn, bytearray(PAGE))
            page[off : off + take] = data[:take]
            data, pa = data[take:], pa + take

    def write_virtual(self, va: int, data: bytes) -> None:
        """Map (when needed) and fill ``data`` at virtual ``va``."""
        while data:
            page_va, off = va & ~0xFFF, va & 0xFFF
            pfn = self.mapped.get(page_va)
            if pfn is None:
                pfn = self.map_page(page_va)
            take = min(len(data), PAGE - off)
            self._pages[pfn][off : off + take] = data[:take]
            data, va = data[take:], va + take

    def _pool_alloc(self, data: bytes) -> int:
        at = self._pool
        self.write_virtual(at, data)
        self._pool = (at + len(data) + 0xF) & ~0xF
        return at

    # -- drivers ------------------------------------------------------------------------

    def add_driver(
        self, name: str, functions: Sequence[Function], *, path: str | None = None,
        company: str = "Microsoft Corporation",
        version: tuple[int, int, int, int] = (10, 0, 19041, 1),
        description: str = "", timestamp: int = 0x5F5E1000, with_pdata: bool = True,
        in_memory: bool = True, imports: dict[str, list[str]] | None = None,
    ) -> int:
        """Load a driver image; return its base. ``in_memory=False`` lists it but keeps no pages."""
        base = self._next_driver
        image = build_driver_image(
            name, base, list(functions), timestamp=timestamp, company=company,
            description=description, version=version, with_pdata=with_pdata, imports=imports,
            pdb_guid=uuid.uuid5(uuid.NAMESPACE_DNS, name),
        )
        self._next_driver = base + ((len(image.data) + 0xFFFF) & ~0xFFFF) + 0x10000
        self._drivers.append(_Driver(
            name, path or f"\\SystemRoot\\system32\\drivers\\{name}", base, image))
        self._in_memory = getattr(self, "_in_memory", {})
        self._in_memory[name] = in_memory
        return base

    def driver(self, name: str) -> tuple[int, DriverImage]:
        """The base and image of a driver added earlier."""
        d = next(d for d in self._drivers if d.name == name)
        return d.base, d.image

    def set_crash_stack(
        self, frames: Sequence[tuple[str, str, int]], *, stack_size: int = 0x6000,
        registers: dict[str, int] | None = None,
    ) -> list[tuple[int, int, str, str]]:
        """Build the bugchecking thread's stack from (driver, function, offset), innermost first.

        Each outer frame's offset is where its call returns to; a ``call rel32`` to the
        inner function is written just before it. The context record gets the innermost
        ip and sp. Returns (ip, sp, driver, function) per frame.
        """
        top = _STACK_BASE + stack_size
        sizes = []
        for drv, fn, _off in frames:
            spec = self.driver(drv)[1].specs[fn]
            sizes.append(spec.frame + (16 if spec.push_rbx else 8))
        sp = top - 0x100 - sum(sizes)
        sp &= ~0xF
        stack = bytearray(stack_size)
        built: list[tuple[int, int, str, str]] = []
        cur = sp
        for i, (drv, fn, off) in enumerate(frames):
            base, image = self.driver(drv)
            spec = image.specs[fn]
            if i == 0:
                ip = base + image.functions[fn] + off
            else:
                inner_drv, inner_fn, _ = frames[i - 1]
                ib, iimg = self.driver(inner_drv)
                ip = base + image.place_call(fn, off, ib + iimg.functions[inner_fn], base)
            built.append((ip, cur, drv, fn))
            frame_bytes = spec.frame + (8 if spec.push_rbx else 0)
            ret_slot = cur + frame_bytes
            if i + 1 < len(frames):
                nd, nf, noff = frames[i + 1]
                nb, nimg = self.driver(nd)
                ret = nb + nimg.functions[nf] + noff
            else:
                ret = 0
            struct.pack_into("<Q", stack, ret_slot - _STACK_BASE, ret)
            cur = ret_slot + 8
        self.write_virtual(_STACK_BASE, bytes(stack))
        self._frames = built
        self._context = {"rip": built[0][0], "rsp": built[0][1], "rbp": 0, "rbx": 0x1234,
                         **(registers or {})}
        return built

    def add_processes(
        self, processes: Sequence[tuple[int, str, int]], layout: dict[str, int], size: int
    ) -> list[int]:
        """Put EPROCESS records on PsActiveProcessHead; return their addresses.

        Args:
            processes: (pid, image name, directory table base) of each.
            layout: member offsets: ``ActiveProcessLinks``, ``UniqueProcessId``,
                ``ImageFileName`` and ``DirectoryTableBase`` (of the embedded KPROCESS).
            size: sizeof(EPROCESS).
        """
        head = self._pool_alloc(bytes(16))
        addrs = [self._pool_alloc(bytes(size)) for _ in processes]
        if "ThreadListHead" in layout:  # an empty thread list points at itself
            for at in addrs:
                h = at + layout["ThreadListHead"]
                self.write_virtual(h, struct.pack("<QQ", h, h))
        links = [head] + [a + layout["ActiveProcessLinks"] for a in addrs] + [head]
        for i, ((pid, name, dtb), at) in enumerate(zip(processes, addrs, strict=True)):
            e = bytearray(size)
            struct.pack_into("<QQ", e, layout["ActiveProcessLinks"], links[i + 2], links[i])
            struct.pack_into("<Q", e, layout["UniqueProcessId"], pid)
            e[layout["ImageFileName"] : layout["ImageFileName"] + 15] = name.encode()[:15].ljust(
                15, b"\0")
            struct.pack_into("<Q", e, layout["DirectoryTableBase"], dtb)
            if "ThreadListHead" in layout:
                h = at + layout["ThreadListHead"]
                struct.pack_into("<QQ", e, layout["ThreadListHead"], h, h)
            self.write_virtual(at, bytes(e))
        self.write_virtual(head, struct.pack("<QQ", links[1], links[-2]))
        self.process_head = head
        return addrs

    def add_threads(
        self, process: int, threads: Sequence[tuple[int, int, int]], layout: dict[str, int],
        size: int, *, thread_list_head: int,
    ) -> list[int]:
        """Put ETHREAD records on the ThreadListHead of the EPROCESS at ``process``.

        Args:
            threads: (thread id, KTHREAD.State, KTHREAD.KernelStack) of each.
            layout: offsets ``ThreadListEntry``, ``UniqueThread`` (Cid's), ``State``,
                ``KernelStack``.
            size: sizeof(ETHREAD); thread_list_head: EPROCESS.ThreadListHead's offset.
        """
        head = process + thread_list_head
        addrs = [self._pool_alloc(bytes(size)) for _ in threads]
        links = [head] + [a + layout["ThreadListEntry"] for a in addrs] + [head]
        for i, ((tid, state, kstack), at) in enumerate(zip(threads, addrs, strict=True)):
            e = bytearray(size)
            struct.pack_into("<QQ", e, layout["ThreadListEntry"], links[i + 2], links[i])
            struct.pack_into("<Q", e, layout["UniqueThread"], tid)
            e[layout["State"]] = state
            struct.pack_into("<Q", e, layout["KernelStack"], kstack)
            self.write_virtual(at, bytes(e))
        self.write_virtual(head, struct.pack("<QQ", links[1], links[-2]))
        return addrs

    def add_unloaded(self, name: str, start: int, end: int) -> None:
        """An unloaded driver, kept by triage dumps (at most 12 characters of its name)."""
        self._unloaded = getattr(self, "_unloaded", [])
        self._unloaded.append((name, start, end))

    def _vread(self, va: int, size: int) -> bytes:
        out = bytearray()
        while size > 0:
            take = min(size, PAGE - (va & 0xFFF))
            pfn = self.mapped.get(va & ~0xFFF)
            page = self._pages.get(pfn, bytearray(PAGE)) if pfn is not None else bytearray(PAGE)
            out += page[va & 0xFFF : (va & 0xFFF) + take]
            va, size = va + take, size - take
        return bytes(out)

    def _write_triage(self, path: str, images_in_dump: bool) -> BuiltKernelDump:
        """A small memory dump: TRIAGE_DUMP64 after the header, then its pieces."""
        blob = bytearray(self._header(4, [], 0))
        blob += bytes(0x80)  # TRIAGE_DUMP64, filled in below

        def put(data: bytes) -> int:
            blob.extend(b"\0" * (-len(blob) % 8))
            at = len(blob)
            blob.extend(data)
            return at

        unloaded = getattr(self, "_unloaded", [])
        ul = struct.pack("<Q", len(unloaded))
        for name, start, end in unloaded:
            raw = name.encode("utf-16-le")[:24]
            ul += struct.pack("<HHIQ", len(raw), 24, 0, 0) + raw.ljust(24, b"\0")
            ul += struct.pack("<QQ", start, end)
        unloaded_off = put(ul)
        sp = self._context["rsp"]
        top = _STACK_BASE + max(PAGE, ((sp - _STACK_BASE) // PAGE + 2) * PAGE)
        stack = self._vread(sp, top - sp)
        stack_off = put(stack)
        names: list[int] = []
        pool = bytearray()
        pool_base = 0  # patched below
        for d in self._drivers:
            text = d.name.encode("utf-16-le")
            pool.extend(b"\0" * (-len(pool) % 8))
            names.append(len(pool))
            pool += struct.pack("<I", len(text) // 2) + text + b"\0\0"
        entries = bytearray()
        for d in self._drivers:
            e = bytearray(0x90)
            ts = struct.unpack_from("<I", d.image.data, 0x88)[0]
            struct.pack_into("<I", e, 0, 0)  # name offset patched below
            struct.pack_into("<QQI", e, 8 + 0x30, d.base, d.base + 0x1000, len(d.image.data))
            struct.pack_into("<I", e, 8 + 0x78, 0)
            struct.pack_into("<I", e, 8 + 0x80, ts)
            entries += e
        list_off = put(bytes(entries))
        pool_base = put(bytes(pool))
        for i, name_at in enumerate(names):
            struct.pack_into("<I", blob, list_off + i * 0x90, pool_base + name_at)
        blocks: list[tuple[int, int, int]] = []
        if images_in_dump:
            for d in self._drivers:
                blocks.append((d.base, put(bytes(d.image.data)), len(d.image.data)))
        blocks_off = put(b"".join(struct.pack("<QII", a, o, s) for a, o, s in blocks))
        valid_off = put(struct.pack("<I", 0x44475254))
        tri = struct.pack(
            "<18IQIIQQ6I", 0, len(blob), valid_off, 0x348, 0xF00, 0, unloaded_off, 0, 0, 0,
            stack_off, len(stack), list_off, len(self._drivers), pool_base, len(pool), 0, 0,
            sp, 0, 0, 0, 0, 0, 0, 0, 0, blocks_off, len(blocks),
        )
        blob[0x2000 : 0x2000 + len(tri)] = tri
        with open(path, "wb") as fh:
            fh.write(blob)
        return BuiltKernelDump(
            path=path, kind="triage", dtb=self._pml4 << 12, module_list=self.module_list,
            drivers={d.name: (d.base, len(d.image.data)) for d in self._drivers},
            frames=list(self._frames), mapped={}, pages={}, file_size=len(blob),
        )

    def set_exception(self, code: int, address: int, parameters: Sequence[int] = ()) -> None:
        """The header's exception record."""
        self._exception = (code, address, tuple(parameters))

    # -- writing ------------------------------------------------------------------------

    def _finish(self) -> None:
        """Map driver images, KUSER_SHARED_DATA and the loaded-module list."""
        for d in self._drivers:
            if getattr(self, "_in_memory", {}).get(d.name, True):
                self.write_virtual(d.base, bytes(d.image.data))
        kuser = bytearray(PAGE)
        struct.pack_into("<II", kuser, 0x26C, *self.os_version)
        self.write_virtual(_KUSER, bytes(kuser))
        entries = []
        for d in self._drivers:
            full = d.path.encode("utf-16-le")
            short = d.name.encode("utf-16-le")
            full_at = self._pool_alloc(full + b"\0\0")
            short_at = self._pool_alloc(short + b"\0\0")
            entries.append((d, full_at, len(full), short_at, len(short)))
        head = self._pool_alloc(bytes(16))
        addrs = [self._pool_alloc(bytes(_LDR_SIZE)) for _ in entries]
        chain = [head, *addrs, head]
        for i, (d, full_at, flen, short_at, slen) in enumerate(entries):
            e = bytearray(_LDR_SIZE)
            struct.pack_into("<QQ", e, 0, chain[i + 2], chain[i])
            struct.pack_into("<QQI", e, 0x30, d.base, d.base + 0x1000, len(d.image.data))
            struct.pack_into("<HHIQ", e, 0x48, flen, flen + 2, 0, full_at)
            struct.pack_into("<HHIQ", e, 0x58, slen, slen + 2, 0, short_at)
            self.write_virtual(addrs[i], bytes(e))
        first = addrs[0] if addrs else head
        last = addrs[-1] if addrs else head
        self.write_virtual(head, struct.pack("<QQ", first, last))
        self.module_list = head
        unloaded = getattr(self, "_unloaded", [])
        if unloaded:
            # KDDEBUGGER_DATA64 with its KDBG tag, MmUnloadedDrivers -> a pointer to the ring
            # of 50 UNLOADED_DRIVERS (40 bytes each), MmLastUnloadedDriver -> the next slot.
            ring = bytearray(50 * 40)
            for i, (name, start, end) in enumerate(unloaded):
                text = name.encode("utf-16-le")
                at = self._pool_alloc(text)
                struct.pack_into("<HHIQQQQ", ring, i * 40, len(text), len(text), 0, at,
                                 start, end, 0x01DA_0000_0000_0000 + i)
            ring_at = self._pool_alloc(bytes(ring))
            var = self._pool_alloc(struct.pack("<Q", ring_at))
            count = self._pool_alloc(struct.pack("<I", len(unloaded)))
            kdbg = bytearray(0x340)
            kdbg[0x10:0x14] = b"KDBG" if self.kdbg_tag else b"\x8a\x1f\x33\x90"
            struct.pack_into("<I", kdbg, 0x14, len(kdbg))
            struct.pack_into("<QQ", kdbg, 0x220, var, count)
            self.kdbg = self._pool_alloc(bytes(kdbg))

    def _header(self, dump_type: int, runs: list[tuple[int, int]], npages: int) -> bytearray:
        h = bytearray(b"PAGE" * (0x2000 // 4))  # unused space reads 'PAGE', as Windows writes
        h[0:8] = b"PAGEDU64"
        struct.pack_into("<IIQQQQIII", h, 8, 0xF, self.build, self._pml4 << 12,
                         0xFFFF_FA80_0000_0000, self.module_list,
                         getattr(self, "process_head", 0), 0x8664, self.processors,
                         self.bugcheck)
        struct.pack_into("<I", h, 0x3C, 0)
        struct.pack_into("<4Q", h, 0x40, *self.parameters)
        h[0x60:0x80] = bytes(32)
        struct.pack_into("<Q", h, 0x80, getattr(self, "kdbg", 0))
        h[0x88:0x348] = bytes(0x348 - 0x88)
        struct.pack_into("<IIQ", h, 0x88, len(runs), 0, npages)
        for i, (b, n) in enumerate(runs):
            struct.pack_into("<QQ", h, 0x98 + 16 * i, b, n)
        ctx = encode_context("amd64", self._context)
        h[0x348 : 0x348 + 3000] = ctx + bytes(3000 - len(ctx))
        code, addr, params = self._exception
        exc = struct.pack("<IIQQII", code, 0, 0, addr, len(params), 0)
        exc += b"".join(struct.pack("<Q", p) for p in params) + bytes(8 * (15 - len(params)))
        h[0xF00 : 0xF98] = exc
        struct.pack_into("<IIqq", h, 0xF98, dump_type, 0, 0, self.system_time)
        h[0xFB0:0x1030] = b"dumplib kernel dump builder".ljust(128, b"\0")
        struct.pack_into("<qIIIII", h, 0x1030, self.uptime, 0, 0, 1, 0x110, 0)
        h[0x104C:0x1058] = bytes(12)
        return h

    def write(
        self, path: str | os.PathLike[str], kind: str = "full", *, images_in_dump: bool = True
    ) -> BuiltKernelDump:
        """Write the dump as ``kind``: ``"full"``, ``"bitmap"`` (FDMP) or ``"bitmap-kernel"``."""
        if not self.module_list:
            self._finish()
        if kind == "triage":
            return self._write_triage(os.fspath(path), images_in_dump)
        total = max(self.physical_pages, max(self._pages) + 1)
        holes = sorted(self.holes)
        runs: list[tuple[int, int]] = []
        cur = 0
        for s, n in holes:
            if s > cur:
                runs.append((cur, s - cur))
            cur = max(cur, s + n)
        if cur < total:
            runs.append((cur, total - cur))
        npages = sum(n for _, n in runs)
        path = os.fspath(path)
        with open(path, "wb") as fh:
            if kind == "full":
                fh.write(self._header(1, runs, npages))
                offsets: dict[int, int] = {}
                off = 0x2000
                for b, n in runs:
                    for pfn in (p for p in self._pages if b <= p < b + n):
                        offsets[pfn] = off + (pfn - b) * PAGE
                    off += n * PAGE
                size = off
            elif kind in ("bitmap", "bitmap-kernel"):
                fh.write(self._header(5, [], npages))
                nbytes = (total + 7) // 8
                bits = 0
                for b, n in runs:
                    bits |= ((1 << n) - 1) << b
                bitmap = bits.to_bytes(nbytes, "little")
                first = (0x2000 + 0x38 + nbytes + PAGE - 1) & ~(PAGE - 1)
                sig = b"FDMP" if kind == "bitmap" else b"SDMP"
                bh = sig + b"DUMP" + bytes(0x18) + struct.pack("<QQQ", first, npages, total)
                fh.write(bh + bitmap)
                offsets = {}
                for pfn in self._pages:
                    if bits >> pfn & 1:
                        rank = (bits & ((1 << pfn) - 1)).bit_count()
                        offsets[pfn] = first + rank * PAGE
                size = first + npages * PAGE
            elif kind in _RDMP_TYPES:
                # Windows 10+ RDMP: (frame, count) ranges after a 0x30-byte header, then pages
                # in list order; page frame 0 would end the list, so it is left out.
                rruns = [(max(b, 1), n - (1 if b == 0 else 0)) for b, n in runs]
                rruns = [(b, n) for b, n in rruns if n]
                table = b"".join(struct.pack("<QQ", b, n) for b, n in rruns) + bytes(16)
                first = (0x2030 + len(table) + PAGE - 1) & ~(PAGE - 1)
                meta = first - 0x2020
                npages = sum(n for _, n in rruns)
                fh.write(self._header(_RDMP_TYPES[kind], [], npages))
                rh = struct.pack("<I4s4sIQQ", 0x40, b"RDMP", b"DUMP", 0, meta, first)
                if kind == "rdmp-complete":
                    rh += struct.pack("<IHHQ", len(rruns), 0, 0, npages)
                else:
                    rh += bytes(16)
                fh.write(rh + table)
                offsets = {}
                off = first
                for b, n in rruns:
                    for pfn in (p for p in self._pages if b <= p < b + n):
                        offsets[pfn] = off + (pfn - b) * PAGE
                    off += n * PAGE
                size = off
            else:
                raise ValueError(f"unknown kind {kind!r}")
            fh.truncate(size)
            for pfn, off in sorted(offsets.items(), key=lambda x: x[1]):
                page = self._pages[pfn]
                if any(page):
                    fh.seek(off)
                    fh.write(page)
        return BuiltKernelDump(
            path=path, kind=kind, dtb=self._pml4 << 12, module_list=self.module_list,
            drivers={d.name: (d.base, len(d.image.data)) for d in self._drivers},
            frames=list(self._frames), mapped=dict(self.mapped),
            pages={pfn << 12: bytes(p) for pfn, p in self._pages.items() if pfn in offsets},
            file_size=size,
        )
