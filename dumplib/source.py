"""Layer 1: where the bytes come from.

A :class:`Source` gives bounded, random-access reads over a dump's bytes. A path
is memory-mapped (nothing is read until it is touched); ``bytes``-like objects
are used in place; any seekable binary file object is read on demand. Nothing
above this layer touches a file handle.
"""

from __future__ import annotations

import io
import mmap
import os
from collections.abc import Callable

from dumplib._exc import TYPE_CHECKING, SourceError, TruncatedError

__all__ = ["Source", "SourceLike"]

#: What :func:`dumplib.open` accepts as a dump.
if TYPE_CHECKING:
    from typing import BinaryIO, Union

    SourceLike = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, BinaryIO]  # noqa: UP007
else:  # the same without importing typing (~2.5 ms of start-up, issue #16)
    SourceLike = str | os.PathLike | bytes | bytearray | memoryview | io.IOBase


def _compressed(head: bytes) -> str | None:
    from dumplib.decompress import sniff

    return sniff(head)


class Source:
    """Random-access, bounded reads over a dump's bytes.

    Use :meth:`Source.open` to build one. When the bytes are addressable in
    place (a memory map or an in-memory buffer), :attr:`buffer` exposes them as
    a ``memoryview`` for zero-copy parsing; otherwise it is ``None`` and reads go
    through the file object.
    """

    __slots__ = ("_closer", "_file", "buffer", "name", "path", "raw", "size")

    def __init__(
        self,
        *,
        name: str,
        size: int,
        buffer: memoryview | None = None,
        file: BinaryIO | None = None,
        path: str | None = None,
        closer: Callable[[], None] | None = None,
        raw: bytes | mmap.mmap | None = None,
    ) -> None:
        self.name = name
        #: The object behind :attr:`buffer` when it supports ``find`` and slicing
        #: to ``bytes`` (an ``mmap`` or ``bytes``); used by fast paths.
        self.raw = raw
        self.size = size
        self.buffer = buffer
        self.path = path
        self._file = file
        self._closer = closer

    @classmethod
    def open(cls, source: SourceLike) -> Source:
        """Open a path, a bytes-like object or a seekable binary file object.

        A path to a compressed dump (gzip, xz, bzip2, zstd, or a zip archive of
        one dump) is decompressed, within bounds, by :mod:`dumplib.decompress`.

        Args:
            source: the dump, as a filesystem path, ``bytes``/``bytearray``/
                ``memoryview``, or a binary file object supporting ``seek``/``read``.

        Returns:
            A :class:`Source` over the bytes.

        Raises:
            SourceError: the path cannot be opened or the object is not usable.
        """
        if isinstance(source, (bytes, bytearray, memoryview)):
            view = memoryview(source).cast("B")
            raw = source if isinstance(source, bytes) else None
            return cls(name="<bytes>", size=len(view), buffer=view, raw=raw)
        if isinstance(source, (str, os.PathLike)):
            path = os.fspath(source)
            try:
                fh = open(path, "rb")
            except OSError as exc:
                raise SourceError(f"cannot open {path}: {exc.strerror or exc}") from exc
            try:
                size = os.fstat(fh.fileno()).st_size
                if size == 0:
                    fh.close()
                    return cls(name=path, size=0, buffer=memoryview(b""), path=path)
                mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError) as exc:
                fh.close()
                raise SourceError(f"cannot map {path}: {exc}") from exc
            fh.close()
            if mm[:4] != b"MDMP":
                kind = _compressed(mm[:8])
                if kind is not None:
                    mm.close()
                    from dumplib.decompress import open_source

                    return open_source(path, kind)
                from dumplib.decompress import refuse_foreign

                try:
                    refuse_foreign(mm[:8], path)
                except BaseException:
                    mm.close()
                    raise
            view = memoryview(mm)

            def close_map() -> None:
                view.release()
                try:
                    mm.close()
                except BufferError:  # a caller still holds a view; the GC will unmap it
                    pass

            return cls(name=path, size=size, buffer=view, path=path, closer=close_map, raw=mm)
        if hasattr(source, "read") and hasattr(source, "seek"):
            fobj = source
            try:
                fobj.seek(0, io.SEEK_END)
                size = fobj.tell()
                fobj.seek(0)
            except (OSError, ValueError) as exc:
                raise SourceError(f"file object is not seekable: {exc}") from exc
            name = str(getattr(fobj, "name", "<file>"))
            return cls(name=name, size=size, file=fobj)
        raise SourceError(f"cannot read a dump from {type(source).__name__}")

    def read(self, offset: int, size: int, *, what: str | None = None) -> bytes:
        """Read exactly ``size`` bytes at ``offset``.

        Raises:
            TruncatedError: the range extends past the end of the source.
            SourceError: the underlying file failed.
        """
        return bytes(self.view(offset, size, what=what))

    def view(self, offset: int, size: int, *, what: str | None = None) -> memoryview:
        """Return ``size`` bytes at ``offset`` without copying when possible.

        Raises:
            TruncatedError: the range extends past the end of the source.
            SourceError: the underlying file failed.
        """
        if offset < 0 or size < 0 or offset + size > self.size:
            raise TruncatedError(
                f"need {size} bytes but the file has {max(0, self.size - offset)} there",
                stream=what,
                offset=offset,
            )
        if self.buffer is not None:
            return self.buffer[offset : offset + size]
        assert self._file is not None
        try:
            self._file.seek(offset)
            data = self._file.read(size)
        except (OSError, ValueError) as exc:
            raise SourceError(f"read failed: {exc}", stream=what, offset=offset) from exc
        if len(data) != size:
            raise TruncatedError(
                f"short read: wanted {size} bytes, got {len(data)}", stream=what, offset=offset
            )
        return memoryview(data)

    def close(self) -> None:
        """Release the mapping or file reference. Further reads are undefined."""
        if self._closer is not None:
            closer, self._closer = self._closer, None
            closer()
        if self.path:
            self.buffer = None
            self.raw = None
        self._file = None
