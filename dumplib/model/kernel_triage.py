"""The driver lists of a triage (small memory) kernel dump.

A triage dump keeps, at ``DriverListOffset``, ``DriverCount`` ``DUMP_DRIVER_ENTRY``
records: a ``DriverNameOffset`` (file offset of a ``DUMP_STRING``: a ULONG length, then
NUL-terminated UTF-16 text) followed by the debugger's packed ``KLDR_DATA_TABLE_ENTRY``
(0x88 bytes on x64, 0x48 on x86; the headers note it must not grow because dump files hold
packed arrays of it): DllBase, SizeOfImage, CheckSum and TimeDateStamp. Headers disagree on
whether the string length counts bytes or characters, so the terminating NUL decides. At
``UnloadedDriversOffset`` it keeps a count (ULONG64 on x64) and ``DUMP_UNLOADED_DRIVERS``
records: a UNICODE_STRING, the name inline (12 UTF-16 characters), start and end address.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from dumplib._exc import DumpError, MemoryNotInDump
from dumplib.format.kernel import TriageLayout
from dumplib.format.records import UnloadedModuleRecord
from dumplib.model.objects import Module, UnloadedModule

if TYPE_CHECKING:
    from dumplib.model.kernel import KernelDumpFile

__all__ = ["triage_drivers", "triage_unloaded"]

_STRIDE = {True: 8 + 0x88, False: 4 + 0x48}
_MAX_NAME = 1024


def _dump_string(dump: KernelDumpFile, offset: int) -> str | None:
    src = dump.source
    try:
        (length,) = struct.unpack("<I", src.read(offset, 4, what="DUMP_STRING"))
        if not length or length > _MAX_NAME:
            return None
        avail = min(length * 2 + 2, src.size - offset - 4)
        raw = src.read(offset + 4, avail, what="DUMP_STRING")
        for nbytes in (length * 2, length):  # characters (the NUL follows), else bytes
            if nbytes % 2 == 0 and raw[nbytes : nbytes + 2] == b"\0\0":
                return raw[:nbytes].decode("utf-16-le", "replace")
        return raw[: length & ~1].decode("utf-16-le", "replace").rstrip("\0")
    except DumpError:
        return None


def triage_drivers(dump: KernelDumpFile, tri: TriageLayout) -> list[Module]:
    """The drivers a triage dump lists, in list order."""
    is64 = dump.kernel_header.is64
    count = tri.driver_count
    if not count or not tri.driver_list_offset:
        return []
    stride = _STRIDE[is64]
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
            checksum, _pad, timestamp = struct.unpack_from("<III", raw, ldr + 0x78)
        else:
            base, _ep, size = struct.unpack_from("<III", raw, ldr + 0x18)
            checksum, timestamp = struct.unpack_from("<II", raw, ldr + 0x40)
        name = _dump_string(dump, name_off) if name_off else None
        path = name or f"driver@0x{base:x}"
        short = path.replace("/", "\\").rsplit("\\", 1)[-1]
        out.append(dump.make_driver(base, size, path, short, timestamp=timestamp,
                                    checksum=checksum))
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


#: KDDEBUGGER_DATA64 offsets (wdbgexts.h; volatility3's kdbg.json agrees): the 'KDBG'
#: OwnerTag of its header, MmUnloadedDrivers and MmLastUnloadedDriver.
_KDBG_TAG, _MM_UNLOADED, _MM_LAST_UNLOADED = 0x10, 0x220, 0x228
#: MI_UNLOADED_DRIVERS: the kernel keeps the last 50 unloads in a ring.
MI_UNLOADED_DRIVERS = 50


def kdbg_unloaded(dump: KernelDumpFile) -> list[UnloadedModule]:
    """MmUnloadedDrivers (a ring of UNLOADED_DRIVERS: name, start, end, time), oldest first.

    The ring is found through the KdDebuggerDataBlock; Windows 8 and later keep that block
    encoded until a debugger attaches, and then nothing is read (with a warning).
    """
    kdbg = dump.kernel_header.kd_debugger_data_block
    if not kdbg:
        return []
    mem = dump.memory
    is64 = dump.kernel_header.is64
    try:
        if mem.read(kdbg + _KDBG_TAG, 4) != b"KDBG":
            dump.warnings.append(
                "KdDebuggerDataBlock has no KDBG tag (encoded, as Windows 8+ keeps it): "
                "unloaded drivers not read"
            )
            return []
        array = mem.read_pointer(mem.read_u64(kdbg + _MM_UNLOADED))
        last = mem.read_u32(mem.read_u64(kdbg + _MM_LAST_UNLOADED))
    except MemoryNotInDump as exc:
        dump.warnings.append(f"unloaded drivers not read: {exc}")
        return []
    if not array:
        return []
    size = 40 if is64 else 24
    out: list[UnloadedModule] = []
    order = [*range(last % MI_UNLOADED_DRIVERS, MI_UNLOADED_DRIVERS),
             *range(0, last % MI_UNLOADED_DRIVERS)]
    for i in order:
        raw = mem.try_read(array + i * size, size)
        if raw is None:
            continue
        if is64:
            length, _max, _pad, buf, start, end, _time = struct.unpack("<HHIQQQQ", raw)
        else:
            length, _max, buf, start, end, _time = struct.unpack("<HHIIIQ", raw)
        if not start or end <= start:
            continue
        name = ""
        if buf and 0 < length <= _MAX_NAME:
            text = mem.try_read(buf, length & ~1)
            name = text.decode("utf-16-le", "replace") if text else ""
        rec = UnloadedModuleRecord(start, end - start, 0, 0, name or f"driver@0x{start:x}")
        out.append(UnloadedModule.from_record(rec))
    return out
