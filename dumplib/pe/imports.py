"""The import directory of a PE image: which DLLs (or kernel modules) it imports, and what.

Layout per the PE/COFF specification: IMAGE_IMPORT_DESCRIPTORs (20 bytes: import lookup
table RVA, time stamp, forwarder chain, name RVA, import address table RVA) up to an
all-zero one; each lookup table holds 8-byte (PE32+) or 4-byte (PE32) entries whose high
bit marks an import by ordinal, else the RVA of a hint/name entry, up to a zero entry.
A driver's imports say what it plugs into: NDIS (``ndis.sys``), WFP callouts
(``fwpkclnt.sys``), TDI (``tdi.sys``).
"""

from __future__ import annotations

import struct

from dumplib._exc import DumpError
from dumplib.pe.image import PeImage

__all__ = ["MAX_DESCRIPTORS", "MAX_THUNKS", "imports"]

MAX_DESCRIPTORS = 4096
MAX_THUNKS = 65536
_MAX_NAME = 512


def _name(image: PeImage, rva: int) -> str:
    raw = b""
    for size in (64, _MAX_NAME):
        try:
            raw = image.read(rva, size)
        except DumpError:
            continue
        if b"\0" in raw:
            break
    return raw.split(b"\0", 1)[0].decode("latin-1")


def imports(image: PeImage) -> dict[str, list[str]]:
    """Imported module (lower case) -> imported names (``"#12"`` for an ordinal).

    Returns an empty dict when the image has no import directory; stops at the first
    descriptor or table the image (or the dump) does not hold.
    """
    d = image.directory(1)
    if d is None:
        return {}
    wide = image.is_64bit
    width = 8 if wide else 4
    flag = 1 << (63 if wide else 31)
    out: dict[str, list[str]] = {}
    thunks = 0
    for i in range(MAX_DESCRIPTORS):
        try:
            lookup, _ts, _fwd, name_rva, iat = struct.unpack(
                "<5I", image.read(d.rva + 20 * i, 20)
            )
        except DumpError:
            break
        if not (lookup or name_rva or iat):
            break
        dll = _name(image, name_rva).lower()
        names = out.setdefault(dll, [])
        table = lookup or iat
        for j in range(MAX_THUNKS):
            if thunks >= MAX_THUNKS:
                return out
            try:
                raw = image.read(table + j * width, width)
                (entry,) = struct.unpack("<Q" if wide else "<I", raw)
            except DumpError:
                break
            if not entry:
                break
            thunks += 1
            if entry & flag:
                names.append(f"#{entry & 0xFFFF}")
            else:
                names.append(_name(image, (entry & 0x7FFFFFFF) + 2))
    return out
