"""Finding dumps on disk and reading them, compressed or not, with their hash.

:func:`find_dumps` walks directories for ``.dmp``/``.mdmp`` files, the same
compressed with gzip (``.dmp.gz``), xz (``.dmp.xz``), bzip2 (``.dmp.bz2``) or
zstd (``.dmp.zst``), and dump members of
``.zip`` archives. A file named explicitly is taken whatever its extension
(its compression is recognised by its first bytes).

:func:`load_dump` reads one :class:`DumpRef` and hashes it in the same pass:
plain dumps are hashed through a memory map and parsed from their file;
compressed ones are decompressed by :mod:`dumplib.decompress` into memory
(small) or into a spill file (large), so memory stays bounded; the output is
capped against compression bombs.
"""

from __future__ import annotations

import contextlib
import hashlib
import mmap
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from dumplib._exc import SourceError
from dumplib.decompress import MAX_DECOMPRESSED, expand, sniff_file, zip_dump_members
from dumplib.source import Source

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
_COMPRESSED = {".gz": "gzip", ".xz": "xz", ".bz2": "bz2", ".zst": "zstd"}
#: Dumps up to this size are read into memory; larger ones are parsed from a file.
IN_MEMORY_LIMIT = 256 << 20


@dataclass(frozen=True, slots=True)
class DumpRef:
    """Where one dump is: a file, or a member of a zip archive.

    Attributes:
        path: absolute path of the file (the archive for zip members).
        member: the member's name inside the archive, or None.
        compression: ``"gzip"``, ``"xz"``, ``"bz2"``, ``"zstd"``, ``"zip"`` or None.
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
    """The compression of a file from its first bytes (None: not compressed);
    :func:`dumplib.decompress.sniff_file`.

    Raises:
        SourceError: the file cannot be read.
    """
    return sniff_file(path)


def _zip_members(path: str) -> list[str]:
    return zip_dump_members(path)


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
        source: a path to open for plain dumps, else a
            :class:`~dumplib.source.Source` over the decompressed bytes (in
            memory, or a mapped spill file that has no name left on disk).
        size: bytes of the dump.
        sha256: hex digest of those bytes.
    """

    source: bytes | str | Source
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

    Decompression goes through :func:`dumplib.decompress.expand`: the MDMP
    signature is checked on the first bytes, and the output is capped relative
    to the input, to ``max_size`` and to free disk space. A spill file is
    unlinked as soon as it is made (POSIX), so a worker killed mid-dump leaves
    nothing behind; it is released on exit.

    Args:
        ref: the dump.
        in_memory_limit: compressed dumps expanding to at most this many bytes
            are kept in memory.
        max_size: refuse compressed dumps that expand beyond this.

    Raises:
        SourceError: the file or archive member cannot be read, is corrupt, or
            expands beyond a cap (:class:`~dumplib.decompress.ArchiveError` and
            its subclasses).
        NotADumpError: the decompressed data is not a minidump.
    """
    if ref.compression is None:
        yield _load_plain(ref.path)
        return
    expanded = expand(ref.path, ref.compression, ref.member, in_memory_limit=in_memory_limit,
                      max_size=max_size)
    src = expanded.source()
    try:
        yield LoadedDump(src, expanded.size, expanded.sha256)
    finally:
        src.close()


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
