"""The export directory: named and ordinal exports, forwarders, nearest-export lookup."""

from __future__ import annotations

import struct
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from dumplib._exc import MemoryNotInDump
from dumplib.pe.errors import PeError
from dumplib.pe.layout import ImageBytes
from dumplib.pe.structs import EXPORT_DIRECTORY, MAX_EXPORTS, MAX_STRING_LENGTH

__all__ = ["Export", "ExportTable", "parse_exports", "parse_exports_cached"]

_STRUCT = "IMAGE_EXPORT_DIRECTORY"


@dataclass(frozen=True, slots=True)
class Export:
    """One entry of the export address table.

    Attributes:
        ordinal: the export's ordinal (Base + index in the address table).
        name: its name, or None for an export by ordinal only.
        rva: the address-table value: the function's RVA, or for a forwarder
            the RVA of the forwarder string.
        forwarder: ``"NTDLL.RtlAllocateHeap"`` when the export is forwarded, else None
            (``"?"`` for a forwarder whose string was not captured in a dump).
    """

    ordinal: int
    name: str | None
    rva: int
    forwarder: str | None

    @property
    def is_forwarder(self) -> bool:
        """True when the export names a function in another DLL."""
        return self.forwarder is not None


class ExportTable:
    """The parsed export directory of one image.

    Attributes:
        dll_name: the Name the DLL gives itself, or None if unreadable.
        timestamp: the directory's TimeDateStamp.
        ordinal_base: Base, the ordinal of the first address-table entry.
        exports: every non-empty export, in ordinal order.
    """

    __slots__ = ("_by_name", "_code", "_starts", "dll_name", "exports", "ordinal_base", "timestamp")

    def __init__(
        self, dll_name: str | None, timestamp: int, ordinal_base: int, exports: list[Export]
    ) -> None:
        self.dll_name = dll_name
        self.timestamp = timestamp
        self.ordinal_base = ordinal_base
        self.exports: tuple[Export, ...] = tuple(exports)
        best: dict[int, Export] = {}
        for exp in exports:
            if exp.forwarder is not None:
                continue
            old = best.get(exp.rva)
            # Prefer a named export, then the alphabetically first name, at one address.
            if old is None or (old.name is None and exp.name is not None) or (
                old.name is not None and exp.name is not None and exp.name < old.name
            ):
                best[exp.rva] = exp
        self._code: list[Export] = [best[rva] for rva in sorted(best)]
        self._starts: list[int] = [e.rva for e in self._code]
        self._by_name: dict[str, Export] = {e.name: e for e in exports if e.name is not None}

    def __len__(self) -> int:
        return len(self.exports)

    def __iter__(self) -> Iterator[Export]:
        return iter(self.exports)

    @property
    def sorted_by_rva(self) -> tuple[Export, ...]:
        """Non-forwarded exports, one per address (the named one preferred), by RVA."""
        return tuple(self._code)

    def by_name(self, name: str) -> Export | None:
        """The export called ``name``, or None."""
        return self._by_name.get(name)

    def by_ordinal(self, ordinal: int) -> Export | None:
        """The export with ``ordinal``, or None."""
        for exp in self.exports:
            if exp.ordinal == ordinal:
                return exp
        return None

    def nearest(self, rva: int) -> Export | None:
        """The non-forwarded export at or below ``rva`` (bisection), or None.

        Note that an export below an address need not contain it; callers
        decide how far an export-based name may stretch.
        """
        i = bisect_right(self._starts, rva) - 1
        return self._code[i] if i >= 0 else None


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


