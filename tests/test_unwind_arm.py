"""32-bit ARM stack walking on builder-made dumps whose call chains are known by
construction. The context is breakpad's MDRawContextARM (context_flags, r0-r12,
sp, lr, pc, cpsr, VFP area; 368 bytes). Encodings are those of the ARM
Architecture Reference Manual: ARM ``BL`` ``0xEB000010``, ``BLX r3``
``0xE12FFF33``, ``NOP`` ``0xE320F000``; Thumb ``BL`` ``F000 F800``, ``BLX r3``
``0x4798``.
"""

from __future__ import annotations

import struct
from pathlib import Path

import dumplib
from dumplib.builder import DumpBuilder
from dumplib.unwind.arm import follows_call
from dumplib.unwind.frames import Trust

BASE, SP = 0x0001_0000, 0x0007_0000
BL, BLX_R3, NOP = 0xEB000010, 0xE12FFF33, 0xE320F000
BUILD_ID = bytes(range(1, 21))
DEBUG_ID = "0403020106050807090A0B0C0D0E0F100"


def _context(pc: int, sp: int, lr: int = 0, r11: int = 0) -> bytes:
    regs = [0] * 16
    regs[11], regs[13], regs[14], regs[15] = r11, sp, lr, pc
    return struct.pack("<I16II", 0x40000002, *regs, 0x10) + bytes(368 - 72)


def _dump(stack: bytes, ctx: bytes, calls: dict[int, int]) -> dumplib.Dump:
    b = DumpBuilder("arm64", platform_id=0x8203, os_version=(0, 0, 0), processor_architecture=5)
    b.add_thread(1, context=ctx, stack=stack, stack_start=SP)
    words = [NOP] * 0x800
    for offset, word in calls.items():
        words[offset // 4] = word
    code = struct.pack(f"<{len(words)}I", *words)
    b.add_module("/system/lib/libdemo.so", base=BASE, size=len(code),
                 cv_record=b"LEpB" + BUILD_ID)
    b.add_memory(BASE, code)
    return dumplib.open(b.to_bytes())


def test_follows_call_arm_and_thumb() -> None:
    def reader(data: bytes, at: int):  # type: ignore[no-untyped-def]
        return lambda address, size: data[address - at : address - at + size]

    arm_bl = reader(struct.pack("<I", BL), 0x1000)
    assert follows_call(arm_bl, 0x1004)
    assert follows_call(reader(struct.pack("<I", BLX_R3), 0x1000), 0x1004)
    assert not follows_call(reader(struct.pack("<I", NOP), 0x1000), 0x1004)
    assert not follows_call(arm_bl, 0x1006)  # neither word-aligned ARM nor odd Thumb
    thumb_bl = reader(struct.pack("<HH", 0xF000, 0xF800), 0x2000)
    assert follows_call(thumb_bl, 0x2004 | 1)
    assert follows_call(reader(struct.pack("<HH", 0xBF00, 0x4798), 0x2000), 0x2004 | 1)
    assert not follows_call(reader(struct.pack("<HH", 0xBF00, 0xBF00), 0x2000), 0x2004 | 1)


def test_arm_context_and_frame_chain() -> None:
    ret1, ret2 = BASE + 0x1104, BASE + 0x1204
    mem = bytearray(0x100)
    fp0, fp1 = SP + 0x20, SP + 0x60
    struct.pack_into("<II", mem, fp0 - SP, fp1, ret1)
    struct.pack_into("<II", mem, fp1 - SP, 0, ret2)
    with _dump(bytes(mem), _context(BASE + 0x1010, SP, r11=fp0),
               {0x1100: BL, 0x1200: BLX_R3}) as d:
        assert d.system.arch is dumplib.Arch.ARM
        ctx = d.threads[0].context
        assert (ctx.ip, ctx.sp, ctx.fp) == (BASE + 0x1010, SP, fp0)
        stack = d.stack(1)
    assert [f.ip for f in stack.frames] == [BASE + 0x1010, ret1, ret2]
    assert [f.trust for f in stack.frames][1:] == [Trust.FRAME_POINTER] * 2


def test_arm_cfi_with_r_names(tmp_path: Path) -> None:
    """Leaf: return address in lr (r14), CFA = sp; its caller pushed {r11, lr}."""
    ret1, ret2 = BASE + 0x1104, BASE + 0x1204
    mem = bytearray(0x100)
    struct.pack_into("<II", mem, 0, SP + 0x40, ret2)
    sym = (f"MODULE Linux arm {DEBUG_ID} libdemo.so\n"
           "FUNC 1000 80 0 leaf\nFUNC 1080 100 0 caller\n"
           "STACK CFI INIT 1000 80 .cfa: sp 0 + .ra: lr\n"
           "STACK CFI INIT 1080 100 .cfa: sp 8 + .ra: .cfa -4 + ^ r11: .cfa -8 + ^\n")
    path = tmp_path / "libdemo.so.sym"
    path.write_text(sym)
    with _dump(bytes(mem), _context(BASE + 0x1010, SP, lr=ret1),
               {0x1100: BL, 0x1200: BL}) as d:
        stack = d.stack(1, [str(path)])
    assert [f.ip for f in stack.frames][:3] == [BASE + 0x1010, ret1, ret2]
    assert [f.function for f in stack.frames][:2] == ["leaf", "caller"]
    assert stack.frames[2].trust is Trust.CFI
    assert stack.frames[2].registers["r11"] == SP + 0x40
