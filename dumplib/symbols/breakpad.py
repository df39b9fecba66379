"""Reader for breakpad ``.sym`` text symbol files.

A ``.sym`` file (written by breakpad's ``dump_syms`` from a PDB or DWARF) is a
line-oriented text format::

    MODULE windows x86_64 F535C5FB2AE84BB8AA206C30BE566C5A1 CrashWithException.pdb
    INFO CODE_ID 5C9E09599000 CrashWithException.exe
    FILE 1 c:\\src\\main.cpp
    INLINE_ORIGIN 0 inlined_function
    FUNC [m] address size parameter_size name
    INLINE depth call_line call_file origin address size [address size ...]
    address size line file                      (line records of the FUNC above)
    PUBLIC [m] address parameter_size name
    STACK CFI INIT address size .cfa: $rsp 8 + .ra: .cfa 8 - ^
    STACK CFI address .cfa: $rsp 16 +
    STACK WIN type rva code_size prologue epilogue params saved locals max_stack has_prog ...

All numbers except line numbers and ``FILE``/``INLINE`` indices are hexadecimal.
:class:`BreakpadSymbols` reads the whole file once: FUNC and PUBLIC records go
into arrays sorted by address (lookups bisect them); line, INLINE, ``STACK CFI``
and ``STACK WIN`` records are kept as raw lines and parsed on first use, so
opening a large file costs one pass over its lines.
"""

from __future__ import annotations

import os
import re
from array import array
from bisect import bisect_right
from collections.abc import Iterator

from dumplib.symbols.base import InlineFrame, SymbolInfo
from dumplib.symbols.breakpad_records import (
    CfiRules,
    FuncRecord,
    InlineRecord,
    LineRecord,
    ModuleRecord,
    PublicRecord,
    RangeIndex,
    StackCfiInit,
    StackCfiRecord,
    StackWinRecord,
    StackWinType,
    parse_cfi_rules,
)
from dumplib.symbols.errors import SymbolError

__all__ = [
    "MAGIC",
    "BreakpadSymbolizer",
    "BreakpadSymbols",
    "CfiRules",
    "FuncRecord",
    "InlineRecord",
    "LineRecord",
    "ModuleRecord",
    "PublicRecord",
    "StackCfiInit",
    "StackCfiRecord",
    "StackWinRecord",
    "StackWinType",
    "is_breakpad",
    "parse_cfi_rules",
    "read_module_record",
]

#: Every breakpad .sym file starts with these bytes.
MAGIC = b"MODULE "

#: Largest .sym file :meth:`BreakpadSymbols.open` reads (1 GiB).
MAX_FILE_SIZE = 1 << 30

#: How far back a FUNC lookup looks for an enclosing function when FUNC ranges overlap.
_OVERLAP_SCAN = 16

#: An unknown record of a newer format version: an upper-case keyword and a space.
_KEYWORD = re.compile(rb"[A-Z][A-Z0-9_]*( |\r?$)")
_NONBLANK = re.compile(rb"[^\n]+")
_MAX_WARNINGS = 100
_KNOWN = frozenset(
    (b"MODULE", b"INFO", b"FILE", b"FUNC", b"PUBLIC", b"STACK", b"INLINE", b"INLINE_ORIGIN")
)

#: Records that may sit between a FUNC's line records without ending the FUNC.
_INTERLEAVED = (b"FILE ", b"INFO ", b"INLINE ", b"INLINE_ORIGIN ")

#: First bytes of a line record (keywords start with upper-case letters; breakpad
#: writes hex in lower case, upper-case hex lines are caught after the keywords).
_HEX_DIGITS = frozenset(b"0123456789abcdef")


def is_breakpad(head: bytes) -> bool:
    """Tell whether bytes read from the start of a file look like a breakpad .sym file.

    Args:
        head: the first bytes of the file (at least 7).

    Returns:
        True when the file starts with ``MODULE`` (after an optional UTF-8 BOM).
    """
    return head.removeprefix(b"\xef\xbb\xbf").startswith(MAGIC)


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _parse_module(line: bytes) -> ModuleRecord:
    parts = line.rstrip(b"\r").split(b" ", 4)
    if len(parts) != 5 or parts[0] != b"MODULE":
        raise ValueError("MODULE needs os, arch, id and name")
    return ModuleRecord(_decode(parts[1]), _decode(parts[2]), _decode(parts[3]), _decode(parts[4]))


