"""The fixed PDB streams: PDB info (1), DBI (3), ``/names`` and the debug-header streams.

Each parser takes a stream's bytes and returns frozen records; every read is
bounds-checked and a failure names the stream index and offset.

* :func:`parse_info` -- stream 1: version, signature, age, GUID and the named
  stream map (which locates ``/names``).
* :func:`parse_dbi` -- stream 3: the header, module infos, section
  contributions, section map, file info and the optional debug header.
* :func:`parse_section_headers` -- the IMAGE_SECTION_HEADER array the debug
  header points to, for turning ``segment:offset`` into an RVA.
* :func:`parse_omap` -- OMAP tables of reordered (BBT/PGO-instrumented) images.
* :class:`StringTable` -- the ``/names`` stream that C13 file checksums refer to.
"""

from __future__ import annotations

import bisect
import enum
import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from dumplib.pdb._errors import PdbError, stream_label

__all__ = [
    "DbgHeader",
    "DbiInfo",
    "Machine",
    "ModuleInfo",
    "Omap",
    "PdbInfo",
    "SectionContribution",
    "SectionHeader",
    "StringTable",
    "parse_dbi",
    "parse_info",
    "parse_omap",
    "parse_section_headers",
]

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_INFO_HEAD = struct.Struct("<III16s")
_DBI_HEAD = struct.Struct("<iIIHHHHHHiiiiiIiiHHI")
_MODINFO = struct.Struct("<I HHiiIHHII HHIIIHHIII")
_SC_ENTRY = struct.Struct("<HHiiIHHII")
_SECTION_HEADER = struct.Struct("<8sIIIIIIHHI")
_SC_V60 = 0xEFFE0000 + 19970605
_SC_V2 = 0xEFFE0000 + 20140516
_NAMES_MAGIC = 0xEFFEEFFE


def _need(buf: bytes | memoryview, offset: int, size: int, label: str, what: str) -> None:
    if offset < 0 or offset + size > len(buf):
        raise PdbError(f"{what} truncated", stream=label, offset=offset)


def _cstring(buf: bytes | memoryview, offset: int, end: int, label: str, what: str) -> str:
    raw = bytes(buf[offset:end]) if isinstance(buf, memoryview) else buf[offset:end]
    nul = raw.find(b"\0")
    if nul < 0:
        raise PdbError(f"{what}: unterminated string", stream=label, offset=offset)
    return raw[:nul].decode("utf-8", "replace")


# --------------------------------------------------------------------------- PDB info


@dataclass(frozen=True, slots=True)
class PdbInfo:
    """Stream 1, the PDB info stream.

    Attributes:
        version: format version (20000404 for VC70 PDBs).
        signature: a time stamp written with the PDB.
        age: how many times the PDB was written (the DBI age is the one to match).
        guid: the PDB's GUID as 32 upper-case hex digits, WinDbg/symbol-store order.
        guid_bytes: the 16 raw GUID bytes as stored.
        named_streams: the named stream map (``"/names"`` -> stream index ...).
    """

    version: int
    signature: int
    age: int
    guid: str
    guid_bytes: bytes
    named_streams: dict[str, int]


def guid_hex(raw: bytes) -> str:
    """Format 16 stored GUID bytes as symbol stores do (Data1-3 as numbers, then Data4).

    Args:
        raw: the GUID as stored on disk (Data1/2/3 little-endian).

    Returns:
        32 upper-case hex digits without dashes.
    """
    return uuid.UUID(bytes_le=bytes(raw)).hex.upper()


