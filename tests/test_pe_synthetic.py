"""PE reader against images built in the test, so the truth is how they were built.

The builder below writes PE files with its own packing (it shares nothing with
``dumplib.pe.structs``): exports with names, ordinal-only entries and
forwarders; exception data covering every AMD64 unwind op, chained infos,
an indirect RUNTIME_FUNCTION and broken chains. pefile reads the same files as
a second opinion where it can.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

import pefile  # type: ignore[import-untyped, unused-ignore]
import pytest

from dumplib._exc import DumpError, MemoryNotInDump
from dumplib.pe import (
    PeError,
    PeImage,
    Register,
    RuntimeFunction,
    UnwindFlags,
    UnwindOp,
    parse_codeview,
    parse_version_info,
)

FILE_ALIGN = 0x200
SECT_ALIGN = 0x1000
TEXT, RDATA, PDATA = 0x1000, 0x2000, 0x3000


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


@dataclass
class Sec:
    """One section to build: name, RVA, contents, IMAGE_SCN flags, VirtualSize override."""

    name: bytes
    rva: int
    data: bytes
    flags: int = 0x40000040
    vsize: int | None = None


@dataclass
class Spec:
    """What the builder writes."""

    sections: list[Sec]
    dirs: dict[int, tuple[int, int]] = field(default_factory=dict)
    plus: bool = True
    machine: int = 0x8664
    timestamp: int = 0x5C9E0959
    image_base: int = 0x1_4000_0000
    entry: int = TEXT


def build_pe(spec: Spec) -> bytes:
    """Write a PE32/PE32+ file from ``spec`` (e_lfanew 0x80, 16 data directories)."""
    lfanew = 0x80
    opt_size = (0x70 if spec.plus else 0x60) + 16 * 8
    nsec = len(spec.sections)
    headers_size = _align(lfanew + 4 + 20 + opt_size + 40 * nsec, FILE_ALIGN)
    size_of_image = _align(
        max(s.rva + max(len(s.data), s.vsize or 0) for s in spec.sections), SECT_ALIGN
    )
    dos = bytearray(lfanew)
    dos[0:2] = b"MZ"
    dos[0x3C:0x40] = lfanew.to_bytes(4, "little")
    fh = struct.pack(
        "<HHIIIHH", spec.machine, nsec, spec.timestamp, 0, 0, opt_size,
        0x22 if spec.plus else 0x102,
    )
    common_tail = struct.pack(
        "<IIHHHHHHIIIIHH", SECT_ALIGN, FILE_ALIGN, 6, 0, 1, 2, 6, 0, 0,
        size_of_image, headers_size, 0xC0FFEE, 3, 0x8160,
    )
    if spec.plus:
        opt = struct.pack("<HBBIIIIIQ", 0x20B, 14, 15, 0x200, 0x400, 0, spec.entry, TEXT,
                          spec.image_base)
        opt += common_tail + struct.pack("<QQQQII", 0x100000, 0x1000, 0x100000, 0x1000, 0, 16)
    else:
        opt = struct.pack("<HBBIIIIIII", 0x10B, 14, 15, 0x200, 0x400, 0, spec.entry, TEXT,
                          RDATA, spec.image_base)
        opt += common_tail + struct.pack("<IIIIII", 0x100000, 0x1000, 0x100000, 0x1000, 0, 16)
    for i in range(16):
        opt += struct.pack("<II", *spec.dirs.get(i, (0, 0)))
    assert len(opt) == opt_size
    table = b""
    body = b""
    pointer = headers_size
    for s in spec.sections:
        raw = _align(len(s.data), FILE_ALIGN)
        table += struct.pack(
            "<8sIIIIIIHHI", s.name, s.vsize or len(s.data), s.rva, raw, pointer, 0, 0, 0, 0,
            s.flags,
        )
        body += s.data.ljust(raw, b"\0")
        pointer += raw
    head = bytes(dos) + b"PE\0\0" + fh + opt + table
    return head.ljust(headers_size, b"\0") + body


# ---------------------------------------------------------------- exports


def export_section(
    rva: int, dll: str, base: int, entries: list[tuple[int, str | None, int | str]]
) -> tuple[bytes, int]:
    """An export directory at ``rva``: entries are (ordinal, name or None, RVA or forwarder)."""
    nfuncs = max(o for o, _, _ in entries) - base + 1
    named = sorted((n, o) for o, n, _ in entries if n is not None)
    eat_at = rva + 40
    names_at = eat_at + 4 * nfuncs
    ords_at = names_at + 4 * len(named)
    strings_at = ords_at + 2 * len(named)
    strings = b""

    def add(text: str) -> int:
        nonlocal strings
        where = strings_at + len(strings)
        strings += text.encode() + b"\0"
        return where

    dll_at = add(dll)
    eat = [0] * nfuncs
    for ordinal, _, target in entries:
        eat[ordinal - base] = add(target) if isinstance(target, str) else target
    name_ptrs = [add(n) for n, _ in named]
    directory = struct.pack(
        "<IIHHIIIIIII", 0, 0x12345678, 1, 2, dll_at, base, nfuncs, len(named), eat_at,
        names_at, ords_at,
    )
    blob = (
        directory
        + struct.pack(f"<{nfuncs}I", *eat)
        + struct.pack(f"<{len(named)}I", *name_ptrs)
        + struct.pack(f"<{len(named)}H", *(o - base for _, o in named))
        + strings
    )
    return blob, len(blob)


EXPORTS: list[tuple[int, str | None, int | str]] = [
    (5, "Alpha", TEXT + 0x10),
    (6, "Beta", TEXT + 0x40),
    (7, None, TEXT + 0x80),  # by ordinal only
    (8, "AllocAlias", "NTDLL.RtlAllocateHeap"),
    (9, "Gamma", TEXT + 0x40),  # second name for Beta's code
    (11, "Delta", TEXT + 0x100),  # ordinal 10 left empty
]


def _export_image(plus: bool = True) -> bytes:
    blob, size = export_section(RDATA, "synthetic.dll", 5, EXPORTS)
    return build_pe(
        Spec(
            sections=[
                Sec(b".text", TEXT, b"\xcc" * 0x200, 0x60000020),
                Sec(b".rdata", RDATA, blob),
            ],
            dirs={0: (RDATA, size)},
            plus=plus,
            machine=0x8664 if plus else 0x14C,
            image_base=0x1_8000_0000 if plus else 0x1000_0000,
        )
    )


@pytest.mark.parametrize("plus", [True, False], ids=["pe32+", "pe32"])
def test_exports_as_built(plus: bool) -> None:
    data = _export_image(plus)
    pe = PeImage.from_file(data)
    assert pe.is_64bit is plus
    table = pe.exports
    assert table is not None
    assert table.dll_name == "synthetic.dll"
    assert table.ordinal_base == 5
    got = sorted((e.ordinal, e.name, e.rva if e.forwarder is None else e.forwarder)
                 for e in table)
    assert got == sorted(EXPORTS, key=lambda e: (e[0], e[1] or ""))
    alias = table.by_name("AllocAlias")
    assert alias is not None and alias.is_forwarder
    assert alias.forwarder == "NTDLL.RtlAllocateHeap"
    assert table.by_ordinal(7) is not None and table.by_ordinal(7).name is None  # type: ignore[union-attr]
    assert table.by_ordinal(10) is None
    # nearest export below an RVA: forwarders never count; a named alias beats none
    near = table.nearest(TEXT + 0x45)
    assert near is not None and near.name == "Beta"  # "Beta" < "Gamma"
    near = table.nearest(TEXT + 0x90)
    assert near is not None and near.ordinal == 7
    assert table.nearest(TEXT + 0xF) is None
    assert [e.rva for e in table.sorted_by_rva] == [TEXT + 0x10, TEXT + 0x40, TEXT + 0x80,
                                                    TEXT + 0x100]
    # pefile's reading of the same file
    ref = pefile.PE(data=data)
    theirs = sorted(
        (s.ordinal, s.name.decode() if s.name else None,
         s.forwarder.decode() if s.forwarder else s.address)
        for s in ref.DIRECTORY_ENTRY_EXPORT.symbols
    )
    ours = sorted((e.ordinal, e.name, e.forwarder or e.rva) for e in table)
    assert ours == theirs


def test_exports_in_memory_layout() -> None:
    data = _export_image()
    ref = pefile.PE(data=data)
    image: bytes = bytes(ref.get_memory_mapped_image())
    base = 0x7FFA_0000_0000

    def read(address: int, size: int) -> bytes:
        off = address - base
        if off < 0 or off + size > len(image):
            raise MemoryNotInDump("absent", address=address)
        return image[off : off + size]

    mem = PeImage.from_memory(read, base, len(image))
    disk = PeImage.from_file(data)
    assert mem.exports is not None and disk.exports is not None
    assert mem.exports.exports == disk.exports.exports


def test_export_counts_beyond_cap_raise() -> None:
    blob, size = export_section(RDATA, "x.dll", 1, [(1, "A", TEXT)])
    bad = bytearray(blob)
    struct.pack_into("<I", bad, 0x14, 0x7FFFFFFF)  # NumberOfFunctions
    data = build_pe(Spec([Sec(b".text", TEXT, b"\xc3" * 16, 0x60000020),
                          Sec(b".rdata", RDATA, bytes(bad))], {0: (RDATA, size)}))
    with pytest.raises(PeError, match="functions"):
        _ = PeImage.from_file(data).exports
    struct.pack_into("<I", bad, 0x14, 0x8000)  # in the cap but past the image
    data = build_pe(Spec([Sec(b".text", TEXT, b"\xc3" * 16, 0x60000020),
                          Sec(b".rdata", RDATA, bytes(bad))], {0: (RDATA, size)}))
    with pytest.raises(PeError) as info:
        _ = PeImage.from_file(data).exports
    assert info.value.offset is not None


# ---------------------------------------------------------------- unwind data


def slot(offset: int, op: int, info: int) -> bytes:
    return bytes([offset, op | (info << 4)])


def unwind_blob(
    slots: list[bytes], *, version: int = 1, flags: int = 0, prolog: int = 0,
    frame: int = 0, frame_offset: int = 0, tail: bytes = b"",
) -> bytes:
    codes = b"".join(slots)
    count = len(codes) // 2
    if count % 2:
        codes += b"\0\0"
    head = bytes([version | (flags << 3), prolog, count, frame | (frame_offset << 4)])
    return (head + codes + tail).ljust(_align(4 + len(codes) + len(tail), 4), b"\0")


U16 = struct.Struct("<H")
U32 = struct.Struct("<I")
# Every op, laid out as a prolog in reverse order (the way compilers store them).
ALL_OPS = [
    slot(0x2C, 9, 15) + U32.pack(0x12340),  # SAVE_XMM128_FAR xmm15, 0x12340
    slot(0x26, 8, 6) + U16.pack(2),  # SAVE_XMM128 xmm6, 0x20
    slot(0x20, 5, 12) + U32.pack(0x100008),  # SAVE_NONVOL_FAR r12, 0x100008
    slot(0x1B, 4, 3) + U16.pack(2),  # SAVE_NONVOL rbx, 0x10
    slot(0x16, 3, 0),  # SET_FPREG
    slot(0x12, 1, 1) + U32.pack(0x123458),  # ALLOC_LARGE (32-bit form)
    slot(0x0B, 1, 0) + U16.pack(0xFFFF),  # ALLOC_LARGE (16-bit form, x8)
    slot(0x04, 2, 15),  # ALLOC_SMALL 128
    slot(0x02, 0, 15),  # PUSH_NONVOL r15
    slot(0x01, 10, 1),  # PUSH_MACHFRAME with error code
]
EXPECTED_ALL = [
    (0x2C, UnwindOp.SAVE_XMM128_FAR, 15, 0x12340, 3),
    (0x26, UnwindOp.SAVE_XMM128, 6, 0x20, 2),
    (0x20, UnwindOp.SAVE_NONVOL_FAR, 12, 0x100008, 3),
    (0x1B, UnwindOp.SAVE_NONVOL, 3, 0x10, 2),
    (0x16, UnwindOp.SET_FPREG, 0, 0x20, 1),
    (0x12, UnwindOp.ALLOC_LARGE, 1, 0x123458, 3),
    (0x0B, UnwindOp.ALLOC_LARGE, 0, 0x7FFF8, 2),
    (0x04, UnwindOp.ALLOC_SMALL, 15, 128, 1),
    (0x02, UnwindOp.PUSH_NONVOL, 15, None, 1),
    (0x01, UnwindOp.PUSH_MACHFRAME, 1, None, 1),
]


@dataclass
class UnwindImage:
    """A built image with .text, .rdata holding unwind infos, and .pdata."""

    data: bytes
    functions: list[tuple[int, int, int]]
    infos: dict[str, int]


def build_unwind_image(
    infos: dict[str, bytes], functions: list[tuple[int, int, str | int]]
) -> UnwindImage:
    """Place named unwind blobs in .rdata and a .pdata of (begin, end, info name or raw RVA).

    A blob may contain the 4-byte marker ``b"@RF:"`` + name placeholder handled by the
    caller; here chained RUNTIME_FUNCTIONs are written by the caller with known RVAs.
    """
    rdata = b""
    where: dict[str, int] = {}
    for name, blob in infos.items():
        where[name] = RDATA + len(rdata)
        rdata += blob
    pdata = b"".join(
        U32.pack(b) + U32.pack(e) + U32.pack(where[u] if isinstance(u, str) else u)
        for b, e, u in functions
    )
    resolved = [(b, e, where[u] if isinstance(u, str) else u) for b, e, u in functions]
    data = build_pe(
        Spec(
            sections=[
                Sec(b".text", TEXT, b"\x90" * 0x800, 0x60000020),
                Sec(b".rdata", RDATA, rdata),
                Sec(b".pdata", PDATA, pdata),
            ],
            dirs={3: (PDATA, len(pdata))},
        )
    )
    return UnwindImage(data, resolved, where)


def _rf(begin: int, end: int, unwind: int) -> bytes:
    return U32.pack(begin) + U32.pack(end) + U32.pack(unwind)


def test_every_unwind_op_as_built() -> None:
    blob = unwind_blob(ALL_OPS, flags=1, prolog=0x30, frame=5, frame_offset=2,
                       tail=U32.pack(TEXT + 0x700) + b"LSDA")
    img = build_unwind_image({"all": blob}, [(TEXT, TEXT + 0x100, "all")])
    pe = PeImage.from_file(img.data)
    rf = pe.function_for(TEXT + 0x50)
    assert rf == RuntimeFunction(TEXT, TEXT + 0x100, img.infos["all"])
    info = pe.unwind_info(rf)
    assert info is not None
    assert (info.version, info.flags, info.size_of_prolog, info.count_of_codes) == (1, 1, 0x30, 19)
    assert info.unwind_flags == UnwindFlags.EHANDLER
    assert (info.frame_register, info.frame_offset) == (Register.RBP, 0x20)
    got = [(c.offset_in_prolog, c.op, c.op_info, c.operand, c.slots) for c in info.codes]
    assert got == EXPECTED_ALL
    assert info.codes[2].register is Register.R12
    assert info.handler_rva == TEXT + 0x700
    assert info.handler_data_rva == img.infos["all"] + 4 + 20 * 2 + 4
    assert pe.read(info.handler_data_rva, 4) == b"LSDA"
    assert info.chained is None
    # pushes, allocations and the machine frame (48 with an error code)
    assert info.stack_size == 8 + 128 + 0x7FFF8 + 0x123458 + 48
    # pefile decodes the same bytes the same way
    ref = pefile.PE(data=img.data)
    u = ref.DIRECTORY_ENTRY_EXCEPTION[0].unwindinfo
    assert [(c.struct.CodeOffset, c.struct.UnwindOp) for c in u.UnwindCodes] == [
        (c[0], int(c[1])) for c in EXPECTED_ALL
    ]


# Version-2 unwind infos as LLVM's assembler writes them, with what llvm-readobj
# prints for them (llvm/test/MC/COFF/seh-unwindv2.s): each function is
# "sub rsp, 40" (ALLOC_SMALL 40 at prolog offset 4) plus epilog codes.
LLVM_V2 = {
    # "EPILOG atend=yes, length=0x1", "EPILOG padding"
    "single_epilog_atend": ([slot(1, 6, 1), slot(0, 6, 0)], 1, (1,)),
    # "EPILOG atend=no, length=0x1", "EPILOG offset=0x2"
    "single_epilog_notatend": ([slot(1, 6, 0), slot(2, 6, 0)], 1, (2,)),
    # "EPILOG atend=no, length=0x1", "offset=0x5", "offset=0xF", "EPILOG padding"
    "multiple_epilogs": ([slot(1, 6, 0), slot(5, 6, 0), slot(0x0F, 6, 0), slot(0, 6, 0)], 1,
                         (5, 0xF)),
    # "EPILOG atend=yes, length=0x1", "EPILOG offset=0xB"
    "mismatched_terminators": ([slot(1, 6, 1), slot(0x0B, 6, 0)], 1, (1, 0xB)),
}


@pytest.mark.parametrize("name", sorted(LLVM_V2))
def test_version2_epilog_codes_as_llvm_writes_them(name: str) -> None:
    epilogs, size, offsets = LLVM_V2[name]
    blob = unwind_blob([*epilogs, slot(4, 2, 4)], version=2, prolog=4)
    img = build_unwind_image({"v2": blob}, [(TEXT, TEXT + 0x40, "v2")])
    pe = PeImage.from_file(img.data)
    rf = pe.function_for(TEXT)
    assert rf is not None
    info = pe.unwind_info(rf)
    assert info is not None and info.version == 2
    assert [c.op for c in info.codes] == [UnwindOp.EPILOG] * len(epilogs) + [
        UnwindOp.ALLOC_SMALL
    ]
    assert all(c.slots == 1 for c in info.codes)
    assert info.epilog_size == size
    assert info.epilog_offsets == offsets
    assert [(c.op, c.operand) for c in info.prolog_codes] == [(UnwindOp.ALLOC_SMALL, 40)]
    assert info.stack_size == 40
    # pefile groups the epilog slots differently but finds the same prolog code after them
    u = pefile.PE(data=img.data).DIRECTORY_ENTRY_EXCEPTION[0].unwindinfo
    last = u.UnwindCodes[-1].struct
    assert (last.CodeOffset, last.UnwindOp) == (4, 2)


def test_large_epilog_offsets_use_op_info_as_high_bits() -> None:
    # an epilog 0x123 bytes before the end: offset byte 0x23, op info 1
    blob = unwind_blob([slot(5, 6, 0), slot(0x23, 6, 1), slot(1, 0, 5)], version=2, prolog=1)
    img = build_unwind_image({"v2": blob}, [(TEXT, TEXT + 0x200, "v2")])
    pe = PeImage.from_file(img.data)
    rf = pe.function_for(TEXT)
    assert rf is not None
    info = pe.unwind_info(rf)
    assert info is not None
    assert info.epilog_size == 5 and info.epilog_offsets == (0x123,)
    assert [c.op for c in info.prolog_codes] == [UnwindOp.PUSH_NONVOL]


def test_chained_and_indirect_runtime_functions() -> None:
    parent = unwind_blob([slot(4, 2, 3), slot(1, 0, 3)], prolog=4)  # sub rsp,32; push rbx
    # a chained info whose parent entry is the first function
    child = unwind_blob([slot(3, 0, 6)], flags=4, prolog=3,
                        tail=_rf(TEXT, TEXT + 0x40, RDATA))
    img = build_unwind_image(
        {"parent": parent, "child": child},
        [
            (TEXT, TEXT + 0x40, "parent"),
            (TEXT + 0x40, TEXT + 0x80, "child"),
            # RUNTIME_FUNCTION_INDIRECT: UnwindData = RVA of the first .pdata entry + 1
            (TEXT + 0x80, TEXT + 0xC0, PDATA + 1),
        ],
    )
    assert img.infos["parent"] == RDATA
    pe = PeImage.from_file(img.data)
    child_rf = pe.function_for(TEXT + 0x41)
    assert child_rf is not None
    chain = pe.unwind_chain(child_rf)
    assert chain is not None
    assert [i.rva for i in chain] == [img.infos["child"], img.infos["parent"]]
    assert chain[0].has_chain and chain[0].chained == RuntimeFunction(TEXT, TEXT + 0x40, RDATA)
    assert sum(i.stack_size for i in chain) == 8 + 32 + 8
    indirect = pe.function_for(TEXT + 0x90)
    assert indirect is not None and indirect.unwind_rva == PDATA + 1
    shared = pe.unwind_info(indirect)
    assert shared is not None and shared.rva == img.infos["parent"]


def test_chain_cycles_and_depth_are_caught() -> None:
    # "loop" chains to a function whose unwind info is "loop" itself
    loop_rva = RDATA
    loop = unwind_blob([], flags=4, tail=_rf(TEXT, TEXT + 0x10, loop_rva))
    infos = {"loop": loop}
    # a chain of 40 infos, each chaining to the next
    depth = 40
    link_size = len(unwind_blob([], flags=4, tail=_rf(0, 0, 0)))
    first = RDATA + len(loop)
    for i in range(depth):
        nxt = first + (i + 1) * link_size
        infos[f"d{i}"] = unwind_blob([], flags=4, tail=_rf(TEXT + 0x100, TEXT + 0x110, nxt))
    infos["end"] = unwind_blob([])
    img = build_unwind_image(
        infos, [(TEXT, TEXT + 0x10, "loop"), (TEXT + 0x20, TEXT + 0x30, "d0")]
    )
    assert img.infos["loop"] == loop_rva and img.infos["d1"] == first + link_size
    pe = PeImage.from_file(img.data)
    loop_rf = pe.function_for(TEXT)
    deep_rf = pe.function_for(TEXT + 0x20)
    assert loop_rf is not None and deep_rf is not None
    with pytest.raises(PeError, match="loops"):
        pe.unwind_chain(loop_rf)
    with pytest.raises(PeError, match="deeper"):
        pe.unwind_chain(deep_rf)


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (unwind_blob([slot(1, 0, 3)], version=3), "version"),
        (unwind_blob([slot(1, 11, 0)]), "unknown unwind op"),
        (unwind_blob([slot(1, 1, 2), b"\0\0"]), "ALLOC_LARGE"),
        (bytes([1, 4, 1, 0]) + slot(4, 1, 1) + b"\0" * 8, "slots"),  # 3-slot code, count 1
        (bytes([1, 0, 3, 0]) + slot(2, 4, 3) + U16.pack(1) + slot(1, 5, 3) + b"\0\0", "slots"),
    ],
    ids=["version", "op", "alloc-info", "alloc-overrun", "far-overrun"],
)
def test_bad_unwind_info_raises(blob: bytes, message: str) -> None:
    img = build_unwind_image({"bad": blob}, [(TEXT, TEXT + 0x10, "bad")])
    pe = PeImage.from_file(img.data)
    rf = pe.function_for(TEXT)
    assert rf is not None
    with pytest.raises(PeError, match=message) as info:
        pe.unwind_info(rf)
    assert info.value.offset is not None and info.value.offset >= RDATA
    assert isinstance(info.value, DumpError)


def test_impossible_pdata_entries_are_skipped_with_a_warning() -> None:
    good = unwind_blob([slot(1, 0, 3)], prolog=1)
    img = build_unwind_image(
        {"good": good},
        [
            (TEXT, TEXT + 0x10, "good"),
            (TEXT + 0x20, TEXT + 0x10, "good"),  # end before begin
            (TEXT + 0x30, 0x7FFF_0000, "good"),  # end past the image
            (0, 0, 0),  # zero padding entry
            (TEXT + 0x40, TEXT + 0x50, "good"),
        ],
    )
    pe = PeImage.from_file(img.data)
    assert [rf.begin for rf in pe.runtime_functions] == [TEXT, TEXT + 0x40]
    assert any("2 RUNTIME_FUNCTION" in w for w in pe.warnings)


def test_unsorted_pdata_is_sorted_once() -> None:
    good = unwind_blob([slot(1, 0, 3)], prolog=1)
    img = build_unwind_image(
        {"good": good},
        [(TEXT + 0x40, TEXT + 0x50, "good"), (TEXT, TEXT + 0x10, "good")],
    )
    pe = PeImage.from_file(img.data)
    assert [rf.begin for rf in pe.runtime_functions] == [TEXT, TEXT + 0x40]
    assert pe.function_for(TEXT + 0x45) is not None
    assert pe.function_for(TEXT + 0x20) is None


# ---------------------------------------------------------------- CodeView and version


def test_codeview_records_as_built() -> None:
    guid = bytes(range(16))
    rsds = b"RSDS" + guid + U32.pack(0x2A) + b"C:\\build\\app.pdb\0"
    cv = parse_codeview(rsds)
    assert cv is not None
    # Data1..3 little-endian, Data4 in byte order, as symbol stores spell a GUID
    assert cv.identifier == "03020100050407060809" + "0A0B0C0D0E0F"
    assert (cv.pdb_name, cv.age, cv.basename, cv.key) == (
        "C:\\build\\app.pdb", 0x2A, "app.pdb", "030201000504070608090A0B0C0D0E0F2a"
    )
    nb10 = b"NB10" + U32.pack(0) + U32.pack(0x3C9E0959) + U32.pack(3) + b"old.pdb\0"
    old = parse_codeview(nb10)
    assert old == ("old.pdb", "3C9E0959", 3)
    assert old is not None and not old.is_pdb70
    assert parse_codeview(b"XXXX" + bytes(30)) is None
    assert parse_codeview(b"RSDS" + bytes(5)) is None


def _vs_block(key: str, value: bytes, children: list[bytes], *, text: bool = False) -> bytes:
    """One VS_VERSIONINFO-style block (header, key, padding, value, padding, children)."""
    key_bytes = key.encode("utf-16-le") + b"\0\0"
    head_len = 6 + len(key_bytes)
    pad1 = (-head_len) % 4
    val = value + (b"" if not value else bytes((-len(value)) % 4))
    body = key_bytes + bytes(pad1) + val + b"".join(
        c + bytes((-len(c)) % 4) for c in children
    )
    value_length = len(value) // 2 if text else len(value)
    return struct.pack("<HHH", 6 + len(body), value_length, 1 if text else 0) + body


def _version_resource() -> bytes:
    fixed = struct.pack(
        "<13I", 0xFEEF04BD, 0x10000, (10 << 16) | 2, (19041 << 16) | 1, (10 << 16) | 0,
        (19041 << 16) | 0, 0x3F, 0x2, 0x40004, 2, 0, 0, 0,
    )

    def string(k: str, v: str) -> bytes:
        return _vs_block(k, v.encode("utf-16-le") + b"\0\0", [], text=True)

    table = _vs_block("040904b0", b"", [
        string("CompanyName", "Contoso Ltd."),
        string("FileDescription", "Synthetic library"),
        string("FileVersion", "10.2.19041.1 (build)"),
        string("ProductName", "Contoso"),
        string("Comments", ""),
    ])
    sfi = _vs_block("StringFileInfo", b"", [table])
    var = _vs_block("Translation", struct.pack("<HH", 0x409, 1200), [])
    vfi = _vs_block("VarFileInfo", b"", [var])
    return _vs_block("VS_VERSION_INFO", fixed, [sfi, vfi])


def _resource_section(rva: int, payload: bytes, type_id: int = 16) -> bytes:
    """root(type) -> name(1) -> language(0x409) -> data entry -> payload."""
    def directory(entries: list[tuple[int, int]]) -> bytes:
        return struct.pack("<IIHHHH", 0, 0, 0, 0, 0, len(entries)) + b"".join(
            struct.pack("<II", i, t) for i, t in entries
        )

    level1 = directory([(3, 0), (type_id, 0x80000000 | 0x30)])  # an RT_ICON entry first
    level1 = level1.ljust(0x30, b"\0")
    level2 = directory([(1, 0x80000000 | 0x50)]).ljust(0x20, b"\0")
    level3 = directory([(0x409, 0x70)]).ljust(0x20, b"\0")
    entry = struct.pack("<IIII", rva + 0x80, len(payload), 1200, 0).ljust(0x10, b"\0")
    return level1 + level2 + level3 + entry + payload


def test_version_resource_as_built() -> None:
    payload = _version_resource()
    info = parse_version_info(payload)
    assert info.fixed is not None
    assert info.file_version == (10, 2, 19041, 1)
    assert info.product_version == (10, 0, 19041, 0)
    assert (info.fixed.flags, info.fixed.os, info.fixed.type) == (2, 0x40004, 2)
    assert info.string_tables == {"040904b0": {
        "CompanyName": "Contoso Ltd.", "FileDescription": "Synthetic library",
        "FileVersion": "10.2.19041.1 (build)", "ProductName": "Contoso", "Comments": "",
    }}
    assert info.translations == ((0x409, 1200),)
    rsrc = 0x4000
    data = build_pe(Spec(
        [Sec(b".text", TEXT, b"\xc3" * 16, 0x60000020),
         Sec(b".rsrc", rsrc, _resource_section(rsrc, payload))],
        {2: (rsrc, 0x80 + len(payload))},
    ))
    pe = PeImage.from_file(data)
    assert pe.version_info == info
    assert pe.file_version == (10, 2, 19041, 1)
    ref = pefile.PE(data=data)
    assert ref.VS_FIXEDFILEINFO[0].FileVersionLS == (19041 << 16) | 1
    strings = {k.decode(): v.decode() for k, v in ref.FileInfo[0][0].StringTable[0].entries.items()}
    assert strings == info.strings


def test_no_version_resource_is_none() -> None:
    rsrc = 0x4000
    data = build_pe(Spec(
        [Sec(b".text", TEXT, b"\xc3" * 16, 0x60000020),
         Sec(b".rsrc", rsrc, _resource_section(rsrc, b"\0" * 8, type_id=24))],
        {2: (rsrc, 0x88)},
    ))
    assert PeImage.from_file(data).version_info is None


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: struct.pack("<H", 3) + b[2:],  # wLength below the header
        lambda b: b.replace("VS_VERSION_INFO".encode("utf-16-le"), "VS_VERSION_XXX".encode(
            "utf-16-le") + b"\0\0"),
    ],
    ids=["length", "key"],
)
def test_bad_version_resource_raises(mutate: Callable[[bytes], bytes]) -> None:
    payload = mutate(_version_resource())
    with pytest.raises(PeError):
        parse_version_info(payload)


# ---------------------------------------------------------------- headers and bounds


def test_bss_section_reads_as_zeros_and_file_cut_short_raises() -> None:
    data = build_pe(Spec([
        Sec(b".text", TEXT, b"\xc3" * 16, 0x60000020),
        Sec(b".bss", RDATA, b"\x11" * 0x10, 0xC0000080, vsize=0x2800),
    ]))
    pe = PeImage.from_file(data)
    assert pe.read(RDATA, 0x10) == b"\x11" * 0x10
    assert pe.read(RDATA + 0x10, 0x20) == bytes(0x20)  # past SizeOfRawData, inside VirtualSize
    # the loader maps VirtualSize (0x2800) rounded up to SectionAlignment (0x1000)
    assert pe.read(RDATA + 0x2FF0, 0x10) == bytes(0x10)
    with pytest.raises(PeError, match="cross"):
        pe.read(RDATA + 0x2FF8, 0x10)
    assert pe.read(RDATA + 0x3000, 0) == b""
    with pytest.raises(PeError, match="no section"):
        pe.read(0x9000, 4)
    cut = PeImage.from_file(data[: len(data) - 0x1F8])  # 8 of .bss's 16 stored bytes left
    with pytest.raises(PeError, match="cut short"):
        cut.read(RDATA, 0x10)


@pytest.mark.parametrize(
    ("offset", "value", "message"),
    [
        (0, b"ZM", "MZ"),
        (0x3C, struct.pack("<I", 0xFFFFFFF0), "e_lfanew"),
        (0x80, b"PX\0\0", "PE signature"),
        (0x86, struct.pack("<H", 0x900), "sections"),
        (0x98, struct.pack("<H", 0x30B), "magic"),
        (0x94, struct.pack("<H", 0x20), "SizeOfOptionalHeader"),
    ],
    ids=["mz", "lfanew", "pe", "nsections", "magic", "optsize"],
)
def test_bad_headers_raise_pe_error(offset: int, value: bytes, message: str) -> None:
    data = bytearray(_export_image())
    data[offset : offset + len(value)] = value
    with pytest.raises(PeError, match=message):
        PeImage.from_file(bytes(data))


def test_truncated_headers_raise_pe_error() -> None:
    data = _export_image()
    for cut in (0, 2, 0x40, 0x84, 0x100, 0x1F0, 0x400, 0x410):
        with pytest.raises(PeError):  # the headers, or (lazily) the export directory
            _ = PeImage.from_file(data[:cut]).exports


def test_memory_reader_short_answer_is_an_error() -> None:
    data = _export_image()

    def read(address: int, size: int) -> bytes:
        return data[address - 0x10000 : address - 0x10000 + size][: max(0, size - 1)]

    with pytest.raises(PeError, match="returned"):
        PeImage.from_memory(read, 0x10000, 0x3000)


def test_a_corrupt_directory_fails_the_same_way_every_time() -> None:
    blob, size = export_section(RDATA, "x.dll", 1, [(1, "A", TEXT)])
    bad = bytearray(blob)
    struct.pack_into("<I", bad, 0x14, 0x7FFFFFFF)  # NumberOfFunctions
    pe = PeImage.from_file(build_pe(Spec([Sec(b".text", TEXT, b"\xc3" * 16, 0x60000020),
                                          Sec(b".rdata", RDATA, bytes(bad))],
                                         {0: (RDATA, size)})))
    with pytest.raises(PeError) as first:
        _ = pe.exports
    with pytest.raises(PeError) as second:
        _ = pe.exports
    assert second.value is first.value  # parsed once, the error kept
    assert pe.codeview is None  # other accessors are unaffected