def read_module_record(path: str | os.PathLike[str]) -> ModuleRecord:
    """Read only the ``MODULE`` line of a .sym file (to match it before a full parse).

    Args:
        path: the file.

    Returns:
        The module record.

    Raises:
        SymbolError: the file cannot be read or does not start with a MODULE line.
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as fh:
            head = fh.readline(4096)
    except OSError as exc:
        raise SymbolError(f"cannot read {name}: {exc.strerror or exc}", stream=name) from exc
    head = head.removeprefix(b"\xef\xbb\xbf")
    if not head.startswith(MAGIC):
        raise SymbolError("not a breakpad .sym file (no MODULE line)", stream=name, offset=0)
    try:
        return _parse_module(head.rstrip(b"\n"))
    except ValueError as exc:
        raise SymbolError(f"bad MODULE line: {exc}", stream=name, offset=0) from exc


class BreakpadSymbols:
    """A parsed breakpad .sym file.

    Build one with :meth:`open` (a path) or :meth:`parse` (bytes). The FUNC and
    PUBLIC arrays are built at once; everything else is parsed on first use.

    Attributes:
        module: the ``MODULE`` record.
        code_id: ``INFO CODE_ID`` identifier (image timestamp + size for Windows), or None.
        code_file: the image name given with ``INFO CODE_ID``, or None.
        functions: FUNC records sorted by address.
        publics: PUBLIC records sorted by address.
        name: where the bytes came from (used in error messages).
        warnings: records skipped because their keyword is unknown (newer
            dump_syms versions add record types); at most 100 are listed.
    """

    __slots__ = (
        "_cfi_index",
        "_cfi_lines",
        "_file_lines",
        "_files",
        "_func_ends",
        "_func_inlines",
        "_func_line_cache",
        "_func_lines",
        "_func_starts",
        "_lineno",
        "_lines",
        "_offsets",
        "_origin_lines",
        "_origins",
        "_public_starts",
        "_sym_starts",
        "_win_index",
        "_win_lines",
        "code_file",
        "code_id",
        "functions",
        "module",
        "name",
        "publics",
        "warnings",
    )

    def __init__(self, data: bytes, *, name: str = "<bytes>") -> None:
        """Parse ``data``; see :meth:`parse`."""
        self.name = name
        data = bytes(data).removeprefix(b"\xef\xbb\xbf")
        if not data.startswith(MAGIC):
            raise SymbolError("not a breakpad .sym file (no MODULE line)", stream=name, offset=0)
        # Only the records kept for later (line, FILE, INLINE, STACK ...) are
        # stored, with their line number and offset: memory follows the records
        # kept, not the line count (50 MB of blank lines cost nothing).
        first_end = data.find(b"\n")
        head = data if first_end < 0 else data[:first_end]
        kept: list[bytes] = []
        self._lines = kept
        self._lineno = array("L")
        self._offsets = array("Q")
        lineno, offsets = self._lineno, self._offsets

        def keep(line: bytes, number: int, offset: int) -> int:
            kept.append(line)
            lineno.append(number)
            offsets.append(offset)
            return len(kept) - 1

        try:
            self.module = _parse_module(head)
        except ValueError as exc:
            raise SymbolError(f"bad MODULE line: {exc}", stream=name, offset=0) from exc
        self.code_id: str | None = None
        self.code_file: str | None = None
        self.warnings: list[str] = []
        funcs: list[FuncRecord] = []
        func_lines: list[list[int]] = []
        func_inlines: list[list[int]] = []
        publics: list[PublicRecord] = []
        file_lines: list[int] = []
        origin_lines: list[int] = []
        cfi_lines: list[int] = []
        win_lines: list[int] = []
        hexdigits = _HEX_DIGITS
        # [first, end) line indices of the line / INLINE records of the FUNC being read
        cur_lines: list[int] | None = None
        cur_inlines: list[int] | None = None
        i = start = 0
        prev = 0
        try:
            for m in _NONBLANK.finditer(data, 0 if first_end < 0 else first_end + 1):
                start = m.start()
                i += data.count(b"\n", prev, start)
                prev = start
                line = m.group()
                first = line[0]
                if first in hexdigits:
                    if cur_lines is None:
                        raise ValueError("line record outside any FUNC")
                    k = keep(line, i, start)
                    if cur_lines[0] < 0:
                        cur_lines[0] = k
                    cur_lines[1] = k + 1
                elif line.startswith(b"FILE "):
                    file_lines.append(keep(line, i, start))
                elif line.startswith(b"FUNC "):
                    parts = line.rstrip(b"\r").split(b" ", 5)
                    multiple = parts[1] == b"m"
                    if not multiple:
                        parts = line.rstrip(b"\r").split(b" ", 4)
                    off = 2 if multiple else 1
                    if len(parts) < off + 3:
                        raise ValueError("FUNC needs address, size and parameter size")
                    funcs.append(
                        FuncRecord(
                            int(parts[off], 16),
                            int(parts[off + 1], 16),
                            int(parts[off + 2], 16),
                            _decode(parts[off + 3]) if len(parts) > off + 3 else "",
                            multiple,
                        )
                    )
                    cur_lines = [-1, -1]
                    cur_inlines = [-1, -1]
                    func_lines.append(cur_lines)
                    func_inlines.append(cur_inlines)
                elif line.startswith(b"PUBLIC "):
                    cur_lines = cur_inlines = None
                    parts = line.rstrip(b"\r").split(b" ", 4)
                    multiple = parts[1] == b"m"
                    if not multiple:
                        parts = line.rstrip(b"\r").split(b" ", 3)
                    off = 2 if multiple else 1
                    if len(parts) < off + 2:
                        raise ValueError("PUBLIC needs address and parameter size")
                    publics.append(
                        PublicRecord(
                            int(parts[off], 16),
                            int(parts[off + 1], 16),
                            _decode(parts[off + 2]) if len(parts) > off + 2 else "",
                            multiple,
                        )
                    )
                elif line.startswith(b"STACK "):
                    cur_lines = cur_inlines = None
                    if line.startswith(b"STACK CFI "):
                        cfi_lines.append(keep(line, i, start))
                    elif line.startswith(b"STACK WIN "):
                        win_lines.append(keep(line, i, start))
                    else:
                        self._skip(line, i)
                elif line.startswith(b"INLINE_ORIGIN "):
                    origin_lines.append(keep(line, i, start))
                elif line.startswith(b"INLINE "):
                    if cur_inlines is None:
                        raise ValueError("INLINE record outside any FUNC")
                    k = keep(line, i, start)
                    if cur_inlines[0] < 0:
                        cur_inlines[0] = k
                    cur_inlines[1] = k + 1
                elif line.startswith(b"INFO "):
                    if line.startswith(b"INFO CODE_ID "):
                        parts = line.rstrip(b"\r").split(b" ", 3)
                        self.code_id = _decode(parts[2])
                        if len(parts) > 3:
                            self.code_file = _decode(parts[3])
                elif line[:1].isalnum() and all(c in b"0123456789abcdefABCDEF \r\t" for c in line):
                    if cur_lines is None:
                        raise ValueError("line record outside any FUNC")
                    k = keep(line, i, start)
                    if cur_lines[0] < 0:
                        cur_lines[0] = k
                    cur_lines[1] = k + 1
                elif _KEYWORD.match(line):
                    keyword = line.split(None, 1)[0]
                    if keyword in _KNOWN:
                        raise ValueError(f"misplaced or empty {_decode(keyword)} record")
                    self._skip(line, i)
                elif line.strip():
                    raise ValueError(f"unknown record {_decode(line[:20])!r}")
        except (ValueError, IndexError) as exc:
            raise SymbolError(f"bad record on line {i + 1}: {exc}", stream=self.name,
                              offset=start) from exc
        if any(funcs[k].address > funcs[k + 1].address for k in range(len(funcs) - 1)):
            order = sorted(range(len(funcs)), key=lambda k: funcs[k].address)
            funcs = [funcs[k] for k in order]
            func_lines = [func_lines[k] for k in order]
            func_inlines = [func_inlines[k] for k in order]
        publics.sort(key=lambda p: p.address)
        self.functions: tuple[FuncRecord, ...] = tuple(funcs)
        self.publics: tuple[PublicRecord, ...] = tuple(publics)
        self._func_starts = [f.address for f in funcs]
        self._func_ends = [f.address + f.size for f in funcs]
        self._public_starts = [p.address for p in publics]
        self._sym_starts = sorted(set(self._func_starts) | set(self._public_starts))
        self._func_lines = [(a, b) for a, b in func_lines]
        self._func_inlines = [(a, b) for a, b in func_inlines]
        self._func_line_cache: dict[int, tuple[list[int], list[LineRecord]]] = {}
        self._file_lines = file_lines
        self._origin_lines = origin_lines
        self._cfi_lines = cfi_lines
        self._win_lines = win_lines
        self._files: dict[int, str] | None = None
        self._origins: dict[int, str] | None = None
        self._cfi_index: tuple[list[int], list[StackCfiInit]] | None = None
        self._win_index: dict[int, tuple[RangeIndex, list[StackWinRecord]]] | None = None

    # -- construction -----------------------------------------------------------------

    @classmethod
    def parse(cls, data: bytes, *, name: str = "<bytes>") -> BreakpadSymbols:
        """Parse a .sym file held in memory.

        Args:
            data: the file's bytes.
            name: a label for error messages (the path, usually).

        Returns:
            The parsed symbols.

        Raises:
            SymbolError: the bytes are not a breakpad .sym file or a record is malformed
                (the message names the line; ``offset`` is its byte offset).
        """
        return cls(data, name=name)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> BreakpadSymbols:
        """Read and parse a .sym file.

        Args:
            path: the file.

        Returns:
            The parsed symbols.

        Raises:
            SymbolError: the file cannot be read, is larger than 1 GiB, or is malformed.
        """
        name = os.fspath(path)
        try:
            with open(name, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                if size > MAX_FILE_SIZE:
                    raise SymbolError(f".sym file too large ({size} bytes)", stream=name)
                data = fh.read()
        except OSError as exc:
            raise SymbolError(f"cannot read {name}: {exc.strerror or exc}", stream=name) from exc
        return cls(data, name=name)

    def _skip(self, line: bytes, line_index: int) -> None:
        if len(self.warnings) < _MAX_WARNINGS:
            keyword = _decode(line.split(b" ", 2)[0 if not line.startswith(b"STACK") else 1])
            self.warnings.append(f"line {line_index + 1}: unknown record {keyword!r} skipped")

    def _line_no(self, k: int) -> int:
        """The 1-based file line number of kept record ``k``."""
        return self._lineno[k] + 1

    def _error(self, message: str, line_index: int) -> SymbolError:
        return SymbolError(message, stream=self.name, offset=self._offsets[line_index])

    # -- lazily parsed tables ---------------------------------------------------------

    def _index_table(self, line_numbers: list[int], record: str) -> dict[int, str]:
        """Parse ``RECORD index name`` lines (FILE, INLINE_ORIGIN) into index -> name."""
        table: dict[int, str] = {}
        for i in line_numbers:
            parts = self._lines[i].rstrip(b"\r").split(b" ", 2)
            try:
                table[int(parts[1])] = _decode(parts[2]) if len(parts) > 2 else ""
            except (ValueError, IndexError) as exc:
                raise self._error(f"bad {record} record on line {self._line_no(i)}", i) from exc
        return table

    @property
    def files(self) -> dict[int, str]:
        """``FILE`` index -> source file name."""
        if self._files is None:
            self._files = self._index_table(self._file_lines, "FILE")
        return self._files

    @property
    def inline_origins(self) -> dict[int, str]:
        """``INLINE_ORIGIN`` index -> inlined function name."""
        if self._origins is None:
            self._origins = self._index_table(self._origin_lines, "INLINE_ORIGIN")
        return self._origins

    def _parse_line_record(self, i: int) -> LineRecord:
        parts = self._lines[i].split()
        try:
            if len(parts) != 4:
                raise ValueError("line record needs address, size, line and file")
            return LineRecord(int(parts[0], 16), int(parts[1], 16), int(parts[2]), int(parts[3]))
        except ValueError as exc:
            raise self._error(f"bad line record on line {self._line_no(i)}: {exc}", i) from exc

    def _line_indices(self, span: tuple[int, int]) -> Iterator[int]:
        lines = self._lines
        for i in range(max(span[0], 0), max(span[1], 0)):
            line = lines[i]
            if line.strip() and not line.startswith(_INTERLEAVED):
                yield i

    def _inline_indices(self, span: tuple[int, int]) -> Iterator[int]:
        lines = self._lines
        for i in range(max(span[0], 0), max(span[1], 0)):
            if lines[i].startswith(b"INLINE "):
                yield i

    def _lines_of(self, func_index: int) -> tuple[list[int], list[LineRecord]]:
        cached = self._func_line_cache.get(func_index)
        if cached is None:
            span = self._func_lines[func_index]
            records = [self._parse_line_record(i) for i in self._line_indices(span)]
            records.sort(key=lambda r: r.address)
            cached = ([r.address for r in records], records)
            self._func_line_cache[func_index] = cached
        return cached

    def function_lines(self, function: FuncRecord) -> list[LineRecord]:
        """Return the line records of one FUNC (sorted by address).

        Args:
            function: one of :attr:`functions`.

        Returns:
            Its line records.

        Raises:
            SymbolError: a line record is malformed.
        """
        index = self._func_index(function)
        return list(self._lines_of(index)[1]) if index >= 0 else []

    def line_records(self) -> Iterator[LineRecord]:
        """Yield every line record in file order.

        Raises:
            SymbolError: a line record is malformed.
        """
        for span in sorted(self._func_lines):
            for i in self._line_indices(span):
                yield self._parse_line_record(i)

    def _parse_inline(self, i: int) -> InlineRecord:
        parts = self._lines[i].split()
        try:
            if len(parts) < 7 or (len(parts) - 5) % 2:
                raise ValueError("INLINE needs depth, call line, call file, origin and ranges")
            ranges = tuple(
                (int(parts[k], 16), int(parts[k + 1], 16)) for k in range(5, len(parts), 2)
            )
            return InlineRecord(int(parts[1]), int(parts[2]), int(parts[3]), int(parts[4]), ranges)
        except ValueError as exc:
            raise self._error(f"bad INLINE record on line {self._line_no(i)}: {exc}", i) from exc

    def function_inlines(self, function: FuncRecord) -> list[InlineRecord]:
        """Return the INLINE records of one FUNC, in file order.

        Raises:
            SymbolError: an INLINE record is malformed.
        """
        index = self._func_index(function)
        if index < 0:
            return []
        span = self._func_inlines[index]
        return [self._parse_inline(i) for i in self._inline_indices(span)]

    def _func_index(self, function: FuncRecord) -> int:
        pos = bisect_right(self._func_starts, function.address) - 1
        while pos >= 0 and self.functions[pos].address == function.address:
            if self.functions[pos] is function or self.functions[pos] == function:
                return pos
            pos -= 1
        return -1

    # -- address lookup ---------------------------------------------------------------

    def find_function(self, rva: int) -> FuncRecord | None:
        """Return the FUNC record whose range holds ``rva``, or None."""
        index = self._find_function_index(rva)
        return self.functions[index] if index >= 0 else None

    def _find_function_index(self, rva: int) -> int:
        pos = bisect_right(self._func_starts, rva) - 1
        ends = self._func_ends
        if pos < 0 or rva < ends[pos]:
            return pos
        stop = pos - _OVERLAP_SCAN if pos > _OVERLAP_SCAN else -1
        pos -= 1
        while pos > stop:  # an earlier, longer FUNC may enclose a shorter one
            if rva < ends[pos]:
                return pos
            pos -= 1
        return -1

    def find_public(self, rva: int) -> PublicRecord | None:
        """Return the PUBLIC record nearest below ``rva``, or None.

        A public symbol has no size; it is taken to extend to the next FUNC or
        PUBLIC start.
        """
        pos = bisect_right(self._public_starts, rva) - 1
        if pos < 0:
            return None
        public = self.publics[pos]
        nxt = bisect_right(self._sym_starts, public.address)
        if nxt < len(self._sym_starts) and self._sym_starts[nxt] <= rva:
            return None
        return public

    def lookup(self, rva: int) -> SymbolInfo | None:
        """Name the function covering ``rva``, with file and line when known.

        FUNC records are preferred; without one, the nearest PUBLIC below is used
        (with ``size`` None).

        Args:
            rva: address relative to the module base.

        Returns:
            The symbol, or None when no record covers ``rva``.

        Raises:
            SymbolError: a lazily parsed line or INLINE record is malformed.
        """
        index = self._find_function_index(rva)
        if index < 0:
            public = self.find_public(rva)
            if public is None:
                return None
            return SymbolInfo(public.name, public.address, None, None, None, "breakpad")
        func = self.functions[index]
        starts, records = self._lines_of(index)
        file: str | None = None
        line: int | None = None
        pos = bisect_right(starts, rva) - 1
        if pos >= 0:
            record = records[pos]
            if rva < record.address + record.size:
                files = self._files if self._files is not None else self.files
                file = files.get(record.file)
                line = record.line
        inlines: tuple[InlineFrame, ...] = ()
        span = self._func_inlines[index]
        if span[0] >= 0:
            inlines = self._inlines_at(span, rva)
        return SymbolInfo(func.name, func.address, func.size, file, line, "breakpad", inlines)

    def _inlines_at(self, span: tuple[int, int], rva: int) -> tuple[InlineFrame, ...]:
        frames: list[InlineFrame] = []
        origins = self.inline_origins
        files = self.files
        for i in self._inline_indices(span):
            record = self._parse_inline(i)
            if any(a <= rva < a + s for a, s in record.ranges):
                frames.append(
                    InlineFrame(
                        origins.get(record.origin, f"<inline origin {record.origin}>"),
                        record.depth,
                        files.get(record.call_file),
                        record.call_line,
                    )
                )
        frames.sort(key=lambda f: f.depth)
        return tuple(frames)

    # -- unwind records ---------------------------------------------------------------

    def stack_cfi(self) -> list[StackCfiInit]:
        """Return every ``STACK CFI INIT`` record with its deltas, sorted by address.

        Raises:
            SymbolError: a STACK CFI record is malformed or a delta has no INIT.
        """
        return list(self._cfi()[1])

    def _cfi(self) -> tuple[list[int], list[StackCfiInit]]:
        if self._cfi_index is None:
            inits: list[StackCfiInit] = []
            pending: tuple[int, int, str] | None = None
            deltas: list[StackCfiRecord] = []
            for i in self._cfi_lines:
                parts = self._lines[i].rstrip(b"\r").split(b" ")
                try:
                    if parts[2] == b"INIT":
                        if pending is not None:
                            inits.append(StackCfiInit(*pending, tuple(deltas)))
                        pending = (
                            int(parts[3], 16),
                            int(parts[4], 16),
                            _decode(b" ".join(parts[5:])),
                        )
                        deltas = []
                    else:
                        if pending is None:
                            raise ValueError("STACK CFI delta before any STACK CFI INIT")
                        deltas.append(
                            StackCfiRecord(int(parts[2], 16), _decode(b" ".join(parts[3:])))
                        )
                except (ValueError, IndexError) as exc:
                    raise self._error(
                        f"bad STACK CFI record on line {self._line_no(i)}: {exc}", i
                    ) from exc
            if pending is not None:
                inits.append(StackCfiInit(*pending, tuple(deltas)))
            inits.sort(key=lambda r: r.address)
            self._cfi_index = ([r.address for r in inits], inits)
        return self._cfi_index

    def cfi_rules(self, rva: int) -> CfiRules | None:
        """Return the CFI rules in effect at ``rva``.

        The INIT rules of the range holding ``rva`` are applied first, then every
        delta whose address is at or below ``rva``, in file order.

        Args:
            rva: address relative to the module base.

        Returns:
            The merged rules, or None when no ``STACK CFI INIT`` range holds ``rva``.

        Raises:
            SymbolError: a STACK CFI record or its rule string is malformed.
        """
        starts, inits = self._cfi()
        pos = bisect_right(starts, rva) - 1
        if pos < 0:
            return None
        init = inits[pos]
        if rva >= init.address + init.size:
            return None
        try:
            rules = parse_cfi_rules(init.rules)
            for delta in init.deltas:
                if delta.address <= rva:
                    rules.update(parse_cfi_rules(delta.rules))
        except SymbolError as exc:
            raise SymbolError(exc.message, stream=self.name, address=rva) from exc
        return CfiRules(init.address, init.size, rules)

    def _parse_win(self, i: int) -> StackWinRecord:
        parts = self._lines[i].rstrip(b"\r").split(b" ", 12)
        try:
            if len(parts) < 13:
                raise ValueError("STACK WIN needs 11 fields")
            kind = int(parts[2], 16)
            has_program = parts[11] != b"0"
            max_stack = None if parts[10] == b"" else int(parts[10], 16)
            program = _decode(parts[12]) if has_program else None
            allocates_bp = (not has_program) and parts[12].strip() not in (b"", b"0")
            return StackWinRecord(
                StackWinType(kind) if kind in StackWinType._value2member_map_ else kind,
                int(parts[3], 16),
                int(parts[4], 16),
                int(parts[5], 16),
                int(parts[6], 16),
                int(parts[7], 16),
                int(parts[8], 16),
                int(parts[9], 16),
                max_stack,
                program,
                allocates_bp,
            )
        except ValueError as exc:
            raise self._error(f"bad STACK WIN record on line {self._line_no(i)}: {exc}", i) from exc

    def stack_win(self) -> list[StackWinRecord]:
        """Return every ``STACK WIN`` record in file order.

        Raises:
            SymbolError: a STACK WIN record is malformed.
        """
        return [self._parse_win(i) for i in self._win_lines]

    def stack_win_at(self, rva: int) -> StackWinRecord | None:
        """Return the ``STACK WIN`` record to unwind ``rva`` with.

        Frame data (type 4) is preferred over FPO (type 0), like breakpad's
        processor; within a type, the innermost range holding ``rva`` wins.

        Raises:
            SymbolError: a STACK WIN record is malformed.
        """
        if self._win_index is None:
            by_type: dict[int, list[StackWinRecord]] = {}
            for record in self.stack_win():
                by_type.setdefault(int(record.type), []).append(record)
            self._win_index = {
                kind: (RangeIndex([(r.address, r.size) for r in records]), records)
                for kind, records in by_type.items()
            }
        for kind in (StackWinType.FRAME_DATA, StackWinType.FPO):
            entry = self._win_index.get(kind)
            if entry is not None:
                found = entry[0].find(rva)
                if found >= 0:
                    return entry[1][found]
        return None


class BreakpadSymbolizer:
    """A :class:`~dumplib.symbols.base.Symbolizer` over a breakpad .sym file.

    Args:
        symbols: the parsed file.
    """

    __slots__ = ("symbols",)

    def __init__(self, symbols: BreakpadSymbols) -> None:
        self.symbols = symbols

    def lookup(self, rva: int) -> SymbolInfo | None:
        """Name ``rva`` from the .sym file's FUNC, line and PUBLIC records."""
        return self.symbols.lookup(rva)
