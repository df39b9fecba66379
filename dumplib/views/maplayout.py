"""The layout of the address-space map, computed without matplotlib.

:func:`map_layout` turns a dump into what the picture shows: regions (by type
and protection from the MemoryInfoList when the dump has one, else module
images, thread stacks and the captured ranges), module and stack marks, the
fault, and the *bands*: the address space cut at its largest empty gaps, each
band drawn to a compressed height. :mod:`dumplib.views.plot` draws it.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

from dumplib._exc import DumpError
from dumplib.format.constants import MemoryProtect, MemoryState, MemoryType
from dumplib.model.dump import DumpFile

__all__ = [
    "KINDS",
    "PROTECTIONS",
    "Band",
    "MapLayout",
    "MapMark",
    "MapRegion",
    "map_layout",
    "protection_class",
]

#: Region kinds, in legend order, with their meaning.
KINDS = {
    "image": "image (EXE/DLL)",
    "mapped": "mapped file",
    "private": "private (heap, stacks, ...)",
    "reserved": "reserved, not committed",
    "stack": "thread stack (captured)",
    "captured": "other captured memory",
}

#: Protection classes, in legend order.
PROTECTIONS = {
    "execute": "executable",
    "write": "writable",
    "read": "read-only",
    "noaccess": "no access / guard",
    "captured": "bytes in the dump",
    "unknown": "not described",
}

#: Vertical room (map units) one mark's label takes.
LABEL_SPACING = 0.7

#: Gaps of at most this many bytes join captured ranges into one region.
JOIN_GAP = 0x1000


def protection_class(protect: int, state: int = MemoryState.MEM_COMMIT) -> str:
    """``"execute"``, ``"write"``, ``"read"`` or ``"noaccess"`` for a PAGE_* value."""
    if state != MemoryState.MEM_COMMIT:
        return "noaccess"
    if protect & MemoryProtect.PAGE_GUARD:
        return "noaccess"
    base = protect & 0xFF
    if base & (MemoryProtect.PAGE_EXECUTE | MemoryProtect.PAGE_EXECUTE_READ
               | MemoryProtect.PAGE_EXECUTE_READWRITE | MemoryProtect.PAGE_EXECUTE_WRITECOPY):
        return "execute"
    if base & (MemoryProtect.PAGE_READWRITE | MemoryProtect.PAGE_WRITECOPY):
        return "write"
    if base & MemoryProtect.PAGE_READONLY:
        return "read"
    return "noaccess"


@dataclass(frozen=True, slots=True)
class MapRegion:
    """A region drawn in the map: ``[start, end)`` with its kind and protection class."""

    start: int
    end: int
    kind: str
    protection: str


@dataclass(frozen=True, slots=True)
class MapMark:
    """A labelled span beside the map: a module or a thread stack.

    Attributes:
        kind: ``"module"`` or ``"stack"``.
        ident: the module name or thread id (used for SVG element ids).
        hot: the faulting module or thread.
    """

    start: int
    end: int
    label: str
    kind: str
    ident: str
    hot: bool = False


@dataclass(frozen=True, slots=True)
class Band:
    """A stretch of the address space drawn as one block, ``height`` units tall.

    Addresses inside a band map linearly onto ``[top, top + height)``.
    """

    start: int
    end: int
    top: float
    height: float

    def y(self, address: int) -> float:
        """The vertical position of ``address`` (clamped to the band)."""
        frac = (min(max(address, self.start), self.end) - self.start) / (self.end - self.start)
        return self.top + frac * self.height


@dataclass(slots=True)
class MapLayout:
    """Everything the address-space map shows.

    Attributes:
        regions: the drawn regions, sorted by address.
        marks: modules and thread stacks.
        bands: the address space in compressed blocks, top to bottom.
        fault: the exception address, if any; fault_label describes it.
        source: ``"memory_info"`` or ``"captured"``: what the regions come from.
        title: a one-line caption.
    """

    regions: list[MapRegion]
    marks: list[MapMark]
    bands: list[Band]
    fault: int | None
    fault_label: str
    source: str
    title: str
    gap: float = 0.8
    notes: list[str] = field(default_factory=list)

    @property
    def height(self) -> float:
        """Total height in units (bands plus the gaps between them)."""
        if not self.bands:
            return 0.0
        return self.bands[-1].top + self.bands[-1].height

    def band_of(self, address: int) -> Band | None:
        """The band holding ``address``, or None."""
        for b in self.bands:
            if b.start <= address < b.end:
                return b
        return None

    def y(self, address: int) -> float | None:
        """The vertical position of ``address``, or None outside every band."""
        b = self.band_of(address)
        return b.y(address) if b else None


def _kind_of(info_type: int, state: int) -> str:
    if state == MemoryState.MEM_RESERVE:
        return "reserved"
    if info_type == MemoryType.MEM_IMAGE:
        return "image"
    if info_type == MemoryType.MEM_MAPPED:
        return "mapped"
    return "private"


def _band_height(size: int) -> float:
    """Drawn height of a band: grows with the logarithm of its size (4 KiB -> 1)."""
    return 1.0 + 0.35 * max(0.0, math.log2(max(size, 1) / 0x1000))


def _captured_blocks(dump: DumpFile) -> list[tuple[int, int]]:
    """Captured ranges joined across gaps of at most :data:`JOIN_GAP` bytes."""
    blocks: list[tuple[int, int]] = []
    for start, size in dump.memory.ranges:
        end = start + size
        if blocks and start - blocks[-1][1] <= JOIN_GAP:
            blocks[-1] = (blocks[-1][0], max(blocks[-1][1], end))
        else:
            blocks.append((start, end))
    return blocks


def map_layout(dump: DumpFile, *, max_bands: int = 24) -> MapLayout:
    """Lay out the address-space map of ``dump``.

    With a MemoryInfoList every described region that is not free is drawn by
    its type (image, mapped, private, reserved) and protection. Without one
    (minidumps from wine or breakpad), module images and captured thread
    stacks are drawn from their records and the captured ranges beside them.

    Args:
        dump: the dump.
        max_bands: most blocks the address space is cut into (at its largest gaps).
    """
    regions: list[MapRegion] = []
    infos = dump.memory.memory_info
    if infos:
        source = "memory_info"
        for mi in infos:
            if mi.state == MemoryState.MEM_FREE or mi.region_size == 0:
                continue
            regions.append(MapRegion(mi.base_address, mi.end, _kind_of(mi.type, mi.state),
                                     protection_class(mi.protect, mi.state)))
    else:
        source = "captured"
        for m in dump.modules:
            regions.append(MapRegion(m.base, m.end, "image", "unknown"))
        for t in dump.threads:
            st = t.stack_range
            if st:
                regions.append(MapRegion(st[0], st[0] + st[1], "stack", "captured"))
        covered = sorted((r.start, r.end, r.kind) for r in regions)
        for start, end in _captured_blocks(dump):
            kind = next((k for s, e, k in covered if s <= start and end <= e), "captured")
            regions.append(MapRegion(start, end, kind, "captured"))
    regions.sort(key=lambda r: (r.start, r.end))

    exc = dump.exception
    fault_thread = exc.thread_id if exc else None
    fault_module = dump.modules.find(exc.address) if exc else None
    marks: list[MapMark] = [
        MapMark(m.base, m.end, m.name, "module", m.name, hot=m is fault_module)
        for m in dump.modules
    ]
    for t in dump.threads:
        st = t.stack_range
        if not st:
            continue
        label = f"stack of thread {t.id}" + (f" ({t.name})" if t.name else "")
        marks.append(MapMark(st[0], st[0] + st[1], label, "stack", str(t.id),
                             hot=t.id == fault_thread))

    spans = sorted([(r.start, r.end) for r in regions] + [(m.start, m.end) for m in marks])
    islands: list[list[int]] = []
    for s, e in spans:
        if islands and s <= islands[-1][1]:
            islands[-1][1] = max(islands[-1][1], e)
        else:
            islands.append([s, e])
    # cut at the (max_bands - 1) largest gaps; smaller gaps stay inside a band
    gaps = sorted(
        range(1, len(islands)), key=lambda i: islands[i][0] - islands[i - 1][1], reverse=True
    )
    cuts = sorted(gaps[: max(0, max_bands - 1)])
    groups: list[tuple[int, int]] = []
    first = 0
    for c in [*cuts, len(islands)]:
        if c > first:
            groups.append((islands[first][0], islands[c - 1][1]))
        first = c
    layout = MapLayout(regions, marks, [], exc.address if exc else None, "", source, "")
    starts = sorted(m.start for m in marks)
    top = 0.0
    for s, e in groups:
        # tall enough for the labels of the marks inside, so they stay beside them
        labels = bisect.bisect_left(starts, e) - bisect.bisect_left(starts, s)
        h = max(_band_height(e - s), labels * LABEL_SPACING)
        layout.bands.append(Band(s, e, top, h))
        top += h + layout.gap
    if exc is not None:
        where = f"{fault_module.name}+0x{exc.address - fault_module.base:x}" if fault_module \
            else f"0x{exc.address:x}"
        name = (exc.name or f"0x{exc.code:08x}").removeprefix("EXCEPTION_")
        layout.fault_label = f"{name}\nat {where}"
    main = dump.modules.main
    try:
        pid = dump.process_id
    except DumpError:
        pid = None
    layout.title = (
        f"{main.name if main else 'process'} (pid {pid if pid is not None else '?'}): "
        f"{len(regions)} regions"
        + (" from the memory-info list" if source == "memory_info"
           else " from module, stack and captured-memory records (no memory-info list)")
    )
    return layout
