"""The AMD64 walker against stacks made by executing real prologs forward.

Each test assembles functions (dumplib.unwind.synth: x64 machine code, their
UNWIND_INFO, a mapped PE32+ image), *runs* their prologs, calls and epilogues
forward on a simulated stack, writes a dump with dumplib.builder, and checks
that walking backwards finds every frame the forward run recorded: ip, rsp,
function name and every non-volatile register. The forward simulator and the
unwinder share no code.
"""

from __future__ import annotations

import capstone
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dumplib
from dumplib.builder import DumpBuilder
from dumplib.unwind import Trust
from dumplib.unwind.amd64 import parse_epilogue
from dumplib.unwind.synth import (
    NONVOLATILE,
    ExpectedFrame,
    Simulator,
    SynthFunction,
    SynthImage,
    build_image,
)

BASE = 0x7FF7_1000_0000
STACK_TOP = 0x0000_0050_0010_0000
RBX, RBP, RSI, RDI, R12, R13, R14, R15 = 3, 5, 6, 7, 12, 13, 14, 15

FUNCTIONS = [
    SynthFunction("outer", [("push", RBX, 0), ("alloc", 0x20, 0)]),
    SynthFunction("pushes", [("push", RSI, 0), ("push", RDI, 0), ("push", R12, 0),
                             ("push", R15, 0), ("alloc", 0x28, 0)]),
    SynthFunction("large16", [("push", RBX, 0), ("alloc", 0x1230, 0)]),
    SynthFunction("large32", [("push", R13, 0), ("alloc", 0x2468, 1)]),
    SynthFunction("saves", [("alloc", 0x88, 0), ("save", RBX, 0x20), ("save", R14, 0x30),
                            ("savexmm", 6, 0x40), ("savexmm", 11, 0x60)]),
    SynthFunction("farsave", [("alloc", 0x100, 0), ("save", RSI, 0x80)]),
    SynthFunction("framed", [("push", RBP, 0), ("push", RBX, 0), ("alloc", 0x40, 0),
                             ("setfp", RBP, 0x20)], lea_epilogue=True),
    SynthFunction("framed13", [("push", R13, 0), ("alloc", 0x30, 0), ("setfp", R13, 0x10),
                               ("save", RDI, 0x18)]),
    SynthFunction("chained", [("push", RBX, 0), ("push", RSI, 0), ("alloc", 0x38, 0)],
                  fragment=[("push", R14, 0)]),
    SynthFunction("chained0", [("push", R12, 0), ("alloc", 0x18, 0)], fragment=[]),
    SynthFunction("handler", [("machframe", 0, 0), ("push", RBX, 0), ("alloc", 0x28, 0)]),
    SynthFunction("handler_err", [("machframe", 1, 0), ("push", RSI, 0), ("alloc", 0x18, 0)]),
    SynthFunction("leaf", [], calls=0, in_pdata=False),
    SynthFunction("noframe", [], calls=1),
]


@pytest.fixture(scope="module")
def image() -> SynthImage:
    return build_image(FUNCTIONS, BASE)


def _dump(image: SynthImage, sim: Simulator, ctx: dict[str, int],
          *, function_table: bool = False) -> dumplib.Dump:
    b = DumpBuilder("amd64")
    start, data = sim.stack_bytes()
    b.add_thread(7, context=ctx, stack=data, stack_start=start)
    b.add_module(r"C:\synth\synth.dll", base=image.base, size=image.size,
                 time_date_stamp=image.timestamp)
    b.add_memory(image.base, image.data)
    return dumplib.open(b.to_bytes())


def _check(stack: dumplib.unwind.Stack, expected: list[ExpectedFrame]) -> None:
    got = [(f.function, hex(f.ip), hex(f.sp)) for f in stack.frames]
    want = [(e.function, hex(e.ip), hex(e.sp)) for e in expected]
    assert got == want
    assert stack.status is dumplib.unwind.StackStatus.COMPLETE
    for frame, exp in zip(stack.frames, expected, strict=True):
        for name, value in exp.registers.items():
            assert frame.registers[name] == value, (frame.index, exp.function, name)
    assert stack.frames[0].trust is Trust.CONTEXT
    assert all(f.trust is Trust.CFI for f in stack.frames[1:])


def _walk(image: SynthImage, sim: Simulator, ctx: dict[str, int]) -> dumplib.unwind.Stack:
    with _dump(image, sim, ctx) as dump:
        return dump.stack(7)


@pytest.mark.parametrize("middle", [f.name for f in FUNCTIONS
                                    if f.calls and not f.prolog[:1] == [("machframe", 0, 0)]
                                    and f.name not in ("handler", "handler_err", "outer")])
