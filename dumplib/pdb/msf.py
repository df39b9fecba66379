"""The MSF 7.00 container: superblock, stream directory and stream views.

A PDB is a small file system ("multi-stream file"): fixed-size blocks, a
superblock at offset 0, and a directory listing every stream's size and the
blocks that hold it. :class:`MsfFile` reads the superblock and directory only;
:class:`MsfStream` reads a stream's bytes on demand, returning a zero-copy
``memoryview`` of the mapped file whenever the requested range lies in
consecutive blocks.

Layout (all little-endian)::

    superblock  magic[32] "Microsoft C/C++ MSF 7.00\\r\\n\\x1aDS\\0\\0\\0"
                u32 block_size, u32 free_block_map, u32 num_blocks,
                u32 num_directory_bytes, u32 unknown, u32 block_map_addr
    block map   (block block_map_addr) u32 indices of the directory's blocks
    directory   u32 num_streams, u32 sizes[num_streams],
                then for each stream u32 blocks[ceil(size / block_size)]
"""

from __future__ import annotations

import struct

from dumplib._exc import DumpError
from dumplib.pdb._errors import PdbError, stream_label
from dumplib.source import Source, SourceLike

__all__ = ["MSF_MAGIC", "MsfFile", "MsfStream", "PdbSource"]

#: The 32 bytes every MSF 7.00 (PDB 7) file starts with.
MSF_MAGIC = b"Microsoft C/C++ MSF 7.00\r\n\x1aDS\x00\x00\x00"
_MSF2_MAGIC = b"Microsoft C/C++ program database 2.00\r\n"
_SUPER = struct.Struct("<32s6I")
_VALID_BLOCK_SIZES = frozenset({512, 1024, 2048, 4096, 8192, 16384, 32768})
_NIL_STREAM = 0xFFFFFFFF
#: Streams beyond this count are refused (real PDBs have at most a few thousand).
MAX_STREAMS = 1 << 20

#: What :meth:`MsfFile.open` accepts: anything :meth:`Source.open` takes, or a Source.
PdbSource = SourceLike | Source


class MsfStream:
    """One stream of an MSF file, read lazily block by block.

    Attributes:
        index: the stream's index in the directory.
        size: its size in bytes (0 for a nil stream).
        blocks: the block indices holding it, in order.
    """

    __slots__ = ("_data", "_msf", "blocks", "index", "size")

    def __init__(self, msf: MsfFile, index: int, size: int, blocks: tuple[int, ...]) -> None:
        self._msf = msf
        self.index = index
        self.size = size
        self.blocks = blocks
        self._data: memoryview | None = None

    def _contiguous(self, first: int, last: int) -> bool:
        blocks = self.blocks
        start = blocks[first]
        return blocks[last] - start == last - first and all(
            blocks[i] == start + (i - first) for i in range(first + 1, last + 1)
        )

    def read(self, offset: int, size: int, what: str = "") -> memoryview:
        """Return ``size`` bytes at ``offset`` of the stream.

        A range inside consecutive blocks is a view of the mapped file (no copy);
        a range crossing a block discontinuity is assembled into new bytes.

        Args:
            offset: offset inside the stream.
            size: number of bytes.
            what: what is being read, for the error message.

        Raises:
            PdbError: the range lies outside the stream, or a block is outside the file.
        """
        if offset < 0 or size < 0 or offset + size > self.size:
            raise PdbError(
                f"{what or 'read'}: {size} bytes needed but the stream has "
                f"{max(0, self.size - offset)} there",
                stream=stream_label(self.index, what),
                offset=offset,
            )
        if self._data is not None:
            return self._data[offset : offset + size]
        if size == 0:
            return memoryview(b"")
        bs = self._msf.block_size
        first, last = offset // bs, (offset + size - 1) // bs
        if self._contiguous(first, last):
            return self._msf._block_range(self.blocks[first], offset % bs, size, self.index)
        parts: list[bytes | memoryview] = []
        pos, remaining = offset, size
        while remaining:
            block_no, within = divmod(pos, bs)
            take = min(bs - within, remaining)
            parts.append(self._msf._block_range(self.blocks[block_no], within, take, self.index))
            pos += take
            remaining -= take
        return memoryview(b"".join(parts))

    def data(self) -> memoryview:
        """Return the whole stream as one contiguous buffer (cached after the first call).

        Raises:
            PdbError: a block of the stream lies outside the file.
        """
        if self._data is None:
            self._data = self.read(0, self.size, "stream data")
        return self._data


