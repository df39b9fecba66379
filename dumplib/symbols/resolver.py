"""Finding each module's image and symbols, and naming addresses with them.

:class:`SymbolResolver` takes the ``symbols=`` entries of API.md and, for each
module of a dump, finds once:

1. the PDB identity: the module record's CodeView data, or -- when the dump has
   none (wine writes none) -- the debug directory of the image, read from the
   dump's memory or found on the symbol path by name, timestamp and size;
2. the PDB (matched on GUID + age) and the breakpad ``.sym`` (matched on its
   MODULE id), and, when neither exists, the image's exports;
3. a :class:`~dumplib.symbols.base.ChainSymbolizer` over them: PDB, then
   ``.sym``, then exports.

Every candidate file tried is kept in :attr:`ModuleSymbols.attempts` with the
reason it was rejected, and every error a source raised (a corrupt PDB, an
unreadable image) in :attr:`ModuleSymbols.errors`; the search goes on with the
next source. Parsed files are cached for the process, keyed by path, size and
modification time, so several dumps of one program load its PDB once.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar

from dumplib._exc import MemoryNotInDump
from dumplib.pe import ExportTable, PeImage
from dumplib.symbols.base import (
    ChainSymbolizer,
    InlineFrame,
    SymbolInfo,
    Symbolizer,
    format_location,
)
from dumplib.symbols.breakpad import (
    BreakpadSymbolizer,
    BreakpadSymbols,
    is_breakpad,
    read_module_record,
)
from dumplib.symbols.errors import SOURCE_FAULTS, SymbolError, describe_fault
from dumplib.symbols.path import (
    DEFAULT_MAX_DOWNLOAD,
    DEFAULT_TIMEOUT,
    Attempt,
    LocateResult,
    SymbolLocator,
    image_key,
    pdb_key,
    safe_name,
)

if TYPE_CHECKING:  # the PDB reader loads when a PDB is found (start-up, issue #16)
    from dumplib.pdb import PdbFile

__all__ = [
    "ExportSymbolizer",
    "FileKind",
    "ModuleLike",
    "ModuleSymbols",
    "PdbSymbolizer",
    "SymbolResolver",
    "identify_file",
]

#: How many parsed files the process-wide cache keeps.
PROCESS_CACHE_SIZE = 64

_PDB7_MAGIC = b"Microsoft C/C++ MSF 7.00\r\n\x1aDS\0\0\0"
_PDB2_MAGIC = b"Microsoft C/C++ program database 2.00\r\n"
_CAB_MAGIC = b"MSCF"

MemoryRead = Callable[[int, int], bytes]


class FileKind:
    """File kinds told apart by :func:`identify_file` (plain string constants)."""

    PE = "pe"
    PDB = "pdb"
    BREAKPAD = "breakpad"
    PDB2 = "pdb2"
    CAB = "cab"
    UNKNOWN = "unknown"


def identify_file(path: str) -> str:
    """Tell a file's format from its first bytes.

    Args:
        path: the file.

    Returns:
        One of the :class:`FileKind` constants.

    Raises:
        SymbolError: the file cannot be read.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except OSError as exc:
        raise SymbolError(f"cannot read {path}: {exc.strerror or exc}", stream=path) from exc
    if head.startswith(b"MZ"):
        return FileKind.PE
    if head.startswith(_PDB7_MAGIC):
        return FileKind.PDB
    if is_breakpad(head):
        return FileKind.BREAKPAD
    if head.startswith(_PDB2_MAGIC):
        return FileKind.PDB2
    if head.startswith(_CAB_MAGIC):
        return FileKind.CAB
    return FileKind.UNKNOWN


def _expect(path: str, kind: str) -> None:
    found = identify_file(path)
    if found != kind:
        raise SymbolError(f"expected a {kind} file, found {found}", stream=path, offset=0)


class ModuleLike(Protocol):
    """What the resolver needs of a module (``dumplib.Module`` has all of it)."""

    @property
    def name(self) -> str:
        """File name, e.g. ``"crash.exe"``."""
        ...

    @property
    def base(self) -> int:
        """Load address."""
        ...

    @property
    def size(self) -> int:
        """Size of the image in memory (SizeOfImage)."""
        ...

    @property
    def timestamp(self) -> int:
        """TimeDateStamp of the image."""
        ...

    @property
    def pdb(self) -> tuple[str, str, int] | None:
        """``(pdb_name, guid_hex, age)`` from the dump's CodeView record, or None."""
        ...


# -- process-wide cache of parsed files ------------------------------------------------

_T = TypeVar("_T")
_cache: OrderedDict[tuple[str, str, int, int], object] = OrderedDict()
_cache_lock = threading.Lock()


