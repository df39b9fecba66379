"""The driver lists of a triage (small memory) kernel dump.

A triage dump keeps, at ``DriverListOffset``, ``DriverCount`` ``DUMP_DRIVER_ENTRY``
records: a ``DriverNameOffset`` (file offset of a ``DUMP_STRING``: a ULONG length in
characters, then UTF-16 text) followed by the driver's ``KLDR_DATA_TABLE_ENTRY``. The
entry's size changes between Windows releases, so the stride is taken from the file (the
string pool follows the list) and checked. At ``UnloadedDriversOffset`` it keeps a ULONG
count and ``DUMP_UNLOADED_DRIVERS`` records: a UNICODE_STRING, the name inline (12 UTF-16
characters), the start and end address.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from dumplib._exc import DumpError
from dumplib.format.kernel import TriageLayout
from dumplib.format.records import UnloadedModuleRecord
from dumplib.model.objects import Module, UnloadedModule

if TYPE_CHECKING:
    from dumplib.model.kernel import KernelDumpFile

__all__ = ["triage_drivers", "triage_unloaded"]

_DEFAULT_STRIDE = {True: 8 + 0xA0, False: 4 + 0x50}
_MIN_STRIDE = {True: 8 + 0x68, False: 4 + 0x34}
_MAX_NAME = 1024


def _dump_string(dump: KernelDumpFile, offset: int) -> str | None:
    src = dump.source
    try:
        (length,) = struct.unpack("<I", src.read(offset, 4, what="DUMP_STRING"))
        if not length or length > _MAX_NAME:
            return None
        return src.read(offset + 4, length * 2, what="DUMP_STRING").decode("utf-16-le", "replace")
    except DumpError:
        return None


def triage_drivers(dump: KernelDumpFile, tri: TriageLayout) -> list[Module]:
    """The drivers a triage dump lists, in list order."""
    is64 = dump.kernel_header.is64
    count = tri.driver_count
    if not count or not tri.driver_list_offset:
        return []
    stride = _DEFAULT_STRIDE[is64]
    if tri.string_pool_offset > tri.driver_list_offset:
        derived = (tri.string_pool_offset - tri.driver_list_offset) // count
        if derived >= _MIN_STRIDE[is64]:
            stride = derived
    avail = max(0, (dump.source.size - tri.driver_list_offset) // stride)
    if count > avail:
        dump.warnings.append(f"triage driver list: {count} listed, room for {avail}")
        count = avail
    ldr = 8 if is64 else 4
    out: list[Module] = []
    for i in range(count):
        at = tri.driver_list_offset + i * stride
        raw = dump.source.read(at, stride, what="DUMP_DRIVER_ENTRY")
        (name_off,) = struct.unpack_from("<I", raw, 0)
        if is64:
            base, _ep, size = struct.unpack_from("<QQI", raw, ldr + 0x30)
        else:
            base, _ep, size = struct.unpack_from("<III", raw, ldr + 0x18)
        name = _dump_string(dump, name_off) if name_off else None
        path = name or f"driver@0x{base:x}"
        out.append(dump.make_driver(base, size, path, path.replace("/", "\\").rsplit("\\", 1)[-1]))
    return out


def triage_unloaded(dump: KernelDumpFile, tri: TriageLayout) -> list[UnloadedModule]:
    """The unloaded drivers a triage dump keeps, most recent last as recorded."""
    off = tri.unloaded_drivers_offset
    if not off:
        return []
    is64 = dump.kernel_header.is64
    src = dump.source
    try:
        (count,) = struct.unpack("<I", src.read(off, 4, what="unloaded drivers"))
    except DumpError as exc:
        dump.warnings.append(f"unloaded drivers unreadable: {exc}")
        return []
    head = 8 if is64 else 4
    size = 16 + 24 + 16 if is64 else 8 + 24 + 8
    avail = max(0, (src.size - off - head) // size)
    if count > avail:
        dump.warnings.append(f"unloaded drivers: {count} listed, room for {avail}")
        count = avail
    out: list[UnloadedModule] = []
    for i in range(count):
        raw = src.read(off + head + i * size, size, what="DUMP_UNLOADED_DRIVERS")
        length = struct.unpack_from("<H", raw, 0)[0]
        ns = 16 if is64 else 8
        name = raw[ns : ns + min(length, 24)].decode("utf-16-le", "replace").rstrip("\0")
        start, end = struct.unpack_from("<QQ" if is64 else "<II", raw, ns + 24)
        rec = UnloadedModuleRecord(start, max(0, end - start), 0, 0, name)
        out.append(UnloadedModule.from_record(rec))
    return out
