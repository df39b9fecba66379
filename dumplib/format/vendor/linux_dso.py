"""LinuxDsoDebug (0x4767000A): the dynamic linker's ``r_debug`` and link map.

``MDRawDebug`` (naturally aligned, so 64-bit writers pad after the count and the
name RVA): version, RVA of the link-map array, DSO count, then
``brk``, ``ldbase`` and ``dynamic`` (pointer-sized). Each ``MDRawLinkMap``
entry: load address, RVA of the name (a MINIDUMP_STRING, UTF-16), address of
the DSO's dynamic section.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from dumplib._exc import CorruptDumpError, TruncatedError
from dumplib.format.vendor import ReadAt

__all__ = ["DsoDebug", "LinkMapEntry", "parse_dso_debug"]

_STREAM = "LinuxDsoDebug"
#: Most link-map entries read.
MAX_DSOS = 65536


@dataclass(frozen=True, slots=True)
class LinkMapEntry:
    """One loaded DSO of the link map.

    Attributes:
        addr: load bias; name: its path; ld: address of its dynamic section.
    """

    addr: int
    name: str
    ld: int


@dataclass(frozen=True, slots=True)
class DsoDebug:
    """The LinuxDsoDebug stream.

    Attributes:
        version: ``r_version``; brk: ``r_brk``; ldbase: the linker's load address;
        dynamic: the executable's dynamic section; entries: the link map.
    """

    version: int
    brk: int
    ldbase: int
    dynamic: int
    entries: tuple[LinkMapEntry, ...]


def _utf16(read: ReadAt, rva: int) -> str:
    (length,) = struct.unpack("<I", read(rva, 4))
    if length > 1 << 16:
        raise CorruptDumpError(f"name of {length} bytes", stream=_STREAM, offset=rva)
    return read(rva + 4, length).decode("utf-16-le", "replace")


def parse_dso_debug(data: bytes, read: ReadAt, pointer_size: int) -> DsoDebug:
    """Parse LinuxDsoDebug.

    Raises:
        TruncatedError: the stream or the link map is cut.
        CorruptDumpError: more than :data:`MAX_DSOS` entries.
    """
    p = "Q" if pointer_size == 8 else "I"
    pad = "4x" if pointer_size == 8 else ""
    head = struct.Struct(f"<III{pad}{p}{p}{p}")
    if len(data) < head.size:
        raise TruncatedError(f"{_STREAM} needs {head.size} bytes", stream=_STREAM)
    version, map_rva, count, brk, ldbase, dynamic = head.unpack_from(data)
    if count > MAX_DSOS:
        raise CorruptDumpError(f"{count} DSOs", stream=_STREAM)
    entry = struct.Struct(f"<{p}I{pad}{p}")
    raw = read(map_rva, entry.size * count) if count else b""
    entries = tuple(
        LinkMapEntry(addr, _utf16(read, name_rva) if name_rva else "", ld)
        for addr, name_rva, ld in entry.iter_unpack(raw)
    )
    return DsoDebug(version, brk, ldbase, dynamic, entries)
