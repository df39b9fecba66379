"""C13 line information: DEBUG_S_LINES and DEBUG_S_FILECHKSMS subsections.

After a module's symbol records (and any old C11 lines) come C13 debug
subsections, each ``u32 kind, u32 length, payload`` padded to 4 bytes:

* DEBUG_S_FILECHKSMS (0xF4): per source file ``u32 name offset`` (into the
  ``/names`` stream), ``u8 checksum size, u8 checksum kind``, the checksum,
  padded to 4. Line blocks refer to a file by its entry's byte offset here.
* DEBUG_S_LINES (0xF2): ``u32 offset, u16 segment, u16 flags, u32 code size``
  for a contiguous piece of code, then blocks of ``u32 file entry offset,
  u32 line count, u32 block size`` followed by ``(u32 code offset, u32 bits)``
  pairs (bits: line number in the low 24, the statement flag in the top bit)
  and, when flag 1 is set, a column pair per line.

Each line's size runs to the next line's offset inside the same piece of code,
the last one to the end of the piece.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from dumplib.pdb._errors import PdbError
from dumplib.pdb.streams import StringTable

__all__ = [
    "DEBUG_S_FILECHKSMS",
    "DEBUG_S_LINES",
    "HIDDEN_LINES",
    "LineRecord",
    "parse_c13_lines",
]

DEBUG_S_LINES = 0xF2
DEBUG_S_FILECHKSMS = 0xF4
_IGNORE = 0x80000000
#: Line numbers compilers write for code that has no source line of its own.
HIDDEN_LINES = frozenset({0xF00F00, 0xFEEFEE})
_SUB = struct.Struct("<II")
_LINES_HDR = struct.Struct("<IHHI")
_BLOCK_HDR = struct.Struct("<III")
_CHKSUM = struct.Struct("<IBB")
#: A DEBUG_S_LINES block may not hold more line entries than this.
MAX_LINES_PER_BLOCK = 1 << 22

ToRva = Callable[[int, int], "int | None"]


@dataclass(frozen=True, slots=True)
class LineRecord:
    """One line-table row: code at ``[rva, rva + size)`` comes from ``file:line``.

    Attributes:
        rva: start address relative to the image base.
        size: bytes of code (0 when another row starts at the same address).
        line: source line number.
        file: source file path as the compiler recorded it.
    """

    rva: int
    size: int
    line: int
    file: str


def _file_table(data: bytes, pos: int, end: int, label: str, names: StringTable) -> dict[int, str]:
    files: dict[int, str] = {}
    base = pos
    while pos + _CHKSUM.size <= end:
        name_off, cb, _kind = _CHKSUM.unpack_from(data, pos)
        files[pos - base] = names.get(name_off)
        pos = (pos + _CHKSUM.size + cb + 3) & ~3
    return files


def parse_c13_lines(
    data: bytes,
    start: int,
    end: int,
    label: str,
    to_rva: ToRva,
    names: StringTable,
) -> list[tuple[int, list[LineRecord]]]:
    """Read the line rows of a module's C13 subsections.

    Args:
        data: the module stream's bytes.
        start: offset of the first C13 subsection.
        end: end of the C13 subsections.
        label: the stream label for errors.
        to_rva: maps (segment, offset) to an RVA.
        names: the ``/names`` string table.

    Returns:
        One ``(start rva, rows)`` group per DEBUG_S_LINES subsection (a piece
        of contiguous code, usually one function), rows sorted by address.

    Raises:
        PdbError: a subsection, block or file reference is malformed.
    """
    if end > len(data):
        raise PdbError("C13 line info extends past the module stream", stream=label, offset=start)
    lines_subs: list[tuple[int, int]] = []
    files: dict[int, str] = {}
    pos = start
    while pos + _SUB.size <= end:
        kind, length = _SUB.unpack_from(data, pos)
        body = pos + _SUB.size
        if body + length > end:
            raise PdbError(
                f"C13 subsection 0x{kind:x} of {length} bytes runs past the end",
                stream=label,
                offset=pos,
            )
        kind &= ~_IGNORE
        if kind == DEBUG_S_LINES:
            lines_subs.append((body, body + length))
        elif kind == DEBUG_S_FILECHKSMS:
            files = _file_table(data, body, body + length, label, names)
        pos = (body + length + 3) & ~3
    out: list[tuple[int, list[LineRecord]]] = []
    for body, sub_end in lines_subs:
        rows = _lines_subsection(data, body, sub_end, label, to_rva, files)
        if rows:
            out.append((rows[0].rva, rows))
    return out


def _lines_subsection(
    data: bytes,
    pos: int,
    end: int,
    label: str,
    to_rva: ToRva,
    files: dict[int, str],
) -> list[LineRecord]:
    if pos + _LINES_HDR.size > end:
        raise PdbError("DEBUG_S_LINES header truncated", stream=label, offset=pos)
    offset, seg, flags, code_size = _LINES_HDR.unpack_from(data, pos)
    base = to_rva(seg, offset)
    has_columns = flags & 1
    pos += _LINES_HDR.size
    rows: list[tuple[int, int, str]] = []
    while pos + _BLOCK_HDR.size <= end:
        file_id, count, block_size = _BLOCK_HDR.unpack_from(data, pos)
        need = _BLOCK_HDR.size + count * (12 if has_columns else 8)
        if count > MAX_LINES_PER_BLOCK or block_size < need or pos + block_size > end:
            raise PdbError(
                f"line block of {count} lines and {block_size} bytes is impossible",
                stream=label,
                offset=pos,
            )
        name = files.get(file_id)
        if name is None:
            raise PdbError(
                f"line block refers to file entry {file_id}, which is not in the checksums",
                stream=label,
                offset=pos,
            )
        pairs = struct.unpack_from(f"<{2 * count}I", data, pos + _BLOCK_HDR.size)
        for i in range(0, 2 * count, 2):
            rows.append((pairs[i], pairs[i + 1] & 0xFFFFFF, name))
        pos += block_size
    if base is None or not rows:
        return []
    rows.sort(key=lambda r: r[0])
    out: list[LineRecord] = []
    for i, (off, line, name) in enumerate(rows):
        nxt = rows[i + 1][0] if i + 1 < len(rows) else code_size
        out.append(LineRecord(base + off, max(0, nxt - off), line, name))
    return out
