"""Whole stacks of the real wine dumps, checked against how the programs were built.

tests/test_fixtures_wine.py checks the program's call chain on the crashing
thread and the innermost program function of the others. Here every thread
of every scenario must unwind *down to the thread start* from unwind data
alone (no frame-pointer or scan guesses), and facts the programs recorded
about themselves while running must come out of the stacks: the recursion
depth of the stack overflow, the thread-start functions, the modules. The
caseb full-memory dump is walked without any symbol path (images from the
dump's memory) and must give the same frames as the small dump of the same
moment walked with images from disk.
"""

from __future__ import annotations

import itertools
import json
import lzma
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import dumplib
from dumplib.unwind import Stack, StackStatus, Trust

WINE = Path(__file__).resolve().parent.parent / "fixtures" / "wine"
SYSTEM = WINE / "system"
SCENARIOS = sorted(p.parent.name for p in WINE.glob("*/truth.json"))
#: CRT start-up code between the thread start and main (mingw-w64 crt2.o).
CRT = {None, "mainCRTStartup", "__tmainCRTStartup", "WinMainCRTStartup"}


def _load(scenario: str) -> tuple[dict[str, Any], dict[str, Any]]:
    d = WINE / scenario
    return json.loads((d / "truth.json").read_text()), json.loads((d / "runtime.json").read_text())


def _symbols(scenario: str) -> list[str]:
    return [str(WINE / scenario), str(SYSTEM)]


def _program(truth: dict[str, Any], stack: Stack) -> list[str | None]:
    names = {n.lower() for n in truth["modules"]}
    return [f.function for f in stack.frames
            if f.module is not None and f.module.name.lower() in names]


@pytest.fixture(scope="module")
def caseb_full(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    target = tmp_path_factory.mktemp("unwind") / "caseb-full.dmp"
    with lzma.open(WINE / "caseb" / "caseb-full.dmp.xz") as src, target.open("wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    yield target


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_thread_unwinds_to_its_start(scenario: str) -> None:
    truth, runtime = _load(scenario)
    quirk = truth.get("wine_writer_thread_quirk")
    roles = {int(v): k.removeprefix("thread.") for k, v in runtime.items()
             if k.startswith("thread.")}
    with dumplib.open(WINE / scenario / f"{scenario}.dmp") as dump:
        stacks = dump.stacks(symbols=_symbols(scenario))
        assert [s.thread_id for s in stacks] == [t.id for t in dump.threads]
        for stack in stacks:
            role = roles[stack.thread_id]
            assert stack.status is StackStatus.COMPLETE, (role, stack.notes)
            last = stack.frames[-1]
            assert last.module is not None and last.module.name.lower() == "ntdll.dll"
            assert last.function == "RtlUserThreadStart", role
            assert stack.frames[-2].function == "BaseThreadInitThunk", role
            sps = [f.sp for f in stack.frames]
            assert sps == sorted(sps) and len(set(sps)) == len(sps)
            if quirk and role == quirk["writer_role"]:
                # wine stored another thread's context here: the start is found by scanning
                assert stack.frames[0].trust is Trust.SCAN
                assert stack.notes
                assert all(f.trust is Trust.CFI for f in stack.frames[1:])
                continue
            assert stack.frames[0].trust is Trust.CONTEXT
            assert all(f.trust is Trust.CFI for f in stack.frames[1:]), role


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if _load(s)[0]["exception"]])
def test_crash_thread_chain_is_exact(scenario: str) -> None:
    """The program functions of the faulting thread are exactly the known chain,
    then at most the thread function or CRT start-up."""
    truth, runtime = _load(scenario)
    with dumplib.open(WINE / scenario / f"{scenario}.dmp") as dump:
        exc = dump.exception
        assert exc is not None and exc.thread_id == runtime["faulting_thread"]
        stack = dump.stack(exc.thread_id, symbols=_symbols(scenario))
        frame0 = stack.frames[0]
        ctx = exc.context
        assert ctx is not None and (frame0.ip, frame0.sp) == (ctx.ip, ctx.sp)
        functions = _program(truth, stack)
        runtime_frames = set(truth.get("runtime_frames", []))
        while functions and functions[0] in runtime_frames:
            functions.pop(0)
        expected = truth["crash_stack"]
        if truth.get("crash_stack_complete", True):
            assert functions[: len(expected)] == expected
            assert set(functions[len(expected):]) <= CRT
        else:
            head = [f for f in functions if f == expected[0]]
            assert functions[: len(head)] == head
            assert functions[len(head):] == [truth["crash_stack_outermost"]]