class _Strings:
    """NUL-terminated strings by RVA, found in one read of the export directory.

    Linkers place the DLL name, export names and forwarders inside the export
    directory's range; strings elsewhere (or when the range cannot be read in
    one piece) are read one by one.
    """

    __slots__ = ("_blob", "_end", "_image", "_seen", "_start")

    def __init__(self, image: ImageBytes, rva: int, size: int) -> None:
        self._image = image
        self._start = rva
        self._blob = b""
        # One str per distinct RVA: a table naming 65,536 exports with one 4 KiB
        # string costs one string, not 65,536 copies.
        self._seen: dict[tuple[int, int], str] = {}
        try:
            # Only bytes that exist: the directory's size may reach into gigabytes
            # of a section's zero fill.
            want = min(size, image.limit - rva, image.stored(rva))
            self._blob = bytes(image.read(rva, want, _STRUCT))
        except (MemoryNotInDump, PeError):
            self._blob = b""
        self._end = rva + len(self._blob)

    def get(self, rva: int, what: str, limit: int = MAX_STRING_LENGTH) -> str:
        """The string at ``rva`` (at most ``limit`` bytes before its NUL).

        Raises:
            PeError: unterminated, or outside the image.
            MemoryNotInDump: (memory layout) not captured.
        """
        seen = self._seen.get((rva, limit))
        if seen is not None:
            return seen
        text: str | None = None
        if self._start <= rva < self._end:
            at = rva - self._start
            nul = self._blob.find(b"\0", at, at + limit)
            if nul >= 0:
                text = self._blob[at:nul].decode("utf-8", errors="replace")
        if text is None:
            text = _decode(self._image.cstring(rva, what, limit))
        self._seen[(rva, limit)] = text
        return text


def _table(image: ImageBytes, rva: int, count: int, code: str, what: str) -> tuple[int, ...]:
    if not count:
        return ()
    width = struct.calcsize(code)
    image.check(rva, count * width, what)
    return struct.unpack_from(f"<{count}{code}", image.read(rva, count * width, what))


def parse_exports(
    image: ImageBytes, rva: int, size: int, warnings: list[str]
) -> ExportTable:
    """Parse the export directory at ``rva`` (``size`` bytes).

    Unreadable names are recorded in ``warnings`` and left out; a directory
    whose counts or tables do not fit the image raises.

    Raises:
        PeError: the directory or its tables are corrupt or truncated.
        MemoryNotInDump: (memory layout) the directory or its tables are absent.
    """
    (
        _chars, timestamp, _major, _minor, name_rva, base, n_funcs, n_names,
        funcs_rva, names_rva, ords_rva,
    ) = EXPORT_DIRECTORY.unpack_from(image.read(rva, EXPORT_DIRECTORY.size, _STRUCT))
    if n_funcs > MAX_EXPORTS or n_names > MAX_EXPORTS:
        raise image.error(
            f"export directory claims {n_funcs} functions and {n_names} names "
            f"(cap {MAX_EXPORTS})",
            _STRUCT,
            rva,
        )
    funcs = _table(image, funcs_rva, n_funcs, "I", "export address table")
    names_at = _table(image, names_rva, n_names, "I", "export name pointer table")
    ords = _table(image, ords_rva, n_names, "H", "export ordinal table")
    strings = _Strings(image, rva, size)

    dll_name: str | None = None
    if name_rva:
        try:
            dll_name = strings.get(name_rva, "export DLL name")
        except MemoryNotInDump:
            warnings.append(f"export DLL name at RVA 0x{name_rva:x} not in dump")

    names: dict[int, list[str]] = {}
    for i, (index, at) in enumerate(zip(ords, names_at, strict=True)):
        if index >= n_funcs:
            warnings.append(f"export name #{i} points past the address table ({index})")
            continue
        try:
            name = strings.get(at, "export name")
        except MemoryNotInDump:
            warnings.append(f"export name #{i} at RVA 0x{at:x} not in dump")
            continue
        found = names.get(index)
        if found is None:
            names[index] = [name]
        else:
            found.append(name)

    end = rva + size
    exports: list[Export] = []
    append = exports.append
    for index, func in enumerate(funcs):
        if func == 0:
            continue
        forwarder: str | None = None
        if rva <= func < end:
            try:
                forwarder = strings.get(func, "export forwarder", limit=end - func)
            except MemoryNotInDump:
                forwarder = "?"
                warnings.append(f"export forwarder at RVA 0x{func:x} not in dump")
        entry_names = names.get(index)
        if entry_names is None:
            append(Export(base + index, None, func, forwarder))
        else:
            for entry_name in entry_names:
                append(Export(base + index, entry_name, func, forwarder))
    return ExportTable(dll_name, timestamp, base, exports)


