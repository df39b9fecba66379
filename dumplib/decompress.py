"""Layer 1: compressed dumps (``.gz``, ``.xz``, ``.bz2``, ``.zst``, ``.zip``).

One module decompresses for :func:`dumplib.open`, every command and triage.
What comes out is bounded by what went in:

- the first bytes out must be a minidump's (``MDMP``), checked before
  anything is kept, so a bomb of zeros or a compressed text file stops at
  once with :class:`~dumplib.NotADumpError`;
- the output may not exceed :data:`MAX_RATIO` times the compressed input
  (at least :data:`MIN_ALLOWANCE`), nor :data:`MAX_DECOMPRESSED`, nor the free
  space of the spill directory less :data:`DISK_RESERVE`
  (:class:`ExpansionLimitError`);
- small dumps stay in memory (:data:`IN_MEMORY_LIMIT`); larger ones are
  written to a spill file that is unlinked as soon as it is created (on
  POSIX), then memory-mapped, so memory stays bounded and nothing is left
  behind even when the process is killed;
- a zip archive's central directory is read once per process and file
  version (:func:`zip_file`), so an archive of N members costs O(N), not
  O(N^2);
- encrypted members, unknown compression methods and a missing optional
  ``zstandard`` package raise :class:`UnsupportedArchiveError` with a message
  saying what to do.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import hashlib
import lzma
import mmap
import os
import shutil
import tempfile
import threading
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from dumplib._exc import NotADumpError, SourceError

if TYPE_CHECKING:
    from dumplib.source import Source

__all__ = [
    "DISK_RESERVE",
    "IN_MEMORY_LIMIT",
    "KINDS",
    "MAX_DECOMPRESSED",
    "MAX_RATIO",
    "MIN_ALLOWANCE",
    "ArchiveError",
    "Expanded",
    "ExpansionLimitError",
    "UnsupportedArchiveError",
    "expand",
    "open_source",
    "refuse_foreign",
    "sniff",
    "sniff_file",
    "zip_dump_members",
    "zip_file",
]

#: The compressions recognised, by their first bytes.
KINDS = ("gzip", "xz", "bz2", "zstd", "zip")
_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"BZh", "bz2"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),
)
#: Containers recognised but not read, with what to do instead.
_FOREIGN = (
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"MSCF", "a CAB archive"),
    (b"\x04\x22\x4d\x18", "an LZ4 frame"),
)
#: Dumps expanding to at most this many bytes are kept in memory.
IN_MEMORY_LIMIT = 16 << 20
#: Most bytes a compressed dump may expand to, whatever its size.
MAX_DECOMPRESSED = 64 << 30
#: Most output bytes per compressed input byte (full dumps compress 3-20x; zero
#: pages up to ~1000x with gzip, so a dump of nothing but zeros is refused).
MAX_RATIO = 256
#: Output always allowed, whatever the ratio (a tiny archive of a small dump).
MIN_ALLOWANCE = 64 << 20
#: Free space left untouched on the spill file's file system.
DISK_RESERVE = 1 << 30
_CHUNK = 1 << 20
_SIGNATURE = b"MDMP"
_DUMP_SUFFIXES = (".dmp", ".mdmp")
#: zip methods we can read: stored, deflate, bzip2, lzma.
_ZIP_METHODS = {0: "stored", 8: "deflate", 12: "bzip2", 14: "lzma"}


class ArchiveError(SourceError):
    """A compressed dump or archive cannot be read (corrupt data, no dump inside)."""


class UnsupportedArchiveError(ArchiveError):
    """The archive uses something dumplib does not read: encryption, an unknown
    compression method, or zstd without the optional ``zstandard`` package."""


class ExpansionLimitError(ArchiveError):
    """A compressed dump expands beyond the allowance (ratio, absolute cap or free disk)."""


def sniff(head: bytes) -> str | None:
    """The compression of data from its first bytes (one of :data:`KINDS`), or None."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return None