def test_stack_overflow_comes_out_whole() -> None:
    """Every one of the thousands of Recurse frames: the program counted them."""
    truth, runtime = _load("stackoverflow")
    with dumplib.open(WINE / "stackoverflow" / "stackoverflow.dmp") as dump:
        stack = dump.stack(runtime["faulting_thread"], symbols=_symbols("stackoverflow"))
    recurse = [f for f in stack.frames if f.function == "Recurse"]
    # g_depth counts the Recurse calls that got past their first store; the
    # innermost one faulted on it (the guard page), so it is one more.
    assert len(recurse) == runtime["recursion_depth"] + 1
    assert stack.status is StackStatus.COMPLETE
    assert [f.function for f in stack.frames[len(recurse):]] == [
        truth["crash_stack_outermost"], "BaseThreadInitThunk", "RtlUserThreadStart"]


def test_thread_start_functions() -> None:
    truth, runtime = _load("caseb")
    with dumplib.open(WINE / "caseb" / "caseb.dmp") as dump:
        for role, function in truth["thread_start"].items():
            stack = dump.stack(runtime[f"thread.{role}"], symbols=_symbols("caseb"))
            assert _program(truth, stack)[-1] == function


def test_exception_address_is_frame_zero() -> None:
    for scenario in SCENARIOS:
        truth, runtime = _load(scenario)
        if not truth["exception"] or "exception.address" not in runtime:
            continue
        with dumplib.open(WINE / scenario / f"{scenario}.dmp") as dump:
            stack = dump.stack(runtime["faulting_thread"], symbols=_symbols(scenario))
            assert stack.frames[0].ip == runtime["exception.address"], scenario


def test_full_dump_unwinds_from_images_in_memory(caseb_full: Path) -> None:
    """No symbol path at all: .pdata/.xdata come from the images inside the dump."""
    with dumplib.open(WINE / "caseb" / "caseb.dmp") as small, dumplib.open(caseb_full) as full:
        want = small.stacks(symbols=_symbols("caseb"))
        got = full.stacks()
        for a, b in zip(want, got, strict=True):
            assert a.thread_id == b.thread_id
            assert [(f.ip, f.sp, f.trust) for f in b.frames] == [
                (f.ip, f.sp, f.trust) for f in a.frames]
            assert b.status is StackStatus.COMPLETE
        # names from the exports of the images in memory
        iocp = full.stack(_load("caseb")[1]["thread.iocp"])
        assert iocp.frames[-1].function == "RtlUserThreadStart"


def test_registers_of_caller_frames_are_recovered() -> None:
    """deeprec's Recurse saves every callee-saved register: unwinding restores
    them, so each Recurse frame sees its caller's depth argument kept in a
    non-volatile register -- at least the frames' rsp are exact and distinct."""
    truth, runtime = _load("deeprec")
    with dumplib.open(WINE / "deeprec" / "deeprec.dmp") as dump:
        stack = dump.stack(runtime["faulting_thread"], symbols=_symbols("deeprec"))
    recurse = [f for f in stack.frames if f.function == "Recurse"]
    assert len(recurse) == truth["crash_stack"].count("Recurse")
    for frame in stack.frames[1:]:
        assert {"rip", "rsp", "rbx", "rbp", "rsi", "rdi", "r12", "r13", "r14", "r15"} <= set(
            frame.registers)
        assert frame.registers["rip"] == frame.ip and frame.registers["rsp"] == frame.sp
    # frames of 6000+ bytes: consecutive Recurse frames are at least that far apart
    gaps = [b.sp - a.sp for a, b in itertools.pairwise(recurse)]
    assert min(gaps) >= 6000


def test_explain_fault_on_a_null_write() -> None:
    truth, runtime = _load("nullwrite")
    with dumplib.open(WINE / "nullwrite" / "nullwrite.dmp") as dump:
        why = dump.explain_fault(symbols=_symbols("nullwrite"))
        listing = dump.disassemble(count=3, symbols=_symbols("nullwrite"))
    assert why is not None
    assert why.access == truth["exception"]["access"] == "write"
    assert why.address == truth["exception"]["target"] == 0
    assert why.matches is True
    assert why.text.startswith("write to [")
    assert listing[0].address == runtime["exception.address"]
    assert listing[0].mnemonic == "mov"