def _cached_open(kind: str, path: str, opener: Callable[[str], _T]) -> _T:
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
    except OSError as exc:
        raise SymbolError(f"cannot read {path}: {exc.strerror or exc}", stream=path) from exc
    key = (kind, real, st.st_size, st.st_mtime_ns)
    with _cache_lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
            return found  # type: ignore[return-value]
    parsed = opener(real)
    with _cache_lock:
        _cache[key] = parsed
        while len(_cache) > PROCESS_CACHE_SIZE:
            _cache.popitem(last=False)
    return parsed


def _open_pdb(path: str) -> PdbFile:
    from dumplib.pdb import PdbFile

    _expect(path, FileKind.PDB)
    return _cached_open("pdb", path, lambda p: PdbFile.open(p))


def _open_sym(path: str) -> BreakpadSymbols:
    return _cached_open("sym", path, BreakpadSymbols.open)


def _open_image(path: str) -> PeImage:
    _expect(path, FileKind.PE)
    return _cached_open("pe", path, lambda p: PeImage.from_file(p))


# -- symbolizers -----------------------------------------------------------------------


class PdbSymbolizer:
    """A :class:`~dumplib.symbols.base.Symbolizer` over a PDB (:mod:`dumplib.pdb`).

    Args:
        pdb: the opened PDB.
    """

    __slots__ = ("pdb",)

    def __init__(self, pdb: PdbFile) -> None:
        self.pdb = pdb

    def lookup(self, rva: int) -> SymbolInfo | None:
        """Name ``rva`` from the PDB's procedures, publics and line table.

        Raises:
            PdbError: a lazily read part of the PDB is corrupt.
        """
        found = self.pdb.lookup(rva)
        if found is None:
            return None
        if found.inlines:
            # as breakpad has it: the address's own (innermost) line, and each inlined
            # call with its call site; the function's line is the outermost call site
            inner = found.inlines[-1]
            chain = tuple(InlineFrame(f.name, f.depth, f.call_file, f.call_line)
                          for f in found.inlines)
            return SymbolInfo(found.name, found.start_rva, found.size, inner.file, inner.line,
                              "pdb", chain)
        return SymbolInfo(found.name, found.start_rva, found.size, found.file, found.line, "pdb")


class ExportSymbolizer:
    """Names addresses after the nearest export at or below them.

    This is the last resort: an export says nothing about where its function
    ends, so the name is only a hint (``kernel32.dll!CreateFileW+0x1234``).

    Args:
        exports: the image's export table.
        image_size: SizeOfImage; addresses at or past it are not named.
    """

    __slots__ = ("exports", "image_size")

    def __init__(self, exports: ExportTable, image_size: int | None = None) -> None:
        self.exports = exports
        self.image_size = image_size

    def lookup(self, rva: int) -> SymbolInfo | None:
        """Return the nearest named export at or below ``rva``, or None."""
        if rva < 0 or (self.image_size is not None and rva >= self.image_size):
            return None
        export = self.exports.nearest(rva)
        if export is None:
            return None
        name = export.name if export.name is not None else f"Ordinal{export.ordinal}"
        return SymbolInfo(name, export.rva, None, None, None, "export")


class _Guarded:
    """Wraps a symbolizer: its first error is recorded and it is not asked again."""

    __slots__ = ("broken", "errors", "inner", "label")

    def __init__(self, inner: Symbolizer, label: str, errors: list[str]) -> None:
        self.inner = inner
        self.label = label
        self.errors = errors
        self.broken = False

    def lookup(self, rva: int) -> SymbolInfo | None:
        if self.broken:
            return None
        try:
            return self.inner.lookup(rva)
        except SOURCE_FAULTS as exc:
            self.broken = True
            self.errors.append(f"{self.label}: {describe_fault(exc)}")
            return None


# -- per-module result -----------------------------------------------------------------


@dataclass(slots=True)
class ModuleSymbols:
    """Everything found for one module.

    Attributes:
        name: the module's file name.
        pdb_identity: ``(pdb_name, guid_hex, age)`` used for the search, or None.
        pdb_identity_source: ``"dump"`` (module record), ``"image"`` (the image's
            debug directory) or None.
        image_path: the matching image on the symbol path, or None.
        pdb_path: the matching PDB, or None.
        sym_path: the matching breakpad .sym, or None.
        image: the image used (from the symbol path, else from the dump's memory), or None.
        pdb: the opened PDB, or None.
        breakpad: the parsed .sym (its STACK CFI / STACK WIN serve the unwinder), or None.
        symbolizer: the chain PDB > .sym > exports.
        attempts: every candidate file tried, with why it was rejected.
        errors: errors raised by sources for this module (search continued past them).
        notes: things that were absent without being wrong (image headers not captured).
        image_searched: whether the dump and the symbol path were searched for the image.
    """

    name: str
    pdb_identity: tuple[str, str, int] | None = None
    pdb_identity_source: str | None = None
    image_path: str | None = None
    pdb_path: str | None = None
    sym_path: str | None = None
    image: PeImage | None = None
    pdb: PdbFile | None = None
    breakpad: BreakpadSymbols | None = None
    symbolizer: ChainSymbolizer = field(default_factory=lambda: ChainSymbolizer(()))
    attempts: list[Attempt] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    image_searched: bool = False

    @property
    def sources(self) -> tuple[str, ...]:
        """Which kinds of symbols were found: a subset of ``("pdb", "breakpad", "export")``."""
        found: list[str] = []
        if self.pdb is not None:
            found.append("pdb")
        if self.breakpad is not None:
            found.append("breakpad")
        if any(
            isinstance(s, _Guarded) and isinstance(s.inner, ExportSymbolizer)
            for s in self.symbolizer.symbolizers
        ):
            found.append("export")
        return tuple(found)


