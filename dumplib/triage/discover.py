"""Finding dumps on disk and reading them, compressed or not, with their hash.

:func:`find_dumps` walks directories for ``.dmp``/``.mdmp`` files, the same
compressed with gzip (``.dmp.gz``) or xz (``.dmp.xz``), and dump members of
``.zip`` archives. A file named explicitly is taken whatever its extension
(its compression is recognised by its first bytes).

:func:`load_dump` reads one :class:`DumpRef` and hashes it in the same pass:
plain dumps are hashed through a memory map and parsed from their file;
compressed ones are decompressed into memory (small) or into a temporary file
(large), so memory stays bounded. Decompressed
output is capped (:data:`MAX_DECOMPRESSED`) against compression bombs.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import lzma
import mmap
import os
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO

from dumplib._exc import SourceError

__all__ = [
    "DUMP_SUFFIXES",
    "IN_MEMORY_LIMIT",
    "MAX_DECOMPRESSED",
    "DumpRef",
    "LoadedDump",
    "find_dumps",
    "load_dump",
    "sniff_compression",
]

#: Extensions of uncompressed dumps (compared case-insensitively).
DUMP_SUFFIXES = (".dmp", ".mdmp")
_COMPRESSED = {".gz": "gzip", ".xz": "xz"}
#: Dumps up to this size are read into memory; larger ones are parsed from a file.
IN_MEMORY_LIMIT = 256 << 20
#: Most bytes a compressed dump may expand to.
MAX_DECOMPRESSED = 64 << 30
_CHUNK = 1 << 20

_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),
)


@dataclass(frozen=True, slots=True)
class DumpRef:
    """Where one dump is: a file, or a member of a zip archive.

    Attributes:
        path: absolute path of the file (the archive for zip members).
        member: the member's name inside the archive, or None.
        compression: ``"gzip"``, ``"xz"``, ``"zip"`` or None.
    """

    path: str
    member: str | None = None
    compression: str | None = None

    @property
    def display(self) -> str:
        """``path`` or ``path!member`` for people."""
        return self.path if self.member is None else f"{self.path}!{self.member}"


def _is_dump_name(name: str) -> bool:
    return name.lower().endswith(DUMP_SUFFIXES)


def _compression_of_name(name: str) -> str | bool | None:
    """The compression a dump file name says, None for plain, False for not a dump."""
    low = name.lower()
    if low.endswith(DUMP_SUFFIXES):
        return None
    for suffix, kind in _COMPRESSED.items():
        if low.endswith(suffix) and low[: -len(suffix)].endswith(DUMP_SUFFIXES):
            return kind
    if low.endswith(".zip"):
        return "zip"
    return False


def sniff_compression(path: str) -> str | None:
    """The compression of a file from its first bytes (None: not compressed).

    Raises:
        SourceError: the file cannot be read.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(6)
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from exc
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return None


def _zip_members(path: str) -> list[str]:
    try:
        with zipfile.ZipFile(path) as z:
            return sorted(
                i.filename for i in z.infolist() if not i.is_dir() and _is_dump_name(i.filename)
            )
    except (OSError, zipfile.BadZipFile, ValueError) as exc:
        raise SourceError(f"cannot list zip archive {path}: {exc}") from exc


def _refs_for_file(path: str, compression: str | None) -> list[DumpRef]:
    if compression == "zip":
        return [DumpRef(path, m, "zip") for m in _zip_members(path)]
    return [DumpRef(path, None, compression)]


def find_dumps(paths: Iterable[str | os.PathLike[str]]) -> Iterator[DumpRef]:
    """The dumps under ``paths``, in a stable order (each directory walked sorted).

    Directories are walked recursively (symbolic links to directories are not
    followed) for dump names; files given by name are always taken, their
    compression sniffed from their first bytes. A zip archive yields one ref
    per ``.dmp``/``.mdmp`` member.

    Raises:
        SourceError: a path does not exist, or a named zip archive cannot be listed.
    """
    for given in paths:
        path = os.path.abspath(os.fspath(given))
        if os.path.isdir(path):
            yield from _walk(path)
        elif os.path.isfile(path):
            yield from _refs_for_file(path, sniff_compression(path))
        else:
            raise SourceError(f"no such file or directory: {os.fspath(given)}")


