"""Structure layouts from a PDB's type records (TPI): member name -> offset.

Kernel structures such as ``_EPROCESS`` and ``_ETHREAD`` change between Windows builds; the
kernel's PDB (``ntkrnlmp.pdb``) describes them. :func:`struct_layout` finds the complete
``LF_STRUCTURE``/``LF_CLASS`` record of a name (not a forward reference), follows its
``LF_FIELDLIST`` and returns each ``LF_MEMBER``'s byte offset, as CodeView's type records
(the LLVM "CodeView Type Records" reference, Microsoft's ``cvinfo.h``) lay them out.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from dumplib.pdb._errors import PdbError
from dumplib.pdb.inlines import TypeStream
from dumplib.pdb.pdbfile import PdbFile

__all__ = ["StructLayout", "struct_layout"]

LF_CLASS, LF_STRUCTURE = 0x1504, 0x1505
LF_FIELDLIST = 0x1203
LF_MEMBER = 0x150D
_FORWARD_REF = 0x80
_NUMERIC = {0x8000: (1, "<b"), 0x8001: (2, "<h"), 0x8002: (2, "<H"), 0x8003: (4, "<i"),
            0x8004: (4, "<I"), 0x8009: (8, "<q"), 0x800A: (8, "<Q")}
#: Most type records walked looking for a name (a kernel PDB has a few hundred thousand).
MAX_RECORDS = 2_000_000


@dataclass(frozen=True, slots=True)
class StructLayout:
    """A structure's size and the offsets of its members (first-level only)."""

    name: str
    size: int
    members: dict[str, int]
    member_types: dict[str, int]


def _numeric(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """A numeric leaf at ``pos``: (value, position after it)."""
    if pos + 2 > end:
        raise PdbError("numeric leaf cut", offset=pos)
    (leaf,) = struct.unpack_from("<H", data, pos)
    if leaf < 0x8000:
        return leaf, pos + 2
    spec = _NUMERIC.get(leaf)
    if spec is None or pos + 2 + spec[0] > end:
        raise PdbError(f"numeric leaf 0x{leaf:x} not supported", offset=pos)
    return struct.unpack_from(spec[1], data, pos + 2)[0], pos + 2 + spec[0]


def _cstring(data: bytes, pos: int, end: int) -> tuple[str, int]:
    nul = data.find(b"\0", pos, end)
    stop = nul if nul >= 0 else end
    return data[pos:stop].decode("utf-8", "replace"), stop + 1


def _fields(types: TypeStream, data: bytes, index: int) -> tuple[dict[str, int], dict[str, int]]:
    rec = types.record(index)
    if rec is None or rec[0] != LF_FIELDLIST:
        return {}, {}
    _kind, pos, end = rec
    offsets: dict[str, int] = {}
    kinds: dict[str, int] = {}
    while pos + 2 <= end:
        (leaf,) = struct.unpack_from("<H", data, pos)
        if leaf != LF_MEMBER or pos + 8 > end:
            break  # methods, base classes ... do not occur in the kernel's C structures
        _attr, type_index = struct.unpack_from("<HI", data, pos + 2)
        offset, at = _numeric(data, pos + 8, end)
        name, pos = _cstring(data, at, end)
        while pos < end and data[pos] >= 0xF0:  # LF_PAD0..15: alignment to 4 bytes
            pos += 1
        offsets.setdefault(name, offset)
        kinds.setdefault(name, type_index)
    return offsets, kinds


def struct_layout(pdb: PdbFile, name: str) -> StructLayout | None:
    """The layout of structure ``name`` (e.g. ``"_EPROCESS"``) from the PDB's TPI, or None.

    Raises:
        PdbError: a type record on the way is malformed.
    """
    types = pdb._type_stream(2, "TPI")
    data = types._data
    index = 0x1000
    want = name.encode()
    for _ in range(MAX_RECORDS):
        rec = types.record(index)
        if rec is None:
            return None
        kind, pos, end = rec
        if kind in (LF_CLASS, LF_STRUCTURE) and pos + 16 <= end:
            _count, prop, field, _derived, _vshape = struct.unpack_from("<HHIII", data, pos)
            if not prop & _FORWARD_REF:
                size, at = _numeric(data, pos + 16, end)
                if data[at : at + len(want) + 1] == want + b"\0":
                    members, kinds = _fields(types, data, field)
                    return StructLayout(name, size, members, kinds)
        index += 1
    return None
