"""The resource directory walk to RT_VERSION and the VS_VERSIONINFO parser.

VS_VERSIONINFO is a tree of blocks, each ``wLength, wValueLength, wType``,
a UTF-16 key, padding to 32 bits, the value, padding, then child blocks up
to ``wLength``. The root's value is a VS_FIXEDFILEINFO; its children are a
StringFileInfo (StringTables of key/value strings, one per language and code
page) and a VarFileInfo (the Translation list).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from dumplib.pe.errors import PeError
from dumplib.pe.layout import ImageBytes
from dumplib.pe.structs import (
    MAX_RESOURCE_ENTRIES,
    MAX_VERSION_RESOURCE,
    RESOURCE_DATA_ENTRY,
    RESOURCE_DIRECTORY,
    RESOURCE_DIRECTORY_ENTRY,
    U32,
    VS_FIXEDFILEINFO,
)

__all__ = [
    "RT_VERSION",
    "FixedFileInfo",
    "VersionInfo",
    "find_resource",
    "parse_version_info",
]

#: Resource type id of version information.
RT_VERSION = 16
_DIR = "IMAGE_RESOURCE_DIRECTORY"
_VS = "VS_VERSIONINFO"
_FIXED_SIGNATURE = 0xFEEF04BD
_MAX_DEPTH = 4
_MAX_BLOCKS = 4096
_BLOCK_HEADER = struct.Struct("<HHH")


@dataclass(frozen=True, slots=True)
class FixedFileInfo:
    """VS_FIXEDFILEINFO: the binary version block.

    Attributes:
        file_version: (major, minor, build, revision) from dwFileVersionMS/LS.
        product_version: the same for dwProductVersionMS/LS.
        flags_mask: dwFileFlagsMask.
        flags: dwFileFlags (VS_FF_DEBUG, VS_FF_PRERELEASE, ...).
        os: dwFileOS (VOS_NT_WINDOWS32 = 0x40004, ...).
        type: dwFileType (VFT_APP = 1, VFT_DLL = 2, ...).
        subtype: dwFileSubtype.
        date: 64-bit dwFileDateMS:LS (almost always 0).
        struct_version: dwStrucVersion.
    """

    file_version: tuple[int, int, int, int]
    product_version: tuple[int, int, int, int]
    flags_mask: int
    flags: int
    os: int
    type: int
    subtype: int
    date: int
    struct_version: int


@dataclass(frozen=True, slots=True)
class VersionInfo:
    """A parsed version resource.

    Attributes:
        fixed: the VS_FIXEDFILEINFO, or None when absent or malformed.
        string_tables: StringFileInfo tables by their key (``"040904b0"``: language
            and code page in hex), each a dict of key -> value in stored order.
        translations: (language, code page) pairs from VarFileInfo\\Translation.
    """

    fixed: FixedFileInfo | None
    string_tables: dict[str, dict[str, str]] = field(default_factory=dict)
    translations: tuple[tuple[int, int], ...] = ()

    @property
    def strings(self) -> dict[str, str]:
        """All string keys merged (the first table wins): CompanyName, FileVersion, ..."""
        merged: dict[str, str] = {}
        for table in self.string_tables.values():
            for key, value in table.items():
                merged.setdefault(key, value)
        return merged

    @property
    def file_version(self) -> tuple[int, int, int, int] | None:
        """The fixed file version, or None."""
        return self.fixed.file_version if self.fixed else None

    @property
    def product_version(self) -> tuple[int, int, int, int] | None:
        """The fixed product version, or None."""
        return self.fixed.product_version if self.fixed else None


def _directory(
    image: ImageBytes, root: int, size: int, offset: int
) -> Iterator[tuple[int, bool, int]]:
    """Yield (name_or_id, is_directory, offset) of one resource directory's entries.

    Named entries yield their name as -1 - offset-of-name (they never match an id).
    """
    if offset + RESOURCE_DIRECTORY.size > size:
        raise image.error("resource directory outside the resource section", _DIR, root + offset)
    *_, named, ids = RESOURCE_DIRECTORY.unpack_from(
        image.read(root + offset, RESOURCE_DIRECTORY.size, _DIR)
    )
    count = named + ids
    if count > MAX_RESOURCE_ENTRIES:
        raise image.error(f"resource directory claims {count} entries", _DIR, root + offset)
    first = offset + RESOURCE_DIRECTORY.size
    if first + count * RESOURCE_DIRECTORY_ENTRY.size > size:
        raise image.error("resource directory entries overrun the section", _DIR, root + offset)
    raw = image.read(root + first, count * RESOURCE_DIRECTORY_ENTRY.size, _DIR)
    for name, target in RESOURCE_DIRECTORY_ENTRY.iter_unpack(raw):
        ident = -1 - (name & 0x7FFFFFFF) if name & 0x80000000 else name
        yield ident, bool(target & 0x80000000), target & 0x7FFFFFFF


def find_resource(
    image: ImageBytes, root: int, size: int, type_id: int
) -> tuple[int, int, int] | None:
    """Find the first resource of ``type_id`` (any name, any language).

    Args:
        image: the image's bytes.
        root: RVA of the resource directory; size: its size.
        type_id: the resource type (``RT_VERSION`` = 16).

    Returns:
        (data RVA, data size, code page) of its IMAGE_RESOURCE_DATA_ENTRY, or None.

    Raises:
        PeError: the directory tree is corrupt.
    """
    offset = 0
    wanted: int | None = type_id
    seen: set[int] = set()
    for _level in range(3):
        if offset in seen:
            raise image.error("resource directory loop", _DIR, root + offset)
        seen.add(offset)
        found: tuple[bool, int] | None = None
        for ident, is_dir, target in _directory(image, root, size, offset):
            if wanted is None or ident == wanted:
                found = (is_dir, target)
                break
        if found is None:
            return None
        is_dir, target = found
        wanted = None
        if not is_dir:
            if target + RESOURCE_DATA_ENTRY.size > size:
                raise image.error("resource data entry outside the section", _DIR, root + target)
            data_rva, data_size, codepage, _ = RESOURCE_DATA_ENTRY.unpack_from(
                image.read(root + target, RESOURCE_DATA_ENTRY.size, _DIR)
            )
            return data_rva, data_size, codepage
        offset = target
    raise image.error("resource tree deeper than type/name/language", _DIR, root + offset)


class _Block:
    __slots__ = ("children", "end", "key", "start", "value", "value_length", "wtype")

    def __init__(
        self, key: str, wtype: int, value: bytes, value_length: int, start: int, end: int,
        children: int,
    ) -> None:
        self.key = key
        self.wtype = wtype
        self.value = value
        self.value_length = value_length
        self.start = start
        self.end = end
        self.children = children


def _align4(n: int) -> int:
    return (n + 3) & ~3


def _block(data: bytes, pos: int, limit: int) -> _Block:
    """Parse one version block header at ``pos`` (its end clipped to ``limit``)."""
    if pos + 6 > limit:
        raise PeError("version block header truncated", structure=_VS, offset=pos)
    length, value_length, wtype = _BLOCK_HEADER.unpack_from(data, pos)
    if length < 6:
        raise PeError(f"version block length {length} too small", structure=_VS, offset=pos)
    end = min(pos + length, limit)
    key_at = pos + 6
    nul = key_at
    while nul + 1 < end and (data[nul] or data[nul + 1]):
        nul += 2
    key = data[key_at:nul].decode("utf-16-le", errors="replace")
    value_at = _align4(nul + 2)
    # wValueLength counts WORDs for text values and bytes for binary ones
    nbytes = value_length * 2 if wtype == 1 else value_length
    value_end = min(value_at + nbytes, end)
    value = data[value_at:value_end] if value_at < end else b""
    children = _align4(value_end) if value_length else value_at
    return _Block(key, wtype, value, value_length, pos, end, children)


def _children(data: bytes, parent: _Block) -> Iterator[_Block]:
    pos = parent.children
    count = 0
    while pos + 6 <= parent.end:
        count += 1
        if count > _MAX_BLOCKS:
            raise PeError("too many version blocks", structure=_VS, offset=pos)
        child = _block(data, pos, parent.end)
        yield child
        nxt = _align4(child.end)
        if nxt <= pos:
            break
        pos = nxt


def _text(value: bytes) -> str:
    text = value.decode("utf-16-le", errors="replace")
    nul = text.find("\0")
    return text if nul < 0 else text[:nul]


def _fixed(value: bytes) -> FixedFileInfo | None:
    if len(value) < VS_FIXEDFILEINFO.size:
        return None
    (sig, strucver, fms, fls, pms, pls, mask, flags, fos, ftype, fsub, dms, dls) = (
        VS_FIXEDFILEINFO.unpack_from(value)
    )
    if sig != _FIXED_SIGNATURE:
        return None
    return FixedFileInfo(
        file_version=(fms >> 16, fms & 0xFFFF, fls >> 16, fls & 0xFFFF),
        product_version=(pms >> 16, pms & 0xFFFF, pls >> 16, pls & 0xFFFF),
        flags_mask=mask,
        flags=flags,
        os=fos,
        type=ftype,
        subtype=fsub,
        date=(dms << 32) | dls,
        struct_version=strucver,
    )


def parse_version_info(data: bytes) -> VersionInfo:
    """Parse a VS_VERSIONINFO resource.

    Args:
        data: the resource's bytes.

    Returns:
        The :class:`VersionInfo`.

    Raises:
        PeError: the block tree is malformed (offsets are within ``data``).
    """
    if len(data) > MAX_VERSION_RESOURCE:
        raise PeError(f"version resource of {len(data)} bytes is too large", structure=_VS)
    root = _block(data, 0, len(data))
    if root.key != "VS_VERSION_INFO":
        raise PeError(f"version resource key is {root.key!r}", structure=_VS, offset=0)
    fixed = _fixed(root.value)
    tables: dict[str, dict[str, str]] = {}
    translations: list[tuple[int, int]] = []
    for child in _children(data, root):
        if child.key == "StringFileInfo":
            for table in _children(data, child):
                strings = tables.setdefault(table.key, {})
                for entry in _children(data, table):
                    strings[entry.key] = _text(entry.value)
        elif child.key == "VarFileInfo":
            for var in _children(data, child):
                if var.key == "Translation":
                    for i in range(0, len(var.value) - 3, 4):
                        word = U32.unpack_from(var.value, i)[0]
                        translations.append((word & 0xFFFF, word >> 16))
    return VersionInfo(fixed, tables, tuple(translations))
