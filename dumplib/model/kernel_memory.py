"""Memory of a kernel dump: the physical pages in the file and the virtual space above them.

Two address spaces, kept apart:

* :class:`PhysicalMemory` -- physical addresses. A full (run-based) dump indexes its runs
  once and finds a page by bisection; a bitmap dump builds a rank index (the number of
  set bits before every 512-page block, computed with ``int.bit_count`` over 64-byte
  slices, no per-page loop) so that a page's file offset is one popcount away.
* :class:`VirtualMemory` -- virtual addresses, translated through the page tables:
  x64 4-level paging with 1 GB and 2 MB pages and transition PTEs (a page on the
  standby or modified list is still in RAM, so still in the dump), x86 PAE (3-level) and
  x86 non-PAE (2-level, 4 MB pages).

Both are :class:`~dumplib.model.memory.Memory` objects: ``read``, ``try_read``,
``read_u64``, ``find`` ... behave as for a process dump. Translations are cached per page
(bounded), so random pointer reads cost a dictionary lookup and a slice.
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Callable, Iterator, Sequence

from dumplib._exc import MemoryNotInDump
from dumplib.format.kernel import PAGE_SIZE, BitmapLayout
from dumplib.model.hexdump import HexDump
from dumplib.model.memory import Memory, MemoryRegion, file_segments
from dumplib.source import Source

__all__ = ["PhysicalMemory", "VirtualMemory"]

_MISSING = -1
#: Pages whose translation is cached before the cache is cleared (bounded memory).
_CACHE_PAGES = 1 << 18
#: Bitmap bytes per rank-index block (512 pages).
_RANK_BLOCK = 64
_PFN_MASK = 0x000F_FFFF_FFFF_F000


def _paged_reader(layout: struct.Struct, doc: str) -> Callable[[_PagedMemory, int], int]:
    unpack_from = layout.unpack_from
    size = layout.size

    def read(self: _PagedMemory, address: int) -> int:
        off = address & 0xFFF
        if off + size <= PAGE_SIZE and self._buf is not None:
            page = address >> 12
            fo = self._cache.get(page)
            if fo is None:
                fo = self._cache_page(page)
            if fo >= 0:
                value: int = unpack_from(self._buf, fo + off)[0]
                return value
        value = layout.unpack(self.read(address, size))[0]
        return value

    read.__doc__ = doc
    return read


class _PagedMemory(Memory):
    """A Memory whose bytes are found page by page through :meth:`_page_offset`."""

    __slots__ = ("_cache", "_space")

    def __init__(self, src: Source, *, pointer_size: int, space: str) -> None:
        super().__init__(src, [], [], [], pointer_size=pointer_size)
        self._cache: dict[int, int] = {}
        self._space = space

    # -- to be provided -----------------------------------------------------------------

    def _page_offset(self, page: int) -> int:
        """File offset of page number ``page``, or -1 when it is not in the dump."""
        raise NotImplementedError

    def _mapped(self) -> Iterator[tuple[int, int, int]]:
        """Every present span as (start address, size, file offset), in address order."""
        raise NotImplementedError

    # -- paging -------------------------------------------------------------------------

    def _cache_page(self, page: int) -> int:
        fo = self._page_offset(page)
        cache = self._cache
        if len(cache) >= _CACHE_PAGES:
            cache.clear()
        cache[page] = fo
        return fo

    def _offset_of(self, page: int) -> int:
        fo = self._cache.get(page)
        return self._cache_page(page) if fo is None else fo

    def _missing(self, address: int, size: int, at: int) -> MemoryNotInDump:
        return MemoryNotInDump(
            f"{size} bytes at {self._space} 0x{address:x} are not in the dump "
            f"(first missing byte 0x{at:x})",
            address=at,
        )

    def read(self, address: int, size: int) -> bytes:
        """Read ``size`` bytes at ``address`` of this address space.

        Raises:
            MemoryNotInDump: a page of the range is not in the dump (or not mapped).
        """
        if size < 0:
            raise ValueError("size must be >= 0")
        off = address & 0xFFF
        if off + size <= PAGE_SIZE:
            fo = self._offset_of(address >> 12)
            if fo < 0:
                raise self._missing(address, size, address)
            raw = self._raw
            if raw is not None:
                return raw[fo + off : fo + off + size]
            return self._src.read(fo + off, size, what=self._space)
        parts: list[bytes] = []
        cur, end = address, address + size
        while cur < end:
            take = min(end, (cur | 0xFFF) + 1) - cur
            fo = self._offset_of(cur >> 12)
            if fo < 0:
                raise self._missing(address, size, cur)
            parts.append(self._src.read(fo + (cur & 0xFFF), take, what=self._space))
            cur += take
        return b"".join(parts)

    def read_available(self, address: int, size: int) -> bytes:
        """Read up to ``size`` bytes at ``address``, stopping at the first missing page."""
        parts: list[bytes] = []
        cur, end = address, address + size
        while cur < end:
            take = min(end, (cur | 0xFFF) + 1) - cur
            fo = self._offset_of(cur >> 12)
            if fo < 0:
                break
            parts.append(self._src.read(fo + (cur & 0xFFF), take, what=self._space))
            cur += take
        return b"".join(parts)

    def _unpack_slow(self, layout: struct.Struct, address: int) -> int:
        value: int = layout.unpack(self.read(address, layout.size))[0]
        return value

    read_u8 = _paged_reader(struct.Struct("<B"), "Read an unsigned byte.")
    read_u16 = _paged_reader(struct.Struct("<H"), "Read a little-endian unsigned 16-bit integer.")
    read_u32 = _paged_reader(struct.Struct("<I"), "Read a little-endian unsigned 32-bit integer.")
    read_u64 = _paged_reader(struct.Struct("<Q"), "Read a little-endian unsigned 64-bit integer.")
    read_i32 = _paged_reader(struct.Struct("<i"), "Read a little-endian signed 32-bit integer.")
    read_i64 = _paged_reader(struct.Struct("<q"), "Read a little-endian signed 64-bit integer.")

    def file_offset(self, address: int) -> int | None:
        """Where the byte at ``address`` is in the file, or None."""
        fo = self._offset_of(address >> 12)
        return None if fo < 0 else fo + (address & 0xFFF)

    def __contains__(self, address: object) -> bool:
        return isinstance(address, int) and address >= 0 and self._offset_of(address >> 12) >= 0

    def region_of(self, address: int) -> tuple[int, int] | None:
        """``(start, size)`` of the present page holding ``address``, or None."""
        return (address & ~0xFFF, PAGE_SIZE) if address in self else None

    def info(self, address: int) -> None:
        """Kernel dumps have no MemoryInfoList: always None."""
        return None

    # -- whole-space views (walk the index or the page tables: linear, on demand) -------

    def _segments(self, start: int | None, end: int | None) -> list[tuple[int, int, int]]:
        """Maximal runs contiguous both in address and file: (file_start, file_end, va)."""
        return file_segments(((s, s + size, o) for s, size, o in self._mapped()), start, end)

    def regions(self) -> Iterator[MemoryRegion]:
        """Present spans in address order (walks the whole space; no MemoryInfo)."""
        for fs, fe, va in self._segments(None, None):
            yield MemoryRegion(va, fe - fs, fs, None)

    def hexdump(self, address: int, size: int = 256, *, width: int = 16) -> HexDump:
        """A hex view of ``size`` bytes at ``address`` (missing pages shown as ``??``)."""
        from dumplib.model.hexdump import build_hexdump

        def next_start(a: int) -> int | None:
            page = (a | 0xFFF) + 1
            end = address + size
            while page < end:
                if self._offset_of(page >> 12) >= 0:
                    return page
                page += PAGE_SIZE
            return None

        return build_hexdump(self.read_available, next_start, address, size, width)

    @property
    def ranges(self) -> list[tuple[int, int]]:
        """``(start, size)`` of every present span (walks the whole space)."""
        return [(va, fe - fs) for fs, fe, va in self._segments(None, None)]

    def __len__(self) -> int:
        return len(self._segments(None, None))

    @property
    def total_size(self) -> int:
        """Bytes present in this address space (walks the whole space)."""
        return sum(fe - fs for fs, fe, _ in self._segments(None, None))


class PhysicalMemory(_PagedMemory):
    """The physical pages of a kernel dump, by physical address.

    Build with :meth:`from_runs` (full dumps) or :meth:`from_bitmap` (bitmap dumps).
    """

    __slots__ = ("_bitmap", "_cum", "_first", "_pages", "_run_offs", "_run_pages", "_run_starts")

    def __init__(self, src: Source, *, pointer_size: int) -> None:
        super().__init__(src, pointer_size=pointer_size, space="physical")
        self._run_starts: list[int] = []
        self._run_pages: list[int] = []
        self._run_offs: list[int] = []
        self._bitmap: bytes | memoryview = b""
        self._cum: list[int] = []
        self._first = 0
        self._pages = 0

    @classmethod
    def from_runs(
        cls, src: Source, runs: Sequence[tuple[int, int]], first_offset: int, *,
        pointer_size: int, warnings: list[str],
    ) -> PhysicalMemory:
        """Index the runs of a full dump: pages of run *i* follow those of run *i-1*.

        Runs that extend past the end of the file are cut, with a warning.
        """
        mem = cls(src, pointer_size=pointer_size)
        off = first_offset
        placed: list[tuple[int, int, int]] = []
        for base, count in runs:  # pages follow in the order the runs are listed
            avail = max(0, (src.size - off) // PAGE_SIZE)
            if count > avail:
                warnings.append(
                    f"physical run at page 0x{base:x} has {count} pages, the file holds {avail}"
                )
                count = avail
            if count:
                placed.append((base, count, off))
            off += count * PAGE_SIZE
        placed.sort()
        for i, (base, count, off) in enumerate(placed):
            if i and base < placed[i - 1][0] + placed[i - 1][1]:
                warnings.append(f"physical run at page 0x{base:x} overlaps the one before")
                continue
            mem._run_starts.append(base)
            mem._run_pages.append(count)
            mem._run_offs.append(off)
        return mem

    @classmethod
    def from_bitmap(
        cls, src: Source, layout: BitmapLayout, *, pointer_size: int, warnings: list[str]
    ) -> PhysicalMemory:
        """Index a bitmap dump: a prefix count of set bits per 512-page block."""
        mem = cls(src, pointer_size=pointer_size)
        bitmap = src.view(layout.bitmap_offset, layout.bitmap_bytes, what="bitmap")
        mem._bitmap = bitmap
        mem._first = layout.first_page
        mem._pages = layout.pages
        cum = [0]
        total = 0
        from_bytes = int.from_bytes
        for i in range(0, len(bitmap), _RANK_BLOCK):
            total += from_bytes(bitmap[i : i + _RANK_BLOCK], "little").bit_count()
            cum.append(total)
        mem._cum = cum
        avail = max(0, (src.size - layout.first_page) // PAGE_SIZE)
        if total > avail:
            warnings.append(f"the bitmap marks {total} pages present, the file holds {avail}")
        if layout.present_pages and layout.present_pages != total:
            warnings.append(
                f"bitmap header says {layout.present_pages} pages present, the bitmap has {total}"
            )
        return mem

    @property
    def page_count(self) -> int:
        """Pages present in the dump."""
        if self._cum:
            return self._cum[-1]
        return sum(self._run_pages)

    def _page_offset(self, page: int) -> int:
        if self._cum:
            if page < 0 or page >= self._pages:
                return _MISSING
            byte, bit = page >> 3, page & 7
            bm = self._bitmap
            b = bm[byte]
            if not (b >> bit) & 1:
                return _MISSING
            block = byte // _RANK_BLOCK
            start = block * _RANK_BLOCK
            rank = self._cum[block] + (b & ((1 << bit) - 1)).bit_count()
            if byte > start:
                rank += int.from_bytes(bm[start:byte], "little").bit_count()
            fo = self._first + rank * PAGE_SIZE
            return fo if fo + PAGE_SIZE <= self._src.size else _MISSING
        i = bisect.bisect_right(self._run_starts, page) - 1
        if i < 0 or page - self._run_starts[i] >= self._run_pages[i]:
            return _MISSING
        return self._run_offs[i] + (page - self._run_starts[i]) * PAGE_SIZE

    def _mapped(self) -> Iterator[tuple[int, int, int]]:
        if not self._cum:
            for base, count, off in zip(self._run_starts, self._run_pages, self._run_offs,
                                        strict=True):
                yield base * PAGE_SIZE, count * PAGE_SIZE, off
            return
        bm = self._bitmap
        from_bytes = int.from_bytes
        rank = 0
        limit = (self._src.size - self._first) // PAGE_SIZE
        for i in range(0, len(bm), _RANK_BLOCK):
            chunk = from_bytes(bm[i : i + _RANK_BLOCK], "little")
            if not chunk:
                continue
            rank = self._cum[i // _RANK_BLOCK]
            starts = chunk & ~(chunk << 1)
            ends = chunk & ~(chunk >> 1)
            while starts:
                s = (starts & -starts).bit_length() - 1
                e = (ends & -ends).bit_length() - 1
                starts &= starts - 1
                ends &= ends - 1
                below = chunk & ((1 << s) - 1)
                r = rank + below.bit_count()
                n = e - s + 1
                if r + n > limit:
                    n = max(0, limit - r)
                if n:
                    yield (i * 8 + s) * PAGE_SIZE, n * PAGE_SIZE, self._first + r * PAGE_SIZE


class VirtualMemory(_PagedMemory):
    """The kernel's virtual address space, read through the page tables of ``dtb``.

    Attributes:
        physical: the physical space the translations land in.
        dtb: the directory table base used (PCID bits cleared).
        mode: ``"x64"``, ``"pae"`` or ``"x86"``.
    """

    __slots__ = ("dtb", "mode", "physical")

    def __init__(self, physical: PhysicalMemory, dtb: int, mode: str) -> None:
        super().__init__(physical._src, pointer_size=8 if mode == "x64" else 4, space="virtual")
        self.physical = physical
        self.mode = mode
        if mode == "x64":
            self.dtb = dtb & _PFN_MASK
        elif mode == "pae":
            self.dtb = dtb & 0xFFFF_FFE0
        else:
            self.dtb = dtb & 0xFFFF_F000

    def _pte(self, address: int) -> int | None:
        try:
            return self.physical.read_u64(address)
        except MemoryNotInDump:
            return None

    def translate(self, address: int) -> int | None:
        """The physical address behind virtual ``address``, or None when unmapped.

        Present entries are followed at every level; at the last level a transition PTE
        (not valid, Transition bit 11 set, Prototype bit 10 clear) still names the frame.
        """
        if self.mode == "x64":
            return self._translate_x64(address)
        if self.mode == "pae":
            return self._translate_pae(address)
        return self._translate_x86(address)

    def _translate_x64(self, va: int) -> int | None:
        e = self._pte(self.dtb + ((va >> 39) & 0x1FF) * 8)
        if e is None or not e & 1:
            return None
        e = self._pte((e & _PFN_MASK) + ((va >> 30) & 0x1FF) * 8)
        if e is None or not e & 1:
            return None
        if e & 0x80:  # 1 GB page
            return (e & 0x000F_FFFF_C000_0000) | (va & 0x3FFF_FFFF)
        e = self._pte((e & _PFN_MASK) + ((va >> 21) & 0x1FF) * 8)
        if e is None or not e & 1:
            return None
        if e & 0x80:  # 2 MB page
            return (e & 0x000F_FFFF_FFE0_0000) | (va & 0x1F_FFFF)
        e = self._pte((e & _PFN_MASK) + ((va >> 12) & 0x1FF) * 8)
        if e is None:
            return None
        if e & 1 or (e & 0xC00) == 0x800:  # valid, or transition (not prototype)
            return (e & _PFN_MASK) | (va & 0xFFF)
        return None

    def _translate_pae(self, va: int) -> int | None:
        va &= 0xFFFF_FFFF
        e = self._pte(self.dtb + (va >> 30) * 8)
        if e is None or not e & 1:
            return None
        e = self._pte((e & _PFN_MASK) + ((va >> 21) & 0x1FF) * 8)
        if e is None or not e & 1:
            return None
        if e & 0x80:
            return (e & 0x000F_FFFF_FFE0_0000) | (va & 0x1F_FFFF)
        e = self._pte((e & _PFN_MASK) + ((va >> 12) & 0x1FF) * 8)
        if e is None:
            return None
        if e & 1 or (e & 0xC00) == 0x800:
            return (e & _PFN_MASK) | (va & 0xFFF)
        return None

    def _translate_x86(self, va: int) -> int | None:
        va &= 0xFFFF_FFFF
        try:
            e = self.physical.read_u32(self.dtb + (va >> 22) * 4)
            if not e & 1:
                return None
            if e & 0x80:
                return (e & 0xFFC0_0000) | (va & 0x3F_FFFF)
            e = self.physical.read_u32((e & 0xFFFF_F000) + ((va >> 12) & 0x3FF) * 4)
        except MemoryNotInDump:
            return None
        if e & 1 or (e & 0xC00) == 0x800:
            return (e & 0xFFFF_F000) | (va & 0xFFF)
        return None

    def _page_offset(self, page: int) -> int:
        pa = self.translate(page << 12)
        if pa is None:
            return _MISSING
        return self.physical._offset_of(pa >> 12)

    # -- enumeration of the mapping (for find/regions) ------------------------------------

    def _table(self, base: int, count: int, width: int) -> list[int]:
        raw = self.physical.try_read(base, count * width)
        if raw is None:
            return []
        return list(struct.unpack(f"<{count}{'Q' if width == 8 else 'I'}", raw))

    def _leaves(self) -> Iterator[tuple[int, int, int]]:
        """(virtual address, physical address, size) of every mapped page, in VA order."""
        levels: tuple[tuple[int, int], ...]
        if self.mode == "x64":
            levels = ((39, 0x000F_FFFF_C000_0000), (30, 0x000F_FFFF_C000_0000),
                      (21, 0x000F_FFFF_FFE0_0000), (12, _PFN_MASK))
            yield from self._walk(self.dtb, 0, levels, 512, 8, canonical=True)
        elif self.mode == "pae":
            for i, e in enumerate(self._table(self.dtb, 4, 8)):
                if e & 1:
                    levels = ((21, 0x000F_FFFF_FFE0_0000), (12, _PFN_MASK))
                    yield from self._walk(e & _PFN_MASK, i << 30, levels, 512, 8)
        else:
            levels = ((22, 0xFFC0_0000), (12, 0xFFFF_F000))
            yield from self._walk(self.dtb, 0, levels, 1024, 4)

    def _walk(
        self, table: int, va_base: int, levels: tuple[tuple[int, int], ...], count: int,
        width: int, *, canonical: bool = False,
    ) -> Iterator[tuple[int, int, int]]:
        shift, large_mask = levels[0]
        last = len(levels) == 1
        for i, e in enumerate(self._table(table, count, width)):
            va = va_base | (i << shift)
            if canonical and i >= 256:
                va |= 0xFFFF_0000_0000_0000
            if last:
                if e & 1 or (e & 0xC00) == 0x800:
                    yield va, e & large_mask, 1 << shift
                continue
            if not e & 1:
                continue
            if e & 0x80 and shift != 39:
                yield va, e & large_mask, 1 << shift
                continue
            pfn_mask = _PFN_MASK if width == 8 else 0xFFFF_F000
            yield from self._walk(e & pfn_mask, va, levels[1:], count, width)

    def _mapped(self) -> Iterator[tuple[int, int, int]]:
        phys = self.physical
        for va, pa, size in self._leaves():
            for k in range(0, size, PAGE_SIZE):
                fo = phys._offset_of((pa + k) >> 12)
                if fo >= 0:
                    yield va + k, PAGE_SIZE, fo

    def mappings(self) -> Iterator[tuple[int, int, int]]:
        """``(virtual address, physical address, size)`` of every mapped page or large page."""
        return self._leaves()
