"""The walker on hostile input: corrupt unwind data, garbage stacks, odd contexts.

Whatever the bytes, a walk returns (never raises, never hangs), every frame's
stack pointer is above the previous one, and the frame count stays bounded
by the stack's size. Plus the postfix evaluator against hand-computed values.
"""

from __future__ import annotations

import itertools
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dumplib
from dumplib.builder import DumpBuilder
from dumplib.unwind import Stack, StackStatus
from dumplib.unwind.postfix import MAX_TOKENS, PostfixError, evaluate_expression, run_program
from dumplib.unwind.synth import SynthFunction, build_image

BASE = 0x7FF6_2000_0000
STACK = 0x30_0000
FUNCTIONS = [
    SynthFunction("a", [("push", 3, 0), ("alloc", 0x28, 0)]),
    SynthFunction("b", [("push", 5, 0), ("alloc", 0x40, 0), ("setfp", 5, 0x20)],
                  lea_epilogue=True),
    SynthFunction("c", [("alloc", 0x48, 0), ("save", 6, 0x20), ("savexmm", 7, 0x30)]),
    SynthFunction("d", [("machframe", 1, 0), ("push", 12, 0)]),
    SynthFunction("e", [("push", 13, 0)], fragment=[("push", 14, 0)]),
]
IMAGE = build_image(FUNCTIONS, BASE)
RDATA = min(r[2] for r in IMAGE.runtime_functions)


def _walk(image: bytes, stack: bytes, regs: dict[str, int]) -> Stack:
    b = DumpBuilder("amd64")
    b.add_thread(1, context=regs, stack=stack, stack_start=STACK)
    b.add_module(r"C:\x\synth.dll", base=BASE, size=len(image), time_date_stamp=IMAGE.timestamp)
    b.add_memory(BASE, image)
    with dumplib.open(b.to_bytes()) as dump:
        return dump.stack(1)


def _sane(stack: Stack, stack_size: int) -> None:
    sps = [f.sp for f in stack.frames]
    assert all(a < b for a, b in itertools.pairwise(sps))
    assert len(stack.frames) <= stack_size // 8 + 2


_ADDRESSES = st.one_of(
    st.sampled_from([p.begin + k for p in IMAGE.functions.values() for k in (0, 1, 3, 7)]),
    st.integers(BASE, BASE + len(IMAGE.data)),
    st.integers(0, 2**64 - 1),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.one_of(_ADDRESSES, st.integers(STACK, STACK + 0x800)), min_size=1,
             max_size=256),
    _ADDRESSES,
    st.integers(STACK, STACK + 0x800),
)
def test_garbage_stacks_end_cleanly(words: list[int], rip: int, rbp: int) -> None:
    stack = b"".join(struct.pack("<Q", w) for w in words)
    stack += bytes(-len(stack) % 16)
    stack_ = _walk(IMAGE.data, stack, {"rip": rip, "rsp": STACK, "rbp": rbp})
    _sane(stack_, len(stack))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 0x1FFF), st.integers(0, 255)), min_size=1,
                max_size=24),
       st.sampled_from(sorted(IMAGE.functions)), st.binary(min_size=64, max_size=512))
def test_corrupt_unwind_data_and_headers(patches: list[tuple[int, int]], name: str,
                                         stack: bytes) -> None:
    data = bytearray(IMAGE.data)
    for offset, value in patches:
        # hit the headers, .rdata (UNWIND_INFO, exports) and .pdata
        at = offset if offset < 0x400 else RDATA + offset - 0x400
        if at < len(data):
            data[at] = value
    stack = stack + bytes(-len(stack) % 8)
    p = IMAGE.functions[name]
    stack_ = _walk(bytes(data), stack, {"rip": p.call_sites[0] + 5 if p.call_sites else p.begin,
                                        "rsp": STACK})
    _sane(stack_, len(stack))


def test_arm64_is_walked_from_its_context() -> None:
    """ARM64 has a walker of its own now: the context frame, then nothing to follow."""
    b = DumpBuilder("arm64")
    b.add_thread(1, context={"pc": 0x1000, "sp": 0x2000}, stack=bytes(64), stack_start=0x2000)
    with dumplib.open(b.to_bytes()) as dump:
        stack = dump.stack(1)
    assert [f.ip for f in stack.frames] == [0x1000]
    assert stack.status is StackStatus.LOST


