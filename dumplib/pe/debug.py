"""The debug directory and its CodeView record (which PDB matches an image)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import NamedTuple

from dumplib.pe.structs import DebugType

__all__ = ["CodeView", "DebugEntry", "format_guid", "parse_codeview", "pdb_key"]

_GUID = struct.Struct("<IHH8s")
_RSDS = struct.Struct("<4s16sI")
_NB10 = struct.Struct("<4sIII")


@dataclass(frozen=True, slots=True)
class DebugEntry:
    """One IMAGE_DEBUG_DIRECTORY entry.

    Attributes:
        type: Type (see :class:`DebugType`).
        timestamp: TimeDateStamp.
        size: SizeOfData.
        rva: AddressOfRawData (0 when the data is not mapped).
        file_offset: PointerToRawData.
    """

    type: int
    timestamp: int
    size: int
    rva: int
    file_offset: int

    @property
    def kind(self) -> DebugType | int:
        """:attr:`type` as a :class:`DebugType` (the int when unknown)."""
        try:
            return DebugType(self.type)
        except ValueError:
            return self.type


class CodeView(NamedTuple):
    """The PDB an image was linked with, as a ``(pdb_name, identifier, age)`` tuple.

    Attributes:
        pdb_name: the PDB path as the linker recorded it (often a full build path).
        identifier: PDB70: the GUID as 32 upper-case hex digits without dashes, the
            way symbol stores spell it; PDB20: the 32-bit signature as 8 hex digits.
        age: the PDB age.
    """

    pdb_name: str
    identifier: str
    age: int

    @property
    def basename(self) -> str:
        """The PDB's file name without its directory (either slash)."""
        return self.pdb_name.replace("\\", "/").rsplit("/", 1)[-1]

    @property
    def is_pdb70(self) -> bool:
        """True for an RSDS (GUID) record, False for an NB10 (signature) one."""
        return len(self.identifier) == 32

    @property
    def key(self) -> str:
        """The symbol-store directory key: identifier followed by the age in hex."""
        return pdb_key(self.identifier, self.age)


def pdb_key(identifier: str, age: int) -> str:
    """Symbol-store key of a PDB: ``GUID`` (or NB10 signature) + ``"%x" % age``.

    Args:
        identifier: the GUID as 32 hex digits without dashes (or an 8-digit signature).
        age: the PDB age.

    Returns:
        e.g. ``"F535C5FB2AE84BB8AA206C30BE566C5A1"``.
    """
    return f"{identifier.upper()}{age:x}"


def format_guid(raw: bytes) -> str:
    """Format a 16-byte GUID as symbol stores do: upper-case hex, no dashes.

    The first three fields are little-endian integers, the last 8 bytes are
    taken in order.
    """
    d1, d2, d3, d4 = _GUID.unpack(raw)
    return f"{d1:08X}{d2:04X}{d3:04X}{d4.hex().upper()}"


def _name(raw: bytes) -> str:
    nul = raw.find(b"\0")
    return (raw if nul < 0 else raw[:nul]).decode("utf-8", errors="replace")


def parse_codeview(data: bytes) -> CodeView | None:
    """Decode a CodeView debug record (``RSDS`` PDB70 or ``NB10`` PDB20).

    Args:
        data: the record's bytes (SizeOfData of its debug directory entry).

    Returns:
        The :class:`CodeView` tuple, or None for another (or too short) record.
    """
    if data[:4] == b"RSDS" and len(data) >= _RSDS.size:
        _sig, guid, age = _RSDS.unpack_from(data)
        return CodeView(_name(data[_RSDS.size :]), format_guid(guid), age)
    if data[:4] == b"NB10" and len(data) >= _NB10.size:
        _sig, _offset, signature, age = _NB10.unpack_from(data)
        return CodeView(_name(data[_NB10.size :]), f"{signature:08X}", age)
    return None
