"""`PdbFile`: a PDB's identity, functions, publics and line table, with RVA lookups.

Opening reads the MSF superblock and directory and the PDB info stream
(GUID, age); the DBI stream, publics, procedures and line rows are each read
on first use, once, and kept sorted for bisection::

    pdb = PdbFile.open("crash.pdb")
    pdb.identity            # ("crash.pdb", "3249D99D0C4049318610F4E4FB0B6936", 1)
    pdb.lookup(0x1234)      # Symbol(name=..., start_rva=..., size=..., file=..., line=...)
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType

from dumplib.pdb._errors import PdbError, stream_label
from dumplib.pdb.inlines import (
    InlineFrame,
    InlineSite,
    ModuleC13,
    TypeStream,
    decode_annotations,
    parse_inline_sites,
    parse_module_c13,
)
from dumplib.pdb.itanium import demangle, is_itanium
from dumplib.pdb.lines import HIDDEN_LINES, LineRecord, parse_c13_lines
from dumplib.pdb.msf import MsfFile, PdbSource
from dumplib.pdb.streams import (
    DbgHeader,
    DbiInfo,
    Machine,
    ModuleInfo,
    Omap,
    PdbInfo,
    SectionHeader,
    StringTable,
    parse_dbi,
    parse_info,
    parse_omap,
    parse_section_headers,
)
from dumplib.pdb.symbols import (
    Function,
    Public,
    RawProc,
    parse_module_procedures,
    parse_publics,
)
from dumplib.pdb.undname import split_c_decoration, undecorate

__all__ = ["PdbFile", "Symbol"]

_INFO_STREAM = 1
_DBI_STREAM = 3
_CV_SIGNATURE_C13 = 4


@dataclass(frozen=True, slots=True)
class Symbol:
    """What the PDB says about one address.

    Attributes:
        name: the function (or public symbol) covering the address.
        start_rva: where that function or public starts.
        size: the function's size, or None for a public symbol.
        file: source file of the address, or None without line info.
        line: source line, or None.
        kind: ``"function"`` (a procedure record) or ``"public"``.
        inlines: the calls inlined at the address, outermost first. ``file`` and
            ``line`` above stay those of the function itself (the call site of
            the outermost inline frame); each frame has its own location.
    """

    name: str
    start_rva: int
    size: int | None
    file: str | None
    line: int | None
    kind: str
    inlines: tuple[InlineFrame, ...] = ()


class PdbFile:
    """A PDB 7 (MSF 7.00) file opened for symbolization.

    Build one with :meth:`open`. Everything past the identity is loaded lazily
    and cached; the object is safe to share once loaded.

    Attributes:
        msf: the underlying multi-stream file.
        info: the PDB info stream.
        name: the PDB's file name (``"crash.pdb"``), or None for in-memory data.
    """

    def __init__(self, msf: MsfFile, name: str | None = None) -> None:
        self.msf = msf
        self.name = name
        if not msf.has_stream(_INFO_STREAM):
            raise PdbError("the PDB has no info stream", stream=stream_label(_INFO_STREAM))
        self.info: PdbInfo = parse_info(msf.stream(_INFO_STREAM).data(), _INFO_STREAM)
        self._dbi: DbiInfo | None = None
        self._sections: tuple[SectionHeader, ...] | None = None
        self._omap: Omap | None = None
        self._publics: tuple[Public, ...] | None = None
        self._public_starts: list[int] = []
        self._raw_procs: list[RawProc] | None = None
        self._functions: tuple[Function, ...] | None = None
        self._function_starts: list[int] = []
        self._lines: tuple[LineRecord, ...] | None = None
        self._line_starts: list[int] = []
        self._names: StringTable | None = None
        self._addr_sections: tuple[SectionHeader, ...] = ()
        self._contrib_starts: list[int] | None = None
        self._inline_sites: dict[tuple[int, int], list[InlineSite]] | None = None
        self._inlinee_names: dict[int, str] = {}
        self._c13_cache: dict[int, ModuleC13] = {}
        self._ipi: TypeStream | None = None
        self._tpi: TypeStream | None = None
        self._contrib_spans: list[tuple[int, int, int]] = []

    @classmethod
    def open(cls, source: PdbSource, *, name: str | None = None) -> PdbFile:
        """Open a PDB from a path (memory-mapped), bytes-like object or binary file object.

        Args:
            source: the PDB.
            name: the PDB's name for :attr:`identity`; defaults to the file's base name.

        Raises:
            PdbError: the file is not an MSF 7.00 PDB or its directory/info is malformed.
            SourceError: the path cannot be opened.
        """
        msf = MsfFile.open(source)
        if name is None:
            origin = msf.source.path or msf.source.name
            if origin and not origin.startswith("<"):
                name = os.path.basename(origin)
        return cls(msf, name)

    def close(self) -> None:
        """Release the file mapping; loaded publics, functions and lines stay usable."""
        self.msf.close()

    def __enter__(self) -> PdbFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ identity

    @property
    def guid(self) -> str:
        """The GUID as 32 upper-case hex digits (symbol-store order, no dashes)."""
        return self.info.guid

    @property
    def age(self) -> int:
        """The age that matches the image's CodeView record (from DBI, else the info stream)."""
        try:
            return self.dbi.age
        except PdbError:
            return self.info.age

    @property
    def identity(self) -> tuple[str | None, str, int]:
        """``(pdb_name, guid_hex, age)``, the shape of ``Module.pdb``."""
        return (self.name, self.guid, self.age)

    @property
    def debug_id(self) -> str:
        """The breakpad/symbol-store id: GUID followed by the age in upper-case hex."""
        return f"{self.guid}{self.age:X}"

    @property
    def machine(self) -> int:
        """IMAGE_FILE_MACHINE_* of the image (a :class:`Machine` value when known)."""
        value = self.dbi.machine
        try:
            return Machine(value)
        except ValueError:
            return value

    # ------------------------------------------------------------------ DBI

    @property
    def dbi(self) -> DbiInfo:
        """The parsed DBI stream (stream 3).

        Raises:
            PdbError: the stream is missing or malformed.
        """
        if self._dbi is None:
            if not self.msf.has_stream(_DBI_STREAM) or self.msf.stream_sizes[_DBI_STREAM] == 0:
                raise PdbError("the PDB has no DBI stream", stream=stream_label(_DBI_STREAM))
            self._dbi = parse_dbi(self.msf.stream(_DBI_STREAM, "DBI").data(), _DBI_STREAM)
        return self._dbi

    @property
    def modules(self) -> tuple[ModuleInfo, ...]:
        """The compilands listed in the DBI stream."""
        return self.dbi.modules

    @property
    def sections(self) -> tuple[SectionHeader, ...]:
        """The image's section headers (the final layout) as copied into the PDB."""
        self._load_sections()
        assert self._sections is not None
        return self._sections

    def _load_sections(self) -> None:
        if self._sections is not None:
            return
        dbg = self.dbi.debug_streams
        omap_index = dbg.get(DbgHeader.OMAP_FROM_SRC)
        orig_index = dbg.get(DbgHeader.SECTION_HDR_ORIG)
        final_index = dbg.get(DbgHeader.SECTION_HDR)
        sections: tuple[SectionHeader, ...] = ()
        if final_index is not None:
            sections = self._section_stream(final_index, "section headers")
        if omap_index is not None and orig_index is not None:
            self._omap = parse_omap(self.msf.stream(omap_index, "OMAP").data(), omap_index)
            self._addr_sections = self._section_stream(orig_index, "original section headers")
        else:
            self._addr_sections = sections
        self._sections = sections

    def _section_stream(self, index: int, what: str) -> tuple[SectionHeader, ...]:
        return parse_section_headers(self.msf.stream(index, what).data(), index)

    def to_rva(self, segment: int, offset: int) -> int | None:
        """Turn a ``segment:offset`` address of a symbol record into an RVA.

        Returns:
            The RVA, or None when the segment is not a section of the image
            (absolute symbols) or OMAP drops the address.
        """
        self._load_sections()
        if not 1 <= segment <= len(self._addr_sections):
            return None
        rva = self._addr_sections[segment - 1].virtual_address + offset
        if self._omap is not None:
            return self._omap.translate(rva)
        return rva

    def _string_table(self) -> StringTable:
        if self._names is None:
            index = self.info.named_streams.get("/names")
            if index is None or not self.msf.has_stream(index):
                self._names = StringTable(None, None)
            else:
                self._names = StringTable(self.msf.stream(index, "/names").data(), index)
        return self._names

    # ------------------------------------------------------------------ publics

    @property
    def publics(self) -> tuple[Public, ...]:
        """Every public symbol the image places, sorted by RVA, names undecorated."""
        if self._publics is None:
            index = self.dbi.symbol_records_stream
            if index is None:
                raw: list[tuple[int, str, int]] = []
            else:
                data = bytes(self.msf.stream(index, "symbol records").data())
            is_x86 = self.dbi.machine == Machine.I386
            key = None if index is None else self._publics_key(data, is_x86)
            pubs = None if key is None else _publics_from_cache(key)
            if pubs is None:
                if index is not None:
                    raw = parse_publics(data, stream_label(index, "symbol records"), self.to_rva)
                pubs = [
                    Public(rva, undecorate(name, x86=is_x86), name, bool(flags & 3))
                    for rva, name, flags in raw
                ]
                pubs.sort(key=lambda p: p.rva)
                if key is not None:
                    _publics_to_cache(key, pubs)
            self._public_starts = [p.rva for p in pubs]
            self._publics = tuple(pubs)
        return self._publics

    def _publics_key(self, records: bytes, is_x86: bool) -> str | None:
        """The on-disk cache key of the publics (issue #16): a digest of everything
        they are made from -- the symbol records and the section table that turns
        their addresses into RVAs. None (no caching) when OMAP remaps addresses,
        or when caching is off."""
        from dumplib.cache import default_cache, digest

        if default_cache() is None:
            return None
        try:
            self._load_sections()
        except PdbError:
            return None  # reported by the parse itself, if it needs the sections
        if self._omap is not None:
            return None
        sections = repr([(s.virtual_address, s.virtual_size) for s in self._addr_sections])
        return str(digest("publics", int(is_x86), sections, records))

    def parameter_size(self, public: Public) -> int | None:
        """Bytes of stack arguments an x86 ``__stdcall``/``__fastcall`` public declares (``@N``).

        Returns:
            N from a ``_name@N`` or ``@name@N`` decoration, or None without one.
        """
        return split_c_decoration(public.decorated_name)[1]

    # ------------------------------------------------------------------ functions

    @property
    def functions(self) -> tuple[Function, ...]:
        """Every procedure and thunk of every module, sorted by RVA."""
        if self._functions is None:
            self._load_modules(lines=False)
            assert self._raw_procs is not None
            is_x86 = self.dbi.machine == Machine.I386
            at_rva: dict[int, list[str]] = {}
            for pub in self.publics:
                at_rva.setdefault(pub.rva, []).append(pub.decorated_name)
            funcs = []
            for rva, size, raw_name, module, is_global, kind, typind in self._raw_procs:
                if is_itanium(raw_name):  # lld keeps GCC/clang linkage names in S_GPROC32
                    name = demangle(raw_name)
                    sig = demangle(raw_name, params=True)
                else:
                    name = raw_name
                    sig = _signature(name, at_rva.get(rva, ()), is_x86)
                funcs.append(Function(rva, size, name, module, is_global, kind, typind, sig))
            # Folded (ICF) functions share an address; the name sorting first wins
            # lookups, as in breakpad's dump_syms and symbolic.
            funcs.sort(key=lambda f: (f.rva, f.name))
            self._function_starts = [f.rva for f in funcs]
            self._functions = tuple(funcs)
        return self._functions

    @property
    def line_records(self) -> tuple[LineRecord, ...]:
        """Every C13 line row of every module, sorted by RVA."""
        if self._lines is None:
            self._load_modules(lines=True)
            assert self._lines is not None
        return self._lines

    def _load_modules(self, *, lines: bool) -> None:
        want_procs = self._raw_procs is None
        want_lines = lines and self._lines is None
        if not (want_procs or want_lines):
            return
        procs: list[RawProc] = []
        groups: list[tuple[int, int, list[LineRecord]]] = []
        names = self._string_table() if want_lines else None
        for mod in self.modules:
            index = mod.symbol_stream
            if index is None:
                continue
            label = stream_label(index, f"module {mod.index} symbols")
            if not self.msf.has_stream(index):
                raise PdbError(f"module {mod.index} names a missing stream", stream=label)
            stream = self.msf.stream(index, f"module {mod.index} symbols")
            sym_end = mod.symbols_size
            c13_start = sym_end + mod.c11_size
            c13_end = c13_start + (mod.c13_size if want_lines else 0)
            if max(sym_end, c13_end) > stream.size:
                raise PdbError(
                    f"module {mod.index} declares {max(sym_end, c13_end)} bytes of symbols and "
                    f"lines but its stream has {stream.size}",
                    stream=label,
                )
            data = bytes(stream.read(0, max(sym_end, c13_end), "module symbols"))
            if want_procs and sym_end >= 4:
                sig = int.from_bytes(data[:4], "little")
                if sig != _CV_SIGNATURE_C13:
                    raise PdbError(
                        f"module symbol signature {sig} is not C13 (4)", stream=label, offset=0
                    )
                procs.extend(
                    parse_module_procedures(data, 4, sym_end, mod.index, label, self.to_rva)
                )
            if want_lines and names is not None and mod.c13_size:
                for start, group in parse_c13_lines(
                    data, c13_start, c13_end, label, self.to_rva, names
                ):
                    groups.append((start, mod.index, group))
        if want_procs:
            self._raw_procs = procs
        if want_lines:
            self._lines = self._merge_line_groups(groups)
            self._line_starts = [r.rva for r in self._lines]

    def _merge_line_groups(
        self, groups: list[tuple[int, int, list[LineRecord]]]
    ) -> tuple[LineRecord, ...]:
        """Join per-function line groups, keeping one group per folded (ICF) address.

        When the linker folded identical functions onto one address, every
        module still lists its own lines for it. The lines kept are those of
        the module whose section contribution holds the address (the code
        actually there, as breakpad's dump_syms reports), else those of the
        module of the function :meth:`function_at` reports.
        """
        by_start: dict[int, list[tuple[int, list[LineRecord]]]] = {}
        for start, module, rows in groups:
            by_start.setdefault(start, []).append((module, rows))
        owner: dict[int, int] = {}
        for f in self.functions:
            owner.setdefault(f.rva, f.module)
        out: list[LineRecord] = []
        for start, candidates in by_start.items():
            chosen = candidates[0][1]
            if len(candidates) > 1:
                wanted = [self.contributor(start), owner.get(start)]
                modules = {m: rows for m, rows in reversed(candidates)}
                for want in wanted:
                    if want is not None and want in modules:
                        chosen = modules[want]
                        break
            out.extend(chosen)
        out.sort(key=lambda r: r.rva)
        return tuple(out)

    # ------------------------------------------------------------------ lookups

    def contributor(self, rva: int) -> int | None:
        """Return the index of the module whose section contribution holds ``rva``, or None."""
        if self._contrib_starts is None:
            spans = []
            for c in self.dbi.contributions:
                start = self.to_rva(c.section, c.offset)
                if start is not None and c.size > 0:
                    spans.append((start, c.size, c.module))
            spans.sort()
            self._contrib_starts = [s[0] for s in spans]
            self._contrib_spans = spans
        i = bisect.bisect_right(self._contrib_starts, rva) - 1
        if i >= 0:
            start, size, module = self._contrib_spans[i]
            if rva < start + size:
                return module
        return None

    def function_at(self, rva: int) -> Function | None:
        """Return the function whose ``[rva, rva + size)`` contains ``rva``, or None."""
        funcs = self.functions
        i = bisect.bisect_right(self._function_starts, rva) - 1
        # Step back over functions sharing a start (folded duplicates) or nested ranges.
        for j in range(i, max(i - 8, -1), -1):
            f = funcs[j]
            if f.rva <= rva < f.rva + f.size:
                # prefer the first of several functions starting at the same address
                k = j
                while k > 0 and funcs[k - 1].rva == f.rva:
                    k -= 1
                return funcs[k]
        return None

    def public_at(self, rva: int) -> Public | None:
        """Return the nearest public symbol at or below ``rva`` in the same section, or None."""
        pubs = self.publics
        i = bisect.bisect_right(self._public_starts, rva) - 1
        if i < 0:
            return None
        pub = pubs[i]
        section = self._section_of(rva)
        if section is None or section != self._section_of(pub.rva):
            return None
        return pub

    def _section_of(self, rva: int) -> int | None:
        for n, s in enumerate(self.sections):
            if s.virtual_address <= rva < s.virtual_address + max(s.virtual_size, s.raw_size):
                return n
        return None

    def line_for(self, rva: int) -> LineRecord | None:
        """Return the line row covering ``rva``, or None."""
        rows = self.line_records
        i = bisect.bisect_right(self._line_starts, rva) - 1
        if i >= 0:
            row = rows[i]
            if rva < row.rva + row.size:
                return row
        return None

    def lines(self, rva: int) -> tuple[LineRecord, ...]:
        """Return the line rows of the function containing ``rva`` (empty when none)."""
        func = self.function_at(rva)
        if func is None:
            return ()
        starts = self._line_starts if self._lines is not None else None
        rows = self.line_records
        starts = self._line_starts if starts is None else starts
        lo = bisect.bisect_left(starts, func.rva)
        hi = bisect.bisect_left(starts, func.rva + func.size)
        return rows[lo:hi]

    # ------------------------------------------------------------------ inlines

    def inline_frames(self, rva: int) -> tuple[InlineFrame, ...]:
        """Return the calls inlined at ``rva``, outermost first (empty when none).

        Raises:
            PdbError: the inline records, their annotations or the IPI stream are malformed.
        """
        func = self.function_at(rva)
        if func is None:
            return ()
        row = self.line_for(rva)
        file = row.file if row is not None else None
        line = row.line if row is not None and row.line not in HIDDEN_LINES else None
        return self._inline_frames(func, rva, file, line)

    def _inline_frames(
        self, func: Function, rva: int, file: str | None, line: int | None
    ) -> tuple[InlineFrame, ...]:
        if self._inline_sites is None:
            self._load_inline_sites()
        assert self._inline_sites is not None
        sites = self._inline_sites.get((func.module, func.rva))
        if not sites:
            return ()
        frames: list[InlineFrame] = []
        parent: int | None = None
        call_file, call_line = file, line
        for site in sites:  # sorted by depth, then address
            if site.depth != len(frames) or site.parent != parent:
                continue
            hit = site.at(rva)
            if hit is None:
                continue
            frames.append(
                InlineFrame(
                    self._inlinee_name(site.inlinee),
                    site.depth,
                    call_file,
                    call_line,
                    hit.file,
                    hit.line,
                )
            )
            parent = site.offset
            call_file, call_line = hit.file, hit.line
        return tuple(frames)

    def _inlinee_name(self, index: int) -> str:
        name = self._inlinee_names.get(index)
        if name is None:
            if self._ipi is None:
                self._ipi = self._type_stream(4, "IPI")
                self._tpi = self._type_stream(2, "TPI")
            found = self._ipi.function_name(index, self._tpi) if self._ipi else None
            name = found if found else f"<inlinee 0x{index:x}>"
            self._inlinee_names[index] = name
        return name

    def _type_stream(self, index: int, what: str) -> TypeStream:
        if not self.msf.has_stream(index) or self.msf.stream_sizes[index] == 0:
            return TypeStream(b"", stream_label(index, what))
        data = bytes(self.msf.stream(index, what).data())
        return TypeStream(data, stream_label(index, what))

    def _module_c13(self, mod: ModuleInfo) -> tuple[bytes, str, ModuleC13 | None]:
        """The module's symbol bytes, stream label and C13 inline tables (cached)."""
        index = mod.symbol_stream
        label = stream_label(index, f"module {mod.index} symbols")
        if index is None or not self.msf.has_stream(index) or mod.symbols_size < 4:
            return b"", label, None
        stream = self.msf.stream(index, f"module {mod.index} symbols")
        c13_start = mod.symbols_size + mod.c11_size
        c13_end = c13_start + mod.c13_size
        if max(mod.symbols_size, c13_end) > stream.size:
            raise PdbError(
                f"module {mod.index} declares more symbol and line bytes than its stream has",
                stream=label,
            )
        data = bytes(stream.read(0, max(mod.symbols_size, c13_end), "module symbols"))
        cached = self._c13_cache.get(mod.index)
        if cached is None:
            cached = parse_module_c13(data, c13_start, c13_end, label, self._string_table())
            self._c13_cache[mod.index] = cached
        return data, label, cached

    def _exporter(self, name: str) -> ModuleC13 | None:
        """The C13 tables of the module called ``name`` (for cross-module inlinee ids)."""
        wanted = name.lower()
        for mod in self.modules:
            if mod.name.lower() == wanted or mod.object_file.lower() == wanted:
                return self._module_c13(mod)[2]
        return None

    def _load_inline_sites(self) -> None:
        table: dict[tuple[int, int], list[InlineSite]] = {}
        for mod in self.modules:
            data, label, c13 = self._module_c13(mod)
            if c13 is None:
                continue
            raw = parse_inline_sites(data, 4, mod.symbols_size, label, self.to_rva)
            for proc_rva, depth, parent, offset, inlinee, annotation_bytes in raw:
                first_file, first_line = c13.inlinees.get(inlinee, (None, 0))
                try:
                    ranges = decode_annotations(
                        annotation_bytes, proc_rva, first_line, first_file, c13.files
                    )
                except (ValueError, IndexError) as exc:
                    raise PdbError(
                        f"inline site annotations are malformed: {exc}", stream=label, offset=offset
                    ) from exc
                callee = c13.resolve(inlinee, self._exporter)
                site = InlineSite(proc_rva, mod.index, depth, offset, parent, callee, tuple(ranges))
                table.setdefault((mod.index, proc_rva), []).append(site)
        for sites in table.values():
            sites.sort(key=lambda s: (s.depth, s.offset))
        self._c13_cache.clear()
        self._inline_sites = table

    def lookup(self, rva: int) -> Symbol | None:
        """Name ``rva``: the function containing it, else the nearest public below it.

        Where identical functions were folded onto one address, the one whose
        name sorts first is reported. Compiler-hidden line numbers (0xF00F00,
        0xFEEFEE) come back as ``line=None``.

        Returns:
            A :class:`Symbol` with file and line from the C13 line table when
            they exist, or None when nothing covers the address.
        """
        row = self.line_for(rva)
        file = row.file if row is not None else None
        line = row.line if row is not None and row.line not in HIDDEN_LINES else None
        func = self.function_at(rva)
        if func is not None:
            inlines = self._inline_frames(func, rva, file, line)
            return Symbol(func.name, func.rva, func.size, file, line, "function", inlines)
        pub = self.public_at(rva)
        if pub is not None:
            return Symbol(pub.name, pub.rva, None, file, line, "public")
        return None


