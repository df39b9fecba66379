"""The exception root of dumplib and its subclasses.

Every error dumplib raises because of what is (or is not) in its input derives
from :class:`DumpError`. Each carries structured context -- the stream it was
reading, the file offset and the virtual address involved -- and repeats that
context in its message so a one-line report is enough to locate the fault.
"""

from __future__ import annotations

#: ``typing.TYPE_CHECKING`` without importing typing (about 2.5 ms of every command's
#: start-up, issue #16); modules on the start-up path import it from here. mypy
#: treats any name ``TYPE_CHECKING`` as true.
TYPE_CHECKING = False

__all__ = [
    "CorruptDumpError",
    "DumpError",
    "MemoryNotInDump",
    "NotADumpError",
    "SourceError",
    "TruncatedError",
]


class DumpError(Exception):
    """Base of every error dumplib raises on bad or incomplete input.

    Attributes:
        stream: name of the stream being parsed (e.g. ``"ThreadListStream"``), if any.
        offset: file offset (or offset within the parsed object) where it failed.
        address: virtual address involved, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        stream: str | None = None,
        offset: int | None = None,
        address: int | None = None,
    ) -> None:
        self.message = message
        self.stream = stream
        self.offset = offset
        self.address = address
        super().__init__(self._render())

    def _render(self) -> str:
        where: list[str] = []
        if self.stream is not None:
            # the file header is not a stream: "(file header, offset 0x0)"
            where.append(self.stream if self.stream == "file header" else f"stream {self.stream}")
        if self.offset is not None:
            where.append(f"offset 0x{self.offset:x}")
        if self.address is not None:
            where.append(f"address 0x{self.address:x}")
        return f"{self.message} ({', '.join(where)})" if where else self.message


class SourceError(DumpError):
    """The byte source could not be opened or read (I/O error, short read at EOF)."""


class NotADumpError(DumpError):
    """The input does not start with a minidump header (bad signature or version)."""


class TruncatedError(DumpError):
    """A structure extends past the end of the data that exists."""


class CorruptDumpError(DumpError):
    """A structure is present but its contents are impossible (bad counts, sizes, ranges)."""


class MemoryNotInDump(DumpError):
    """The requested virtual address range was not captured in the dump."""