def test_corpus_x86_with_breakpad_sym() -> None:
    """rust-minidump's test.dmp: STACK WIN programs from test_app.sym walk
    CrashFunction -> main -> __tmainCRTStartup -> kernel32 (what breakpad and
    rust-minidump print for it)."""
    root = Path(__file__).resolve().parent.parent / "fixtures" / "external" / "rust-minidump"
    with dumplib.open(root / "test.dmp") as dump:
        exc = dump.exception
        assert exc is not None
        stack = dump.stack(exc.thread_id, symbols=[str(root / "symbols")])
    head = stack.frames[:4]
    assert head[0].function is not None and head[0].function.endswith("CrashFunction")
    assert [f.function for f in head[1:3]] == ["main", "__tmainCRTStartup"]
    assert head[3].module is not None and head[3].module.name.lower() == "kernel32.dll"
    assert [f.trust for f in head] == [Trust.CONTEXT, Trust.CFI, Trust.CFI, Trust.CFI]
    assert head[0].source_file == "c:\\test_app.cc" and head[0].source_line == 58
    # 0x7c816fd7 is Windows XP's kernel32!BaseProcessStart+0x23, where a process's
    # first thread starts: its frame-pointer chain ends there (saved ebp and return 0).
    assert head[3].ip == 0x7C816FD7
    assert len(stack.frames) == 4 and stack.status is StackStatus.COMPLETE


def test_stack_by_thread_id_and_unknown_id() -> None:
    with dumplib.open(WINE / "nullwrite" / "nullwrite.dmp") as dump:
        tid = dump.threads[0].id
        assert dump.stack(tid).frames == dump.stack(dump.threads[0]).frames
        with pytest.raises(KeyError):
            dump.stack(0xDEAD)


def test_live_context_crosses_kiuserexceptiondispatcher() -> None:
    """Case B on a real dump: the overflowing thread's thread-list context is live
    (in the vectored handler, waiting for the helper). Walking it must go through
    ntdll's exception dispatch, cross KiUserExceptionDispatcher through the CONTEXT
    on its stack, and land exactly on the faulting state the exception stream holds,
    then continue with the very frames a walk from that context gives."""
    _truth, runtime = _load("stackoverflow")
    with dumplib.open(WINE / "stackoverflow" / "stackoverflow.dmp") as dump:
        tid = runtime["faulting_thread"]
        live = dump.stack(tid, symbols=_symbols("stackoverflow"), from_exception=False)
        fault = dump.stack(tid, symbols=_symbols("stackoverflow"))
        exc = dump.exception
        assert exc is not None and exc.context is not None
        names = [f.function for f in live.frames]
        assert "DelegatingHandler" in names  # the vectored handler the program installed
        at = names.index("KiUserExceptionDispatcher")
        crossed = live.frames[at + 1]
        assert crossed.trust is Trust.CONTEXT
        assert (crossed.ip, crossed.sp) == (exc.context.ip, exc.context.sp)
        assert crossed.ip == runtime["exception.address"]
        assert crossed.registers["rax"] == exc.context["rax"]
        assert [(f.ip, f.sp) for f in live.frames[at + 1:]] == [
            (f.ip, f.sp) for f in fault.frames]
        assert live.status is StackStatus.COMPLETE


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if _load(s)[0]["exception"]])
def test_fault_explanations_match_the_programs(scenario: str) -> None:
    """Access violations name the access and the address the program's bad pointer
    made; raised exceptions are not blamed on an instruction."""
    truth, _runtime = _load(scenario)
    expected = truth["exception"]
    with dumplib.open(WINE / scenario / f"{scenario}.dmp") as dump:
        why = dump.explain_fault(symbols=_symbols(scenario))
    assert why is not None
    if "access" in expected:
        assert why.access == expected["access"]
        assert why.address == why.fault_address == expected["target"]
        assert why.matches is True
    elif expected["code"] >> 28 == 0xE or expected["code"] >> 28 == 0x2:
        assert "raised in software" in why.text