def refuse_foreign(head: bytes, name: str) -> None:
    """Raise a clear error when ``head`` starts a container dumplib does not read.

    Raises:
        UnsupportedArchiveError: a 7-Zip, RAR, CAB or LZ4 container.
    """
    for magic, what in _FOREIGN:
        if head.startswith(magic):
            raise UnsupportedArchiveError(
                f"{name} is {what}, which dumplib does not read; extract the dump from it "
                "(dumplib reads .dmp files compressed with gzip, xz, bzip2, zstd or zip)",
                stream="header", offset=0,
            )


def sniff_file(path: str | os.PathLike[str]) -> str | None:
    """The compression of a file from its first bytes, or None.

    Raises:
        SourceError: the file cannot be read.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as exc:
        raise SourceError(f"cannot read {os.fspath(path)}: {exc.strerror or exc}") from exc
    return sniff(head)


# -- zip: one central directory per process and file version --------------------------

_ZIPS: OrderedDict[tuple[str, int, int, int, int], zipfile.ZipFile] = OrderedDict()
_ZIPS_LOCK = threading.Lock()
_MAX_OPEN_ZIPS = 4


def zip_file(path: str) -> zipfile.ZipFile:
    """The archive at ``path``, its central directory read once per process and version.

    Kept open (a few at a time, least recently used closed first) so that
    reading member after member of one archive does not parse its directory
    again each time.

    Raises:
        ArchiveError: the file is not a readable zip archive.
    """
    try:
        st = os.stat(path)
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from exc
    key = (os.path.abspath(path), st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
    with _ZIPS_LOCK:
        z = _ZIPS.get(key)
        if z is not None:
            _ZIPS.move_to_end(key)
            return z
        try:
            z = zipfile.ZipFile(path)
        except (OSError, zipfile.BadZipFile, ValueError, EOFError) as exc:
            raise ArchiveError(f"cannot read zip archive {path}: {exc}") from exc
        _ZIPS[key] = z
        while len(_ZIPS) > _MAX_OPEN_ZIPS:
            _ZIPS.popitem(last=False)[1].close()
        return z


def zip_dump_members(path: str) -> list[str]:
    """Names of the ``.dmp``/``.mdmp`` members of a zip archive, sorted.

    Raises:
        ArchiveError: the file is not a readable zip archive.
    """
    z = zip_file(path)
    return sorted(
        i.filename for i in z.infolist()
        if not i.is_dir() and i.filename.lower().endswith(_DUMP_SUFFIXES)
    )


def _only_member(path: str) -> str:
    z = zip_file(path)
    files = [i.filename for i in z.infolist() if not i.is_dir()]
    dumps = [n for n in files if n.lower().endswith(_DUMP_SUFFIXES)]
    pick = dumps if dumps else files
    if len(pick) != 1:
        what = "dump members" if dumps else "members"
        raise ArchiveError(
            f"zip archive {path} holds {len(pick)} {what}; dumplib.open reads an archive "
            "of one dump (use `dumplib triage` for archives of many)"
        )
    return pick[0]


def _check_member(path: str, info: zipfile.ZipInfo) -> None:
    if info.flag_bits & 0x1:
        raise UnsupportedArchiveError(
            f"{path}!{info.filename} is encrypted; extract it with its password first"
        )
    if info.compress_type not in _ZIP_METHODS:
        raise UnsupportedArchiveError(
            f"{path}!{info.filename} uses zip compression method {info.compress_type}, "
            f"which dumplib does not read (it reads {', '.join(_ZIP_METHODS.values())}); "
            "extract it with another tool first"
        )


# -- streams ------------------------------------------------------------------------


def _zstd_reader(raw: IO[bytes]) -> IO[bytes]:
    try:
        import zstandard
    except ImportError as exc:
        raise UnsupportedArchiveError(
            "reading .zst dumps needs the optional zstandard package: "
            "pip install 'dumplib[zstd]' (or pip install zstandard)"
        ) from exc
    reader: IO[bytes] = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
    return reader


@contextlib.contextmanager
def _open_stream(path: str, kind: str, member: str | None) -> Iterator[tuple[IO[bytes], int]]:
    """The decompressed stream of ``path`` and the size of its compressed input."""
    try:
        if kind == "zip":
            z = zip_file(path)
            name = member if member is not None else _only_member(path)
            try:
                info = z.getinfo(name)
            except KeyError as exc:
                raise ArchiveError(f"zip archive {path} has no member {name!r}") from exc
            _check_member(path, info)
            with z.open(info) as m:
                yield m, info.compress_size
            return
        size = os.stat(path).st_size
        with open(path, "rb") as raw:
            if kind == "gzip":
                with gzip.GzipFile(fileobj=raw, mode="rb") as g:
                    yield g, size  # type: ignore[misc]
            elif kind == "xz":
                with lzma.LZMAFile(raw, "rb") as x:
                    yield x, size
            elif kind == "bz2":
                with bz2.BZ2File(raw, "rb") as b:
                    yield b, size
            elif kind == "zstd":
                reader = _zstd_reader(raw)
                with reader:
                    yield reader, size
            else:
                raise UnsupportedArchiveError(f"{path}: unknown compression {kind!r}")
    except (OSError, zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise ArchiveError(f"cannot open {path} ({kind}): {exc}") from exc


def _read(stream: IO[bytes], n: int, display: str, kind: str, done: int) -> bytes:
    try:
        return stream.read(n)
    except (OSError, EOFError, lzma.LZMAError, zlib.error, zipfile.BadZipFile,
            ValueError) as exc:
        raise ArchiveError(
            f"cannot decompress {display} ({kind}) at output byte {done}: {exc}"
        ) from exc
    except (RuntimeError, NotImplementedError) as exc:  # zipfile: password, method
        raise UnsupportedArchiveError(f"cannot decompress {display} ({kind}): {exc}") from exc
    except Exception as exc:  # zstandard.ZstdError and other codec errors
        raise ArchiveError(
            f"cannot decompress {display} ({kind}) at output byte {done}: {exc}"
        ) from exc


# -- the result -----------------------------------------------------------------------


@dataclass(slots=True)
class Expanded:
    """A decompressed dump: in memory, or in an (unlinked) spill file that is mapped.

    Attributes:
        name: what it was read from (``path`` or ``path!member``).
        size: bytes of the dump.
        sha256: hex digest of those bytes.
        data: the bytes when small, else None.
        kind: the compression (one of :data:`KINDS`).
    """

    name: str
    size: int
    sha256: str
    data: bytes | None
    kind: str
    _file: IO[bytes] | None = None
    _path: str | None = None

    def source(self) -> Source:
        """A :class:`~dumplib.source.Source` over the bytes (mapping the spill file).

        The source owns the spill file: closing the source releases it.

        Raises:
            SourceError: the spill file cannot be mapped.
        """
        from dumplib.source import Source

        if self.data is not None or self._file is None:
            data = self.data if self.data is not None else b""
            return Source(name=self.name, size=len(data), buffer=memoryview(data), raw=data)
        f, path = self._file, self._path
        self._file = self._path = None
        try:
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as exc:
            _discard(f, path)
            raise SourceError(f"cannot map the decompressed copy of {self.name}: {exc}") from exc
        view = memoryview(mm)

        def close() -> None:
            view.release()
            with contextlib.suppress(BufferError):
                mm.close()
            _discard(f, path)

        return Source(name=self.name, size=self.size, buffer=view, closer=close, raw=mm)

    def close(self) -> None:
        """Remove the spill file if :meth:`source` did not take it over."""
        f, path = self._file, self._path
        self._file = self._path = None
        if f is not None:
            _discard(f, path)


def _discard(f: IO[bytes], path: str | None) -> None:
    with contextlib.suppress(OSError):
        f.close()
    if path is not None:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _spill_file(spill_dir: str | None) -> tuple[IO[bytes], str | None]:
    fd, path = tempfile.mkstemp(prefix="dumplib-spill-", suffix=".dmp", dir=spill_dir)
    f = os.fdopen(fd, "w+b")
    if os.name == "posix":  # the open file lives on; no name is left to clean up
        with contextlib.suppress(OSError):
            os.unlink(path)
            return f, None
    return f, path


def expand(
    path: str | os.PathLike[str],
    kind: str,
    member: str | None = None,
    *,
    in_memory_limit: int = IN_MEMORY_LIMIT,
    max_size: int = MAX_DECOMPRESSED,
    max_ratio: int = MAX_RATIO,
    spill_dir: str | None = None,
) -> Expanded:
    """Decompress one dump, hashing it on the way, within the caps of this module.

    Args:
        path: the compressed file or zip archive.
        kind: its compression (from :func:`sniff_file`).
        member: the zip member (None: the archive's only dump).
        in_memory_limit: dumps up to this size stay in memory.
        max_size: absolute cap on the output.
        max_ratio: cap on output bytes per input byte (above :data:`MIN_ALLOWANCE`).
        spill_dir: directory of the spill file (default: the temp directory).

    Returns:
        The dump; call :meth:`Expanded.source` or :meth:`Expanded.close`.

    Raises:
        NotADumpError: the decompressed data does not start with ``MDMP``.
        ExpansionLimitError: the output would exceed a cap.
        UnsupportedArchiveError: encrypted member, unknown method, no zstandard.
        ArchiveError: corrupt or unreadable compressed data.
    """
    p = os.fspath(path)
    display = p if member is None else f"{p}!{member}"
    h = hashlib.sha256()
    with _open_stream(p, kind, member) as (stream, packed):
        if kind == "zip" and member is None:
            display = f"{p}!{_only_member(p)}"
        allowance = min(max_size, max(MIN_ALLOWANCE, max_ratio * max(packed, 1)))
        head = _read(stream, len(_SIGNATURE), display, kind, 0)
        if head != _SIGNATURE:
            shown = head.hex() if head else "nothing"
            raise NotADumpError(
                f"{display} is {kind}-compressed but does not hold a minidump: "
                f"it starts with {shown}, not 'MDMP'",
                stream="header", offset=0,
            )
        h.update(head)
        buf = bytearray(head)
        total = len(head)
        spill: IO[bytes] | None = None
        spill_path: str | None = None
        try:
            while True:
                chunk = _read(stream, _CHUNK, display, kind, total)
                if not chunk:
                    break
                total += len(chunk)
                if total > allowance:
                    raise ExpansionLimitError(
                        f"{display} expands beyond {allowance:,} bytes "
                        f"({max_ratio}x its {packed:,} compressed bytes, at most "
                        f"{max_size:,}); not decompressed. If it is a real dump, "
                        "decompress it yourself and open the .dmp"
                    )
                h.update(chunk)
                if spill is None and total <= in_memory_limit:
                    buf += chunk
                    continue
                if spill is None:
                    spill, spill_path = _spill_file(spill_dir)
                    free = shutil.disk_usage(spill_dir or tempfile.gettempdir()).free
                    room = free - DISK_RESERVE
                    if room < allowance:
                        allowance = max(room, 0)
                        if total > allowance:
                            raise ExpansionLimitError(
                                f"{display}: not enough free disk space to decompress "
                                f"({free:,} bytes free, {DISK_RESERVE:,} kept in reserve)"
                            )
                    spill.write(buf)
                    buf = bytearray()
                spill.write(chunk)
            if spill is None:
                return Expanded(display, total, h.hexdigest(), bytes(buf), kind)
            spill.flush()
            return Expanded(display, total, h.hexdigest(), None, kind, spill, spill_path)
        except BaseException:
            if spill is not None:
                _discard(spill, spill_path)
            raise


def open_source(path: str | os.PathLike[str], kind: str, **caps: Any) -> Source:
    """A :class:`~dumplib.source.Source` over the decompressed dump at ``path``.

    Keyword arguments are :func:`expand`'s caps.

    Raises:
        DumpError: see :func:`expand`.
    """
    return expand(path, kind, **caps).source()