class MsfFile:
    """An MSF 7.00 multi-stream file: block size, stream sizes and stream access.

    Opening reads the 56-byte superblock, the block map and the stream
    directory; stream contents are read when asked for.

    Attributes:
        source: the byte source (memory-mapped file or in-memory bytes).
        block_size: the MSF block size in bytes.
        num_blocks: the number of blocks the superblock declares.
        stream_sizes: size in bytes of every stream (0 for nil streams).
    """

    __slots__ = (
        "_directory",
        "_file_blocks",
        "_stream_blocks",
        "_streams",
        "block_size",
        "num_blocks",
        "source",
        "stream_sizes",
    )

    def __init__(self, source: Source) -> None:
        self.source = source
        if source.size < _SUPER.size:
            raise PdbError(
                f"file is {source.size} bytes, too small for an MSF superblock",
                stream="MSF superblock",
                offset=0,
            )
        head = bytes(source.view(0, _SUPER.size, what="MSF superblock"))
        magic, block_size, _fpm, num_blocks, dir_bytes, _unknown, map_addr = _SUPER.unpack(head)
        if magic != MSF_MAGIC:
            if head.startswith(_MSF2_MAGIC):
                raise PdbError(
                    "MSF 2.00 (PDB 2.0) files are not supported", stream="MSF superblock"
                )
            raise PdbError("not a PDB: no MSF 7.00 signature", stream="MSF superblock", offset=0)
        if block_size not in _VALID_BLOCK_SIZES:
            raise PdbError(f"invalid block size {block_size}", stream="MSF superblock", offset=32)
        self.block_size = block_size
        self.num_blocks = num_blocks
        self._streams: dict[int, MsfStream] = {}
        dir_block_count = -(-dir_bytes // block_size)
        self._file_blocks = -(-source.size // block_size)
        if dir_bytes < 4 or dir_block_count * 4 > block_size or dir_block_count > self._file_blocks:
            raise PdbError(
                f"stream directory size {dir_bytes} is impossible for block size {block_size}",
                stream="MSF superblock",
                offset=44,
            )
        block_map = self._block_range(map_addr, 0, dir_block_count * 4, None)
        dir_blocks = struct.unpack_from(f"<{dir_block_count}I", block_map)
        directory = b"".join(
            bytes(self._block_range(b, 0, min(block_size, dir_bytes - i * block_size), None))
            for i, b in enumerate(dir_blocks)
        )
        self._parse_directory(directory)

    @classmethod
    def open(cls, source: PdbSource) -> MsfFile:
        """Open an MSF file from a path, bytes-like object, file object or Source.

        Raises:
            PdbError: the file is not MSF 7.00 or its directory is malformed.
            SourceError: the path cannot be opened.
        """
        src = source if isinstance(source, Source) else Source.open(source)
        return cls(src)

    def _parse_directory(self, directory: bytes) -> None:
        where = "MSF stream directory"
        (count,) = struct.unpack_from("<I", directory, 0)
        if count > MAX_STREAMS or 4 + 4 * count > len(directory):
            raise PdbError(
                f"directory claims {count} streams but holds {len(directory)} bytes",
                stream=where,
                offset=0,
            )
        raw_sizes = struct.unpack_from(f"<{count}I", directory, 4)
        sizes = [0 if s == _NIL_STREAM else s for s in raw_sizes]
        pos = 4 + 4 * count
        bs = self.block_size
        spans: list[tuple[int, int]] = []
        for size in sizes:
            n = -(-size // bs)
            spans.append((pos, n))
            pos += 4 * n
        if pos > len(directory):
            raise PdbError(
                f"stream block lists need {pos} bytes but the directory has {len(directory)}",
                stream=where,
                offset=4 + 4 * count,
            )
        # A valid MSF never shares a block between streams, so all streams together
        # fit in the file; this also bounds what reading any stream can allocate.
        total = sum(n for _, n in spans)
        if total > self._file_blocks:
            raise PdbError(
                f"streams claim {total} blocks but the file holds {self._file_blocks}",
                stream=where,
                offset=4,
            )
        self.stream_sizes: tuple[int, ...] = tuple(sizes)
        self._stream_blocks = spans
        self._directory = directory

    def _block_range(self, block: int, within: int, size: int, stream: int | None) -> memoryview:
        """Return ``size`` bytes at ``within`` of ``block`` (and the blocks after it)."""
        if block >= self.num_blocks:
            raise PdbError(
                f"block index {block} beyond the {self.num_blocks} blocks of the file",
                stream=stream_label(stream, "" if stream is not None else "MSF directory"),
                offset=block * self.block_size,
            )
        start = block * self.block_size + within
        if start + size > self.source.size:
            raise PdbError(
                f"block {block} lies past the end of the {self.source.size}-byte file (truncated)",
                stream=stream_label(stream, "" if stream is not None else "MSF directory"),
                offset=start,
            )
        try:
            return self.source.view(start, size)
        except DumpError as exc:  # short read from a file object
            raise PdbError(
                f"cannot read block {block}: {exc.message}",
                stream=stream_label(stream),
                offset=start,
            ) from exc

    @property
    def stream_count(self) -> int:
        """Number of streams in the directory."""
        return len(self.stream_sizes)

    def has_stream(self, index: int) -> bool:
        """Return whether ``index`` names a stream of this file (nil streams included)."""
        return 0 <= index < len(self.stream_sizes)

    def stream(self, index: int, what: str = "") -> MsfStream:
        """Return stream ``index``.

        Args:
            index: the stream index.
            what: what the caller expects there, for error messages.

        Raises:
            PdbError: there is no such stream.
        """
        cached = self._streams.get(index)
        if cached is not None:
            return cached
        if not 0 <= index < len(self.stream_sizes):
            raise PdbError(
                f"stream {index} does not exist (the file has {len(self.stream_sizes)})",
                stream=stream_label(index, what),
            )
        pos, n = self._stream_blocks[index]
        blocks = struct.unpack_from(f"<{n}I", self._directory, pos)
        for b in blocks:
            if b >= self.num_blocks:
                raise PdbError(
                    f"block index {b} beyond the {self.num_blocks} blocks of the file",
                    stream=stream_label(index, what),
                    offset=0,
                )
        stream = MsfStream(self, index, self.stream_sizes[index], blocks)
        self._streams[index] = stream
        return stream

    def close(self) -> None:
        """Release the underlying source (the memory map, when the file was opened by path)."""
        self._streams.clear()
        self.source.close()
