"""CodeView symbol records: public symbols and procedures.

Two kinds of stream hold symbol records (each record is ``u16 length, u16
kind, payload``, the length counting the kind and payload):

* the symbol record stream named by the DBI header, holding S_PUB32 public
  symbols (decorated linker names) and global references;
* each module's symbol stream (a ``u32`` signature of 4, then records aligned
  to 4 bytes), holding S_GPROC32/S_LPROC32 (and ``_ID`` variants) procedures
  with their code ranges and undecorated qualified names, and S_THUNK32 thunks.

Both parsers map ``segment:offset`` to an RVA through a caller-supplied
function and drop records the image does not place (segment 0, unknown
sections). Walking stops at the end of the stream; a record that claims to
extend past it raises :class:`~dumplib.pdb.PdbError`.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable
from dataclasses import dataclass

from dumplib.pdb._errors import PdbError

__all__ = ["Function", "Public", "SymKind", "parse_module_procedures", "parse_publics"]

_HDR = struct.Struct("<HH")
_PUB32 = struct.Struct("<IIH")
_PROC32 = struct.Struct("<IIIIIIIIHB")
_THUNK32 = struct.Struct("<IIIIHHB")

#: Maps (segment, offset) to an RVA, or None when the image does not place it.
ToRva = Callable[[int, int], "int | None"]


class SymKind(enum.IntEnum):
    """CodeView symbol record kinds the reader looks at."""

    S_END = 0x0006
    S_THUNK32 = 0x1102
    S_BLOCK32 = 0x1103
    S_PUB32 = 0x110E
    S_LPROC32 = 0x110F
    S_GPROC32 = 0x1110
    S_SEPCODE = 0x1132
    S_LPROC32_ID = 0x1146
    S_GPROC32_ID = 0x1147
    S_INLINESITE = 0x114D
    S_LPROC32_DPC = 0x1155
    S_LPROC32_DPC_ID = 0x1156


_PROC_KINDS = frozenset(
    {
        SymKind.S_LPROC32,
        SymKind.S_GPROC32,
        SymKind.S_LPROC32_ID,
        SymKind.S_GPROC32_ID,
        SymKind.S_LPROC32_DPC,
        SymKind.S_LPROC32_DPC_ID,
    }
)
_GLOBAL_PROC_KINDS = frozenset({SymKind.S_GPROC32, SymKind.S_GPROC32_ID})


class PublicFlags(enum.IntFlag):
    """CV_PUBSYMFLAGS of an S_PUB32 record."""

    CODE = 1
    FUNCTION = 2
    MANAGED = 4
    MSIL = 8


@dataclass(frozen=True, slots=True)
class Public:
    """A public (linker) symbol.

    Attributes:
        rva: its address relative to the image base.
        name: the name undecorated to readable C++ (``ns::Class::method``),
            or the decorated name when undecoration failed.
        decorated_name: the name as the linker wrote it (``?method@Class@ns@@QAEXXZ``).
        is_function: the PDB flags it as code or a function.
    """

    rva: int
    name: str
    decorated_name: str
    is_function: bool


@dataclass(frozen=True, slots=True)
class Function:
    """A procedure (or thunk) from a module symbol stream.

    Attributes:
        rva: start address relative to the image base.
        size: code size in bytes.
        name: the name as the PDB gives it: undecorated and qualified
            (``ThreadpoolMgr::CompletionPortThreadStart``); an Itanium-mangled
            name (lld-linked MinGW code) is demangled without its parameters.
        module: index of the module (compiland) that defines it.
        is_global: an S_GPROC32 (external linkage) rather than S_LPROC32.
        kind: ``"proc"`` or ``"thunk"``.
        type_index: the procedure's type index in the TPI/IPI stream (0 for thunks).
        signature: the name with its parameter list, breakpad style
            (``ns::f(int,char const *)``), when a decorated C++ public at the same
            address gives one (``c++filt`` style for Itanium names); otherwise
            equal to ``name``.
    """

    rva: int
    size: int
    name: str
    module: int
    is_global: bool
    kind: str
    type_index: int
    signature: str


#: A procedure as read, before its display name is settled:
#: (rva, size, name, module, is_global, kind, type_index).
RawProc = tuple[int, int, str, int, bool, str, int]


def _name_at(data: bytes, start: int, end: int) -> str:
    nul = data.find(b"\0", start, end)
    return data[start : nul if nul >= 0 else end].decode("utf-8", "replace")


def parse_publics(data: bytes, label: str, to_rva: ToRva) -> list[tuple[int, str, int]]:
    """Read every S_PUB32 record of the symbol record stream.

    Args:
        data: the stream's bytes.
        label: the stream label for errors.
        to_rva: maps (segment, offset) to an RVA.

    Returns:
        (rva, decorated name, flags) of every public the image places.

    Raises:
        PdbError: a record length is impossible.
    """
    out: list[tuple[int, str, int]] = []
    pos, end = 0, len(data)
    hdr, pub = _HDR.unpack_from, _PUB32.unpack_from
    pub_kind = SymKind.S_PUB32.value
    while pos + 4 <= end:
        reclen, kind = hdr(data, pos)
        nxt = pos + 2 + reclen
        if reclen < 2 or nxt > end:
            raise PdbError(f"symbol record length {reclen} is impossible", stream=label, offset=pos)
        if kind == pub_kind:
            if reclen < 2 + _PUB32.size:
                raise PdbError("S_PUB32 record too short", stream=label, offset=pos)
            flags, off, seg = pub(data, pos + 4)
            rva = to_rva(seg, off)
            if rva is not None:
                out.append((rva, _name_at(data, pos + 4 + _PUB32.size, nxt), flags))
        pos = nxt
    return out


def parse_module_procedures(
    data: bytes, start: int, end: int, module: int, label: str, to_rva: ToRva
) -> list[RawProc]:
    """Read the procedures and thunks of one module's symbol records.

    Args:
        data: the module stream's bytes.
        start: offset of the first record (4, after the signature).
        end: end of the symbol records (the module's symbol byte size).
        module: the module index, stored in each result.
        label: the stream label for errors.
        to_rva: maps (segment, offset) to an RVA.

    Raises:
        PdbError: a record length is impossible or a record is too short.
    """
    out: list[RawProc] = []
    pos = start
    hdr, proc, thunk = _HDR.unpack_from, _PROC32.unpack_from, _THUNK32.unpack_from
    proc_kinds, global_kinds = _PROC_KINDS, _GLOBAL_PROC_KINDS
    thunk_kind = SymKind.S_THUNK32.value
    while pos + 4 <= end:
        reclen, kind = hdr(data, pos)
        nxt = pos + 2 + reclen
        if reclen < 2 or nxt > end:
            raise PdbError(f"symbol record length {reclen} is impossible", stream=label, offset=pos)
        if kind in proc_kinds:
            if reclen < 2 + _PROC32.size:
                raise PdbError("procedure record too short", stream=label, offset=pos)
            _par, _end, _next, length, _ds, _de, typind, off, seg, _flags = proc(data, pos + 4)
            rva = to_rva(seg, off)
            if rva is not None:
                name = _name_at(data, pos + 4 + _PROC32.size, nxt)
                out.append((rva, length, name, module, kind in global_kinds, "proc", typind))
        elif kind == thunk_kind:
            if reclen < 2 + _THUNK32.size:
                raise PdbError("S_THUNK32 record too short", stream=label, offset=pos)
            _par, _end, _next, off, seg, length, _ord = thunk(data, pos + 4)
            rva = to_rva(seg, off)
            if rva is not None:
                name = _name_at(data, pos + 4 + _THUNK32.size, nxt)
                out.append((rva, length, name, module, False, "thunk", 0))
        pos = nxt
    return out
