"""Windows ARM64 unwinding from .pdata/.xdata, on a hand-built ARM64 PE image.

The unwind data follows Microsoft's "ARM64 exception handling" document:
packed .pdata words (Flag 1, FunctionLength, RegF, RegI, H, CR, FrameSize)
and .xdata records (header word, then unwind codes in reverse prolog order:
``alloc_s`` 000xxxxx, ``save_r19r20_x`` 001zzzzz, ``save_fplr`` 01zzzzzz,
``end`` 0xE4). The stack is laid out as the prologs those codes describe would
leave it, so the expected registers follow by construction.
"""

from __future__ import annotations

import struct

import dumplib
from dumplib.builder import DumpBuilder
from dumplib.unwind.arm64_xdata import Arm64Function, Arm64Table, unwind
from dumplib.unwind.frames import Trust

BASE = 0x7FF6_0000_0000
S0 = 0x50_0000
BL, NOP = 0x94000010, 0xD503201F


def _pe(pdata: list[tuple[int, int]], xdata: bytes, calls: list[int]) -> bytes:
    """A memory-layout ARM64 PE32+ image: headers, .text at 0x1000, .rdata at 0x2000
    (xdata at 0x2000, pdata at 0x2800)."""
    hdr = bytearray(0x1000)
    hdr[0:2] = b"MZ"
    struct.pack_into("<I", hdr, 0x3C, 0x80)
    hdr[0x80:0x84] = b"PE\0\0"
    struct.pack_into("<HHIIIHH", hdr, 0x84, 0xAA64, 2, 0x5F000000, 0, 0, 240, 0x2022)
    opt = 0x98
    size_of_image = 0x3000
    struct.pack_into(
        "<HBBIIIIIQIIHHHHHHIIIIHHQQQQII", hdr, opt, 0x20B, 14, 0, 0x1000, 0x1000, 0, 0,
        0x1000, BASE, 0x1000, 0x200, 6, 0, 0, 0, 6, 0, 0, size_of_image, 0x1000, 0, 3,
        0x160, 0x100000, 0x1000, 0x100000, 0x1000, 0, 16,
    )
    pdata_bytes = b"".join(struct.pack("<II", b, w) for b, w in pdata)
    struct.pack_into("<II", hdr, opt + 112 + 3 * 8, 0x2800, len(pdata_bytes))
    for i, (name, rva, chars) in enumerate(((b".text", 0x1000, 0x60000020),
                                            (b".rdata", 0x2000, 0x40000040))):
        struct.pack_into("<8sIIIIIIHHI", hdr, opt + 240 + 40 * i, name, 0x1000, rva, 0x1000,
                         rva, 0, 0, 0, 0, chars)
    words = [NOP] * 0x400
    for c in calls:
        words[c // 4 - 0x400] = BL
    text = struct.pack("<1024I", *words)
    rdata = bytearray(0x1000)
    rdata[0 : len(xdata)] = xdata
    rdata[0x800 : 0x800 + len(pdata_bytes)] = pdata_bytes
    return bytes(hdr) + text + bytes(rdata)


# A at 0x1000 (0x40 bytes): packed, CR=3 (stp fp,lr,[sp,#-32]!; mov fp,sp), FrameSize 2
PACKED_A = 1 | (0x40 // 4) << 2 | 3 << 21 | 2 << 23
# B at 0x1100 (0x100 bytes): stp x19,x20,[sp,#-48]!; stp fp,lr,[sp,#16]; sub sp,sp,#32
XDATA_B = struct.pack("<I", (0x100 // 4) | 1 << 27) + bytes([0x02, 0x42, 0x26, 0xE4])


def _dump(stack: bytes, regs: dict[str, int]) -> dumplib.Dump:
    image = _pe([(0x1000, PACKED_A), (0x1100, 0x2000)], XDATA_B, [0x1180, 0x1300])
    b = DumpBuilder("arm64")
    b.add_thread(1, context=regs, stack=stack, stack_start=S0)
    b.add_module(r"C:\app\app.exe", base=BASE, size=len(image), time_date_stamp=0x5F000000)
    b.add_memory(BASE, image)
    return dumplib.open(b.to_bytes())


def test_packed_and_xdata_unwinding() -> None:
    ret_b, ret_c = BASE + 0x1184, BASE + 0x1304
    fp_b, fp_c = S0 + 0x200, S0 + 0x300
    mem = bytearray(0x400)
    struct.pack_into("<QQ", mem, 0, fp_b, ret_b)  # A's frame: [sp] = fp, [sp+8] = lr
    s1 = S0 + 32  # B's sp in its body
    struct.pack_into("<QQ", mem, s1 + 32 - S0, 0x1919, 0x2020)  # x19, x20
    struct.pack_into("<QQ", mem, s1 + 48 - S0, fp_c, ret_c)  # fp, lr at [sp+16]
    with _dump(bytes(mem), {"pc": BASE + 0x1010, "sp": S0, "fp": S0, "lr": 0}) as d:
        stack = d.stack(1)
    assert [f.ip for f in stack.frames][:3] == [BASE + 0x1010, ret_b, ret_c]
    assert [f.trust for f in stack.frames][1:3] == [Trust.CFI, Trust.CFI]
    assert [f.sp for f in stack.frames][1:3] == [s1, s1 + 32 + 48]
    regs = stack.frames[2].registers
    assert (regs["x19"], regs["x20"], regs["fp"]) == (0x1919, 0x2020, fp_c)


def test_leaf_without_pdata_returns_through_lr() -> None:
    ret_b = BASE + 0x1184
    with _dump(bytes(0x100), {"pc": BASE + 0x1050, "sp": S0, "fp": 0, "lr": ret_b}) as d:
        stack = d.stack(1)
    assert [f.ip for f in stack.frames][:2] == [BASE + 0x1050, ret_b]
    assert stack.frames[1].trust is Trust.CFI


def test_partial_prolog_of_the_faulting_frame() -> None:
    """Stopped after B's first prolog instruction (stp x19,x20,[sp,#-48]!): only that
    one is undone, and the return address is still in lr."""
    table = Arm64Table([Arm64Function(0x1100, 0x2000)],
                       lambda rva, size: XDATA_B[rva - 0x2000 : rva - 0x2000 + size])
    memory = {S0: 0x1919, S0 + 8: 0x2020}
    regs = {"pc": BASE + 0x1104, "sp": S0, "lr": 0xABC0, "fp": 0x77}
    new = unwind(regs, 0x1104, table.entries[0], table, memory.__getitem__, exact=True)
    assert (new["sp"], new["x19"], new["x20"], new["pc"], new["fp"]) == (
        S0 + 48, 0x1919, 0x2020, 0xABC0, 0x77)
