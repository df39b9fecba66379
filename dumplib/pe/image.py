"""PeImage: one PE32/PE32+ image, from a file or mapped in a dump's memory.

Headers and the section table are read when the image is built; everything
else (exports, exception data, debug directory, version resource) is parsed
on first access and cached. In a dump, where only parts of an image may have
been captured, each accessor degrades to None or an empty result and records
a line in :attr:`PeImage.warnings`; a corrupt structure raises
:class:`~dumplib.pe.errors.PeError`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from dumplib._exc import MemoryNotInDump
from dumplib.pe.debug import CodeView, DebugEntry, parse_codeview, pdb_key
from dumplib.pe.errors import PeError
from dumplib.pe.exports import ExportTable, parse_exports_cached
from dumplib.pe.headers import DataDirectory, PeHeaders, Section
from dumplib.pe.layout import FileLayout, ImageBytes, MemoryLayout, MemoryReader
from dumplib.pe.resources import RT_VERSION, VersionInfo, find_resource, parse_version_info
from dumplib.pe.structs import (
    DEBUG_DIRECTORY,
    DOS_HEADER_LFANEW,
    FILE_HEADER,
    MAX_CHAIN_DEPTH,
    MAX_DEBUG_ENTRIES,
    MAX_SECTIONS,
    MAX_VERSION_RESOURCE,
    OPTIONAL_HEADER32,
    OPTIONAL_HEADER64,
    SECTION_HEADER,
    U16,
    U32,
    DirectoryEntry,
    Machine,
)
from dumplib.pe.unwind import (
    FunctionTable,
    RuntimeFunction,
    UnwindInfo,
    parse_runtime_functions,
    parse_unwind_info,
)
from dumplib.source import Source, SourceLike

__all__ = ["PeImage", "image_key"]

_T = TypeVar("_T")
_MAX_LFANEW = 0x10000000
_MAX_CODEVIEW = 0x1000
_NUM_DIRECTORIES = 16
#: Bytes from an image's base the headers may occupy before SizeOfImage is known.
_HEADER_WINDOW = 0x10000


def image_key(timestamp: int, size_of_image: int) -> str:
    """Symbol-store key of an image: ``"%08X%x" % (TimeDateStamp, SizeOfImage)``.

    Args:
        timestamp: the file header's TimeDateStamp.
        size_of_image: the optional header's SizeOfImage.

    Returns:
        e.g. ``"5C9E09599000"``.
    """
    return f"{timestamp:08X}{size_of_image:x}"


def _parse_headers(image: ImageBytes) -> tuple[PeHeaders, tuple[DataDirectory, ...], list[Section]]:
    dos = image.read(0, 0x40, "IMAGE_DOS_HEADER")
    if bytes(dos[:2]) != b"MZ":
        raise image.error("no MZ signature", "IMAGE_DOS_HEADER", 0)
    lfanew = U32.unpack_from(dos, DOS_HEADER_LFANEW)[0]
    if lfanew > _MAX_LFANEW or lfanew < 4:
        raise image.error(f"e_lfanew 0x{lfanew:x} is impossible", "IMAGE_DOS_HEADER", 0)
    nt = image.read(lfanew, 4 + FILE_HEADER.size, "IMAGE_NT_HEADERS")
    if bytes(nt[:4]) != b"PE\0\0":
        raise image.error("no PE signature", "IMAGE_NT_HEADERS", lfanew)
    machine, nsections, timestamp, _sym, _nsym, opt_size, characteristics = (
        FILE_HEADER.unpack_from(nt, 4)
    )
    if nsections > MAX_SECTIONS:
        raise image.error(
            f"{nsections} sections (cap {MAX_SECTIONS})", "IMAGE_FILE_HEADER", lfanew + 4
        )
    opt_at = lfanew + 4 + FILE_HEADER.size
    if opt_size < 2:
        raise image.error(
            f"SizeOfOptionalHeader {opt_size} leaves no optional header",
            "IMAGE_OPTIONAL_HEADER", opt_at,
        )
    magic = U16.unpack_from(image.read(opt_at, 2, "IMAGE_OPTIONAL_HEADER"))[0]
    if magic == 0x10B:
        layout = OPTIONAL_HEADER32
    elif magic == 0x20B:
        layout = OPTIONAL_HEADER64
    else:
        raise image.error(
            f"optional header magic 0x{magic:x} is neither PE32 nor PE32+",
            "IMAGE_OPTIONAL_HEADER", opt_at,
        )
    if opt_size < layout.size:
        raise image.error(
            f"SizeOfOptionalHeader {opt_size} is smaller than the {layout.size}-byte header",
            "IMAGE_OPTIONAL_HEADER", opt_at,
        )
    opt = image.read(opt_at, opt_size, "IMAGE_OPTIONAL_HEADER")
    f = layout.unpack_from(opt)
    if magic == 0x10B:
        (_m, lmaj, lmin, size_code, _sid, _sud, entry, base_code, _base_data, image_base,
         sect_align, file_align, osmaj, osmin, imgmaj, imgmin, submaj, submin, _w32,
         size_image, size_headers, checksum, subsystem, dllchars, stack_res, stack_com,
         _hr, _hc, _lf, nrva) = f
    else:
        (_m, lmaj, lmin, size_code, _sid, _sud, entry, base_code, image_base,
         sect_align, file_align, osmaj, osmin, imgmaj, imgmin, submaj, submin, _w32,
         size_image, size_headers, checksum, subsystem, dllchars, stack_res, stack_com,
         _hr, _hc, _lf, nrva) = f
    headers = PeHeaders(
        nt_headers_offset=lfanew,
        machine=machine,
        number_of_sections=nsections,
        timestamp=timestamp,
        characteristics=characteristics,
        magic=magic,
        linker_version=(lmaj, lmin),
        size_of_code=size_code,
        entry_point=entry,
        base_of_code=base_code,
        image_base=image_base,
        section_alignment=sect_align,
        file_alignment=file_align,
        os_version=(osmaj, osmin),
        image_version=(imgmaj, imgmin),
        subsystem_version=(submaj, submin),
        size_of_image=size_image,
        size_of_headers=size_headers,
        checksum=checksum,
        subsystem=subsystem,
        dll_characteristics=dllchars,
        size_of_stack_reserve=stack_res,
        size_of_stack_commit=stack_com,
        number_of_rva_and_sizes=nrva,
    )
    ndirs = min(nrva, _NUM_DIRECTORIES, (opt_size - layout.size) // 8)
    directories = tuple(
        DataDirectory(i, *_pair(opt, layout.size + 8 * i)) for i in range(ndirs)
    )
    sect_at = opt_at + opt_size
    raw = image.read(sect_at, nsections * SECTION_HEADER.size, "IMAGE_SECTION_HEADER")
    sections = []
    for name, vsize, va, rsize, rptr, _rel, _ln, _nrel, _nln, chars in (
        SECTION_HEADER.iter_unpack(raw)
    ):
        sections.append(
            Section(
                name.rstrip(b"\0").decode("utf-8", errors="replace"),
                va, vsize, rptr, rsize, chars,
            )
        )
    return headers, directories, sections


def _pair(data: bytes | memoryview, at: int) -> tuple[int, int]:
    return U32.unpack_from(data, at)[0], U32.unpack_from(data, at + 4)[0]


class PeImage:
    """A PE32 or PE32+ image (``.exe``, ``.dll``) read lazily and within bounds.

    Build one with :meth:`from_file` (a file on disk or its bytes) or
    :meth:`from_memory` (an image mapped in a dump).

    Attributes:
        name: a label for messages (the path, or what the caller passed).
        headers: the file and optional header fields.
        sections: the section table, in stored order.
        data_directories: the optional header's data directories (at most 16).
        warnings: non-fatal problems met so far (absent memory, skipped entries).
    """

    def __init__(
        self, layout: ImageBytes, name: str, source: Source | None = None
    ) -> None:
        """Parse the headers through ``layout`` (use the class methods instead).

        Raises:
            PeError: the headers are corrupt or truncated.
            MemoryNotInDump: (memory layout) the headers were not captured.
        """
        self._layout = layout
        self._source = source
        self.name = name
        self.warnings: list[str] = []
        self.headers, self.data_directories, sections = _parse_headers(layout)
        self.sections: tuple[Section, ...] = tuple(sections)
        if isinstance(layout, FileLayout):
            layout.base = self.headers.image_base
            layout.map_sections(
                sections, self.headers.size_of_headers, self.headers.size_of_image,
                self.headers.file_alignment, self.headers.section_alignment,
            )
        else:
            layout.limit = self.headers.size_of_image
        self._cache: dict[str, object] = {}
        self._unwind: dict[int, UnwindInfo | None] = {}

    @classmethod
    def from_file(cls, source: SourceLike | Source, *, name: str | None = None) -> PeImage:
        """Read an image stored on disk (file layout).

        Args:
            source: a path, bytes-like object, binary file object or :class:`Source`.
            name: label for messages (defaults to the source's name).

        Raises:
            PeError: the file is not a PE image or its headers are corrupt.
            SourceError: the file cannot be opened.
        """
        src = source if isinstance(source, Source) else Source.open(source)
        owned = None if isinstance(source, Source) else src
        try:
            return cls(FileLayout(src), name or src.name, owned)
        except PeError:
            if owned is not None:
                owned.close()
            raise

    @classmethod
    def from_memory(
        cls, reader: MemoryReader, base: int, size: int | None = None, *, name: str | None = None
    ) -> PeImage:
        """Read an image mapped in a process (memory layout), e.g. from a dump.

        Args:
            reader: ``read(address, size) -> bytes`` such as ``dump.memory.read``;
                it raises MemoryNotInDump for bytes the dump does not hold.
            base: the image's load address.
            size: its size in memory (the module record's size); SizeOfImage rules.
            name: label for messages.

        Raises:
            MemoryNotInDump: the headers were not captured.
            PeError: the headers are corrupt.
        """
        layout = MemoryLayout(reader, base, max(size or 0, _HEADER_WINDOW))
        image = cls(layout, name or f"image@0x{base:x}")
        if size is not None and size != image.size_of_image:
            image.warnings.append(
                f"module size 0x{size:x} differs from SizeOfImage 0x{image.size_of_image:x}"
            )
        return image

    def close(self) -> None:
        """Release the file this image opened (images over caller-owned data need none)."""
        if self._source is not None:
            self._source.close()
            self._source = None

    def __enter__(self) -> PeImage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<PeImage {self.name} {self.layout} machine=0x{self.machine:x}>"

    # -- headers ---------------------------------------------------------------------------

    @property
    def layout(self) -> str:
        """``"file"`` or ``"memory"``."""
        return self._layout.kind

    @property
    def base(self) -> int:
        """Load address in memory layout; the preferred ImageBase in file layout."""
        return self._layout.base

    @property
    def machine(self) -> int:
        """IMAGE_FILE_HEADER.Machine (compare with :class:`Machine`)."""
        return self.headers.machine

    @property
    def is_64bit(self) -> bool:
        """True for a PE32+ image."""
        return self.headers.is_pe32_plus

    @property
    def is_amd64(self) -> bool:
        """True when the machine is AMD64 (and .pdata holds x64 RUNTIME_FUNCTIONs)."""
        return self.headers.machine == Machine.AMD64

    @property
    def timestamp(self) -> int:
        """TimeDateStamp of the file header."""
        return self.headers.timestamp

    @property
    def size_of_image(self) -> int:
        """SizeOfImage."""
        return self.headers.size_of_image

    @property
    def checksum(self) -> int:
        """CheckSum of the optional header."""
        return self.headers.checksum

    @property
    def image_base(self) -> int:
        """ImageBase, the preferred load address."""
        return self.headers.image_base

    @property
    def entry_point(self) -> int:
        """AddressOfEntryPoint (an RVA)."""
        return self.headers.entry_point

    @property
    def subsystem(self) -> int:
        """Subsystem (compare with :class:`Subsystem`)."""
        return self.headers.subsystem

    @property
    def characteristics(self) -> int:
        """IMAGE_FILE_* characteristics."""
        return self.headers.characteristics

    @property
    def image_key(self) -> str:
        """Symbol-store key ``TIMESTAMP%08X`` + ``SIZEOFIMAGE%x``."""
        return image_key(self.timestamp, self.size_of_image)

    def directory(self, index: int | DirectoryEntry) -> DataDirectory | None:
        """The data directory at ``index`` when present (non-zero address and size)."""
        if 0 <= index < len(self.data_directories):
            entry = self.data_directories[index]
            if entry.present:
                return entry
        return None

    def section_for(self, rva: int) -> Section | None:
        """The section whose mapped range holds ``rva``, or None."""
        for section in self.sections:
            if section.contains(rva):
                return section
        return None

    def read(self, rva: int, size: int) -> bytes:
        """Read ``size`` bytes of the image at ``rva``.

        Raises:
            PeError: the range leaves the image or the file.
            MemoryNotInDump: (memory layout) the bytes were not captured.
        """
        return bytes(self._layout.read(rva, size, "image bytes"))

    # -- lazily parsed directories --------------------------------------------------------

    def _lazy(self, key: str, what: str, parse: Callable[[], _T], default: _T) -> _T:
        """Parse once: the value, the default for absent memory, or the PeError, cached."""
        if key in self._cache:
            cached = self._cache[key]
            if isinstance(cached, PeError):
                raise cached
            return cached  # type: ignore[return-value]
        try:
            value = parse()
        except MemoryNotInDump as exc:
            self.warnings.append(f"{what} not in dump: {exc}")
            value = default
        except PeError as exc:
            self._cache[key] = exc
            raise
        self._cache[key] = value
        return value

    @property
    def exports(self) -> ExportTable | None:
        """The export directory, or None when the image has none (or it was not captured).

        Raises:
            PeError: the export directory is corrupt.
        """
        entry = self.directory(DirectoryEntry.EXPORT)
        if entry is None:
            return None
        return self._lazy(
            "exports", "export directory",
            lambda: parse_exports_cached(self._layout, entry.rva, entry.size, self.warnings),
            None,
        )

    @property
    def runtime_functions(self) -> FunctionTable:
        """The AMD64 exception directory, sorted by address (empty for other machines).

        Raises:
            PeError: the directory's size is impossible.
        """
        entry = self.directory(DirectoryEntry.EXCEPTION)
        if entry is None or not self.is_amd64:
            return FunctionTable(())
        return self._lazy(
            "pdata", "exception directory",
            lambda: parse_runtime_functions(self._layout, entry.rva, entry.size, self.warnings),
            FunctionTable(()),
        )

    def function_for(self, rva: int) -> RuntimeFunction | None:
        """The RUNTIME_FUNCTION covering ``rva`` (bisection), or None (a leaf function)."""
        return self.runtime_functions.function_for(rva)

    def unwind_info(self, function: RuntimeFunction | int) -> UnwindInfo | None:
        """The decoded UNWIND_INFO of a RUNTIME_FUNCTION (or at an UnwindData RVA).

        An odd UnwindData (RUNTIME_FUNCTION_INDIRECT) is followed to the entry it
        names. Results are cached per image.

        Returns:
            The :class:`UnwindInfo`, or None when it was not captured in the dump.

        Raises:
            PeError: the unwind info is corrupt.
        """
        rva = function.unwind_rva if isinstance(function, RuntimeFunction) else function
        if rva in self._unwind:
            return self._unwind[rva]
        target = rva
        info: UnwindInfo | None = None
        try:
            for _ in range(MAX_CHAIN_DEPTH):
                if not target & 1:
                    break
                raw = self._layout.read(target - 1, 12, "RUNTIME_FUNCTION")
                target = U32.unpack_from(raw, 8)[0]
            else:
                raise self._layout.error(
                    "indirect RUNTIME_FUNCTION chain too long", "RUNTIME_FUNCTION", rva
                )
            info = parse_unwind_info(self._layout, target)
        except MemoryNotInDump as exc:
            self.warnings.append(f"UNWIND_INFO at RVA 0x{rva:x} not in dump: {exc}")
        self._unwind[rva] = info
        return info

    def unwind_chain(self, function: RuntimeFunction) -> tuple[UnwindInfo, ...] | None:
        """The function's UNWIND_INFO followed by every chained one (CHAININFO).

        Returns:
            The infos, primary first; None when any of them was not captured.

        Raises:
            PeError: a chain longer than MAX_CHAIN_DEPTH, a cycle, or a corrupt info.
        """
        chain: list[UnwindInfo] = []
        seen: set[int] = set()
        current: RuntimeFunction | None = function
        while current is not None:
            if current.unwind_rva in seen:
                raise self._layout.error(
                    "chained unwind info loops back on itself", "UNWIND_INFO", current.unwind_rva
                )
            if len(chain) >= MAX_CHAIN_DEPTH:
                raise self._layout.error(
                    f"chained unwind info deeper than {MAX_CHAIN_DEPTH}",
                    "UNWIND_INFO", current.unwind_rva,
                )
            seen.add(current.unwind_rva)
            info = self.unwind_info(current)
            if info is None:
                return None
            chain.append(info)
            current = info.chained
        return tuple(chain)

    @property
    def debug_entries(self) -> tuple[DebugEntry, ...]:
        """The debug directory's entries (empty when absent or not captured).

        Raises:
            PeError: the directory claims too many entries or leaves the image.
        """
        entry = self.directory(DirectoryEntry.DEBUG)
        if entry is None:
            return ()

        def parse() -> tuple[DebugEntry, ...]:
            assert entry is not None
            count = entry.size // DEBUG_DIRECTORY.size
            if count > MAX_DEBUG_ENTRIES:
                raise self._layout.error(
                    f"debug directory claims {count} entries", "IMAGE_DEBUG_DIRECTORY", entry.rva
                )
            raw = self._layout.read(
                entry.rva, count * DEBUG_DIRECTORY.size, "IMAGE_DEBUG_DIRECTORY"
            )
            return tuple(
                DebugEntry(dtype, stamp, size, rva, ptr)
                for _c, stamp, _ma, _mi, dtype, size, rva, ptr in DEBUG_DIRECTORY.iter_unpack(raw)
            )

        return self._lazy("debug", "debug directory", parse, ())

    def _codeview(self) -> CodeView | None:
        for entry in self.debug_entries:
            if entry.type != 2 or entry.size < 4:
                continue
            size = min(entry.size, _MAX_CODEVIEW)
            if isinstance(self._layout, FileLayout) and entry.file_offset:
                data = bytes(self._layout.file_view(entry.file_offset, size, "CodeView"))
            elif entry.rva:
                data = bytes(self._layout.read(entry.rva, size, "CodeView"))
            else:
                self.warnings.append("CodeView record is not mapped into memory")
                continue
            found = parse_codeview(data)
            if found is not None:
                return found
        return None

    @property
    def codeview(self) -> CodeView | None:
        """``(pdb_name, guid_or_signature_hex, age)`` from the CodeView debug record, or None.

        Raises:
            PeError: the debug directory or record lies outside the image or file.
        """
        return self._lazy("codeview", "CodeView record", self._codeview, None)

    @property
    def pdb_key(self) -> str | None:
        """Symbol-store key of the matching PDB (GUID + age in hex), or None."""
        cv = self.codeview
        return pdb_key(cv.identifier, cv.age) if cv else None

    def find_resource(self, type_id: int) -> tuple[int, int, int] | None:
        """Locate the first resource of ``type_id`` (any name, any language).

        Returns:
            (data RVA, size, code page), or None when there is no such resource.

        Raises:
            PeError: the resource directory is corrupt.
            MemoryNotInDump: (memory layout) the directory was not captured.
        """
        entry = self.directory(DirectoryEntry.RESOURCE)
        if entry is None:
            return None
        self._layout.check(entry.rva, entry.size, "IMAGE_RESOURCE_DIRECTORY")
        return find_resource(self._layout, entry.rva, entry.size, type_id)

    def _version(self) -> VersionInfo | None:
        found = self.find_resource(RT_VERSION)
        if found is None:
            return None
        rva, size, _codepage = found
        if size > MAX_VERSION_RESOURCE:
            raise self._layout.error(
                f"version resource of {size} bytes is too large", "VS_VERSIONINFO", rva
            )
        data = bytes(self._layout.read(rva, size, "VS_VERSIONINFO"))
        try:
            return parse_version_info(data)
        except PeError as exc:
            raise self._layout.error(exc.message, "VS_VERSIONINFO", rva) from exc

    @property
    def version_info(self) -> VersionInfo | None:
        """The parsed RT_VERSION resource, or None when there is none (or not captured).

        Raises:
            PeError: the resource directory or the version block is corrupt.
        """
        return self._lazy("version", "version resource", self._version, None)

    @property
    def file_version(self) -> tuple[int, int, int, int] | None:
        """VS_FIXEDFILEINFO's file version, or None."""
        info = self.version_info
        return info.file_version if info else None