class SymbolResolver:
    """Finds and caches each module's image and symbols; names addresses.

    Args:
        symbols: ``symbols=`` entries: directories, files, ``_NT_SYMBOL_PATH`` strings.
        memory: ``read(address, size) -> bytes`` over the dump's memory (e.g.
            ``dump.memory.read``), to read images the dump holds; None without.
        timeout: network timeout for symbol servers, in seconds.
        max_download: largest file accepted from a symbol server, in bytes.
        default_cache: download directory for ``srv*URL`` entries without a cache.

    Raises:
        SymbolError: a ``symbols=`` entry cannot be parsed.
    """

    def __init__(
        self,
        symbols: Iterable[str | os.PathLike[str]] = (),
        *,
        memory: MemoryRead | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_download: int = DEFAULT_MAX_DOWNLOAD,
        default_cache: str | None = None,
    ) -> None:
        self.locator = SymbolLocator(
            symbols, timeout=timeout, max_download=max_download, default_cache=default_cache
        )
        self.memory = memory
        self._modules: dict[tuple[object, ...], ModuleSymbols] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        """Remove a temporary download cache (parsed files stay in the process cache)."""
        self.locator.close()

    def __enter__(self) -> SymbolResolver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public lookups ---------------------------------------------------------------

    def module_symbols(self, module: ModuleLike) -> ModuleSymbols:
        """Find (once) and return the image and symbols of ``module``.

        Never raises for bad or missing symbol files: problems are recorded in
        the result's ``attempts`` and ``errors``.
        """
        key = (module.name, module.base, module.size, module.timestamp, module.pdb)
        with self._lock:
            found = self._modules.get(key)
            if found is None:
                found = self._resolve(module)
                self._modules[key] = found
        return found

    def image(self, module: ModuleLike) -> PeImage | None:
        """Return the module's image, for its unwind data and headers.

        The image found while resolving symbols is reused; otherwise the dump's
        memory is read, then the symbol path is searched (by name, timestamp and
        size), once per module.

        Returns:
            The image, or None when neither the dump nor the symbol path holds it.
        """
        found = self.module_symbols(module)
        with self._lock:
            if found.image is None and not found.image_searched:
                found.image_searched = True
                found.image = self._memory_image(module, found)
                if found.image is None:
                    self._find_image(module, found)
        return found.image

    def lookup(self, module: ModuleLike, address: int) -> SymbolInfo | None:
        """Name an absolute ``address`` inside ``module``.

        Args:
            module: the module holding the address.
            address: the virtual address.

        Returns:
            The symbol, or None when no source names it.
        """
        return self.module_symbols(module).symbolizer.lookup(address - module.base)

    def format(self, address: int, module: ModuleLike | None) -> str:
        """Format ``address`` as ``module!function+0x12 [file:line]``.

        Args:
            address: the virtual address.
            module: the module holding it, or None.

        Returns:
            The text (``module+0x1234`` without a symbol, ``0x...`` without a module).
        """
        if module is None:
            return format_location(None, None, address)
        rva = address - module.base
        return format_location(module.name, self.lookup(module, address), rva)

    # -- the search -------------------------------------------------------------------

    def _record(self, out: ModuleSymbols, result: LocateResult) -> str | None:
        out.attempts.extend(result.attempts)
        return result.path

    def _memory_image(self, module: ModuleLike, out: ModuleSymbols) -> PeImage | None:
        if self.memory is None:
            return None
        try:
            image = PeImage.from_memory(self.memory, module.base, module.size, name=module.name)
        except MemoryNotInDump as exc:
            out.notes.append(f"image headers not in the dump: {exc}")
            return None
        except SOURCE_FAULTS as exc:
            out.errors.append(f"image in dump memory: {describe_fault(exc)}")
            return None
        return image

    def _find_image(self, module: ModuleLike, out: ModuleSymbols) -> None:
        if not module.timestamp or not module.size:
            return
        timestamp, size = module.timestamp, module.size

        def verify(path: str) -> str | None:
            image = _open_image(path)
            if image.timestamp != timestamp or image.size_of_image != size:
                return (
                    f"image is {image_key(image.timestamp, image.size_of_image)}, "
                    f"wanted {image_key(timestamp, size)}"
                )
            return None

        try:
            path = self._record(
                out, self.locator.find([module.name], image_key(timestamp, size), verify)
            )
        except SymbolError as exc:
            out.errors.append(f"image search: {exc}")
            return
        if path is not None:
            out.image_path = path
            out.image = _open_image(path)

    def _resolve(self, module: ModuleLike) -> ModuleSymbols:
        out = ModuleSymbols(name=module.name)
        memory_image: PeImage | None = None
        identity = module.pdb
        if identity is not None:
            out.pdb_identity, out.pdb_identity_source = identity, "dump"
        else:
            memory_image = self._memory_image(module, out)
            codeview = self._codeview(memory_image, out, "image in dump memory")
            if codeview is None:
                self._find_image(module, out)
                codeview = self._codeview(out.image, out, "image on symbol path")
            if codeview is not None:
                out.pdb_identity, out.pdb_identity_source = codeview, "image"
        if out.pdb_identity is not None:
            self._find_pdb(out.pdb_identity, out)
            self._find_sym(out.pdb_identity, out)
        else:  # ELF build id: breakpad's debug_file/debug_id/debug_file.sym
            elf = getattr(module, "breakpad_identity", None)
            if elf is not None:
                self._find_sym(elf, out)
        chain: list[Symbolizer] = []
        if out.pdb is not None:
            chain.append(_Guarded(PdbSymbolizer(out.pdb), f"PDB {out.pdb_path}", out.errors))
        if out.breakpad is not None:
            chain.append(
                _Guarded(BreakpadSymbolizer(out.breakpad), f".sym {out.sym_path}", out.errors)
            )
        out.image_searched = identity is None or not chain
        if not chain:
            if identity is not None:  # the image was not needed so far
                memory_image = self._memory_image(module, out)
                if memory_image is None:
                    self._find_image(module, out)
            for image, where in ((memory_image, "dump memory"), (out.image, out.image_path)):
                if image is None:
                    continue
                try:
                    exports = image.exports
                except SOURCE_FAULTS as exc:
                    out.errors.append(f"exports of the image in {where}: {describe_fault(exc)}")
                    continue
                if exports is not None and len(exports):
                    symbolizer = ExportSymbolizer(exports, image.size_of_image or module.size)
                    chain.append(_Guarded(symbolizer, f"exports in {where}", out.errors))
                    break
        if out.image is None and memory_image is not None:
            out.image = memory_image
        out.symbolizer = ChainSymbolizer(chain)
        return out

    @staticmethod
    def _codeview(
        image: PeImage | None, out: ModuleSymbols, where: str
    ) -> tuple[str, str, int] | None:
        if image is None:
            return None
        try:
            cv = image.codeview
        except SOURCE_FAULTS as exc:
            out.errors.append(f"CodeView of the {where}: {describe_fault(exc)}")
            return None
        if cv is None:
            return None
        return (cv.pdb_name, cv.identifier, cv.age)

    def _find_pdb(self, identity: tuple[str, str, int], out: ModuleSymbols) -> None:
        pdb_name, guid, age = identity

        def verify(path: str) -> str | None:
            pdb = _open_pdb(path)
            if pdb.guid.upper() != guid.upper() or pdb.age != age:
                return f"PDB is {pdb_key(pdb.guid, pdb.age)}, wanted {pdb_key(guid, age)}"
            return None

        try:
            name = safe_name(pdb_name)
            path = self._record(out, self.locator.find([name], pdb_key(guid, age), verify))
        except SymbolError as exc:
            out.errors.append(f"PDB search: {exc}")
            return
        if path is not None:
            out.pdb_path = path
            out.pdb = _open_pdb(path)

    def _find_sym(self, identity: tuple[str, str, int], out: ModuleSymbols) -> None:
        pdb_name, guid, age = identity
        wanted = pdb_key(guid, age)

        def verify(path: str) -> str | None:
            record = read_module_record(path)
            if record.id.upper() != wanted:
                return f".sym MODULE id is {record.id}, wanted {wanted}"
            _open_sym(path)  # a corrupt file is an error here, and the search goes on
            return None

        try:
            name = safe_name(pdb_name)
            stem = name[:-4] if name.lower().endswith(".pdb") else name
            names = [f"{stem}.sym", f"{name}.sym"]
            result = self.locator.find(names, wanted, verify, folder=name)
            path = self._record(out, result)
        except SymbolError as exc:
            out.errors.append(f".sym search: {exc}")
            return
        if path is not None:
            out.breakpad = _open_sym(path)
            out.sym_path = path
