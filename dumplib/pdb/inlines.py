"""Inlined calls: S_INLINESITE records, their binary annotations and inlinee names.

A procedure's symbols hold one S_INLINESITE (or S_INLINESITE2) per inlined
call, nested as the calls were (the ``parent`` field points at the enclosing
procedure or site). Each site names its callee by an IPI index (LF_FUNC_ID
or LF_MFUNC_ID) and carries *binary annotations*: a compressed line program
that, starting from the callee's first line (DEBUG_S_INLINEELINES in the
module's C13 data), gives the code ranges of the inlined body and their
source lines. Code offsets are relative to the enclosing procedure's start.

Everything here is bounds-checked; a malformed record raises
:class:`~dumplib.pdb.PdbError` naming the stream and offset.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from dumplib.pdb._errors import PdbError
from dumplib.pdb.streams import StringTable

__all__ = [
    "InlineFrame",
    "InlineRange",
    "InlineSite",
    "ModuleC13",
    "TypeStream",
    "decode_annotations",
    "parse_inline_sites",
    "parse_inlinee_lines",
    "parse_module_c13",
]

S_BLOCK32 = 0x1103
S_INLINESITE = 0x114D
S_INLINESITE2 = 0x115D
_PROC_KINDS = frozenset({0x110F, 0x1110, 0x1146, 0x1147, 0x1155, 0x1156})
_PROC32 = struct.Struct("<IIIIIIIIHB")
_SITE = struct.Struct("<III")
DEBUG_S_FILECHKSMS = 0xF4
DEBUG_S_INLINEELINES = 0xF6
DEBUG_S_CROSSSCOPEIMPORTS = 0xF7
DEBUG_S_CROSSSCOPEEXPORTS = 0xF8
LF_FUNC_ID = 0x1601
LF_MFUNC_ID = 0x1602
LF_STRING_ID = 0x1605
_CLASS_KINDS = frozenset({0x1504, 0x1505, 0x1519})  # LF_CLASS, LF_STRUCTURE, LF_INTERFACE
LF_UNION = 0x1506
LF_ENUM = 0x1507
_NUMERIC_SIZES = {0x8000: 1, 0x8001: 2, 0x8002: 2, 0x8003: 4, 0x8004: 4, 0x8009: 8, 0x800A: 8}
#: Inline sites nested deeper than this are ignored (real code rarely passes 20).
MAX_INLINE_DEPTH = 64

ToRva = Callable[[int, int], "int | None"]


@dataclass(frozen=True, slots=True)
class InlineFrame:
    """One inlined call active at an address.

    Attributes:
        name: the inlined function's name (``ns::Class::method``).
        depth: 0 for a call inlined straight into the function, 1 inside that...
        call_file: source file of the call site (in the caller), or None.
        call_line: line of the call site, or None.
        file: source file of the address inside the inlined body, or None.
        line: line of the address inside the inlined body, or None.
    """

    name: str
    depth: int
    call_file: str | None
    call_line: int | None
    file: str | None
    line: int | None


@dataclass(frozen=True, slots=True)
class InlineRange:
    """Code of an inlined body: ``[start, end)`` RVAs coming from ``file:line``."""

    start: int
    end: int
    line: int
    file: str | None


@dataclass(frozen=True, slots=True)
class InlineSite:
    """An inlined call inside a procedure.

    Attributes:
        proc_rva: start of the procedure the call was inlined into.
        module: index of the module that holds it.
        depth: nesting depth (0 = directly in the procedure).
        offset: the record's offset in the module stream (its identity).
        parent: offset of the enclosing inline site, or None at depth 0.
        inlinee: IPI index of the inlined function.
        ranges: the inlined body's code ranges with their lines, by address.
    """

    proc_rva: int
    module: int
    depth: int
    offset: int
    parent: int | None
    inlinee: int
    ranges: tuple[InlineRange, ...]

    def at(self, rva: int) -> InlineRange | None:
        """Return the range holding ``rva``, or None."""
        for r in self.ranges:
            if r.start <= rva < r.end:
                return r
        return None


# --------------------------------------------------------------------------- records


def parse_inline_sites(
    data: bytes, start: int, end: int, label: str, to_rva: ToRva
) -> list[tuple[int, int, int | None, int, int, bytes]]:
    """Find the inline sites of a module's symbol records.

    Returns:
        (proc rva, depth, parent site offset or None, own offset, inlinee, annotations)
        for every site whose procedure the image places.

    Raises:
        PdbError: a record is too short or points at an unknown parent.
    """
    # scope offset -> (procedure rva, depth, offset of the innermost enclosing inline site)
    scopes: dict[int, tuple[int | None, int, int | None]] = {}
    out: list[tuple[int, int, int | None, int, int, bytes]] = []
    pos = start
    while pos + 4 <= end:
        reclen, kind = struct.unpack_from("<HH", data, pos)
        nxt = pos + 2 + reclen
        if reclen < 2 or nxt > end:
            raise PdbError(f"symbol record length {reclen} is impossible", stream=label, offset=pos)
        if kind in _PROC_KINDS and reclen >= 2 + _PROC32.size:
            fields = _PROC32.unpack_from(data, pos + 4)
            scopes[pos] = (to_rva(fields[8], fields[7]), -1, None)
        elif kind == S_BLOCK32 and reclen >= 6:
            (parent,) = struct.unpack_from("<I", data, pos + 4)
            enclosing = scopes.get(parent)
            if enclosing is not None:
                scopes[pos] = enclosing
        elif kind in (S_INLINESITE, S_INLINESITE2):
            fixed = _SITE.size + (4 if kind == S_INLINESITE2 else 0)
            if reclen < 2 + fixed:
                raise PdbError("S_INLINESITE record too short", stream=label, offset=pos)
            parent, _end, inlinee = _SITE.unpack_from(data, pos + 4)
            enclosing = scopes.get(parent)
            if enclosing is None:  # inside a scope kind not followed here (separated code)
                pos = nxt
                continue
            proc_rva, parent_depth, parent_site = enclosing
            depth = parent_depth + 1
            scopes[pos] = (proc_rva, depth, pos)
            if proc_rva is not None and depth < MAX_INLINE_DEPTH:
                annotations = data[pos + 4 + fixed : nxt]
                out.append((proc_rva, depth, parent_site, pos, inlinee, annotations))
        pos = nxt
    return out


def _uncompress(data: bytes, pos: int) -> tuple[int, int]:
    b1 = data[pos]
    if b1 & 0x80 == 0:
        return b1, pos + 1
    if b1 & 0xC0 == 0x80:
        return ((b1 & 0x3F) << 8) | data[pos + 1], pos + 2
    if b1 & 0xE0 == 0xC0:
        value = ((b1 & 0x1F) << 24) | (data[pos + 1] << 16) | (data[pos + 2] << 8) | data[pos + 3]
        return value, pos + 4
    raise ValueError("bad compressed annotation")


def _signed(value: int) -> int:
    return -(value >> 1) if value & 1 else value >> 1


def decode_annotations(
    annotations: bytes, proc_rva: int, line: int, file: str | None, files: dict[int, str]
) -> list[InlineRange]:
    """Run an inline site's binary annotations.

    Args:
        annotations: the annotation bytes after the S_INLINESITE header.
        proc_rva: RVA of the enclosing procedure (code offsets are relative to it).
        line: the inlinee's first line (from DEBUG_S_INLINEELINES).
        file: the inlinee's source file.
        files: the module's file checksum table (offset -> name) for ChangeFile.

    Returns:
        The ranges of the inlined body, sorted by address.

    Raises:
        ValueError: the annotations are truncated or malformed (the caller
            turns this into a :class:`~dumplib.pdb.PdbError`).
    """
    pos, end = 0, len(annotations)
    code_offset = base = 0
    code_length: int | None = None
    rows: list[_Row] = []
    steps = 0
    while pos < end:
        op, pos = _uncompress(annotations, pos)
        steps += 1
        if op == 0 or steps > 1_000_000:
            break
        emits = False
        if op == 1:
            code_offset, pos = _uncompress(annotations, pos)
        elif op == 2:
            base, pos = _uncompress(annotations, pos)
        elif op == 3:
            delta, pos = _uncompress(annotations, pos)
            code_offset += delta
            emits = True
        elif op == 4:
            length, pos = _uncompress(annotations, pos)
            if rows and rows[-1].length is None:
                rows[-1].length = length
            code_offset += length
        elif op == 5:
            file_id, pos = _uncompress(annotations, pos)
            file = files.get(file_id, file)
        elif op == 6:
            delta, pos = _uncompress(annotations, pos)
            line += _signed(delta)
        elif op in (7, 8, 9, 10, 13):
            _, pos = _uncompress(annotations, pos)
        elif op == 11:
            operand, pos = _uncompress(annotations, pos)
            code_offset += operand & 0xF
            line += _signed(operand >> 4)
            emits = True
        elif op == 12:
            code_length, pos = _uncompress(annotations, pos)
            delta, pos = _uncompress(annotations, pos)
            code_offset += delta
            emits = True
        else:
            raise ValueError(f"unknown annotation opcode {op}")
        if emits:
            here = code_offset + base
            if rows and rows[-1].length is None:
                rows[-1].length = here - rows[-1].start
            rows.append(_Row(here, code_length, line, file))
            code_length = None
    out = [
        InlineRange(proc_rva + r.start, proc_rva + r.start + r.length, r.line, r.file)
        for r in rows
        if r.length is not None and r.length > 0
    ]
    out.sort(key=lambda r: r.start)
    return out


class _Row:
    """A line row of an inline site while its length is still open."""

    __slots__ = ("file", "length", "line", "start")

    def __init__(self, start: int, length: int | None, line: int, file: str | None) -> None:
        self.start = start
        self.length = length
        self.line = line
        self.file = file


@dataclass(frozen=True, slots=True)
class ModuleC13:
    """What a module's C13 subsections say about inlined functions.

    Attributes:
        inlinees: inlinee id -> (source file, first line), from DEBUG_S_INLINEELINES.
        files: file checksum offset -> file name.
        imports: DEBUG_S_CROSSSCOPEIMPORTS: (exporting module name, referenced local ids).
        exports: DEBUG_S_CROSSSCOPEEXPORTS: local id -> IPI index.
    """

    inlinees: dict[int, tuple[str | None, int]]
    files: dict[int, str]
    imports: list[tuple[str, tuple[int, ...]]]
    exports: dict[int, int]

    def resolve(self, inlinee: int, exporter: Callable[[str], ModuleC13 | None]) -> int:
        """Turn a cross-module id (high bit set) into an IPI index; others pass through."""
        if not inlinee & 0x80000000:
            return inlinee
        module, local = (inlinee >> 20) & 0x7FF, inlinee & 0xFFFFF
        if module >= len(self.imports) or local >= len(self.imports[module][1]):
            return inlinee
        name, ids = self.imports[module]
        other = exporter(name)
        if other is None:
            return inlinee
        return other.exports.get(ids[local], inlinee)


def parse_module_c13(
    data: bytes, start: int, end: int, label: str, names: StringTable
) -> ModuleC13:
    """Read a module's inlinee lines, file checksums and cross-module import/export tables.

    Raises:
        PdbError: a subsection runs past the end or is truncated.
    """
    inlinees, files = parse_inlinee_lines(data, start, end, label, names)
    imports: list[tuple[str, tuple[int, ...]]] = []
    exports: dict[int, int] = {}
    pos = start
    while pos + 8 <= end:
        kind, length = struct.unpack_from("<II", data, pos)
        body, body_end = pos + 8, pos + 8 + length
        if body_end > end:
            raise PdbError("C13 subsection runs past the end", stream=label, offset=pos)
        kind &= 0x7FFFFFFF
        if kind == DEBUG_S_CROSSSCOPEIMPORTS:
            p = body
            while p + 8 <= body_end:
                name_off, count = struct.unpack_from("<II", data, p)
                if p + 8 + 4 * count > body_end:
                    raise PdbError("cross-scope import list truncated", stream=label, offset=p)
                ids = struct.unpack_from(f"<{count}I", data, p + 8)
                imports.append((names.get(name_off), ids))
                p += 8 + 4 * count
        elif kind == DEBUG_S_CROSSSCOPEEXPORTS:
            pairs = struct.unpack_from(f"<{(length // 8) * 2}I", data, body)
            exports.update(zip(pairs[0::2], pairs[1::2], strict=True))
        pos = (body_end + 3) & ~3
    return ModuleC13(inlinees, files, imports, exports)


def parse_inlinee_lines(
    data: bytes, start: int, end: int, label: str, names: StringTable
) -> tuple[dict[int, tuple[str | None, int]], dict[int, str]]:
    """Read a module's DEBUG_S_INLINEELINES and file checksum table.

    Returns:
        (inlinee IPI index -> (source file, first line), checksum offset -> file name).

    Raises:
        PdbError: a subsection runs past the end or names an unknown file.
    """
    files: dict[int, str] = {}
    bodies: list[tuple[int, int]] = []
    pos = start
    while pos + 8 <= end:
        kind, length = struct.unpack_from("<II", data, pos)
        body = pos + 8
        if body + length > end:
            raise PdbError("C13 subsection runs past the end", stream=label, offset=pos)
        kind &= 0x7FFFFFFF
        if kind == DEBUG_S_FILECHKSMS:
            p = body
            while p + 6 <= body + length:
                name_off, cb = struct.unpack_from("<IB", data, p)
                files[p - body] = names.get(name_off)
                p = (p + 6 + cb + 3) & ~3
        elif kind == DEBUG_S_INLINEELINES:
            bodies.append((body, body + length))
        pos = (body + length + 3) & ~3
    inlinees: dict[int, tuple[str | None, int]] = {}
    for body, body_end in bodies:
        if body + 4 > body_end:
            raise PdbError("DEBUG_S_INLINEELINES truncated", stream=label, offset=body)
        (signature,) = struct.unpack_from("<I", data, body)
        p = body + 4
        while p + 12 <= body_end:
            inlinee, file_id, line = struct.unpack_from("<III", data, p)
            p += 12
            if signature == 1:
                if p + 4 > body_end:
                    raise PdbError("inlinee extra files truncated", stream=label, offset=p)
                (extra,) = struct.unpack_from("<I", data, p)
                p += 4 + 4 * extra
            inlinees[inlinee] = (files.get(file_id), line)
    return inlinees, files


# --------------------------------------------------------------------------- TPI / IPI


class TypeStream:
    """Random access to the records of a TPI or IPI stream by type index.

    Record offsets are found by walking the stream, only as far as the
    highest index asked for so far.
    """

    __slots__ = ("_begin", "_count", "_data", "_label", "_next", "_offsets", "_stop")

    def __init__(self, data: bytes, label: str) -> None:
        self._data = data
        self._label = label
        self._offsets: list[int] = []
        self._begin = self._count = self._next = self._stop = -1

    def _header(self) -> None:
        data = self._data
        if len(data) < 56:
            raise PdbError("type stream header truncated", stream=self._label, offset=0)
        _version, header_size, begin, end_index, record_bytes = struct.unpack_from(
            "<IIIII", data, 0
        )
        if header_size < 56 or header_size + record_bytes > len(data) or end_index < begin:
            raise PdbError("type stream header is impossible", stream=self._label, offset=0)
        self._begin, self._count = begin, end_index - begin
        self._next, self._stop = header_size, header_size + record_bytes

    def record(self, index: int) -> tuple[int, int, int] | None:
        """Return (kind, payload start, payload end) of type ``index``, or None.

        Raises:
            PdbError: the stream header or a record length on the way is impossible.
        """
        if self._begin < 0:
            if not self._data:
                return None
            self._header()
        i = index - self._begin
        if not 0 <= i < self._count:
            return None
        offsets, data = self._offsets, self._data
        pos, stop = self._next, self._stop
        while len(offsets) <= i and pos + 4 <= stop:
            (reclen,) = struct.unpack_from("<H", data, pos)
            if reclen < 2 or pos + 2 + reclen > stop:
                raise PdbError(
                    f"type record length {reclen} is impossible", stream=self._label, offset=pos
                )
            offsets.append(pos)
            pos += 2 + reclen
        self._next = pos
        if i >= len(offsets):
            return None
        at = offsets[i]
        reclen, kind = struct.unpack_from("<HH", data, at)
        return kind, at + 4, at + 2 + reclen

    def cstring(self, pos: int, end: int) -> str:
        """Return the NUL-terminated string at ``pos`` (stopping at ``end``)."""
        nul = self._data.find(b"\0", pos, end)
        return self._data[pos : nul if nul >= 0 else end].decode("utf-8", "replace")

    def type_name(self, index: int) -> str | None:
        """The name of a class, struct, union or enum type record, or None."""
        rec = self.record(index)
        if rec is None:
            return None
        kind, pos, end = rec
        data = self._data
        if kind in _CLASS_KINDS:
            at = pos + 16
        elif kind == LF_UNION:
            at = pos + 8
        elif kind == LF_ENUM:
            return self.cstring(pos + 12, end) if pos + 12 <= end else None
        else:
            return None
        if at + 2 > end:
            return None
        (leaf,) = struct.unpack_from("<H", data, at)
        at += 2
        if leaf >= 0x8000:
            size = _NUMERIC_SIZES.get(leaf)
            if size is None:
                return None
            at += size
        return self.cstring(at, end) if at <= end else None

    def function_name(self, index: int, types: TypeStream | None) -> str | None:
        """The qualified name of an LF_FUNC_ID / LF_MFUNC_ID record (this is the IPI)."""
        rec = self.record(index)
        if rec is None:
            return None
        kind, pos, end = rec
        if pos + 8 > end:
            return None
        scope, _ftype = struct.unpack_from("<II", self._data, pos)
        name = self.cstring(pos + 8, end)
        if kind == LF_FUNC_ID:
            if scope:
                srec = self.record(scope)
                if srec is not None and srec[0] == LF_STRING_ID and srec[1] + 4 <= srec[2]:
                    parts = self.cstring(srec[1] + 4, srec[2]).split("::")
                    anonymous = "`anonymous namespace'"
                    parts = [anonymous if p.startswith("?A0x") else p for p in parts]
                    return "::".join([*parts, name])
            return name
        if kind == LF_MFUNC_ID:
            owner = types.type_name(scope) if types is not None else None
            return f"{owner}::{name}" if owner else name
        return None