def _walk(top: str) -> Iterator[DumpRef]:
    for root, dirs, files in os.walk(top):
        dirs.sort()
        for name in sorted(files):
            kind = _compression_of_name(name)
            if kind is False:
                continue
            full = os.path.join(root, name)
            if kind == "zip":
                try:
                    members = _zip_members(full)
                except SourceError:
                    continue  # a .zip that is not an archive of dumps is not ours
                yield from (DumpRef(full, m, "zip") for m in members)
            else:
                yield DumpRef(full, None, kind if isinstance(kind, str) else None)


@dataclass(frozen=True, slots=True)
class LoadedDump:
    """A dump's bytes (or the file holding them), size and sha256.

    Attributes:
        source: ``bytes`` for dumps decompressed into memory, else a path to open.
        size: bytes of the dump.
        sha256: hex digest of those bytes.
    """

    source: bytes | str
    size: int
    sha256: str


@contextlib.contextmanager
def load_dump(
    ref: DumpRef,
    *,
    in_memory_limit: int = IN_MEMORY_LIMIT,
    max_size: int = MAX_DECOMPRESSED,
) -> Iterator[LoadedDump]:
    """Read (and decompress) one dump, hashing it on the way.

    A temporary file made for a large compressed dump is removed on exit.

    Args:
        ref: the dump.
        in_memory_limit: compressed dumps expanding to at most this many bytes
            are returned as ``bytes``.
        max_size: refuse compressed dumps that expand beyond this.

    Raises:
        SourceError: the file or archive member cannot be read, is corrupt, or
            expands beyond ``max_size``.
    """
    if ref.compression is None:
        yield _load_plain(ref.path)
        return
    tmp: str | None = None
    try:
        with _open_stream(ref) as stream:
            loaded, tmp = _drain(stream, ref, in_memory_limit, max_size)
        yield loaded
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _load_plain(path: str) -> LoadedDump:
    """Hash a plain dump through a memory map (no copy); the parser maps it again by path."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                return LoadedDump(b"", 0, hashlib.sha256(b"").hexdigest())
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                digest = hashlib.sha256(mm).hexdigest()
                return LoadedDump(path, len(mm), digest)
    except (OSError, ValueError) as exc:
        raise SourceError(f"cannot read {path}: {exc}") from exc


@contextlib.contextmanager
def _open_stream(ref: DumpRef) -> Iterator[IO[bytes]]:
    try:
        if ref.compression == "gzip":
            with open(ref.path, "rb") as raw, gzip.GzipFile(fileobj=raw, mode="rb") as g:
                yield g  # type: ignore[misc]
        elif ref.compression == "xz":
            with lzma.open(ref.path, "rb") as x:
                yield x
        elif ref.compression == "zip":
            if ref.member is None:
                raise SourceError(f"zip archive {ref.path}: no member named")
            with zipfile.ZipFile(ref.path) as z, z.open(ref.member) as m:
                yield m
        else:
            raise SourceError(f"{ref.path}: unknown compression {ref.compression!r}")
    except (OSError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise SourceError(f"cannot open {ref.display}: {exc}") from exc


def _drain(
    stream: IO[bytes], ref: DumpRef, in_memory_limit: int, max_size: int
) -> tuple[LoadedDump, str | None]:
    """Decompress ``stream`` into memory, spilling to a temp file past the limit."""
    h = hashlib.sha256()
    buf = bytearray()
    total = 0
    spill: IO[bytes] | None = None
    tmp_path: str | None = None
    try:
        while True:
            try:
                chunk = stream.read(_CHUNK)
            except (OSError, EOFError, lzma.LZMAError, zipfile.BadZipFile, ValueError) as exc:
                raise SourceError(
                    f"cannot decompress {ref.display} ({ref.compression}) at byte {total}: {exc}"
                ) from exc
            if not chunk:
                break
            total += len(chunk)
            if total > max_size:
                raise SourceError(
                    f"{ref.display} expands beyond {max_size} bytes; not decompressed"
                )
            h.update(chunk)
            if spill is None and len(buf) + len(chunk) <= in_memory_limit:
                buf += chunk
                continue
            if spill is None:
                fd, tmp_path = tempfile.mkstemp(prefix="dumplib-triage-", suffix=".dmp")
                spill = os.fdopen(fd, "wb")
                spill.write(buf)
                buf = bytearray()
            spill.write(chunk)
        if spill is None:
            return LoadedDump(bytes(buf), total, h.hexdigest()), None
        spill.close()
        spill = None
        assert tmp_path is not None
        return LoadedDump(tmp_path, total, h.hexdigest()), tmp_path
    except BaseException:
        if spill is not None:
            spill.close()
        if tmp_path is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_path)
        raise