def test_every_unwind_code_in_a_caller_frame(image: SynthImage, middle: str) -> None:
    sim = Simulator(image, STACK_TOP, seed=len(middle))
    sim.start("outer")
    sim.call_from("outer", 0, middle)
    sim.call_from(middle, 1, "pushes")
    ctx = sim.stop_in_body("pushes")
    _check(_walk(image, sim, ctx), sim.expected())


def test_saved_xmm_registers_are_recovered(image: SynthImage) -> None:
    sim = Simulator(image, STACK_TOP, seed=3)
    sim.start("outer")
    sim.call_from("outer", 0, "saves")
    sim.call_from("saves", 0, "pushes")
    outer_frame = sim.expected()[1]
    assert outer_frame.function == "outer"
    want = outer_frame.registers["xmm6"], outer_frame.registers["xmm11"]
    # frame 1 (saves) keeps the callee's xmm values; frame 2 (outer) gets the saved ones
    ctx = sim.stop_in_body("pushes")
    stack = _walk(image, sim, ctx)
    outer = stack.frames[2]
    assert outer.function == "outer"
    assert (outer.registers["xmm6"], outer.registers["xmm11"]) == want


@pytest.mark.parametrize("name", ["pushes", "large16", "large32", "saves", "framed",
                                  "framed13", "chained", "farsave"])
def test_prolog_offset_rule(image: SynthImage, name: str) -> None:
    """Stopped after each prolog instruction: only the codes already executed are undone."""
    fn = next(f for f in FUNCTIONS if f.name == name)
    for executed in range(len(fn.prolog) + 1):
        sim = Simulator(image, STACK_TOP, seed=executed)
        sim.start("outer")
        ctx = sim.call_partial("outer", 1, name, executed)
        _check(_walk(image, sim, ctx), sim.expected())


@pytest.mark.parametrize("name", ["outer", "pushes", "large16", "large32", "saves", "framed",
                                  "framed13", "chained", "chained0"])
def test_epilogue_is_emulated(image: SynthImage, name: str) -> None:
    """Stopped before each epilogue instruction: the walker emulates the rest forward."""
    p = image.functions[name]
    for executed in range(len(p.epilogue)):
        sim = Simulator(image, STACK_TOP, seed=10 + executed)
        sim.start("outer" if name != "outer" else "pushes")
        caller = "outer" if name != "outer" else "pushes"
        sim.call_from(caller, 0, name)
        ctx = sim.stop_in_epilogue(name, executed)
        _check(_walk(image, sim, ctx), sim.expected())


@pytest.mark.parametrize(("handler", "error_code"), [("handler", False), ("handler_err", True)])
def test_machine_frame(image: SynthImage, handler: str, error_code: bool) -> None:
    sim = Simulator(image, STACK_TOP, seed=5)
    sim.start("outer")
    sim.call_from("outer", 0, "pushes")
    sim.interrupt("pushes", 1, handler, error_code=error_code)
    ctx = sim.stop_in_body(handler)
    stack = _walk(image, sim, ctx)
    _check(stack, sim.expected())
    # the interrupted frame's ip is exact: it is looked up as is
    assert stack.frames[1].ip == image.functions["pushes"].call_sites[1]


def test_leaf_function_without_runtime_function(image: SynthImage) -> None:
    sim = Simulator(image, STACK_TOP, seed=6)
    sim.start("outer")
    sim.call_from("outer", 1, "pushes")
    leaf = image.functions["leaf"]
    ret = image.functions["pushes"].call_sites[0] + 5
    sim._snapshot("pushes", ret)
    sim.push(ret)
    sim.regs["rip"] = leaf.begin
    sim._snapshot("leaf", leaf.begin)
    ctx = dict(sim.regs)
    _check(_walk(image, sim, ctx), sim.expected())


def test_deep_recursion_whole(image: SynthImage) -> None:
    sim = Simulator(image, STACK_TOP, seed=8, stack_size=0x100000)
    sim.start("outer")
    sim.call_from("outer", 0, "framed")
    for _ in range(1500):
        sim.call_from("framed", 0, "framed")
    ctx = sim.stop_in_body("framed")
    stack = _walk(image, sim, ctx)
    assert len(stack.frames) == 1502  # outer, framed, 1500 recursive calls
    _check(stack, sim.expected())


def test_max_frames_truncates(image: SynthImage) -> None:
    sim = Simulator(image, STACK_TOP, seed=9)
    sim.start("outer")
    for caller in ("outer", "pushes", "saves"):
        sim.call_from(caller, 0, {"outer": "pushes", "pushes": "saves", "saves": "framed"}[caller])
    ctx = sim.stop_in_body("framed")
    with _dump(image, sim, ctx) as dump:
        stack = dump.stack(7, max_frames=2)
    assert len(stack.frames) == 2
    assert stack.status is dumplib.unwind.StackStatus.TRUNCATED