def parse_exports_cached(
    image: ImageBytes, rva: int, size: int, warnings: list[str]
) -> ExportTable:
    """:func:`parse_exports` through the on-disk cache (:mod:`dumplib.cache`).

    The key is a digest of every byte the parse reads: the directory, its three
    tables and the directory's range (which holds the names and forwarders).
    Tables whose names lie outside that range, directories not wholly captured,
    and parses that warned are not cached, so a hit always equals a fresh parse.

    Raises:
        PeError: as :func:`parse_exports`.
        MemoryNotInDump: as :func:`parse_exports`.
    """
    from dumplib.cache import default_cache, digest

    cache = default_cache()
    key = None
    if cache is not None:
        key = _exports_key(image, rva, size, digest)
    if key is not None and cache is not None:
        doc = cache.get("exports", key)
        table = _table_from_json(doc)
        if table is not None:
            return table
    found: list[str] = []
    table = parse_exports(image, rva, size, found)
    warnings.extend(found)
    # Names shared by many exports (a hostile table) would be written out once per
    # export: cache only tables whose text is no larger than the directory holding it.
    text = sum(len(e.name or "") + len(e.forwarder or "") for e in table.exports)
    if (key is not None and cache is not None and not found
            and text <= min(size, image.stored(rva))):
        cache.put("exports", key, {
            "dll": table.dll_name, "timestamp": table.timestamp, "base": table.ordinal_base,
            "exports": [[e.ordinal, e.name, e.rva, e.forwarder] for e in table.exports],
        })
    return table


def _exports_key(image: ImageBytes, rva: int, size: int, digest: Any) -> str | None:
    """The cache key of the directory at ``rva``, or None when it must not be cached."""
    try:
        head = bytes(image.read(rva, EXPORT_DIRECTORY.size, _STRUCT))
        (_c, _t, _mj, _mn, name_rva, _b, n_funcs, n_names, funcs_rva, names_rva,
         ords_rva) = EXPORT_DIRECTORY.unpack_from(head)
        if n_funcs > MAX_EXPORTS or n_names > MAX_EXPORTS:
            return None
        want = min(size, image.limit - rva)
        if image.stored(rva) < want:
            return None  # partly zero fill: never read (or hash) more than the file holds
        blob = bytes(image.read(rva, want, _STRUCT))
        parts = [head, blob]
        for at, count, width in ((funcs_rva, n_funcs, 4), (names_rva, n_names, 4),
                                 (ords_rva, n_names, 2)):
            image.check(at, count * width, _STRUCT)
            parts.append(bytes(image.read(at, count * width, _STRUCT)) if count else b"")
    except (MemoryNotInDump, PeError):
        return None
    end = rva + len(blob)
    names_at = struct.unpack_from(f"<{n_names}I", parts[3]) if n_names else ()
    if any(not rva <= at < end for at in names_at) or (name_rva and not rva <= name_rva < end):
        return None  # a name outside the hashed range: its bytes would not be in the key
    return str(digest("exports", size, image.limit, *parts))


def _table_from_json(doc: Any) -> ExportTable | None:
    """The table a cache entry describes, or None if it is not a well-formed one."""
    try:
        exports = [Export(int(o), n if n is None else str(n), int(r), f if f is None else str(f))
                   for o, n, r, f in doc["exports"]]
        dll = doc["dll"]
        return ExportTable(dll if dll is None else str(dll), int(doc["timestamp"]),
                           int(doc["base"]), exports)
    except (TypeError, KeyError, ValueError):
        return None
