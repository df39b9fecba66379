"""The dump's captured memory as an address space.

Every captured range (MemoryListStream and Memory64ListStream) is indexed once
at first use: sorted by address, overlaps trimmed, kept in three parallel lists
(start, end, file offset) that are searched with :func:`bisect.bisect_right`.
Reads slice the memory map directly; typed reads unpack in place without an
intermediate copy. :meth:`Memory.find` searches the file's bytes with the
buffer's own ``find`` (``mmap.find``) segment by segment, and can split the
work across processes.
"""

from __future__ import annotations

import bisect
import mmap
import operator
import os
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence

from dumplib._exc import TYPE_CHECKING

#: mypy reads the standard decorator; at run time dumplib._record builds the same
#: frozen records without compiling six methods each (issue #16)
if TYPE_CHECKING:
    from dataclasses import dataclass
else:
    from dumplib._record import dataclass

if TYPE_CHECKING:  # hexdump and the process pool load on first use (issue #16)
    from dumplib.model.hexdump import HexDump

from dumplib._exc import MemoryNotInDump
from dumplib.format.records import MemoryInfo
from dumplib.source import Source

if TYPE_CHECKING:
    import pandas

__all__ = ["Memory", "MemoryRegion"]

_U8 = struct.Struct("<B")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_I32 = struct.Struct("<i")
_I64 = struct.Struct("<q")

#: Below this many bytes a parallel search is not worth starting processes for.
PARALLEL_FIND_MIN_BYTES = 64 << 20


def file_segments(ranges: Iterable[tuple[int, int, int]], start: int | None,
                  end: int | None) -> list[tuple[int, int, int]]:
    """Coalesce address ranges into runs contiguous both in address and in the file.

    Args:
        ranges: ``(va_start, va_end, file_offset)`` in address order.
        start, end: the address window to keep (None: unbounded).

    Returns:
        ``(file_start, file_end, va)`` runs, clipped to the window, that one
        contiguous file read (or search) can serve.
    """
    segs: list[tuple[int, int, int]] = []
    lo = 0 if start is None else start
    hi = (1 << 64) if end is None else end
    for s, e, o in ranges:
        if e <= lo or s >= hi:
            continue
        if s < lo:
            o += lo - s
            s = lo
        e = min(e, hi)
        if segs:
            fs, fe, va = segs[-1]
            if fe == o and va + (fe - fs) == s:
                segs[-1] = (fs, o + e - s, va)
                continue
        segs.append((o, o + e - s, s))
    return segs


@dataclass(frozen=True, slots=True)
class MemoryRegion:
    """A captured range of memory with what the dump says about its pages.

    Attributes:
        start: first virtual address.
        size: number of captured bytes.
        file_offset: where the bytes are in the dump file.
        info: the MemoryInfoList entry containing ``start``, when the dump has one.
    """

    start: int
    size: int
    file_offset: int
    info: MemoryInfo | None

    @property
    def end(self) -> int:
        """First address after the range."""
        return self.start + self.size


def _find_in_file(
    path: str, pattern: bytes, jobs: list[tuple[int, int, int]]
) -> list[int]:
    """Worker for parallel :meth:`Memory.find`: search file spans, return addresses."""
    out: list[int] = []
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        for file_start, file_end, va_start in jobs:
            pos = mm.find(pattern, file_start, file_end)
            while pos >= 0:
                out.append(va_start + pos - file_start)
                pos = mm.find(pattern, pos + 1, file_end)
    return out


def _typed_reader(layout: struct.Struct, doc: str) -> Callable[[Memory, int], int]:
    """Make a ``read_*`` method for one integer layout.

    The hot path is one bisection and one ``unpack_from`` on the mapped file,
    with no intermediate bytes object; reads that cross ranges, or sources
    without a buffer, take the general path.
    """
    unpack_from = layout.unpack_from
    size = layout.size
    bisect_right = bisect.bisect_right

    def read(self: Memory, address: int) -> int:
        i = bisect_right(self._starts, address) - 1
        if i >= 0 and address + size <= self._fast_ends[i]:
            value: int = unpack_from(self._view, address + self._deltas[i])[0]
            return value
        return self._unpack_slow(layout, address)

    read.__doc__ = doc
    return read