def test_dynamic_function_table() -> None:
    """JIT code outside every module, described only by the FunctionTableStream."""
    jit = build_image([SynthFunction("jitted", [("push", RBX, 0), ("push", RDI, 0),
                                                ("alloc", 0x48, 0)])], 0x2000_0000)
    host = build_image(FUNCTIONS, BASE)
    sim = Simulator(host, STACK_TOP, seed=11)
    sim.image = SynthImage(0, b"", 0, {**host.functions, **jit.functions}, [])
    sim.start("outer")
    sim.call_from("outer", 0, "jitted")
    sim.call_from("jitted", 1, "pushes")
    ctx = sim.stop_in_body("pushes")
    b = DumpBuilder("amd64")
    start, data = sim.stack_bytes()
    b.add_thread(7, context=ctx, stack=data, stack_start=start)
    b.add_module(r"C:\synth\synth.dll", base=host.base, size=host.size,
                 time_date_stamp=host.timestamp)
    b.add_memory(host.base, host.data)
    b.add_memory(jit.base, jit.data)  # JIT memory: no module record covers it
    b.add_function_table(jit.base + 0x1000, jit.base + 0x2000, jit.base,
                         entries=jit.runtime_functions)
    with dumplib.open(b.to_bytes()) as dump:
        stack = dump.stack(7)
    expected = sim.expected()
    assert [(f.ip, f.sp) for f in stack.frames] == [(e.ip, e.sp) for e in expected]
    assert stack.frames[1].module is None and stack.frames[1].trust is Trust.CFI
    assert stack.frames[1].registers["rbx"] == expected[1].registers["rbx"]


def test_faulting_thread_starts_from_the_exception_context(image: SynthImage) -> None:
    sim = Simulator(image, STACK_TOP, seed=12)
    sim.start("outer")
    sim.call_from("outer", 0, "saves")
    ctx = sim.stop_in_body("saves")
    b = DumpBuilder("amd64")
    start, data = sim.stack_bytes()
    live = dict(ctx, rip=image.functions["leaf"].begin, rsp=start)  # a later, live context
    b.add_thread(7, context=live, stack=data, stack_start=start)
    b.add_module(r"C:\synth\synth.dll", base=image.base, size=image.size,
                 time_date_stamp=image.timestamp)
    b.add_memory(image.base, image.data)
    b.set_exception(7, 0xC0000005, ctx["rip"], parameters=(1, 0), context=ctx)
    with dumplib.open(b.to_bytes()) as dump:
        _check(dump.stack(7), sim.expected())
        live_stack = dump.stack(7, from_exception=False)
    assert live_stack.frames[0].function == "leaf"


def test_cycle_and_garbage_end_without_hanging() -> None:
    """A frame-pointer loop and random stack words: the walk ends, LOST, in bounded frames."""
    b = DumpBuilder("amd64")
    rsp = 0x10_0000
    stack = bytearray(0x1000)
    # rbp points at itself: [rbp] = rbp, [rbp+8] = an address in no module
    stack[0x100:0x108] = (rsp + 0x100).to_bytes(8, "little")
    stack[0x108:0x110] = (0x4141_4141).to_bytes(8, "little")
    b.add_thread(1, context={"rip": 0x1234_5678, "rsp": rsp, "rbp": rsp + 0x100},
                 stack=bytes(stack), stack_start=rsp)
    with dumplib.open(b.to_bytes()) as dump:
        stack_ = dump.stack(1)
    assert len(stack_.frames) == 1
    assert stack_.status is dumplib.unwind.StackStatus.LOST


_MD = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=24))
def test_epilogue_decoder_agrees_with_capstone(code: bytes) -> None:
    """Whatever the byte-level epilogue decoder accepts, capstone decodes as the same epilogue."""
    ep = parse_epilogue(code, 5, 0x1000, (0x0, 0x100))
    if ep is None:
        return
    insns = list(_MD.disasm(code, 0x1000))
    mnemonics = [i.mnemonic for i in insns]
    pops = [i.op_str for i in insns if i.mnemonic == "pop"]
    names = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
             *(f"r{i}" for i in range(8, 16))]
    assert pops[: len(ep.pops)] == [names[r] for r in ep.pops]
    first = 1 if (ep.rsp_add or ep.lea) else 0
    if first:
        assert mnemonics[0] in ("add", "lea") and insns[0].op_str.startswith("rsp")
    end = insns[first + len(ep.pops)]
    assert end.mnemonic in ("ret", "jmp") or end.mnemonic.startswith("rep")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from([f.name for f in FUNCTIONS
                                 if f.calls and f.name not in ("handler", "handler_err")]),
                min_size=1, max_size=12),
       st.integers(0, 2**32))
