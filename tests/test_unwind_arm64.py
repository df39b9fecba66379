"""ARM64 stack walking on builder-made dumps whose call chains are known by construction.

Instruction words are the A64 encodings of the Arm Architecture Reference
Manual: ``BL`` is ``0x94000000 | imm26``, ``BLR x8`` is ``0xD63F0100``,
``NOP`` is ``0xD503201F``. Frame records follow AAPCS64: ``[fp]`` holds the
caller's fp, ``[fp + 8]`` the return address.
"""

from __future__ import annotations

import struct
from pathlib import Path

import dumplib
from dumplib.builder import DumpBuilder
from dumplib.unwind.arm64 import follows_call
from dumplib.unwind.frames import StackStatus, Trust

BASE = 0x10_0000_0000
SP = 0x7F_0000_0000
BL, BLR_X8, NOP = 0x94000010, 0xD63F0100, 0xD503201F


def _code(calls: dict[int, int]) -> bytes:
    words = [NOP] * 0x800
    for offset, word in calls.items():
        words[offset // 4] = word
    return struct.pack(f"<{len(words)}I", *words)


#: An ELF build id; breakpad's debug id swaps the first three GUID fields (then age 0).
BUILD_ID = bytes(range(1, 21))
DEBUG_ID = "0403020106050807090A0B0C0D0E0F100"


def _dump(stack: bytes, regs: dict[str, int], calls: dict[int, int]) -> dumplib.Dump:
    b = DumpBuilder("arm64", platform_id=0x8203, os_version=(0, 0, 0))
    b.add_thread(1, context=regs, stack=stack, stack_start=SP)
    code = _code(calls)
    b.add_module("/system/lib64/libdemo.so", base=BASE, size=len(code),
                 cv_record=b"LEpB" + BUILD_ID)
    b.add_memory(BASE, code)
    return dumplib.open(b.to_bytes())


def test_follows_call() -> None:
    assert follows_call(struct.pack("<I", BL))
    assert follows_call(struct.pack("<I", BLR_X8))
    assert follows_call(struct.pack("<I", 0xD73F081F))  # BLRAA x0, sp
    assert not follows_call(struct.pack("<I", NOP))
    assert not follows_call(struct.pack("<I", 0x14000010))  # B (no link)
    assert not follows_call(b"\x00\x00")


def test_frame_record_chain() -> None:
    ret1, ret2 = BASE + 0x1104, BASE + 0x1204
    mem = bytearray(0x100)
    fp0, fp1 = SP + 0x20, SP + 0x60
    struct.pack_into("<QQ", mem, fp0 - SP, fp1, ret1)
    struct.pack_into("<QQ", mem, fp1 - SP, 0, ret2)
    with _dump(bytes(mem), {"pc": BASE + 0x1010, "sp": SP, "fp": fp0, "lr": ret1},
               {0x1100: BL, 0x1200: BLR_X8}) as d:
        stack = d.stack(1)
    assert [f.ip for f in stack.frames] == [BASE + 0x1010, ret1, ret2]
    assert [f.trust for f in stack.frames] == [Trust.CONTEXT, Trust.FRAME_POINTER,
                                               Trust.FRAME_POINTER]
    assert [f.sp for f in stack.frames[1:]] == [fp0 + 16, fp1 + 16]


def test_scan_takes_only_addresses_after_a_call() -> None:
    """A code address after a NOP lies nearer the top than the real return address."""
    decoy, ret1 = BASE + 0x1008, BASE + 0x1104
    mem = bytearray(0x100)
    struct.pack_into("<QQ", mem, 0x10, decoy, ret1)
    with _dump(bytes(mem), {"pc": BASE + 0x1010, "sp": SP, "fp": 0}, {0x1100: BL}) as d:
        stack = d.stack(1)
    assert [f.ip for f in stack.frames][:2] == [BASE + 0x1010, ret1]
    assert stack.frames[1].trust is Trust.SCAN
    assert stack.frames[1].sp == SP + 0x20


def test_stack_cfi_with_arm_register_names(tmp_path: Path) -> None:
    """A leaf whose .sym CFI says: return address in x30, CFA = sp; the caller then
    saved x29/x30 at [sp] (CFA = sp + 16, .ra at CFA - 8, x29 at CFA - 16)."""
    ret1, ret2 = BASE + 0x1104, BASE + 0x1204
    mem = bytearray(0x100)
    fp1 = SP + 0x40
    struct.pack_into("<QQ", mem, 0, fp1, ret2)  # the caller's frame record at sp
    sym = (f"MODULE Linux arm64 {DEBUG_ID} libdemo.so\n"
           "FUNC 1000 80 0 leaf\n"
           "FUNC 1080 100 0 caller\n"
           "STACK CFI INIT 1000 80 .cfa: sp .ra: x30\n"
           "STACK CFI INIT 1080 100 .cfa: sp 16 + .ra: .cfa -8 + ^ x29: .cfa -16 + ^\n")
    path = tmp_path / "libdemo.sym"
    path.write_text(sym)
    # ret1 must lie in the caller (FUNC 1080): BASE + 0x1104 does
    with _dump(bytes(mem), {"pc": BASE + 0x1010, "sp": SP, "fp": 0, "lr": ret1},
               {0x1100: BL, 0x1200: BL}) as d:
        stack = d.stack(1, [str(path)])
    assert [f.ip for f in stack.frames][:3] == [BASE + 0x1010, ret1, ret2]
    assert [f.function for f in stack.frames][:2] == ["leaf", "caller"]
    assert [f.trust for f in stack.frames][1:3] == [Trust.CFI, Trust.CFI]
    assert stack.frames[2].registers["fp"] == fp1
    assert stack.status in (StackStatus.LOST, StackStatus.COMPLETE)


def test_pointer_authentication_bits_are_stripped() -> None:
    """arm64e signs saved return addresses: a PAC sits in the bits above the address
    space (here 0x002F... over a 37-bit address), and the walker drops it."""
    ret1, ret2 = BASE + 0x1104, BASE + 0x1204
    pac1, pac2 = 0x002F_0000_0000_0000, 0x0011_8000_0000_0000
    mem = bytearray(0x100)
    fp0, fp1 = SP + 0x20, SP + 0x60
    struct.pack_into("<QQ", mem, fp0 - SP, fp1, ret1 | pac1)
    struct.pack_into("<QQ", mem, fp1 - SP, 0, ret2 | pac2)
    with _dump(bytes(mem), {"pc": BASE + 0x1010, "sp": SP, "fp": fp0},
               {0x1100: BL, 0x1200: BL}) as d:
        stack = d.stack(1)
    assert [f.ip for f in stack.frames] == [BASE + 0x1010, ret1, ret2]


def test_fault_explanation_on_android_arm64() -> None:
    """SIGSEGV / SEGV_MAPERR at ``str w1, [x8, #0x10]`` (0xB9001101: STR immediate,
    imm12 = 4 words, Rn = x8, Rt = w1) with x8 = 0: a 4-byte write to 0x10."""
    b = DumpBuilder("arm64", platform_id=0x8203, os_version=(0, 0, 0))
    pc = BASE + 0x1010
    regs = {"pc": pc, "sp": SP, "fp": 0, "x8": 0, "x1": 5}
    b.add_thread(1, context=regs, stack=bytes(0x40), stack_start=SP)
    code = _code({0x1010: 0xB9001101})
    b.add_module("/system/lib64/libdemo.so", base=BASE, size=len(code))
    b.add_memory(BASE, code)
    b.set_exception(1, 11, 0x10, flags=1, context=regs)
    with dumplib.open(b.to_bytes()) as d:
        why = d.explain_fault()
        assert why is not None
        assert (why.instruction.mnemonic, why.access, why.address) == ("str", "write", 0x10)
        assert why.matches is True and why.registers == {"x8": 0}
        assert [i.mnemonic for i in d.disassemble(pc, 2)] == ["str", "nop"]
        from dumplib.analysis.exceptions import summarize_exception

        summary = summarize_exception(d)
        assert summary is not None
        assert (summary.name, summary.subcode_name, summary.access) == (
            "SIGSEGV", "SEGV_MAPERR", "write")
        assert dumplib.stackwalk_json(d)["crash_info"]["type"] == "SIGSEGV / SEGV_MAPERR"


def test_old_breakpad_arm64_context() -> None:
    """Breakpad's MDRawContextARM64_Old (rust-minidump's CONTEXT_ARM64_OLD): a 64-bit
    context_flags with bit 31 set, x0-x28, fp, lr, sp, pc, cpsr, fpsr, fpcr, v0-v31,
    packed to 4 bytes: 796 bytes. A shorter record without bit 31 is still an error."""
    from dumplib._exc import TruncatedError
    from dumplib.format.constants import Arch
    from dumplib.format.context import parse_context

    xs = list(range(100, 131))  # x0..x28, fp, lr
    raw = struct.pack("<Q31QQQIII", 0x80000003, *xs, SP, BASE + 0x1010, 0x60000000, 0, 0)
    raw += bytes(16 * 32)
    assert len(raw) == 796
    ctx = parse_context(Arch.ARM64, raw)
    assert (ctx.ip, ctx.sp, ctx.fp, ctx["lr"], ctx["x5"]) == (BASE + 0x1010, SP, 129, 130, 105)
    try:
        parse_context(Arch.ARM64, b"\0" * 796)
    except TruncatedError:
        pass
    else:
        raise AssertionError("a 796-byte record without the old-layout flag was accepted")