def test_x86_frame_pointer_chain() -> None:
    """Three frames linked by ebp, return addresses right after CALLs in a module."""
    base, code = 0x40_0000, bytearray(b"\x90" * 0x2000)
    calls = [0x1100, 0x1200, 0x1300]
    for c in calls:
        code[c: c + 5] = b"\xe8\0\0\0\0"
    esp = 0x12_0000
    mem = bytearray(0x100)
    # frame chain: ebp0 -> [saved ebp1, ret1] ; ebp1 -> [saved ebp2, ret2] ; ebp2 -> [0, ret3]
    rets = [base + c + 5 for c in calls]
    ebps = [esp + 0x20, esp + 0x40, esp + 0x60]
    for i, e in enumerate(ebps):
        nxt = ebps[i + 1] if i + 1 < len(ebps) else 0
        struct.pack_into("<II", mem, e - esp, nxt, rets[i])
    b = DumpBuilder("x86")
    b.add_thread(1, context={"eip": base + 0x1010, "esp": esp, "ebp": ebps[0]},
                 stack=bytes(mem), stack_start=esp)
    b.add_module(r"C:\x\app.exe", base=base, size=len(code))
    b.add_memory(base, bytes(code))
    with dumplib.open(b.to_bytes()) as dump:
        stack = dump.stack(1)
    assert [f.ip for f in stack.frames] == [base + 0x1010, *rets]
    assert [f.trust.value for f in stack.frames] == ["context"] + ["frame_pointer"] * 3
    assert [f.sp for f in stack.frames[1:]] == [e + 8 for e in ebps]


def test_scan_accepts_only_return_addresses_after_calls() -> None:
    """Scanning skips a code pointer that does not follow a CALL and takes the one that does."""
    base, code = 0x7FF6_0000_0000, bytearray(b"\x90" * 0x3000)
    code[0x1000:0x1005] = b"\xe8\0\0\0\0"  # call rel32
    code[0x1800:0x1806] = b"\xff\x15\0\0\0\0"  # call [rip+0]
    rsp = 0x50_0000
    words = [0, base + 0x1500, 0x1234, base + 0x1005, base + 0x1806, 0]
    b = DumpBuilder("amd64")
    b.add_thread(1, context={"rip": 0x9999_0000, "rsp": rsp, "rbp": 0},
                 stack=b"".join(struct.pack("<Q", w) for w in words), stack_start=rsp)
    b.add_module(r"C:\x\m.dll", base=base, size=len(code))
    b.add_memory(base, bytes(code))
    with dumplib.open(b.to_bytes()) as dump:
        stack = dump.stack(1)
    assert [(f.ip, f.sp, f.trust.value) for f in stack.frames] == [
        (0x9999_0000, rsp, "context"),
        (base + 0x1005, rsp + 32, "scan"),
        (base + 0x1806, rsp + 40, "scan"),
    ]


# -- breakpad postfix programs ------------------------------------------------------------


def test_stack_win_program_by_hand() -> None:
    # test_app.sym's frame program for an EBP frame:
    prog = ("$T0 $ebp = $eip $T0 4 + ^ = $ebp $T0 ^ = $esp $T0 8 + = "
            "$L $T0 .cbSavedRegs - = $P $T0 8 + .cbParams + =")
    memory = {0x1000: 0x2000, 0x1004: 0x401234}
    v = {"$ebp": 0x1000, "$esp": 0xF00, ".cbSavedRegs": 4, ".cbParams": 8}
    run_program(prog, v, memory.__getitem__)
    assert (v["$eip"], v["$esp"], v["$ebp"]) == (0x401234, 0x1008, 0x2000)
    assert (v["$L"], v["$P"]) == (0x1000 - 4, 0x1008 + 8)


def test_cfi_expressions_by_hand() -> None:
    memory = {0x7F0: 0xAA, 0x7F8: 0x1234}
    v = {"$rsp": 0x7E0}
    cfa = evaluate_expression("$rsp 32 +", v, memory.__getitem__)
    assert cfa == 0x800
    v[".cfa"] = cfa
    assert evaluate_expression(".cfa 8 - ^", v, memory.__getitem__) == 0x1234
    assert evaluate_expression(".cfa 16 - ^", v, memory.__getitem__) == 0xAA
    assert evaluate_expression("$rsp 0x100 @", {"$rsp": 0x7E0}, memory.__getitem__) == 0x700
    assert evaluate_expression("7 2 %", {}, memory.__getitem__) == 1


@pytest.mark.parametrize("program", [
    "$eip", "+", "$eip 1 + =", "1 2 =", "$x $unknown =", "1 0 /", "5 3 @", "^",
    " ".join(["1"] * (MAX_TOKENS + 1)),
])
def test_bad_programs_raise_postfix_error(program: str) -> None:
    with pytest.raises(PostfixError):
        empty: dict[int, int] = {}
        run_program(program, {"$esp": 0}, empty.__getitem__)


def test_unreadable_dereference_is_a_postfix_error() -> None:
    def deref(address: int) -> int:
        raise dumplib.MemoryNotInDump("absent", address=address)

    with pytest.raises(PostfixError):
        evaluate_expression("$esp ^", {"$esp": 4}, deref, bits=32)


