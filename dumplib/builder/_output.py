"""The builder's output: a list of placed pieces, written as bytes or as file holes.

A built dump is an ordered list of pieces at increasing file offsets. A piece
is either ``bytes`` or a :class:`Sparse` range (zeros with a few patches).
:meth:`Assembly.write` seeks over the zeros, so a multi-GB sparse dump costs
only the bytes that are not zero, both in time and on disk (on file systems
with holes); :meth:`Assembly.to_bytes` materialises everything in memory and
is meant for small dumps.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import BinaryIO

__all__ = ["Assembly", "Data", "Sparse"]


@dataclass(frozen=True, slots=True)
class Sparse:
    """A zero-filled run of ``size`` bytes with a few byte patches.

    Written to files as a hole, so a 2 GB ``Sparse`` costs nothing to write.

    Attributes:
        size: total length in bytes.
        patches: offset within the run -> bytes written there. Patches must lie
            inside the run; overlapping patches are applied in offset order.
    """

    size: int
    patches: Mapping[int, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.size < 0:
            raise ValueError(f"Sparse size must be >= 0, not {self.size}")
        for offset, data in self.patches.items():
            if offset < 0 or offset + len(data) > self.size:
                raise ValueError(
                    f"Sparse patch at {offset:#x} (+{len(data)}) outside a run of {self.size:#x}"
                )

    def __len__(self) -> int:
        return self.size

    def materialize(self) -> bytes:
        """Return the run as real bytes (allocates ``size`` bytes)."""
        buf = bytearray(self.size)
        for offset in sorted(self.patches):
            data = self.patches[offset]
            buf[offset:offset + len(data)] = data
        return bytes(buf)


#: Memory or stream contents: real bytes, or a sparse zero run.
Data = bytes | Sparse


class Assembly:
    """Pieces placed at increasing file offsets, with an allocation cursor.

    Attributes:
        size: the current end of the file (the next free offset).
    """

    __slots__ = ("_pieces", "size")

    def __init__(self, start: int = 0) -> None:
        self._pieces: list[tuple[int, Data]] = []
        self.size = start

    def align(self, alignment: int) -> None:
        """Move the cursor up to a multiple of ``alignment`` (the gap reads as zeros)."""
        self.size = (self.size + alignment - 1) // alignment * alignment

    def put(self, data: Data, align: int = 1) -> int:
        """Place ``data`` at the next offset that is a multiple of ``align``.

        Args:
            data: the bytes or sparse run to place.
            align: required alignment of its offset.

        Returns:
            The file offset (RVA) where it starts.
        """
        self.align(align)
        rva = self.size
        if len(data):
            self._pieces.append((rva, data))
        self.size = rva + len(data)
        return rva

    def place_at(self, rva: int, data: bytes) -> None:
        """Record ``data`` at an already reserved offset (for the header and directory)."""
        self._pieces.append((rva, data))

    def to_bytes(self) -> bytes:
        """Return the whole file in memory (allocates :attr:`size` bytes)."""
        buf = bytearray(self.size)
        for rva, data in self._pieces:
            if isinstance(data, Sparse):
                for offset in sorted(data.patches):
                    patch = data.patches[offset]
                    buf[rva + offset:rva + offset + len(patch)] = patch
            else:
                buf[rva:rva + len(data)] = data
        return bytes(buf)

    def write(self, target: str | os.PathLike[str] | BinaryIO) -> int:
        """Write the file, seeking over zero runs so they become holes.

        Args:
            target: a path, or a writable and seekable binary file object
                positioned anywhere (offsets are absolute from its start).

        Returns:
            The number of bytes in the file.
        """
        if isinstance(target, (str, os.PathLike)):
            with open(target, "wb") as f:
                self._write_to(f)
        else:
            self._write_to(target)
        return self.size

    def _write_to(self, f: BinaryIO) -> None:
        for rva, data in sorted(self._pieces, key=lambda p: p[0]):
            if isinstance(data, Sparse):
                for offset in sorted(data.patches):
                    f.seek(rva + offset)
                    f.write(data.patches[offset])
            else:
                f.seek(rva)
                f.write(data)
        f.truncate(self.size)
        f.flush()
