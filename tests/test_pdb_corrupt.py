"""Bad input: corrupt or truncated PDBs raise only DumpError subclasses.

Hypothesis mutates real PDBs: it truncates the x64 corpus file and
overwrites bytes inside the structures that matter (superblock, block map,
stream directory, info, DBI, symbol records, module streams, /names, section
headers); in the x86 one, whose optimised code inlines heavily, it hits the
TPI/IPI streams and the module streams holding inline sites. Reading
everything from the result -- identity, publics, functions, line table,
lookups with their inline frames -- must either work or raise a
:class:`~dumplib.DumpError`; anything else (IndexError, struct.error,
UnicodeDecodeError, a hang) fails the test.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dumplib import DumpError
from dumplib.pdb import MsfFile, PdbError, PdbFile

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "external" / "symbolic" / "windows"
ORIGINAL = (CORPUS / "CrashWithException.pdb").read_bytes()


def _interesting_offsets() -> list[tuple[int, int]]:
    """(file offset, length) spans of the structures worth corrupting."""
    msf = MsfFile.open(ORIGINAL)
    bs = msf.block_size
    (_magic, _bs, _fpm, _nblocks, dir_bytes, _u, map_addr) = struct.unpack_from(
        "<32s6I", ORIGINAL, 0
    )
    spans = [(0, 56), (map_addr * bs, 64)]
    dir_blocks = struct.unpack_from("<I", ORIGINAL, map_addr * bs)
    spans.append((dir_blocks[0] * bs, min(bs, dir_bytes)))
    pdb = PdbFile.open(ORIGINAL)
    wanted = {1, 3, pdb.info.named_streams["/names"]}
    dbi = pdb.dbi
    for idx in (dbi.symbol_records_stream, dbi.debug_streams.get(5)):
        if idx is not None:
            wanted.add(idx)
    wanted.update(m.symbol_stream for m in dbi.modules[:6] if m.symbol_stream is not None)
    for idx in sorted(wanted):
        stream = msf.stream(idx)
        for i, block in enumerate(stream.blocks[:4]):
            spans.append((block * bs, min(bs, stream.size - i * bs)))
    return [s for s in spans if s[1] > 0]


SPANS = _interesting_offsets()


def _exercise(data: bytes) -> None:
    """Read everything a symbolizer would; only DumpError may escape."""
    try:
        pdb = PdbFile.open(data)
        _ = pdb.identity, pdb.debug_id
        _ = pdb.sections
        publics = pdb.publics
        functions = pdb.functions
        _ = pdb.line_records
        probes = [p.rva for p in publics[:20]] + [f.rva + 1 for f in functions[:50]]
        for rva in [*probes, 0, 0x1000, 0x1234, 0xFFFFFFFF]:
            pdb.lookup(rva)
            pdb.lines(rva)
    except DumpError:
        pass


@st.composite
def mutations(draw: st.DrawFn) -> bytes:
    data = bytearray(ORIGINAL)
    for _ in range(draw(st.integers(1, 4))):
        start, length = draw(st.sampled_from(SPANS))
        at = start + draw(st.integers(0, length - 1))
        width = draw(st.sampled_from([1, 2, 4]))
        value = draw(
            st.one_of(
                st.sampled_from([0, 1, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 0x80000000]),
                st.integers(0, 2**32 - 1),
            )
        )
        data[at : at + width] = (value & ((1 << (8 * width)) - 1)).to_bytes(width, "little")
    return bytes(data[: len(ORIGINAL)])


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(mutations())
def test_mutated_structures_raise_only_dump_errors(data: bytes) -> None:
    _exercise(data)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(ORIGINAL) - 1))
def test_truncated_files_raise_only_dump_errors(size: int) -> None:
    _exercise(ORIGINAL[:size])


def test_unmodified_file_reads() -> None:
    # the harness itself: the pristine file goes through without an error
    pdb = PdbFile.open(ORIGINAL)
    assert len(pdb.functions) > 50
    assert len(pdb.line_records) > 200


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"", "too small"),
        (b"MZ" + b"\0" * 100, "no MSF 7.00 signature"),
        (b"Microsoft C/C++ program database 2.00\r\n\x1aJG\0\0" + b"\0" * 64, "MSF 2.00"),
    ],
)
def test_not_a_pdb(data: bytes, needle: str) -> None:
    with pytest.raises(PdbError, match=needle):
        PdbFile.open(data)


def test_truncated_directory_names_the_offset() -> None:
    with pytest.raises(PdbError) as info:
        PdbFile.open(ORIGINAL[:8192])
    assert info.value.offset is not None
    assert "truncated" in str(info.value) or "beyond" in str(info.value)


def test_bad_block_index_names_the_stream() -> None:
    msf = MsfFile.open(ORIGINAL)
    dbi_block = msf.stream(3).blocks[0]
    # find the DBI stream's first block number in the directory and point it past the file
    (_m, bs, _f, _n, dir_bytes, _u, map_addr) = struct.unpack_from("<32s6I", ORIGINAL, 0)
    dir_at = struct.unpack_from("<I", ORIGINAL, map_addr * bs)[0] * bs
    directory = ORIGINAL[dir_at : dir_at + dir_bytes]
    count = struct.unpack_from("<I", directory)[0]
    sizes = struct.unpack_from(f"<{count}I", directory, 4)
    pos = 4 + 4 * count + 4 * sum(-(-s // bs) for s in sizes[:3] if s != 0xFFFFFFFF)
    assert struct.unpack_from("<I", directory, pos)[0] == dbi_block
    data = bytearray(ORIGINAL)
    data[dir_at + pos : dir_at + pos + 4] = (0x00FFFFFF).to_bytes(4, "little")
    pdb = PdbFile.open(bytes(data))
    with pytest.raises(PdbError) as info:
        _ = pdb.functions
    assert info.value.stream is not None and "pdb stream 3" in info.value.stream


def test_huge_stream_count_is_refused_without_allocating() -> None:
    (_m, bs, _f, _n, _dir_bytes, _u, map_addr) = struct.unpack_from("<32s6I", ORIGINAL, 0)
    dir_at = struct.unpack_from("<I", ORIGINAL, map_addr * bs)[0] * bs
    data = bytearray(ORIGINAL)
    data[dir_at : dir_at + 4] = (0x7FFFFFFF).to_bytes(4, "little")
    with pytest.raises(PdbError, match="streams"):
        PdbFile.open(bytes(data))


def test_errors_are_corrupt_dump_errors() -> None:
    from dumplib._exc import CorruptDumpError

    assert issubclass(PdbError, CorruptDumpError)
    assert issubclass(PdbError, DumpError)


INLINED = (CORPUS / "crash.pdb").read_bytes()


def _inline_spans() -> tuple[list[tuple[int, int]], list[int]]:
    msf = MsfFile.open(INLINED)
    pdb = PdbFile.open(INLINED)
    with_lines = [
        m.symbol_stream for m in pdb.modules if m.symbol_stream is not None and m.c13_size
    ]
    wanted = [2, 4, *with_lines[:12]]
    spans = []
    for idx in wanted:
        stream = msf.stream(idx)
        for i, block in enumerate(stream.blocks[:3]):
            spans.append(
                (block * msf.block_size, min(msf.block_size, stream.size - i * msf.block_size))
            )
    probes = [r.rva for r in pdb.line_records][::5]
    assert any(pdb.lookup(rva).inlines for rva in probes)  # type: ignore[union-attr]
    return spans, probes


INLINE_SPANS, INLINE_PROBES = _inline_spans()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(INLINE_SPANS), st.integers(0, 4095), st.binary(min_size=1, max_size=4)
        ),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_inline_records_raise_only_dump_errors(
    edits: list[tuple[tuple[int, int], int, bytes]],
) -> None:
    data = bytearray(INLINED)
    for (start, length), at, value in edits:
        pos = start + at % length
        data[pos : pos + len(value)] = value
    try:
        pdb = PdbFile.open(bytes(data[: len(INLINED)]))
        for rva in INLINE_PROBES:
            pdb.lookup(rva)
    except DumpError:
        pass
