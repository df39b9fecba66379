"""CrashpadInfo (0x43500001): report and client ids, and the annotations.

Crashpad's ``MinidumpCrashpadInfo``: version, report id and client id
(GUIDs), a location of the process's simple annotations (a
``MinidumpSimpleStringDictionary``: count, then RVA pairs of
``MinidumpUTF8String``), and a location of the per-module list
(``MinidumpModuleCrashpadInfoList``: count, then links of module-list index
and location). Each ``MinidumpModuleCrashpadInfo`` points to list annotations
(an RVA list of strings), simple annotations (a string dictionary) and
annotation objects (name, type, value bytes).
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass

from dumplib._exc import CorruptDumpError, TruncatedError
from dumplib.format.vendor import ReadAt

__all__ = [
    "MAX_ANNOTATIONS",
    "Annotation",
    "CrashpadInfo",
    "ModuleCrashpadInfo",
    "parse_crashpad_info",
]

#: Most entries read from any one annotation list or dictionary.
MAX_ANNOTATIONS = 65536
#: Longest string or value read, in bytes.
MAX_VALUE = 1 << 20
_STREAM = "CrashpadInfo"


@dataclass(frozen=True, slots=True)
class Annotation:
    """A crashpad annotation object.

    Attributes:
        name: its name; type: the crashpad type (1 = string, 0x8000+ user types);
        value: the raw bytes; text: ``value`` decoded when the type is string, else None.
    """

    name: str
    type: int
    value: bytes
    text: str | None


@dataclass(frozen=True, slots=True)
class ModuleCrashpadInfo:
    """Annotations of one module.

    Attributes:
        module_index: the index of the module in the ModuleListStream.
        version: the record version.
        list_annotations: plain strings (e.g. ``"abort() called"``).
        simple_annotations: key -> value strings.
        annotation_objects: typed annotations.
    """

    module_index: int
    version: int
    list_annotations: tuple[str, ...]
    simple_annotations: dict[str, str]
    annotation_objects: tuple[Annotation, ...]


@dataclass(frozen=True, slots=True)
class CrashpadInfo:
    """The CrashpadInfo stream.

    Attributes:
        version: the record version.
        report_id, client_id: GUIDs as lower-case dashed strings.
        simple_annotations: the process's key -> value annotations.
        modules: per-module annotations.
    """

    version: int
    report_id: str
    client_id: str
    simple_annotations: dict[str, str]
    modules: tuple[ModuleCrashpadInfo, ...]


def _read(read: ReadAt, rva: int, size: int) -> bytes:
    if size > MAX_VALUE:
        raise CorruptDumpError(f"{size} bytes asked at 0x{rva:x}", stream=_STREAM, offset=rva)
    return read(rva, size)


def _string(read: ReadAt, rva: int) -> str:
    (length,) = struct.unpack("<I", _read(read, rva, 4))
    return _read(read, rva + 4, length).decode("utf-8", "replace")


def _count(read: ReadAt, rva: int, entry_size: int) -> int:
    count: int = struct.unpack("<I", _read(read, rva, 4))[0]
    if count > MAX_ANNOTATIONS:
        raise CorruptDumpError(f"{count} annotations", stream=_STREAM, offset=rva)
    _read(read, rva + 4, count * entry_size)  # the entries exist before any is decoded
    return count


def _dictionary(read: ReadAt, size: int, rva: int) -> dict[str, str]:
    if not size or not rva:
        return {}
    out: dict[str, str] = {}
    for i in range(_count(read, rva, 8)):
        key_rva, value_rva = struct.unpack("<II", _read(read, rva + 4 + 8 * i, 8))
        out.setdefault(_string(read, key_rva), _string(read, value_rva))
    return out


def _rva_list(read: ReadAt, size: int, rva: int) -> tuple[str, ...]:
    if not size or not rva:
        return ()
    count = _count(read, rva, 4)
    rvas = struct.unpack(f"<{count}I", _read(read, rva + 4, 4 * count))
    return tuple(_string(read, r) for r in rvas)


def _objects(read: ReadAt, size: int, rva: int) -> tuple[Annotation, ...]:
    if not size or not rva:
        return ()
    out: list[Annotation] = []
    for i in range(_count(read, rva, 12)):
        name_rva, kind, _reserved, value_rva = struct.unpack(
            "<IHHI", _read(read, rva + 4 + 12 * i, 12))
        (length,) = struct.unpack("<I", _read(read, value_rva, 4))
        value = _read(read, value_rva + 4, length)
        text = value.decode("utf-8", "replace").rstrip("\0") if kind == 1 else None
        out.append(Annotation(_string(read, name_rva), kind, value, text))
    return tuple(out)


def parse_crashpad_info(data: bytes, read: ReadAt) -> CrashpadInfo:
    """Parse CrashpadInfo.

    Args:
        data: the stream's bytes.
        read: bounded reads of the file, for what the stream points to.

    Raises:
        TruncatedError: the stream or something it points to is cut.
        CorruptDumpError: a count or length beyond the limits.
    """
    if len(data) < 52:
        raise TruncatedError(f"CrashpadInfo needs 52 bytes, has {len(data)}", stream=_STREAM)
    version = struct.unpack_from("<I", data)[0]
    report = str(uuid.UUID(bytes_le=bytes(data[4:20])))
    client = str(uuid.UUID(bytes_le=bytes(data[20:36])))
    simple_size, simple_rva, mods_size, mods_rva = struct.unpack_from("<IIII", data, 36)
    simple = _dictionary(read, simple_size, simple_rva)
    modules: list[ModuleCrashpadInfo] = []
    if mods_size and mods_rva:
        for i in range(_count(read, mods_rva, 12)):
            index, loc_size, loc_rva = struct.unpack("<III", _read(read, mods_rva + 4 + 12 * i,
                                                                   12))
            if loc_size < 28:
                continue
            mv, ls, lr, ss, sr, os_, or_ = struct.unpack("<7I", _read(read, loc_rva, 28))
            modules.append(ModuleCrashpadInfo(
                index, mv, _rva_list(read, ls, lr), _dictionary(read, ss, sr),
                _objects(read, os_, or_),
            ))
    return CrashpadInfo(version, report, client, simple, tuple(modules))