def parse_info(data: memoryview, index: int = 1) -> PdbInfo:
    """Parse the PDB info stream.

    Args:
        data: the stream's bytes.
        index: its stream index, for error messages.

    Raises:
        PdbError: the stream is truncated or its named stream map is malformed.
    """
    label = stream_label(index, "PDB info")
    _need(data, 0, _INFO_HEAD.size, label, "PDB info header")
    version, signature, age, raw_guid = _INFO_HEAD.unpack_from(data, 0)
    names: dict[str, int] = {}
    pos = _INFO_HEAD.size
    if pos + 4 <= len(data):
        (str_size,) = _U32.unpack_from(data, pos)
        pos += 4
        _need(data, pos, str_size, label, "named stream map strings")
        strings = bytes(data[pos : pos + str_size])
        pos += str_size
        _need(data, pos, 12, label, "named stream map header")
        size, _capacity, present_words = struct.unpack_from("<III", data, pos)
        pos += 12
        _need(data, pos, 4 * present_words + 4, label, "named stream map present bits")
        present = struct.unpack_from(f"<{present_words}I", data, pos)
        pos += 4 * present_words
        (deleted_words,) = _U32.unpack_from(data, pos)
        pos += 4 + 4 * deleted_words
        count = sum(bin(w).count("1") for w in present)
        if count != size:
            raise PdbError(
                f"named stream map: {size} entries but {count} present bits",
                stream=label,
                offset=pos,
            )
        _need(data, pos, 8 * count, label, "named stream map entries")
        for i in range(count):
            key, value = struct.unpack_from("<II", data, pos + 8 * i)
            if key >= len(strings):
                raise PdbError(
                    f"named stream map: name offset {key} outside the string buffer",
                    stream=label,
                    offset=pos + 8 * i,
                )
            end = strings.find(b"\0", key)
            name = strings[key : end if end >= 0 else len(strings)].decode("utf-8", "replace")
            names[name] = value
    return PdbInfo(version, signature, age, guid_hex(raw_guid), bytes(raw_guid), names)


# --------------------------------------------------------------------------- DBI


@dataclass(frozen=True, slots=True)
class SectionContribution:
    """A piece of a section that one module (object file) contributed.

    Attributes:
        section: 1-based section index.
        offset: offset inside the section.
        size: size in bytes.
        characteristics: IMAGE_SCN_* flags of the contribution.
        module: index of the contributing module in :attr:`DbiInfo.modules`.
    """

    section: int
    offset: int
    size: int
    characteristics: int
    module: int


@dataclass(frozen=True, slots=True)
class ModuleInfo:
    """One module (compiland, object file) of the DBI module info substream.

    Attributes:
        index: position in the module list.
        name: module name (object file path, or ``"* Linker *"``...).
        object_file: the object or library file it came from.
        symbol_stream: stream index of its symbols and line info, or None.
        symbols_size: bytes of CodeView symbols (including the 4-byte signature).
        c11_size: bytes of old-style C11 line info.
        c13_size: bytes of C13 debug subsections (line info, file checksums).
        source_file_count: number of source files the module lists.
        contribution: its first section contribution.
    """

    index: int
    name: str
    object_file: str
    symbol_stream: int | None
    symbols_size: int
    c11_size: int
    c13_size: int
    source_file_count: int
    contribution: SectionContribution


class Machine(enum.IntEnum):
    """IMAGE_FILE_MACHINE_* values found in the DBI header."""

    UNKNOWN = 0
    I386 = 0x14C
    ARMNT = 0x1C4
    IA64 = 0x200
    AMD64 = 0x8664
    ARM64 = 0xAA64


class DbgHeader(enum.IntEnum):
    """Slots of the DBI optional debug header (each holds a stream index or 0xFFFF)."""

    FPO = 0
    EXCEPTION = 1
    FIXUP = 2
    OMAP_TO_SRC = 3
    OMAP_FROM_SRC = 4
    SECTION_HDR = 5
    TOKEN_RID_MAP = 6
    XDATA = 7
    PDATA = 8
    NEW_FPO = 9
    SECTION_HDR_ORIG = 10


