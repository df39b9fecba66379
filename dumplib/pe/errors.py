"""The error raised for a malformed PE/COFF image."""

from __future__ import annotations

from dumplib._exc import CorruptDumpError

__all__ = ["PeError"]


class PeError(CorruptDumpError):
    """A PE image is corrupt or truncated.

    The message names the structure that failed; :attr:`offset` holds the RVA
    (the offset within the image) where it was read and, for an image mapped
    in a dump, :attr:`address` the virtual address.

    Args:
        message: what is wrong.
        structure: the PE structure being read (e.g. ``"IMAGE_EXPORT_DIRECTORY"``).
        offset: RVA of the structure, if known.
        address: virtual address of the structure, for an image in dump memory.
    """

    def __init__(
        self,
        message: str,
        *,
        structure: str | None = None,
        offset: int | None = None,
        address: int | None = None,
    ) -> None:
        self.structure = structure
        super().__init__(
            message,
            stream=f"PE {structure}" if structure else "PE",
            offset=offset,
            address=address,
        )
