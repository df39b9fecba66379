"""A :class:`HexDump`: bytes read from a dump's memory, shown as a classic hex view.

``dump.memory.hexdump(address, size)`` returns one. It is a plain record (the
address, the bytes, which of them were not captured) whose ``str`` and
``repr`` are the hex view with printable text beside; HTML and rich renderings
live in :mod:`dumplib.views` and are attached there, so this layer imports no
front end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing; mypy reads it as true
#: mypy reads the standard decorator; at run time dumplib._record builds the same
#: frozen records without compiling six methods each (issue #16)
if TYPE_CHECKING:
    from dataclasses import dataclass
else:
    from dumplib._record import dataclass

__all__ = ["HEXDUMP_MAX_BYTES", "HexDump", "HexLine", "build_hexdump"]

#: Largest hex view :meth:`Memory.hexdump` builds (a view is for reading, not bulk export).
HEXDUMP_MAX_BYTES = 1 << 20

@dataclass(frozen=True, slots=True)
class HexLine:
    """One line of a hex view.

    Attributes:
        address: virtual address of the line's first byte (a multiple of the
            view's width, except for the first line when the view is unaligned).
        cells: the line's bytes by column; None for a column before the view's
            start, after its end, or a byte the dump did not capture.
        missing: the columns inside the view whose byte the dump did not capture.
    """

    address: int
    cells: tuple[int | None, ...]
    missing: frozenset[int] = frozenset()

    @property
    def hex(self) -> str:
        """The hex columns, ``"48 83 ec 28 ?? ..."``: ``??`` marks an uncaptured byte,
        blanks a column outside the view; groups of 8 are split by two spaces."""
        parts = []
        for i, b in enumerate(self.cells):
            if i and i % 8 == 0:
                parts.append("")
            if b is not None:
                parts.append(f"{b:02x}")
            else:
                parts.append("??" if i in self.missing else "  ")
        return " ".join(parts)

    @property
    def text(self) -> str:
        """The printable ASCII beside the hex: ``.`` for other bytes, space where absent."""
        return "".join(
            " " if b is None else (chr(b) if 0x20 <= b < 0x7F else ".") for b in self.cells
        )


@dataclass(frozen=True, slots=True)
class HexDump:
    """Bytes of memory at an address, with the uncaptured ones marked.

    Attributes:
        address: the first address shown.
        data: the bytes; a byte that was not captured is 0 here and listed in ``missing``.
        missing: ``(start, size)`` address ranges inside the view that the dump lacks.
        width: bytes per line.
    """

    address: int
    data: bytes
    missing: tuple[tuple[int, int], ...] = ()
    width: int = 16

    @property
    def size(self) -> int:
        """Number of bytes in the view."""
        return len(self.data)

    @property
    def end(self) -> int:
        """First address after the view."""
        return self.address + len(self.data)

    def is_captured(self, address: int) -> bool:
        """Whether the byte at ``address`` is in the view and was captured."""
        if not self.address <= address < self.end:
            return False
        return not any(s <= address < s + n for s, n in self.missing)

    def lines(self) -> Iterator[HexLine]:
        """The view's lines, aligned to ``width`` (the first and last may be partial)."""
        w = self.width
        if w <= 0:
            raise ValueError("width must be positive")
        captured = bytearray(b"\x01") * len(self.data)
        for s, n in self.missing:
            lo = max(0, s - self.address)
            hi = min(len(self.data), s + n - self.address)
            if hi > lo:
                captured[lo:hi] = bytes(hi - lo)
        line = self.address - self.address % w
        while line < self.end:
            cells: list[int | None] = []
            absent: set[int] = set()
            for col in range(w):
                i = line + col - self.address
                if 0 <= i < len(self.data):
                    if captured[i]:
                        cells.append(self.data[i])
                        continue
                    absent.add(col)
                cells.append(None)
            yield HexLine(line, tuple(cells), frozenset(absent))
            line += w

    def text(self) -> str:
        """The whole view as text: address, hex columns, ``|printable|`` per line.

        Bytes the dump did not capture are shown as ``??``.
        """
        digits = 16 if self.end > 0xFFFF_FFFF else 8
        out = []
        for ln in self.lines():
            out.append(f"{ln.address:0{digits}x}  {ln.hex}  |{ln.text}|")
        return "\n".join(out)

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return f"<HexDump 0x{self.address:x} +0x{self.size:x}>\n{self.text()}"



def build_hexdump(
    read_available: Callable[[int, int], bytes],
    next_start: Callable[[int], int | None],
    address: int,
    size: int,
    width: int = 16,
) -> HexDump:
    """Collect a :class:`HexDump` from a memory reader (used by ``Memory.hexdump``).

    Args:
        read_available: ``(address, size) -> bytes``, the captured bytes from
            ``address`` up to the first missing one.
        next_start: the first captured address above a missing one, or None.
        address, size: the view's range.
        width: bytes per line.

    Raises:
        ValueError: ``size`` is negative or above :data:`HEXDUMP_MAX_BYTES`, or ``width`` < 1.
    """
    if not 0 <= size <= HEXDUMP_MAX_BYTES:
        raise ValueError(f"hexdump size must be 0..{HEXDUMP_MAX_BYTES}, got {size}")
    if width < 1:
        raise ValueError("width must be positive")
    parts: list[bytes] = []
    missing: list[tuple[int, int]] = []
    cur, end = address, address + size
    while cur < end:
        data = read_available(cur, end - cur)
        parts.append(data)
        cur += len(data)
        if cur >= end:
            break
        nxt = next_start(cur)
        stop = end if nxt is None or nxt <= cur else min(end, nxt)
        missing.append((cur, stop - cur))
        parts.append(bytes(stop - cur))
        cur = stop
    return HexDump(address, b"".join(parts), tuple(missing), width)