@dataclass(frozen=True, slots=True)
class DbiInfo:
    """The DBI stream (stream 3).

    Attributes:
        age: the age matching the image's CodeView record.
        machine: IMAGE_FILE_MACHINE_* of the image.
        globals_stream: stream index of the global symbol hash, or None.
        publics_stream: stream index of the public symbol hash, or None.
        symbol_records_stream: stream index of the symbol record stream, or None.
        modules: the module infos in order.
        contributions: section contributions sorted by (section, offset).
        section_map: (flags, frame, offset, length) of every section map entry.
        module_files: source file names listed per module (file info substream).
        debug_streams: optional debug header: :class:`DbgHeader` slot -> stream index.
    """

    age: int
    machine: int
    globals_stream: int | None
    publics_stream: int | None
    symbol_records_stream: int | None
    modules: tuple[ModuleInfo, ...]
    contributions: tuple[SectionContribution, ...]
    section_map: tuple[tuple[int, int, int, int], ...]
    module_files: tuple[tuple[str, ...], ...]
    debug_streams: dict[int, int]


def _opt_stream(value: int) -> int | None:
    return None if value == 0xFFFF else value


def parse_dbi(data: memoryview, index: int = 3) -> DbiInfo:
    """Parse the DBI stream.

    Args:
        data: the stream's bytes.
        index: its stream index, for error messages.

    Raises:
        PdbError: a substream size, count or string lies outside the stream.
    """
    label = stream_label(index, "DBI")
    _need(data, 0, _DBI_HEAD.size, label, "DBI header")
    (
        vsig,
        _vhdr,
        age,
        gsi,
        _build,
        psi,
        _dllver,
        symrec,
        _rbld,
        modi_size,
        sc_size,
        secmap_size,
        file_size,
        tsmap_size,
        _mfc,
        dbghdr_size,
        ec_size,
        _flags,
        machine,
        _pad,
    ) = _DBI_HEAD.unpack_from(data, 0)
    if vsig != -1:
        raise PdbError(f"DBI version signature {vsig} is not -1 (pre-VC4 DBI)", stream=label)
    sizes = (modi_size, sc_size, secmap_size, file_size, tsmap_size, ec_size, dbghdr_size)
    starts: list[int] = []
    pos = _DBI_HEAD.size
    for s in sizes:
        if s < 0:
            raise PdbError(f"negative DBI substream size {s}", stream=label, offset=pos)
        starts.append(pos)
        pos += s
    if pos > len(data):
        raise PdbError(
            f"DBI substreams need {pos} bytes but the stream has {len(data)}",
            stream=label,
            offset=_DBI_HEAD.size,
        )
    buf = bytes(data[:pos])
    modules = _parse_modules(buf, starts[0], starts[0] + modi_size, label)
    contributions = _parse_contributions(buf, starts[1], starts[1] + sc_size, label)
    section_map = _parse_section_map(buf, starts[2], starts[2] + secmap_size, label)
    module_files = _parse_file_info(buf, starts[3], starts[3] + file_size, label)
    debug_streams: dict[int, int] = {}
    dbg = starts[6]
    for slot in range(dbghdr_size // 2):
        (value,) = _U16.unpack_from(buf, dbg + 2 * slot)
        if value != 0xFFFF:
            debug_streams[slot] = value
    return DbiInfo(
        age=age,
        machine=machine,
        globals_stream=_opt_stream(gsi),
        publics_stream=_opt_stream(psi),
        symbol_records_stream=_opt_stream(symrec),
        modules=modules,
        contributions=contributions,
        section_map=section_map,
        module_files=module_files,
        debug_streams=debug_streams,
    )


def _parse_modules(buf: bytes, pos: int, end: int, label: str) -> tuple[ModuleInfo, ...]:
    modules: list[ModuleInfo] = []
    while pos < end:
        if pos + _MODINFO.size > end:
            raise PdbError("module info entry truncated", stream=label, offset=pos)
        (
            _unused,
            sec,
            _pad1,
            off,
            size,
            chars,
            modidx,
            _pad2,
            _dcrc,
            _rcrc,
            _flags,
            symstream,
            sym_size,
            c11,
            c13,
            nfiles,
            _pad3,
            _unused2,
            _srcname,
            _pdbname,
        ) = _MODINFO.unpack_from(buf, pos)
        name_at = pos + _MODINFO.size
        name_end = buf.find(b"\0", name_at, end)
        obj_end = buf.find(b"\0", name_end + 1, end) if name_end >= 0 else -1
        if obj_end < 0:
            raise PdbError("module info names unterminated", stream=label, offset=name_at)
        name = buf[name_at:name_end].decode("utf-8", "replace")
        obj = buf[name_end + 1 : obj_end].decode("utf-8", "replace")
        modules.append(
            ModuleInfo(
                index=len(modules),
                name=name,
                object_file=obj,
                symbol_stream=_opt_stream(symstream),
                symbols_size=sym_size,
                c11_size=c11,
                c13_size=c13,
                source_file_count=nfiles,
                contribution=SectionContribution(sec, off, size, chars, modidx),
            )
        )
        pos = (obj_end + 1 + 3) & ~3
    return tuple(modules)


def _parse_contributions(
    buf: bytes, pos: int, end: int, label: str
) -> tuple[SectionContribution, ...]:
    if end - pos < 4:
        return ()
    (version,) = _U32.unpack_from(buf, pos)
    if version == _SC_V60:
        step = _SC_ENTRY.size
    elif version == _SC_V2:
        step = _SC_ENTRY.size + 4
    else:
        raise PdbError(
            f"unknown section contribution version 0x{version:x}", stream=label, offset=pos
        )
    pos += 4
    out = [
        SectionContribution(sec, off, size, chars, mod)
        for sec, _p1, off, size, chars, mod, _p2, _d, _r in (
            _SC_ENTRY.unpack_from(buf, p) for p in range(pos, end - step + 1, step)
        )
    ]
    out.sort(key=lambda c: (c.section, c.offset))
    return tuple(out)


def _parse_section_map(
    buf: bytes, pos: int, end: int, label: str
) -> tuple[tuple[int, int, int, int], ...]:
    if end - pos < 4:
        return ()
    count, _logical = struct.unpack_from("<HH", buf, pos)
    pos += 4
    if pos + 20 * count > end:
        raise PdbError(f"section map: {count} entries do not fit", stream=label, offset=pos - 4)
    out = []
    for i in range(count):
        flags, _ovl, _group, frame, _sname, _cname, off, length = struct.unpack_from(
            "<HHHHHHII", buf, pos + 20 * i
        )
        out.append((flags, frame, off, length))
    return tuple(out)


def _parse_file_info(buf: bytes, pos: int, end: int, label: str) -> tuple[tuple[str, ...], ...]:
    if end - pos < 4:
        return ()
    num_modules, _ = struct.unpack_from("<HH", buf, pos)
    pos += 4
    _need(buf, pos, 4 * num_modules, label, "file info module tables")
    if pos + 4 * num_modules > end:
        raise PdbError("file info module tables truncated", stream=label, offset=pos)
    counts = struct.unpack_from(f"<{num_modules}H", buf, pos + 2 * num_modules)
    pos += 4 * num_modules
    total = sum(counts)
    if pos + 4 * total > end:
        raise PdbError(f"file info: {total} name offsets do not fit", stream=label, offset=pos)
    offsets = struct.unpack_from(f"<{total}I", buf, pos)
    names_at = pos + 4 * total
    cache: dict[int, str] = {}
    result: list[tuple[str, ...]] = []
    k = 0
    for n in counts:
        files = []
        for off in offsets[k : k + n]:
            name = cache.get(off)
            if name is None:
                if names_at + off >= end:
                    raise PdbError(
                        f"file info: name offset {off} outside the names buffer",
                        stream=label,
                        offset=names_at,
                    )
                name = _cstring(buf, names_at + off, end, label, "file info name")
                cache[off] = name
            files.append(name)
        result.append(tuple(files))
        k += n
    return tuple(result)


# --------------------------------------------------------------------------- sections


@dataclass(frozen=True, slots=True)
class SectionHeader:
    """An IMAGE_SECTION_HEADER copied into the PDB.

    Attributes:
        name: section name (``".text"``).
        virtual_size: size in memory.
        virtual_address: RVA of the section.
        raw_size: size in the file.
        characteristics: IMAGE_SCN_* flags.
    """

    name: str
    virtual_size: int
    virtual_address: int
    raw_size: int
    characteristics: int


def parse_section_headers(data: memoryview, index: int) -> tuple[SectionHeader, ...]:
    """Parse a stream holding IMAGE_SECTION_HEADERs (40 bytes each).

    Raises:
        PdbError: the stream size is not a multiple of 40.
    """
    if len(data) % _SECTION_HEADER.size:
        raise PdbError(
            f"section header stream of {len(data)} bytes is not a multiple of 40",
            stream=stream_label(index, "section headers"),
        )
    out = []
    for pos in range(0, len(data), _SECTION_HEADER.size):
        name, vsize, va, raw, _praw, _prel, _pln, _nrel, _nln, chars = _SECTION_HEADER.unpack_from(
            data, pos
        )
        out.append(SectionHeader(name.rstrip(b"\0").decode("latin-1"), vsize, va, raw, chars))
    return tuple(out)


class Omap:
    """An OMAP table mapping addresses of one layout to another (sorted ``from`` -> ``to``).

    Images rewritten after linking (BBT, some PGO builds) keep the original
    section layout in the PDB; ``OMAP_FROM_SRC`` maps those RVAs to the final
    image's RVAs.
    """

    __slots__ = ("_from", "_to")

    def __init__(self, pairs: Sequence[tuple[int, int]]) -> None:
        ordered = sorted(pairs)
        self._from = [a for a, _ in ordered]
        self._to = [b for _, b in ordered]

    def __len__(self) -> int:
        return len(self._from)

    def translate(self, rva: int) -> int | None:
        """Map ``rva`` through the table.

        Returns:
            The translated RVA, or None when the address was removed
            (maps to 0) or precedes the first entry.
        """
        i = bisect.bisect_right(self._from, rva) - 1
        if i < 0:
            return None
        target = self._to[i]
        if target == 0:
            return None
        return target + (rva - self._from[i])


def parse_omap(data: memoryview, index: int) -> Omap:
    """Parse an OMAP stream of (u32 from, u32 to) pairs.

    Raises:
        PdbError: the stream size is not a multiple of 8.
    """
    if len(data) % 8:
        raise PdbError(
            f"OMAP stream of {len(data)} bytes is not a multiple of 8",
            stream=stream_label(index, "OMAP"),
        )
    flat = struct.unpack_from(f"<{len(data) // 4}I", data, 0)
    return Omap(list(zip(flat[0::2], flat[1::2], strict=True)))


# --------------------------------------------------------------------------- /names


class StringTable:
    """The ``/names`` stream: strings addressed by their byte offset.

    Layout: u32 0xEFFEEFFE, u32 version, u32 buffer size, the buffer of
    NUL-terminated strings, then a hash table the reader does not need.
    """

    __slots__ = ("_buf", "_cache", "_label")

    def __init__(self, data: memoryview | None, index: int | None) -> None:
        self._label = stream_label(index, "/names")
        self._cache: dict[int, str] = {}
        if data is None:
            self._buf = b""
            return
        _need(data, 0, 12, self._label, "/names header")
        magic, _version, size = struct.unpack_from("<III", data, 0)
        if magic != _NAMES_MAGIC:
            raise PdbError(f"/names signature 0x{magic:x} is wrong", stream=self._label, offset=0)
        _need(data, 12, size, self._label, "/names buffer")
        self._buf = bytes(data[12 : 12 + size])

    def get(self, offset: int) -> str:
        """Return the string at ``offset`` of the buffer.

        Raises:
            PdbError: the offset lies outside the buffer.
        """
        cached = self._cache.get(offset)
        if cached is not None:
            return cached
        if not 0 <= offset < len(self._buf):
            raise PdbError(
                f"string offset {offset} outside the {len(self._buf)}-byte /names buffer",
                stream=self._label,
                offset=12 + offset,
            )
        end = self._buf.find(b"\0", offset)
        text = self._buf[offset : end if end >= 0 else len(self._buf)].decode("utf-8", "replace")
        self._cache[offset] = text
        return text
