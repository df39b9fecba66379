"""dumplib.pdb on PDBs built in the test from the published layouts.

The writer below packs the MSF superblock, directory, block map and the
PDB/DBI/CodeView records with its own ``struct`` formats (written from the
LLVM "PDB file format" documentation, not from dumplib's definitions), spreads
every stream over non-consecutive blocks, and records what it wrote. The
reader must give back exactly that: stream bytes, GUID and age, functions at
``section VA + offset``, publics, C13 lines (with and without columns), and
OMAP-translated addresses.
"""

from __future__ import annotations

import random
import struct
import uuid
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dumplib.pdb import MsfFile, PdbError, PdbFile

GUID = uuid.UUID("12345678-9abc-def0-1122-334455667788")
MAGIC = b"Microsoft C/C++ MSF 7.00\r\n\x1aDS\0\0\0"


def build_msf(streams: list[bytes | None], block_size: int = 512, seed: int = 7) -> bytes:
    """Lay ``streams`` out in an MSF 7.00 file with shuffled (non-consecutive) blocks."""
    rng = random.Random(seed)
    chunks: list[tuple[int, int]] = []  # (stream, chunk index)
    for i, data in enumerate(streams):
        if data:
            chunks += [(i, k) for k in range(-(-len(data) // block_size))]
    rng.shuffle(chunks)
    first_data_block = 3  # 0 superblock, 1-2 free block maps
    where = {c: first_data_block + n for n, c in enumerate(chunks)}
    directory = struct.pack("<I", len(streams))
    for data in streams:
        directory += struct.pack("<I", 0xFFFFFFFF if data is None else len(data))
    for i, data in enumerate(streams):
        for k in range(-(-len(data or b"") // block_size)):
            directory += struct.pack("<I", where[(i, k)])
    dir_first = first_data_block + len(chunks)
    dir_count = -(-len(directory) // block_size)
    map_block = dir_first + dir_count
    num_blocks = map_block + 1
    out = bytearray(num_blocks * block_size)
    out[0:56] = MAGIC + struct.pack("<6I", block_size, 1, num_blocks, len(directory), 0, map_block)
    for (i, k), block in where.items():
        piece = streams[i][k * block_size : (k + 1) * block_size]  # type: ignore[index]
        out[block * block_size : block * block_size + len(piece)] = piece
    for n in range(dir_count):
        piece = directory[n * block_size : (n + 1) * block_size]
        at = (dir_first + n) * block_size
        out[at : at + len(piece)] = piece
        struct.pack_into("<I", out, map_block * block_size + 4 * n, dir_first + n)
    return bytes(out)


def _align4(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _record(kind: int, payload: bytes, align: bool) -> bytes:
    body = struct.pack("<H", kind) + payload
    if align:
        body = _align4(struct.pack("<H", 0) + body)[2:]
    return struct.pack("<H", len(body)) + body


@dataclass
class Spec:
    """What the synthetic PDB holds (the expected values)."""

    guid: uuid.UUID = GUID
    info_age: int = 3
    dbi_age: int = 2
    machine: int = 0x8664
    text_va: int = 0x1000
    procs: list[tuple[int, int, str]] = field(
        default_factory=lambda: [(0x10, 0x20, "ns::first"), (0x40, 0x30, "second")]
    )
    publics: list[tuple[int, str]] = field(
        default_factory=lambda: [(0x10, "?first@ns@@YAXH@Z"), (0x80, "data_or_code")]
    )
    # (offset in .text, line) rows of the function at 0x40; code size 0x30
    lines: list[tuple[int, int]] = field(default_factory=lambda: [(0, 10), (8, 11), (0x20, 13)])
    columns: bool = False
    omap: list[tuple[int, int]] | None = None


def build_pdb(spec: Spec) -> bytes:
    names_buf = b"\0c:\\src\\file.cpp\0"
    # stream 1: PDB info with a named stream map holding "/names" -> 4
    strings = b"/names\0"
    info = struct.pack("<III", 20000404, 0x5C9E0959, spec.info_age) + spec.guid.bytes_le
    info += struct.pack("<I", len(strings)) + strings
    info += struct.pack("<III", 1, 1, 1) + struct.pack("<I", 1) + struct.pack("<I", 0)
    info += struct.pack("<II", 0, 4)
    # stream 4: /names
    names = struct.pack("<III", 0xEFFEEFFE, 1, len(names_buf)) + names_buf
    names += struct.pack("<I", 0) + struct.pack("<I", 1)

    # stream 5: section headers (final layout); 8: original layout when OMAP is used
    def section(name: bytes, va: int, size: int) -> bytes:
        return struct.pack("<8sIIIIIIHHI", name, size, va, size, 0x400, 0, 0, 0, 0, 0x60000020)

    sections = section(b".text", spec.text_va, 0x1000) + section(b".data", 0x8000, 0x100)
    # stream 6: symbol records (S_PUB32, unaligned as in the global record stream)
    symrec = b""
    for off, name in spec.publics:
        symrec += _record(0x110E, struct.pack("<IIH", 2, off, 1) + name.encode() + b"\0", False)
    # stream 7: the module's symbols (aligned records) and C13 lines
    syms = struct.pack("<I", 4)
    for off, size, name in spec.procs:
        payload = struct.pack("<IIIIIIIIHB", 0, 0, 0, size, 0, size, 0, off, 1, 0)
        syms += _record(0x1110, payload + name.encode() + b"\0", True)
        syms += _record(0x0006, b"", True)
    chk = struct.pack("<IBB", 1, 0, 0) + b"\0\0"
    c13 = struct.pack("<II", 0xF4, len(chk)) + chk
    line_off, _, _ = spec.procs[1]
    n = len(spec.lines)
    block = b"".join(struct.pack("<II", o, 0x80000000 | ln) for o, ln in spec.lines)
    if spec.columns:
        block += b"".join(struct.pack("<HH", 1, 2) for _ in spec.lines)
    block = struct.pack("<III", 0, n, 12 + len(block)) + block
    lines = struct.pack("<IHHI", line_off, 1, 1 if spec.columns else 0, 0x30) + block
    c13 += struct.pack("<II", 0xF2, len(lines)) + _align4(lines)
    module_stream = syms + c13
    # stream 3: DBI
    modname = b"c:\\obj\\file.obj\0"
    modinfo = struct.pack("<I", 0)
    modinfo += struct.pack("<HHiiIHHII", 1, 0, 0, 0x100, 0x60000020, 0, 0, 0, 0)
    modinfo += struct.pack("<HHIIIHHIII", 0, 7, len(syms), 0, len(c13), 1, 0, 0, 0, 0)
    modinfo = _align4(modinfo + modname + modname)
    contribs = struct.pack("<I", 0xEFFE0000 + 19970605)
    contribs += struct.pack("<HHiiIHHII", 1, 0, 0, 0x100, 0x60000020, 0, 0, 0, 0)
    file_info = struct.pack("<HH", 0, 0)
    dbg = [0xFFFF] * 11
    dbg[5] = 5
    if spec.omap is not None:
        dbg[4], dbg[10] = 9, 8
    dbg_header = struct.pack("<11H", *dbg)
    header = struct.pack(
        "<iIIHHHHHHiiiiiIiiHHI",
        -1, 19990903, spec.dbi_age, 0xFFFF, 0x8E00, 0xFFFF, 0, 6, 0,
        len(modinfo), len(contribs), 0, len(file_info), 0, 0, len(dbg_header), 0,
        0, spec.machine, 0,
    )  # fmt: skip
    dbi = header + modinfo + contribs + file_info + dbg_header
    streams: list[bytes | None] = [b"", info, b"", dbi, names, sections, symrec, module_stream]
    if spec.omap is not None:
        orig = section(b".text", 0x1000, 0x1000) + section(b".data", 0x8000, 0x100)
        streams.append(orig)
        streams.append(b"".join(struct.pack("<II", a, b) for a, b in spec.omap))
    streams.append(None)  # a nil stream at the end
    return build_msf(streams)


# --------------------------------------------------------------------------- MSF


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.binary(max_size=3000)), min_size=1, max_size=8),
    st.sampled_from([512, 1024, 4096]),
    st.integers(0, 1000),
)
def test_msf_streams_round_trip(streams: list[bytes | None], block_size: int, seed: int) -> None:
    msf = MsfFile.open(build_msf(streams, block_size, seed))
    assert msf.block_size == block_size
    assert msf.stream_count == len(streams)
    rng = random.Random(seed)
    for i, data in enumerate(streams):
        expected = data or b""
        stream = msf.stream(i)
        assert stream.size == len(expected)
        assert bytes(stream.data()) == expected
        if expected:
            a = rng.randrange(len(expected))
            b = rng.randrange(a, len(expected) + 1)
            assert bytes(msf.stream(i).read(a, b - a)) == expected[a:b]


def test_reads_across_blocks_and_past_the_end() -> None:
    payload = bytes(range(256)) * 10
    msf = MsfFile.open(build_msf([b"", payload], 512, seed=3))
    stream = msf.stream(1)
    assert bytes(stream.read(500, 30)) == payload[500:530]
    with pytest.raises(PdbError, match="stream 1"):
        stream.read(len(payload) - 4, 8)
    with pytest.raises(PdbError, match="does not exist"):
        msf.stream(2)


# --------------------------------------------------------------------------- PDB


def test_identity_of_a_built_pdb() -> None:
    spec = Spec()
    pdb = PdbFile.open(build_pdb(spec), name="built.pdb")
    assert pdb.guid == str(spec.guid).replace("-", "").upper()
    assert pdb.info.age == spec.info_age
    assert pdb.age == spec.dbi_age  # the DBI age is the one images record
    assert pdb.identity == ("built.pdb", "123456789ABCDEF01122334455667788", spec.dbi_age)
    assert pdb.debug_id == "123456789ABCDEF01122334455667788" + "2"
    assert pdb.info.named_streams == {"/names": 4}
    assert [s.name for s in pdb.sections] == [".text", ".data"]
    assert pdb.modules[0].name == "c:\\obj\\file.obj"


@pytest.mark.parametrize("columns", [False, True])
def test_functions_publics_and_lines(columns: bool) -> None:
    spec = Spec(columns=columns)
    pdb = PdbFile.open(build_pdb(spec))
    va = spec.text_va
    assert [(f.rva, f.size, f.name) for f in pdb.functions] == [
        (va + off, size, name) for off, size, name in spec.procs
    ]
    assert [(p.rva, p.decorated_name) for p in pdb.publics] == [
        (va + off, name) for off, name in spec.publics
    ]
    assert pdb.publics[0].name == "ns::first"
    assert pdb.functions[0].signature == "ns::first(int)"
    base = va + spec.procs[1][0]
    rows = [(r.rva, r.size, r.line, r.file) for r in pdb.line_records]
    assert rows == [
        (base + 0, 8, 10, "c:\\src\\file.cpp"),
        (base + 8, 0x18, 11, "c:\\src\\file.cpp"),
        (base + 0x20, 0x10, 13, "c:\\src\\file.cpp"),
    ]
    hit = pdb.lookup(base + 0x21)
    assert hit is not None
    assert (hit.name, hit.start_rva, hit.size, hit.line, hit.kind) == (
        "second",
        base,
        0x30,
        13,
        "function",
    )
    # past the last function, the public below it (same section) names the address
    pub = pdb.lookup(va + 0x90)
    assert pub is not None and (pub.name, pub.kind, pub.size) == ("data_or_code", "public", None)
    assert pdb.lookup(va + 0x5000) is None  # outside every section


def test_omap_translates_addresses() -> None:
    # original .text at 0x1000; the rewritten image moved its first 0x40 bytes to 0x3000
    # and the rest to 0x2000 + (x - 0x1040)
    spec = Spec(omap=[(0x1000, 0x3000), (0x1040, 0x2000), (0x1100, 0)])
    pdb = PdbFile.open(build_pdb(spec))
    got = {f.name: f.rva for f in pdb.functions}
    assert got == {"ns::first": 0x3010, "second": 0x2000}
    assert pdb.publics[0].rva == 0x2040  # 0x1080 -> 0x2000 + 0x40
    assert pdb.to_rva(1, 0x100) is None  # mapped to 0: removed from the image


def test_truncated_module_stream_names_the_stream() -> None:
    data = bytearray(build_pdb(Spec()))
    msf = MsfFile.open(bytes(data))
    dbi = msf.stream(3)
    # make the module claim more symbol bytes than its stream has
    raw = bytes(dbi.data())
    mod_at = 64 + 4 + 28 + 2 + 2  # header, unused, contribution, flags, stream index
    pos = dbi.blocks[mod_at // 512] * 512 + mod_at % 512
    assert struct.unpack_from("<H", raw, mod_at - 2)[0] == 7  # the module's stream index
    struct.pack_into("<I", data, pos, 0x10000)
    pdb = PdbFile.open(bytes(data))
    with pytest.raises(PdbError, match="pdb stream 7"):
        _ = pdb.functions


def test_blocks_shared_between_streams_cannot_inflate_a_stream() -> None:
    # a directory whose one stream claims 4 MB made of the same 512-byte block over and over
    bs, count = 512, 8192
    directory = struct.pack("<II", 1, count * bs) + struct.pack("<I", 3) * count
    dir_first = 4
    dir_blocks = -(-len(directory) // bs)
    map_block = dir_first + dir_blocks
    out = bytearray((map_block + 1) * bs)
    out[0:56] = MAGIC + struct.pack("<6I", bs, 1, map_block + 1, len(directory), 0, map_block)
    for n in range(dir_blocks):
        piece = directory[n * bs : (n + 1) * bs]
        out[(dir_first + n) * bs : (dir_first + n) * bs + len(piece)] = piece
        struct.pack_into("<I", out, map_block * bs + 4 * n, dir_first + n)
    with pytest.raises(PdbError, match="blocks but the file holds"):
        MsfFile.open(bytes(out))
