"""Typed records for the PE headers: file and optional header, data directories, sections."""

from __future__ import annotations

from dataclasses import dataclass

from dumplib.pe.structs import (
    DirectoryEntry,
    DllCharacteristics,
    FileCharacteristics,
    Machine,
    SectionCharacteristics,
    Subsystem,
)

__all__ = ["DataDirectory", "PeHeaders", "Section"]


@dataclass(frozen=True, slots=True)
class DataDirectory:
    """One IMAGE_DATA_DIRECTORY entry of the optional header.

    Attributes:
        index: position in the table (see :class:`DirectoryEntry`).
        rva: VirtualAddress of the directory (a file offset for SECURITY).
        size: Size in bytes.
    """

    index: int
    rva: int
    size: int

    @property
    def kind(self) -> DirectoryEntry | int:
        """The :class:`DirectoryEntry` this index names (the int when out of range)."""
        try:
            return DirectoryEntry(self.index)
        except ValueError:
            return self.index

    @property
    def present(self) -> bool:
        """True when the directory has a non-zero address and size."""
        return self.rva != 0 and self.size != 0


@dataclass(frozen=True, slots=True)
class Section:
    """One IMAGE_SECTION_HEADER.

    Attributes:
        name: section name with trailing NULs removed (``".text"``).
        virtual_address: RVA where the section is mapped.
        virtual_size: VirtualSize (bytes mapped; 0 means use raw_size).
        raw_pointer: PointerToRawData, file offset of the section's bytes.
        raw_size: SizeOfRawData, bytes stored in the file.
        characteristics: IMAGE_SCN_* flags.
    """

    name: str
    virtual_address: int
    virtual_size: int
    raw_pointer: int
    raw_size: int
    characteristics: int

    @property
    def mapped_size(self) -> int:
        """Bytes the section covers in memory: VirtualSize, or SizeOfRawData when that is 0."""
        return self.virtual_size or self.raw_size

    @property
    def end(self) -> int:
        """RVA just past the section's mapped bytes."""
        return self.virtual_address + self.mapped_size

    @property
    def flags(self) -> SectionCharacteristics:
        """The characteristics as an :class:`SectionCharacteristics` flag set."""
        return SectionCharacteristics(self.characteristics)

    @property
    def is_executable(self) -> bool:
        """True for code sections (MEM_EXECUTE or CNT_CODE)."""
        return bool(self.characteristics & 0x20000020)

    def contains(self, rva: int) -> bool:
        """Whether ``rva`` lies inside the section's mapped range."""
        return self.virtual_address <= rva < self.end


@dataclass(frozen=True, slots=True)
class PeHeaders:
    """IMAGE_FILE_HEADER and IMAGE_OPTIONAL_HEADER fields, lifted as plain ints.

    Attributes:
        nt_headers_offset: e_lfanew, offset of the ``PE\\0\\0`` signature.
        machine: IMAGE_FILE_HEADER.Machine (see :class:`Machine`).
        number_of_sections: NumberOfSections.
        timestamp: TimeDateStamp (seconds since 1970, or a reproducible-build hash).
        characteristics: IMAGE_FILE_* flags.
        magic: 0x10B (PE32) or 0x20B (PE32+).
        linker_version: (major, minor).
        size_of_code: SizeOfCode.
        entry_point: AddressOfEntryPoint (an RVA, 0 for most DLLs without one).
        base_of_code: BaseOfCode.
        image_base: ImageBase, the preferred load address.
        section_alignment: SectionAlignment.
        file_alignment: FileAlignment.
        os_version: (MajorOperatingSystemVersion, Minor...).
        image_version: (MajorImageVersion, Minor...).
        subsystem_version: (MajorSubsystemVersion, Minor...).
        size_of_image: SizeOfImage.
        size_of_headers: SizeOfHeaders.
        checksum: CheckSum.
        subsystem: Subsystem (see :class:`Subsystem`).
        dll_characteristics: IMAGE_DLLCHARACTERISTICS_* flags.
        size_of_stack_reserve: SizeOfStackReserve.
        size_of_stack_commit: SizeOfStackCommit.
        number_of_rva_and_sizes: NumberOfRvaAndSizes as written (may exceed 16).
    """

    nt_headers_offset: int
    machine: int
    number_of_sections: int
    timestamp: int
    characteristics: int
    magic: int
    linker_version: tuple[int, int]
    size_of_code: int
    entry_point: int
    base_of_code: int
    image_base: int
    section_alignment: int
    file_alignment: int
    os_version: tuple[int, int]
    image_version: tuple[int, int]
    subsystem_version: tuple[int, int]
    size_of_image: int
    size_of_headers: int
    checksum: int
    subsystem: int
    dll_characteristics: int
    size_of_stack_reserve: int
    size_of_stack_commit: int
    number_of_rva_and_sizes: int

    @property
    def is_pe32_plus(self) -> bool:
        """True for a PE32+ (64-bit) optional header."""
        return self.magic == 0x20B

    @property
    def machine_kind(self) -> Machine | int:
        """:attr:`machine` as a :class:`Machine` (the int when unknown)."""
        try:
            return Machine(self.machine)
        except ValueError:
            return self.machine

    @property
    def subsystem_kind(self) -> Subsystem | int:
        """:attr:`subsystem` as a :class:`Subsystem` (the int when unknown)."""
        try:
            return Subsystem(self.subsystem)
        except ValueError:
            return self.subsystem

    @property
    def file_flags(self) -> FileCharacteristics:
        """:attr:`characteristics` as a :class:`FileCharacteristics` flag set."""
        return FileCharacteristics(self.characteristics)

    @property
    def dll_flags(self) -> DllCharacteristics:
        """:attr:`dll_characteristics` as a :class:`DllCharacteristics` flag set."""
        return DllCharacteristics(self.dll_characteristics)