class Memory:
    """Read access to the process memory captured in a dump.

    Build it with :meth:`Memory.from_ranges`; :class:`~dumplib.Dump` does this on
    first access to ``dump.memory``.
    """

    __slots__ = (
        "_buf",
        "_deltas",
        "_ends",
        "_fast_ends",
        "_info",
        "_info_starts",
        "_offs",
        "_raw",
        "_src",
        "_starts",
        "_view",
        "pointer_size",
        "warnings",
    )

    def __init__(
        self,
        src: Source,
        starts: list[int],
        ends: list[int],
        offsets: list[int],
        *,
        pointer_size: int = 8,
        memory_info: Sequence[MemoryInfo] = (),
        warnings: list[str] | None = None,
    ) -> None:
        self._src = src
        self._buf = src.buffer
        self._raw = src.raw
        self._starts = starts
        self._ends = ends
        self._offs = offsets
        # Hot-path helpers for the typed reads: file offset = address + delta; and
        # ends that are -1 when the source has no buffer, so the fast path is skipped.
        self._deltas = list(map(operator.sub, offsets, starts))
        self._view = self._buf if self._buf is not None else memoryview(b"")
        self._fast_ends = ends if self._buf is not None else [-1] * len(ends)
        self.pointer_size = pointer_size
        self._info = sorted(memory_info, key=lambda m: m.base_address)
        self._info_starts = [m.base_address for m in self._info]
        self.warnings: list[str] = warnings if warnings is not None else []

    @classmethod
    def from_ranges(
        cls,
        src: Source,
        ranges: Iterable[tuple[int, int, int]],
        *,
        pointer_size: int = 8,
        memory_info: Sequence[MemoryInfo] = (),
    ) -> Memory:
        """Index ``(address, size, file_offset)`` ranges once.

        Ranges whose bytes run past the end of the file are cut to what exists;
        ranges overlapping an earlier one are trimmed; empty ones are dropped.
        Each adjustment is recorded in :attr:`warnings`.
        """
        ranges = list(ranges)
        fast = cls._from_clean_ranges(src, ranges, pointer_size, memory_info)
        if fast is not None:
            return fast
        warnings: list[str] = []
        cut = 0
        items = []
        for start, size, off in ranges:
            if off + size > src.size:
                cut += 1
                size = max(0, src.size - off)
            if size > 0 and start + size <= 1 << 64:
                items.append((start, size, off))
        if cut:
            warnings.append(f"{cut} memory range(s) cut by the end of the file")
        items.sort()
        starts: list[int] = []
        ends: list[int] = []
        offs: list[int] = []
        overlaps = 0
        for start, size, off in items:
            end = start + size
            if ends and start < ends[-1]:
                overlaps += 1
                if end <= ends[-1]:
                    continue
                off += ends[-1] - start
                start = ends[-1]
            starts.append(start)
            ends.append(end)
            offs.append(off)
        if overlaps:
            warnings.append(f"{overlaps} overlapping memory range(s) trimmed")
        return cls(
            src, starts, ends, offs, pointer_size=pointer_size, memory_info=memory_info,
            warnings=warnings,
        )

    @classmethod
    def _from_clean_ranges(
        cls,
        src: Source,
        ranges: list[tuple[int, int, int]],
        pointer_size: int,
        memory_info: Sequence[MemoryInfo],
    ) -> Memory | None:
        """The index in one pass at C speed when the ranges need no repair (non-empty,
        not overlapping, inside the file and the address space), the
        common case; None otherwise, for :meth:`from_ranges`' general path."""
        if not ranges:
            return None
        ranges = sorted(ranges)  # dumps list ranges in any order (wine: by thread, module...)
        starts, sizes, offs = (list(column) for column in zip(*ranges, strict=True))
        ends = list(map(operator.add, starts, sizes))
        if (min(sizes) <= 0 or max(map(operator.add, offs, sizes)) > src.size
                or ends[-1] > 1 << 64 or not all(map(operator.le, ends, starts[1:]))):
            return None
        return cls(src, starts, ends, offs, pointer_size=pointer_size, memory_info=memory_info)

    # -- lookup -------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._starts)

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, int):
            return False
        i = bisect.bisect_right(self._starts, address) - 1
        return i >= 0 and address < self._ends[i]

    @property
    def total_size(self) -> int:
        """Number of captured bytes."""
        return sum(e - s for s, e in zip(self._starts, self._ends, strict=True))

    @property
    def ranges(self) -> list[tuple[int, int]]:
        """Captured ranges as ``(address, size)``, sorted by address."""
        return [(s, e - s) for s, e in zip(self._starts, self._ends, strict=True)]

    def _locate(self, address: int, size: int) -> int:
        """File offset of ``size`` bytes at ``address`` when one range holds them all, else -1."""
        i = bisect.bisect_right(self._starts, address) - 1
        if i >= 0 and address + size <= self._ends[i]:
            return self._offs[i] + address - self._starts[i]
        return -1

    def file_offset(self, address: int) -> int | None:
        """The dump-file offset of the byte at ``address``, or None when not captured."""
        off = self._locate(address, 1)
        return off if off >= 0 else None

    def region_of(self, address: int) -> tuple[int, int] | None:
        """The captured ``(start, size)`` range holding ``address``, or None."""
        i = bisect.bisect_right(self._starts, address) - 1
        if i >= 0 and address < self._ends[i]:
            return self._starts[i], self._ends[i] - self._starts[i]
        return None

    def info(self, address: int) -> MemoryInfo | None:
        """The MemoryInfoList entry describing ``address``, if the dump has one."""
        i = bisect.bisect_right(self._info_starts, address) - 1
        if i >= 0 and address < self._info[i].end:
            return self._info[i]
        return None

    # -- reads --------------------------------------------------------------

    def read(self, address: int, size: int) -> bytes:
        """Read ``size`` bytes at virtual ``address``.

        Raises:
            MemoryNotInDump: any byte of the range was not captured.
        """
        if size < 0:
            raise ValueError("size must be >= 0")
        off = self._locate(address, size)
        if off >= 0:
            raw = self._raw
            if raw is not None:
                return raw[off : off + size]
            return self._src.read(off, size, what="memory")
        return self._read_spanning(address, size)

    def _read_spanning(self, address: int, size: int) -> bytes:
        parts: list[bytes] = []
        cur, end = address, address + size
        while cur < end:
            i = bisect.bisect_right(self._starts, cur) - 1
            if i < 0 or cur >= self._ends[i]:
                raise MemoryNotInDump(
                    f"{size} bytes at 0x{address:x} are not in the dump "
                    f"(first missing byte 0x{cur:x})",
                    address=cur,
                )
            take = min(end, self._ends[i]) - cur
            parts.append(self._src.read(self._offs[i] + cur - self._starts[i], take, what="memory"))
            cur += take
        return b"".join(parts)

    def try_read(self, address: int, size: int) -> bytes | None:
        """Like :meth:`read` but returns None instead of raising when bytes are missing."""
        try:
            return self.read(address, size)
        except MemoryNotInDump:
            return None

    def read_available(self, address: int, size: int) -> bytes:
        """Read up to ``size`` bytes at ``address``, stopping at the first missing byte."""
        out: list[bytes] = []
        cur, end = address, address + size
        while cur < end:
            i = bisect.bisect_right(self._starts, cur) - 1
            if i < 0 or cur >= self._ends[i]:
                break
            take = min(end, self._ends[i]) - cur
            out.append(self._src.read(self._offs[i] + cur - self._starts[i], take, what="memory"))
            cur += take
        return b"".join(out)

    def _unpack_slow(self, layout: struct.Struct, address: int) -> int:
        value: int = layout.unpack(self.read(address, layout.size))[0]
        return value

    read_u8 = _typed_reader(_U8, "Read an unsigned byte. Raises MemoryNotInDump when absent.")
    read_u16 = _typed_reader(_U16, "Read a little-endian unsigned 16-bit integer.")
    read_u32 = _typed_reader(_U32, "Read a little-endian unsigned 32-bit integer.")
    read_u64 = _typed_reader(_U64, "Read a little-endian unsigned 64-bit integer.")
    read_i32 = _typed_reader(_I32, "Read a little-endian signed 32-bit integer.")
    read_i64 = _typed_reader(_I64, "Read a little-endian signed 64-bit integer.")

    def read_pointer(self, address: int) -> int:
        """Read a pointer of the dump's width (8 bytes on 64-bit, 4 on 32-bit)."""
        return self.read_u64(address) if self.pointer_size == 8 else self.read_u32(address)

    def read_cstring(self, address: int, limit: int = 4096, *, wide: bool = False) -> str:
        """Read a NUL-terminated string (UTF-16LE when ``wide``) of at most ``limit`` bytes."""
        data = self.read_available(address, limit)
        if wide:
            text = data[: len(data) & ~1].decode("utf-16-le", errors="replace")
            return text.split("\0", 1)[0]
        return data.split(b"\0", 1)[0].decode("latin-1")

    # -- iteration and search ------------------------------------------------

    def regions(self) -> Iterator[MemoryRegion]:
        """Captured ranges in address order, with their MemoryInfo where the dump has it."""
        for s, e, o in zip(self._starts, self._ends, self._offs, strict=True):
            yield MemoryRegion(s, e - s, o, self.info(s))

    def hexdump(self, address: int, size: int = 256, *, width: int = 16) -> HexDump:
        """A hex view of ``size`` bytes at ``address`` with printable text beside.

        Bytes the dump did not capture are shown as ``??`` (never raises for them).
        In Jupyter the view renders as an HTML table (see :mod:`dumplib.views`).

        Raises:
            ValueError: ``size`` is negative or above ``HEXDUMP_MAX_BYTES``, or ``width`` < 1.
        """

        def next_start(a: int) -> int | None:
            i = bisect.bisect_right(self._starts, a)
            return self._starts[i] if i < len(self._starts) else None

        from dumplib.model.hexdump import build_hexdump

        return build_hexdump(self.read_available, next_start, address, size, width)

    def to_dataframe(self) -> pandas.DataFrame:
        """The captured ranges (:meth:`regions`) as a pandas DataFrame, one row each.

        Columns: ``start``, ``end``, ``size``, ``file_offset`` and, from the
        MemoryInfoList when present (else missing values), ``allocation_base``,
        ``state``, ``protect``, ``type``.

        Raises:
            ImportError: pandas is not installed (``pip install 'dumplib[dataframe]'``).
        """
        from dumplib.model.tables import regions_dataframe  # pandas glue, on first use

        return regions_dataframe(self.regions())

    @property
    def memory_info(self) -> list[MemoryInfo]:
        """The MemoryInfoList entries (all regions, captured or not), sorted by address."""
        return list(self._info)

    def _segments(self, start: int | None, end: int | None) -> list[tuple[int, int, int]]:
        """Maximal runs contiguous both in address and file: (file_start, file_end, va)."""
        return file_segments(zip(self._starts, self._ends, self._offs, strict=True), start, end)

    def find(
        self,
        pattern: bytes,
        *,
        start: int | None = None,
        end: int | None = None,
        workers: int = 1,
    ) -> Iterator[int]:
        """Yield every virtual address where ``pattern`` occurs, in address order.

        Matches spanning two captured ranges are found when the ranges are
        contiguous both in memory and in the file (as Memory64 ranges are).

        Args:
            pattern: bytes to look for (non-empty).
            start: lowest address to search from; end: address to stop before.
            workers: processes to use; ``0`` means one per CPU. Parallel search
                needs a dump opened from a path and is used only for large dumps.
        """
        if not pattern:
            raise ValueError("pattern must not be empty")
        segs = self._segments(start, end)
        if workers == 0:
            workers = os.cpu_count() or 1
        total = sum(fe - fs for fs, fe, _ in segs)
        if workers > 1 and self._src.path is not None and total >= PARALLEL_FIND_MIN_BYTES:
            yield from self._find_parallel(pattern, segs, workers, total)
            return
        raw = self._raw
        if raw is not None:
            for fs, fe, va in segs:
                pos = raw.find(pattern, fs, fe)
                while pos >= 0:
                    yield va + pos - fs
                    pos = raw.find(pattern, pos + 1, fe)
            return
        chunk = 1 << 22
        overlap = len(pattern) - 1
        for fs, fe, va in segs:
            cur = fs
            while cur < fe:
                stop = min(fe, cur + chunk + overlap)
                data = self._src.read(cur, stop - cur, what="memory")
                pos = data.find(pattern)
                while pos >= 0 and cur + pos + len(pattern) <= fe:
                    if pos < chunk or stop == fe:
                        yield va + cur - fs + pos
                    pos = data.find(pattern, pos + 1)
                cur += chunk

    def _find_parallel(
        self, pattern: bytes, segs: list[tuple[int, int, int]], workers: int, total: int
    ) -> Iterator[int]:
        assert self._src.path is not None
        share = -(-total // workers)
        overlap = len(pattern) - 1
        jobs: list[list[tuple[int, int, int]]] = [[] for _ in range(workers)]
        w, used = 0, 0
        for fs, fe, va in segs:
            cur = fs
            while cur < fe:
                take = min(fe - cur, share - used)
                # the span may reach `overlap` bytes further so a match across the cut is
                # found by exactly this worker (the next span starts where this one's
                # match starts would no longer fit).
                job_end = min(fe, cur + take + overlap)
                jobs[w].append((cur, job_end, va + cur - fs))
                cur += take
                used += take
                if used >= share and w < workers - 1:
                    w, used = w + 1, 0
        found: set[int] = set()
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [
                pool.submit(_find_in_file, self._src.path, pattern, job) for job in jobs if job
            ]
            for fut in futures:
                found.update(fut.result())
        yield from sorted(found)