def _signature(name: str, decorated: Sequence[str], is_x86: bool) -> str:
    """The breakpad-style display name of procedure ``name`` given the publics at its address.

    A C++ public whose undecorated name is ``name`` supplies the parameter list.
    A procedure named by its own x86 linker name (assembler routines such as
    ``__SEH_prolog4``) loses the C decoration, as it does for publics.
    """
    for linker_name in decorated:
        if is_itanium(linker_name.removeprefix("_") if is_x86 else linker_name):
            mangled = linker_name.removeprefix("_") if is_x86 else linker_name
            if demangle(mangled) == name:
                return demangle(mangled, params=True)
        elif linker_name.startswith("?"):
            full = undecorate(linker_name, params=True)
            if full.startswith(name + "("):
                return full
        elif is_x86 and linker_name == name:
            return split_c_decoration(name)[0]
    return name


def _publics_from_cache(key: str) -> list[Public] | None:
    """Publics stored under ``key`` by an earlier parse (any process), or None."""
    from dumplib.cache import default_cache

    cache = default_cache()
    doc = cache.get("publics", key) if cache is not None else None
    if not isinstance(doc, list):
        return None
    try:
        return [Public(int(r), str(n), str(d), bool(f)) for r, n, d, f in doc]
    except (TypeError, ValueError):
        return None


def _publics_to_cache(key: str, pubs: list[Public]) -> None:
    from dumplib.cache import default_cache

    cache = default_cache()
    if cache is not None:
        cache.put("publics", key,
                  [[p.rva, p.name, p.decorated_name, p.is_function] for p in pubs])
