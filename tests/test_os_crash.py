"""Crash reasons on every OS, against minidump-stackwalk's published output.

Real dumps: rust-minidump's test data; the expected ``crash_info`` values are
those of its insta snapshots (``fixtures/external/rust-minidump/snapshots``),
and the raw exception fields are read a second time with the skelsec
``minidump`` package. Builder-made dumps cover the cases no public dump has;
their expected names and numbers are those of Linux's
``<asm-generic/siginfo.h>``/``<asm-generic/signal.h>`` and XNU's
``<mach/exception_types.h>``/``<mach/kern_return.h>``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

import dumplib
from dumplib.analysis.exceptions import summarize_exception
from dumplib.analysis.oscrash import OsFamily, crash_reason
from dumplib.builder import DumpBuilder

RUST = Path(__file__).parent.parent / "fixtures" / "external" / "rust-minidump"
SNAPSHOTS = RUST / "snapshots"


def snapshot(name: str) -> dict[str, Any]:
    """A minidump-stackwalk --json snapshot of rust-minidump (insta header removed)."""
    text = (SNAPSHOTS / f"test_minidump_stackwalk__{name}.snap").read_text(encoding="utf-8")
    doc: dict[str, Any] = json.loads(text[text.index("\n{") + 1 :])
    return doc


CASES = [
    ("linux-mini.dmp", "linux_json_pretty"),
    ("test.dmp", "json-pretty"),
    ("pipeline-inlines-macos-segv.dmp", "macos_inlines_json_pretty"),
]


@pytest.mark.parametrize(("dump_name", "snap"), CASES)
def test_crash_reason_and_address_match_minidump_stackwalk(dump_name: str, snap: str) -> None:
    expected = snapshot(snap)["crash_info"]
    with dumplib.open(RUST / dump_name) as d:
        why = crash_reason(d)
        assert why is not None
        assert why.reason == expected["type"]
        width = 8 if d.system.pointer_size == 4 else 16
        assert f"0x{why.address:0{width}x}" == expected["address"]
        assert why.crashed


@pytest.mark.parametrize(("dump_name", "snap"), [CASES[0], CASES[2]])
def test_access_type_from_the_faulting_instruction(dump_name: str, snap: str) -> None:
    """Linux and macOS records do not say read or write; the instruction does."""
    access = snapshot(snap)["crash_info"]["memory_accesses"][0]
    with dumplib.open(RUST / dump_name) as d:
        why = d.explain_fault()
        assert why is not None and why.access == access["access_type"]
        assert why.address == int(access["address"], 16)
        assert "did not fault" not in why.text
        summary = summarize_exception(d)
        assert summary is not None and summary.kind == "access_violation"
        assert summary.access == access["access_type"]


def test_linux_sigsegv_is_not_a_win32_error() -> None:
    with dumplib.open(RUST / "linux-mini.dmp") as d:
        assert d.exception is not None and d.exception.name == "SIGSEGV"
        summary = summarize_exception(d)
        assert summary is not None
        assert summary.name == "SIGSEGV" and "ERROR_BAD_FORMAT" not in summary.description
        assert summary.target == 0x45 and summary.target_kind == "null_page"


def test_raw_exception_fields_agree_with_skelsec_minidump() -> None:
    mf = pytest.importorskip("minidump.minidumpfile")
    logging.getLogger().setLevel(logging.CRITICAL)  # skelsec logs a PEB it cannot find
    theirs = mf.MinidumpFile.parse(str(RUST / "linux-mini.dmp"))
    rec = theirs.exception.exception_records[0]
    with dumplib.open(RUST / "linux-mini.dmp") as d:
        why = crash_reason(d)
        assert why is not None
        assert why.code == rec.ExceptionRecord.ExceptionCode_raw == 11
        assert why.thread_id == rec.ThreadId
        assert why.address == rec.ExceptionRecord.ExceptionAddress
        assert why.os is OsFamily.LINUX


def test_crashpad_exc_crash_from_abort() -> None:
    """simple-crashpad.dmp: crashpad unwrapped EXC_CRASH (parameters[0] = 10) whose code0
    0x06000000 carries signal 6 in bits 24-31; crashpad's own annotation says
    "abort() called" (the value rust-minidump's test_crashpad_info asserts)."""
    with dumplib.open(RUST / "simple-crashpad.dmp") as d:
        assert d.exception is not None
        assert d.exception.parameters[:2] == (10, 0x06000000)
        why = crash_reason(d)
        assert why is not None
        assert why.reason == "EXC_CRASH / SIGABRT" and why.signal == "SIGABRT"
        assert not why.hardware and why.crashed
        assert d.exception.name == "EXC_CRASH"
        summary = summarize_exception(d)
        assert summary is not None and summary.kind == "abort"
        assert "STATUS_SUCCESS" not in summary.description
        info = d.vendor.crashpad_info
        assert info is not None and info.modules[0].list_annotations == ("abort() called",)


def _dump(platform: int, code: int, flags: int, address: int = 0x1000, *,
          arch: str = "amd64", params: tuple[int, ...] = ()) -> dumplib.Dump:
    b = DumpBuilder(arch, platform_id=platform, os_version=(0, 0, 0))  # type: ignore[arg-type]
    b.add_thread(7, context={"rip" if arch == "amd64" else "pc": 0x401000})
    b.set_exception(7, code, address, flags=flags, parameters=params)
    return dumplib.open(b.to_bytes())


LINUX, ANDROID, MACOS, IOS = 0x8201, 0x8203, 0x8101, 0x8102


@pytest.mark.parametrize(("platform", "code", "flags", "reason", "hardware"), [
    (LINUX, 11, 1, "SIGSEGV / SEGV_MAPERR", True),
    (LINUX, 11, 2, "SIGSEGV / SEGV_ACCERR", True),
    (ANDROID, 7, 1, "SIGBUS / BUS_ADRALN", True),
    (LINUX, 8, 1, "SIGFPE / FPE_INTDIV", True),
    (LINUX, 4, 1, "SIGILL / ILL_ILLOPC", True),
    (LINUX, 5, 1, "SIGTRAP / TRAP_BRKPT", True),
    (LINUX, 31, 1, "SIGSYS / SYS_SECCOMP", False),
    (LINUX, 6, 0xFFFFFFFA, "SIGABRT / SI_TKILL", False),  # si_code -6: tgkill (abort())
    (LINUX, 11, 0xFFFFFFFA, "SIGSEGV / SI_TKILL", False),  # sent, not a fault
    (LINUX, 11, 0x80, "SIGSEGV / SI_KERNEL", True),
    (LINUX, 11, 0, "SIGSEGV", True),
    (LINUX, 11, 77, "SIGSEGV / 0x0000004d", True),
    (MACOS, 1, 1, "EXC_BAD_ACCESS / KERN_INVALID_ADDRESS", True),
    (MACOS, 1, 2, "EXC_BAD_ACCESS / KERN_PROTECTION_FAILURE", True),
    (MACOS, 1, 13, "EXC_BAD_ACCESS / EXC_I386_GPFLT", True),
    (MACOS, 2, 1, "EXC_BAD_INSTRUCTION / EXC_I386_INVOP", True),
    (MACOS, 3, 1, "EXC_ARITHMETIC / EXC_I386_DIV", True),
    (MACOS, 6, 2, "EXC_BREAKPOINT / EXC_I386_BPT", True),
    (MACOS, 5, 0x00010002, "EXC_SOFTWARE / SIGABRT", False),
    (MACOS, 12, 2 << 29, "EXC_GUARD / GUARD_TYPE_FD", False),
    (MACOS, 11, 1 << 29, "EXC_RESOURCE / RESOURCE_TYPE_CPU", False),
])
def test_signal_and_mach_names(platform: int, code: int, flags: int, reason: str,
                               hardware: bool) -> None:
    with _dump(platform, code, flags) as d:
        why = crash_reason(d)
        assert why is not None
        assert why.reason == reason
        assert why.hardware is hardware
        assert why.crashed


def test_mach_arm64_subcodes() -> None:
    with _dump(IOS, 1, 0x101, arch="arm64") as d:
        why = crash_reason(d)
        assert why is not None and why.reason == "EXC_BAD_ACCESS / EXC_ARM_DA_ALIGN"


@pytest.mark.parametrize(("platform", "code"), [
    (LINUX, 0xFFFFFFFF),  # breakpad's MD_EXCEPTION_CODE_LIN_DUMP_REQUESTED
    (2, 0xFFFFFFFF),
    (MACOS, 0x43507378),  # crashpad's kMinidumpExceptionCodeSimulated 'CPsx'
])
def test_dump_requested_is_no_crash(platform: int, code: int) -> None:
    with _dump(platform, code, 0) as d:
        why = crash_reason(d)
        assert why is not None and not why.crashed
        summary = summarize_exception(d)
        assert summary is not None
        if platform != 2:
            assert summary.kind == "dump_requested"


def test_explanation_of_a_sent_signal_does_not_claim_a_fault() -> None:
    """A SIGSEGV sent with tgkill (si_code SI_TKILL) did not come from the instruction."""
    b = DumpBuilder("amd64", platform_id=LINUX, os_version=(0, 0, 0))
    code = bytes.fromhex("c7042545000000050000009090909090")  # mov dword [0x45], 5; nops
    b.add_memory(0x401000, code)
    b.add_thread(7, context={"rip": 0x401000, "rsp": 0x7000})
    b.set_exception(7, 11, 0x45, flags=0xFFFFFFFA, context={"rip": 0x401000, "rsp": 0x7000})
    with dumplib.open(b.to_bytes()) as d:
        why = d.explain_fault()
        assert why is not None and "did not fault" in why.text


@pytest.mark.parametrize(("code", "code0", "subcode", "reason"), [
    # XNU exc_guard.h: guard type in bits 61-63, flavour in 32-60, target in 0-31
    (12, (2 << 61) | (1 << 32) | 5, 0x1234,
     "EXC_GUARD / GUARD_TYPE_FD / GUARD_EXC_CLOSE file descriptor: 5 guard identifier: 4660"),
    (12, (1 << 61) | (0x20 << 32) | 77, 0,
     "EXC_GUARD / GUARD_TYPE_MACH_PORT / GUARD_EXC_IMMOVABLE port name: 77"),
    (12, (5 << 61) | (1 << 32), 4096,
     "EXC_GUARD / GUARD_TYPE_VIRT_MEMORY / GUARD_EXC_DEALLOC_GAP offset: 4096"),
    # XNU exc_resource.h: type in 61-63, flavour in 58-60, then per-type fields
    (11, (1 << 61) | (1 << 58) | (180 << 7) | 5, 7,
     "EXC_RESOURCE / RESOURCE_TYPE_CPU / FLAVOR_CPU_MONITOR interval: 180s CPU limit: 5% "
     "CPU consumed: 7%"),
    (11, (3 << 61) | (1 << 58) | 2048, 0,
     "EXC_RESOURCE / RESOURCE_TYPE_MEMORY / FLAVOR_HIGH_WATERMARK high watermark limit: "
     "2048MiB"),
    (11, (5 << 61) | (7 << 58), 3,
     "EXC_RESOURCE / RESOURCE_TYPE_THREADS / 0xbc00000000000000 / 0x0000000000000003"),
])
def test_mach_guard_and_resource_details(code: int, code0: int, subcode: int,
                                         reason: str) -> None:
    """Crashpad keeps the high half of code0 in ExceptionFlags for these two and the
    full codes in ExceptionInformation; the text is minidump-stackwalk's."""
    with _dump(MACOS, code, code0 >> 32, params=(code, code0, subcode)) as d:
        why = crash_reason(d)
        assert why is not None and why.reason == reason


@pytest.mark.parametrize(("code", "params", "reason"), [
    (0xC0000409, (7,), "EXCEPTION_STACK_BUFFER_OVERRUN / FAST_FAIL_FATAL_APP_EXIT"),  # winnt.h
    (0xE06D7363, (0x19930520, 0, 0), "Unhandled C++ Exception"),
    (0xC0000005, (8, 0x1234), "EXCEPTION_ACCESS_VIOLATION_EXEC"),
    (0xC0000005, (0, 0x10), "EXCEPTION_ACCESS_VIOLATION_READ"),
    (0x0517A7ED, (), "Simulated Exception"),
])
def test_windows_reasons_as_minidump_stackwalk_spells_them(code: int, params: tuple[int, ...],
                                                          reason: str) -> None:
    with _dump(2, code, 0, params=params) as d:
        why = crash_reason(d)
        assert why is not None and why.reason == reason
