"""Byte access to an image by RVA, in file layout or memory layout.

A PE image is addressed by RVA (offset from its load base). On disk the
bytes of an RVA are found through the section table (each section's file
offset and size); in a dump the image is mapped, so an RVA is simply
``base + rva`` in the process's memory. :class:`FileLayout` and
:class:`MemoryLayout` hide that difference behind :meth:`ImageBytes.read`.

Reads are bounded by the image (``SizeOfImage``) and, on disk, by the file:
a range that leaves them raises :class:`~dumplib.pe.errors.PeError`. In a dump,
bytes that were not captured raise :class:`~dumplib.MemoryNotInDump`, which the
image's accessors turn into warnings.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence

from dumplib.pe.errors import PeError
from dumplib.pe.headers import Section
from dumplib.pe.structs import MAX_STRING_LENGTH
from dumplib.source import Source

__all__ = ["FileLayout", "ImageBytes", "MemoryLayout", "MemoryReader"]

#: ``read(address, size) -> bytes``, e.g. a dump's ``Memory.read``.
MemoryReader = Callable[[int, int], bytes]

_PAGE = 0x1000
_STRING_CHUNK = 256


class ImageBytes:
    """Base of the two layouts: bounded reads by RVA.

    Attributes:
        kind: ``"file"`` or ``"memory"``.
        base: virtual address of the image (memory) or its preferred ImageBase (file).
        limit: RVA just past the last readable byte (SizeOfImage once known).
    """

    kind = "abstract"

    def __init__(self, base: int, limit: int) -> None:
        self.base = base
        self.limit = limit

    def _address(self, rva: int) -> int | None:
        return None

    def error(self, message: str, structure: str, rva: int) -> PeError:
        """Build a :class:`PeError` locating ``rva`` in this image."""
        return PeError(message, structure=structure, offset=rva, address=self._address(rva))

    def check(self, rva: int, size: int, structure: str) -> None:
        """Raise unless ``[rva, rva+size)`` lies inside the image.

        Raises:
            PeError: the range leaves the image.
        """
        if rva < 0 or size < 0 or rva + size > self.limit:
            raise self.error(
                f"{size} bytes at RVA 0x{rva:x} lie outside the image (0x{self.limit:x} bytes)",
                structure,
                rva,
            )

    def read(self, rva: int, size: int, structure: str) -> bytes | memoryview:
        """Read ``size`` bytes at ``rva`` (without copying where the layout allows).

        Raises:
            PeError: the range leaves the image or the file.
            MemoryNotInDump: (memory layout) the bytes were not captured.
        """
        raise NotImplementedError

    def contiguous(self, rva: int) -> int:
        """How many bytes from ``rva`` can be read in one piece that cannot partly fail."""
        raise NotImplementedError

    def stored(self, rva: int) -> int:
        """Bytes from ``rva`` that exist in the input (not zero fill); at most to ``limit``."""
        return max(0, self.limit - rva)

    def cstring(self, rva: int, structure: str, limit: int = MAX_STRING_LENGTH) -> bytes:
        """Read a NUL-terminated byte string at ``rva`` (without the NUL).

        Raises:
            PeError: no NUL within ``limit`` bytes or before the image ends.
            MemoryNotInDump: (memory layout) the bytes were not captured.
        """
        out = b""
        pos = rva
        while True:
            room = min(self.contiguous(pos), limit - len(out), _STRING_CHUNK)
            if room <= 0:
                raise self.error(f"unterminated string at RVA 0x{rva:x}", structure, rva)
            chunk = bytes(self.read(pos, room, structure))
            nul = chunk.find(b"\0")
            if nul >= 0:
                return out + chunk[:nul]
            out += chunk
            pos += room


class FileLayout(ImageBytes):
    """An image as stored on disk: RVAs reach file offsets through the section table.

    Args:
        source: the file's bytes.
        base: the optional header's ImageBase.
    """

    kind = "file"

    def __init__(self, source: Source, base: int = 0) -> None:
        super().__init__(base, source.size)
        self.source = source
        self._headers_end = source.size
        self._sections: list[Section] = []
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._pointers: list[int] = []

    def map_sections(
        self, sections: Sequence[Section], size_of_headers: int, size_of_image: int,
        file_alignment: int, section_alignment: int = 0x1000,
    ) -> None:
        """Install the section table (until then RVAs equal file offsets).

        Sections are sorted by address; each covers its mapped size rounded up
        to SectionAlignment (as the loader maps it), clipped at the next section.
        PointerToRawData is rounded down to 512 as the loader does when
        FileAlignment is at least 512.
        """
        ordered = sorted(
            (s for s in sections if s.mapped_size > 0), key=lambda s: s.virtual_address
        )
        self._sections = ordered
        self._starts = [s.virtual_address for s in ordered]
        align = section_alignment if 0 < section_alignment <= 0x10000 else 1
        ends: list[int] = []
        for i, sec in enumerate(ordered):
            end = sec.virtual_address + -(-sec.mapped_size // align) * align
            if i + 1 < len(ordered):
                end = min(end, ordered[i + 1].virtual_address)
            ends.append(end)
        self._ends = ends
        round_down = file_alignment >= 0x200
        self._pointers = [s.raw_pointer & ~0x1FF if round_down else s.raw_pointer for s in ordered]
        first = ordered[0].virtual_address if ordered else size_of_headers
        self._headers_end = min(size_of_headers or first, first) if ordered else size_of_headers
        self.limit = max(size_of_image, self._headers_end)

    def _locate(self, rva: int) -> int:
        i = bisect_right(self._starts, rva) - 1
        if i >= 0 and rva < self._ends[i]:
            return i
        return -1

    def contiguous(self, rva: int) -> int:
        """Bytes readable from ``rva`` before its section (or the headers) end."""
        if 0 <= rva < self._headers_end:
            return min(self._headers_end, self.source.size) - rva
        i = self._locate(rva)
        return self._ends[i] - rva if i >= 0 else 0

    def stored(self, rva: int) -> int:
        """Bytes from ``rva`` to the end of its section's raw data in the file.

        Beyond that a section reads as zero fill, which a hostile image can make
        gigabytes long: callers size their reads with this, not the directory's size.
        """
        if 0 <= rva < self._headers_end:
            return max(0, min(self._headers_end, self.source.size) - rva)
        i = self._locate(rva)
        if i < 0:
            return 0
        sec = self._sections[i]
        stored = min(sec.raw_size, max(0, self.source.size - self._pointers[i]))
        return max(0, stored - (rva - sec.virtual_address))

    def file_view(self, offset: int, size: int, structure: str) -> memoryview:
        """Bytes at a file offset (for structures located by file pointer).

        Raises:
            PeError: the range extends past the end of the file.
        """
        if offset < 0 or size < 0 or offset + size > self.source.size:
            raise PeError(
                f"{size} bytes at file offset 0x{offset:x} extend past the end of the file "
                f"(0x{self.source.size:x} bytes)",
                structure=structure,
                offset=offset,
            )
        return self.source.view(offset, size, what=structure)

    def read(self, rva: int, size: int, structure: str) -> bytes | memoryview:
        """Read by RVA through the section table; bytes past SizeOfRawData read as zeros.

        Raises:
            PeError: the range is in no section, crosses a section's end or the file's end.
        """
        if rva < 0 or size < 0:
            raise self.error(f"bad range of {size} bytes at RVA 0x{rva:x}", structure, rva)
        if size == 0:
            return b""
        if rva + size <= self._headers_end:
            return self.file_view(rva, size, structure)
        i = self._locate(rva)
        if i < 0:
            raise self.error(f"RVA 0x{rva:x} is in no section", structure, rva)
        if rva + size > self._ends[i]:
            raise self.error(
                f"{size} bytes at RVA 0x{rva:x} cross the end of section "
                f"{self._sections[i].name!r}",
                structure,
                rva,
            )
        sec = self._sections[i]
        delta = rva - sec.virtual_address
        pointer = self._pointers[i]
        stored = min(sec.raw_size, max(0, self.source.size - pointer))
        have = max(0, stored - delta)
        if size <= have:
            return self.source.view(pointer + delta, size, what=structure)
        if min(size, max(0, sec.raw_size - delta)) > have:
            raise self.error(
                f"section {sec.name!r} is cut short by the end of the file", structure, rva
            )
        head = bytes(self.source.view(pointer + delta, have, what=structure)) if have else b""
        return head + bytes(size - len(head))


class MemoryLayout(ImageBytes):
    """An image mapped in a process (a dump's memory): RVA = address - base.

    Args:
        reader: ``read(address, size) -> bytes``; raises MemoryNotInDump for absent bytes.
        base: the image's load address.
        limit: its size in memory (SizeOfImage, or the module record's size).
    """

    kind = "memory"

    def __init__(self, reader: MemoryReader, base: int, limit: int) -> None:
        super().__init__(base, limit)
        self._reader = reader

    def _address(self, rva: int) -> int | None:
        return self.base + rva

    def contiguous(self, rva: int) -> int:
        """Bytes from ``rva`` to the end of its page (or of the image)."""
        return max(0, min(_PAGE - (self.base + rva) % _PAGE, self.limit - rva))

    def read(self, rva: int, size: int, structure: str) -> bytes:
        """Read ``base + rva`` from the dump's memory.

        Raises:
            PeError: the range leaves the image.
            MemoryNotInDump: the bytes were not captured.
        """
        self.check(rva, size, structure)
        if size == 0:
            return b""
        data = self._reader(self.base + rva, size)
        if len(data) != size:
            raise self.error(
                f"memory reader returned {len(data)} of {size} bytes", structure, rva
            )
        return data