def test_random_call_chains(chain: list[str], seed: int) -> None:
    image = build_image(FUNCTIONS, BASE)
    sim = Simulator(image, STACK_TOP, seed=seed)
    sim.start(chain[0])
    for caller, callee in zip(chain, [*chain[1:], "pushes"], strict=True):
        sim.call_from(caller, seed % 2, callee)
    ctx = sim.stop_in_body("pushes")
    _check(_walk(image, sim, ctx), sim.expected())


def test_nonvolatile_names() -> None:
    assert len(NONVOLATILE) == 8


NTDLL_BASE = 0x7FFA_0000_0000


def test_frames_cross_kiuserexceptiondispatcher(image: SynthImage) -> None:
    """Case B: a thread stopped in the exception dispatch (a first-chance dump)
    continues, through the CONTEXT the kernel pushed, into the faulting code."""
    from dumplib.builder._context import encode_context

    ntdll = build_image([
        SynthFunction("KiUserExceptionDispatcher", [], calls=1),
        SynthFunction("RtlDispatchException", [("push", RBX, 0), ("push", RSI, 0),
                                               ("alloc", 0x58, 0)]),
        SynthFunction("NtWaitForSingleObject", [("alloc", 0x28, 0)]),
    ], NTDLL_BASE, name="ntdll.dll")
    sim = Simulator(image, STACK_TOP, seed=21)
    sim.image = SynthImage(0, b"", 0, {**image.functions, **ntdll.functions}, [])
    sim.start("outer")
    sim.call_from("outer", 0, "saves")
    fault_ip = image.functions["saves"].restores_at
    sim._snapshot("saves", fault_ip, interrupted=True)
    faulting = dict(sim.regs, rip=fault_ip)
    # the kernel builds the CONTEXT (and the EXCEPTION_RECORD above it) below the faulting rsp
    ctx_at = (sim.regs["rsp"] - 0x600) & ~0xF
    sim._write(ctx_at, encode_context("amd64", faulting))
    sim.regs["rsp"] = ctx_at
    sim.call_from("KiUserExceptionDispatcher", 0, "RtlDispatchException")
    sim.call_from("RtlDispatchException", 1, "NtWaitForSingleObject")
    ctx = sim.stop_in_body("NtWaitForSingleObject")
    b = DumpBuilder("amd64")
    start, data = sim.stack_bytes()
    b.add_thread(7, context=ctx, stack=data, stack_start=start)
    for img, path in ((image, r"C:\synth\synth.dll"), (ntdll, r"C:\Windows\System32\ntdll.dll")):
        b.add_module(path, base=img.base, size=img.size, time_date_stamp=img.timestamp)
        b.add_memory(img.base, img.data)
    with dumplib.open(b.to_bytes()) as dump:
        stack = dump.stack(7)
    expected = sim.expected()
    assert [(f.function, f.ip, f.sp) for f in stack.frames] == [
        (e.function, e.ip, e.sp) for e in expected]
    names = [f.function for f in stack.frames]
    crossing = names.index("KiUserExceptionDispatcher")
    assert stack.frames[crossing].sp == ctx_at
    after = stack.frames[crossing + 1]
    assert after.function == "saves" and after.trust is Trust.CONTEXT
    # every register of the faulting frame comes from the pushed CONTEXT
    assert after.registers["rax"] == faulting["rax"]
    assert after.registers["r11"] == faulting["r11"]
    assert stack.status is dumplib.unwind.StackStatus.COMPLETE


def test_context_outside_its_stack_is_replaced_by_a_scan(image: SynthImage) -> None:
    """A thread-list context whose sp is not in the thread's stack (wine's writer
    thread): the walk starts at the lowest return address from which unwind data
    reaches the thread start, and from there follows the true frames."""
    sim = Simulator(image, STACK_TOP, seed=31)
    sim.start("outer")
    sim.call_from("outer", 0, "pushes")
    sim.call_from("pushes", 1, "large16")
    sim.call_from("large16", 1, "saves")
    ctx = sim.stop_in_body("saves")
    bogus = dict(ctx, rsp=0x7777_0000, rip=image.functions["leaf"].begin)
    with _dump(image, sim, bogus) as dump:
        stack = dump.stack(7)
    expected = sim.expected()[1:]  # the innermost frame's ip is lost with its context
    assert [(f.function, f.ip, f.sp) for f in stack.frames] == [
        (e.function, e.ip, e.sp) for e in expected]
    assert stack.frames[0].trust is Trust.SCAN
    assert all(f.trust is Trust.CFI for f in stack.frames[1:])
    assert stack.notes and "outside the thread's stack" in stack.notes[0]