# -- breakpad STACK CFI (no image anywhere: the .sym is the only unwind data) --------------


@pytest.mark.parametrize("arch", ["x86", "amd64"])
def test_breakpad_stack_cfi(arch: str, tmp_path: Path) -> None:
    """Two functions described only by STACK CFI rules in a .sym found by PDB identity."""
    import uuid

    guid = uuid.UUID("12345678-9abc-def0-1122-334455667788")
    key = f"{guid.hex.upper()}1"
    w = 4 if arch == "x86" else 8
    sp, ip, fp = ("esp", "eip", "ebp") if w == 4 else ("rsp", "rip", "rbp")
    bx = "ebx" if w == 4 else "rbx"
    base = 0x40_0000 if w == 4 else 0x1_4000_0000
    sym = tmp_path / "app.pdb" / key / "app.sym"
    sym.parent.mkdir(parents=True)
    sym.write_text("\n".join([
        f"MODULE windows {'x86' if w == 4 else 'x86_64'} {key} app.pdb",
        "FUNC 1000 100 0 Inner",
        "FUNC 1100 100 0 Outer",
        f"STACK CFI INIT 1000 100 .cfa: ${sp} {w} + .ra: .cfa {w} - ^",
        f"STACK CFI 1001 .cfa: ${sp} {2 * w} + ${fp}: .cfa {2 * w} - ^",
        f"STACK CFI INIT 1100 100 .cfa: ${sp} {3 * w} + .ra: .cfa {w} - ^ ${bx}: .cfa {2 * w} - ^",
        "",
    ]))
    stack_at = 0x12_0000
    fmt = "<I" if w == 4 else "<Q"
    # Inner (after its push of the frame pointer): [saved fp][return into Outer]
    # Outer: [junk][saved bx][return 0 = thread start]
    words = [0xAAAA, base + 0x1150, 0x5555, 0xBBBB, 0]
    b = DumpBuilder(arch)  # type: ignore[arg-type]
    b.add_thread(1, context={ip: base + 0x1005, sp: stack_at, fp: 0x1, bx: 0x2},
                 stack=b"".join(struct.pack(fmt, v) for v in words), stack_start=stack_at)
    b.add_module(r"C:\app\app.exe", base=base, size=0x2000, pdb70=("app.pdb", guid, 1))
    with dumplib.open(b.to_bytes()) as dump:
        stack = dump.stack(1, symbols=[str(tmp_path)])
    assert [(f.function, f.ip, f.sp, f.trust.value) for f in stack.frames] == [
        ("Inner", base + 0x1005, stack_at, "context"),
        ("Outer", base + 0x1150, stack_at + 2 * w, "cfi"),
    ]
    assert stack.status is StackStatus.COMPLETE
    assert stack.frames[1].registers[fp] == 0xAAAA
    assert stack.frames[1].registers[bx] == 0x2  # Outer's own rule restores it for ITS caller


def test_x86_stack_win_fpo(tmp_path: Path) -> None:
    """STACK WIN type 0 (FPO data, no program): the return address sits above the
    locals and saved registers (.raSearchStart = esp + locals + saved registers)."""
    import uuid

    guid = uuid.UUID(int=0xFEED)
    key = f"{guid.hex.upper()}2"
    sym = tmp_path / "fpo.pdb" / key / "fpo.sym"
    sym.parent.mkdir(parents=True)
    sym.write_text("\n".join([
        f"MODULE windows x86 {key} fpo.pdb",
        "FUNC 1000 100 8 Callee",
        "FUNC 1200 100 0 Caller",
        # type rva size prologue epilogue params saved locals max_stack has_program bp
        "STACK WIN 0 1000 100 4 0 8 4 10 0 0 0",
        "",
    ]))
    base, esp = 0x50_0000, 0x13_0000
    words = [0] * 8
    words[5] = base + 0x1234  # esp + 0x10 locals + 4 saved registers = esp + 0x14
    b = DumpBuilder("x86")
    b.add_thread(1, context={"eip": base + 0x1050, "esp": esp, "ebp": 0x77},
                 stack=b"".join(struct.pack("<I", w) for w in words), stack_start=esp)
    b.add_module(r"C:\fpo\fpo.exe", base=base, size=0x3000, pdb70=("fpo.pdb", guid, 2))
    with dumplib.open(b.to_bytes()) as dump:
        stack = dump.stack(1, symbols=[str(tmp_path)])
    assert [(f.function, f.ip, f.sp, f.trust.value) for f in stack.frames[:2]] == [
        ("Callee", base + 0x1050, esp, "context"),
        ("Caller", base + 0x1234, esp + 0x18, "cfi"),
    ]
    assert stack.frames[1].registers["ebp"] == 0x77  # FPO: ebp untouched
