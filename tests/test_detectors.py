"""Detectors and collectors on builder-made dumps: the answer is how the dump was built.

Critical sections, DebugInfo blocks, TEB/PEB and OVERLAPPEDs are written into
the dump's memory with the documented x64 layouts (winnt.h / minwinbase.h):

* RTL_CRITICAL_SECTION: DebugInfo(8) LockCount(4) RecursionCount(4)
  OwningThread(8) LockSemaphore(8) SpinCount(8); RTL_CRITICAL_SECTION_DEBUG
  has CriticalSection at offset 8.
* TEB.ProcessEnvironmentBlock at 0x60; PEB.LoaderLock at 0x110.
* OVERLAPPED: Internal(8) InternalHigh(8) Offset(4) OffsetHigh(4) hEvent(8).

Stacks are given to ``analyze(stacks=...)`` as Frame objects, as the walker
would produce them.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from typing import Any

import dumplib
from dumplib.analysis import analyze
from dumplib.analysis.detectors import read_critical_section
from dumplib.analysis.facts import AnalysisContext
from dumplib.builder import DumpBuilder
from dumplib.unwind.frames import Frame, Stack, StackStatus, Trust

APP = 0x1_4000_0000
CLR = 0x7FF8_3000_0000
MSCORLIB = 0x7FF8_1000_0000
NTDLL = 0x7FF8_2000_0000
KERNEL32 = 0x7FF8_4000_0000
WS2_32 = 0x7FF8_5000_0000
VENDOR = 0x1_8000_0000
HEAP = 0x60_0000
FILETIME_1970 = 116444736000000000


def _base(os_version: tuple[int, int, int] = (6, 3, 9600), time_date_stamp: int = 0) -> DumpBuilder:
    b = DumpBuilder("amd64", os_version=os_version, product_type=3,
                    time_date_stamp=time_date_stamp)
    b.add_module(r"C:\Services\App.exe", base=APP, size=0x40000, version=(1, 0, 0, 0))
    b.add_module(r"C:\Windows\System32\ntdll.dll", base=NTDLL, size=0x1F0000)
    b.add_module(r"C:\Windows\System32\kernel32.dll", base=KERNEL32, size=0x100000)
    b.add_module(r"C:\Windows\System32\ws2_32.dll", base=WS2_32, size=0x80000)
    b.add_module(r"C:\Windows\Microsoft.NET\Framework64\v4.0.30319\clr.dll", base=CLR,
                 size=0x00A0_0000, version=(4, 0, 30319, 36331))
    b.add_module(r"C:\Windows\assembly\NativeImages_v4.0.30319_64\mscorlib\mscorlib.ni.dll",
                 base=MSCORLIB, size=0x0100_0000, version=(4, 0, 30319, 36331))
    b.add_module(r"C:\Program Files\Fabrikam\fabnetinspect.dll", base=VENDOR, size=0x20000,
                 version=(5, 5, 0, 2))
    return b


def _stack(dump: dumplib.Dump, tid: int, frames: Sequence[tuple[str, str | None]],
           sp: int = 0x50_0000) -> Stack:
    out = []
    for i, (module, function) in enumerate(frames):
        m = dump.modules.by_name(module)
        assert m is not None, module
        ip = m.base + 0x1000 + 0x40 * i
        out.append(Frame(i, ip, sp + 0x40 * i, Trust.CONTEXT if i == 0 else Trust.CFI, m,
                         function, 0x40 * i if function else ip - m.base))
    return Stack(tid, tuple(out), StackStatus.COMPLETE)


def _ev(finding: Any) -> Any:
    """A finding's evidence through a JSON round trip (proves it is plain JSON)."""
    return json.loads(json.dumps(finding.evidence))


# -- critical sections ---------------------------------------------------------------------------

CS_WAIT = [("ntdll.dll", "NtWaitForSingleObject"), ("ntdll.dll", "RtlpWaitOnCriticalSection"),
           ("ntdll.dll", "RtlEnterCriticalSection")]


def _critical_section(owner: int, debug_info: int, recursion: int = 1) -> bytes:
    return struct.pack("<QiiQQQ", debug_info, -2, recursion, owner, 0x1F0, 0x20007D0)


def _debug_block(cs_address: int) -> bytes:
    return struct.pack("<HHIQ", 0, 0, 0, cs_address) + bytes(32)


def _deadlock_dump(b_waits_on_a: bool = True, orphan_verified: bool = True) -> DumpBuilder:
    b = _base()
    cs_a, cs_b, cs_c = HEAP, HEAP + 0x100, HEAP + 0x200
    dbg_a, dbg_b, dbg_c = HEAP + 0x1000, HEAP + 0x1100, HEAP + 0x1200
    b.add_memory(cs_a, _critical_section(owner=0x200, debug_info=dbg_a))
    b.add_memory(cs_b, _critical_section(owner=0x100, debug_info=dbg_b))
    # cs_c: owned by a thread that is not in the dump.
    b.add_memory(cs_c, _critical_section(owner=0x998, debug_info=dbg_c if orphan_verified else 0))
    b.add_memory(dbg_a, _debug_block(cs_a))
    b.add_memory(dbg_b, _debug_block(cs_b))
    b.add_memory(dbg_c, _debug_block(cs_c))
    b.add_thread(0x100, context={"rip": NTDLL + 0x1000, "rsp": 0x50_0000, "rcx": cs_a},
                 stack=bytes(0x100))
    # Thread 0x200 keeps the section's address on its stack, not in a register.
    b.add_thread(0x200, context={"rip": NTDLL + 0x1000, "rsp": 0x51_0000, "rcx": 0x1234},
                 stack=struct.pack("<QQ", 0, cs_b if b_waits_on_a else 0) + bytes(0xF0))
    b.add_thread(0x300, context={"rip": NTDLL + 0x1000, "rsp": 0x52_0000, "rbx": cs_c},
                 stack=bytes(0x100))
    b.add_thread(0x400, context={"rip": APP + 0x1000, "rsp": 0x53_0000}, stack=bytes(0x100))
    return b


def _deadlock_stacks(dump: dumplib.Dump) -> dict[int, Stack]:
    return {
        0x100: _stack(dump, 0x100, [*CS_WAIT, ("App.exe", "TransferAtoB")]),
        0x200: _stack(dump, 0x200, [*CS_WAIT, ("App.exe", "TransferBtoA")], sp=0x51_0000),
        0x300: _stack(dump, 0x300, [*CS_WAIT, ("App.exe", "Flush")], sp=0x52_0000),
        0x400: _stack(dump, 0x400, [("App.exe", "main")], sp=0x53_0000),
    }


def test_critical_section_read_as_built() -> None:
    with dumplib.open(_deadlock_dump().to_bytes()) as dump:
        ctx = AnalysisContext(dump, stacks={})
        cs = read_critical_section(ctx, HEAP)
        assert cs is not None
        assert (cs.owning_thread, cs.recursion_count, cs.lock_count, cs.debug_info) == (
            0x200, 1, -2, HEAP + 0x1000)
        assert cs.held
        assert read_critical_section(ctx, 0x9999_0000) is None


def test_deadlock_cycle_found() -> None:
    with dumplib.open(_deadlock_dump().to_bytes()) as dump:
        report = analyze(dump, stacks=_deadlock_stacks(dump))
    assert report.thread_states == {0x100: "critical_section", 0x200: "critical_section",
                                    0x300: "critical_section", 0x400: "running"}
    found = [f for f in report.findings if f.id == "deadlock-critical-section"]
    assert len(found) == 1
    ev = _ev(found[0])
    assert sorted(ev["threads"]) == [0x100, 0x200]
    waits = {link["thread"]: link["waits_for"] for link in ev["cycle"]}
    assert waits[0x100]["address"] == HEAP and waits[0x100]["owning_thread"] == 0x200
    assert waits[0x200]["address"] == HEAP + 0x100 and waits[0x200]["owning_thread"] == 0x100
    # ... and the section whose owner is gone.
    orphan = report.finding("orphaned-critical-section")
    assert orphan is not None
    assert _ev(orphan)["waiter"] == 0x300
    assert _ev(orphan)["critical_section"]["owning_thread"] == 0x998


def test_no_deadlock_without_a_cycle() -> None:
    with dumplib.open(_deadlock_dump(b_waits_on_a=False).to_bytes()) as dump:
        stacks = _deadlock_stacks(dump)
        stacks[0x200] = _stack(dump, 0x200, [("App.exe", "Busy")], sp=0x51_0000)
        report = analyze(dump, stacks=stacks)
    assert report.finding("deadlock-critical-section") is None


def test_orphan_needs_a_verified_debug_block() -> None:
    """A stray value whose 'owner' is not a thread must not pass for a lock."""
    with dumplib.open(_deadlock_dump(orphan_verified=False).to_bytes()) as dump:
        report = analyze(dump, stacks=_deadlock_stacks(dump))
    assert report.finding("orphaned-critical-section") is None
    assert report.finding("deadlock-critical-section") is not None


def test_no_lock_findings_without_stacks_or_memory() -> None:
    with dumplib.open(_deadlock_dump().to_bytes()) as dump:
        report = analyze(dump, stacks={})
    assert not [f for f in report.findings if "critical-section" in f.id]


# -- loader lock ----------------------------------------------------------------------------------

TEB, PEB, LOADER_LOCK = 0x7000_0000, 0x7100_0000, 0x7200_0000


def _loader_lock_dump(owner: int) -> DumpBuilder:
    b = _base()
    b.add_memory(TEB, bytes(0x60) + struct.pack("<Q", PEB))
    b.add_memory(PEB, bytes(0x110) + struct.pack("<Q", LOADER_LOCK))
    b.add_memory(LOADER_LOCK, _critical_section(owner=owner, debug_info=LOADER_LOCK + 0x100,
                                                recursion=1 if owner else 0))
    b.add_memory(LOADER_LOCK + 0x100, _debug_block(LOADER_LOCK))
    b.add_thread(0x100, context={"rip": APP + 0x1000, "rsp": 0x50_0000}, stack=bytes(0x100),
                 teb=TEB)
    b.add_thread(0x200, context={"rip": NTDLL + 0x1000, "rsp": 0x51_0000, "rcx": LOADER_LOCK},
                 stack=bytes(0x100), teb=TEB + 0x2000)
    return b


def test_loader_lock_held_with_a_waiter() -> None:
    with dumplib.open(_loader_lock_dump(owner=0x100).to_bytes()) as dump:
        stacks = {
            0x100: _stack(dump, 0x100, [("App.exe", "DllMainWaitsForWorker"),
                                        ("ntdll.dll", "LdrpCallInitRoutine")]),
            0x200: _stack(dump, 0x200, [*CS_WAIT, ("ntdll.dll", "LdrpLoadDll")], sp=0x51_0000),
        }
        report = analyze(dump, stacks=stacks)
    finding = report.finding("loader-lock-held")
    assert finding is not None
    ev = _ev(finding)
    assert ev["owner"] == 0x100 and ev["waiters"] == [0x200]
    assert ev["loader_lock"]["address"] == LOADER_LOCK
    assert "app!DllMainWaitsForWorker" in ev["owner_frames"]
    assert finding.confidence >= 0.8


def test_loader_lock_free_is_no_finding() -> None:
    with dumplib.open(_loader_lock_dump(owner=0).to_bytes()) as dump:
        report = analyze(dump, stacks={})
    assert report.finding("loader-lock-held") is None


# -- case B's OVERLAPPED ---------------------------------------------------------------------------

IOCP_FRAMES = [
    ("mscorlib.ni.dll", "System.Threading._IOCompletionCallback.PerformIOCompletionCallback"),
    ("clr.dll", "BindIoCompletionCallbackStub"),
    ("clr.dll", "ThreadpoolMgr::CompletionPortThreadStart"),
    ("kernel32.dll", "BaseThreadInitThunk"),
    ("ntdll.dll", "RtlUserThreadStart"),
]
OVERLAPPED = HEAP + 0x5000


def _caseb_dump(internal: int, *, overlapped_at: int = OVERLAPPED,
                comment: str | None = None) -> DumpBuilder:
    b = _base()
    overlapped = struct.pack("<QQIIQ", internal, 64, 0, 0, 0)
    stack = bytearray(0x100)
    if 0x50_0000 <= overlapped_at < 0x50_0100:  # an OVERLAPPED on the thread's own stack
        at = overlapped_at - 0x50_0000
        stack[at : at + len(overlapped)] = overlapped
    else:
        b.add_memory(overlapped_at, overlapped + bytes(16))
    b.add_thread(0x23D0, context={"rip": MSCORLIB + 0x1000, "rsp": 0x50_0000,
                                  "r8": overlapped_at, "rbx": 0x50_0040},
                 stack=bytes(stack))
    b.add_thread(0x100, context={"rip": APP + 0x1000, "rsp": 0x51_0000}, stack=bytes(0x100))
    if comment:
        b.add_comment(comment)
    b.set_exception(0x23D0, 0xC0000005, MSCORLIB + 0x1000, parameters=(0, 0))
    return b


def _facts(ev: Any, name: str) -> list[Any]:
    return [f for f in ev["facts"] if f["fact"] == name]


def test_double_completion_confirmed_by_the_overlapped_status() -> None:
    with dumplib.open(_caseb_dump(0x80000005).to_bytes()) as dump:
        report = analyze(dump, stacks={0x23D0: _stack(dump, 0x23D0, IOCP_FRAMES)})
    finding = report.finding("clr-double-io-completion")
    assert finding is not None
    ev = _ev(finding)
    ov = ev["overlapped"]
    assert (ov["address"], ov["internal"], ov["internal_name"], ov["internal_high"]) == (
        OVERLAPPED, 0x80000005, "STATUS_BUFFER_OVERFLOW", 64)
    assert ov["where"]["register"] == "r8" and ov["valid"] is True
    assert _facts(ev, "overlapped_status_buffer_overflow")
    assert finding.confidence == 0.95
    assert ev["os_version"] == "6.3.9600" and "KB3179574" in ev["fix"]
    assert ev["fix_applies_to_this_os"] is True


def test_overlapped_with_another_status_is_reported_but_not_confirming() -> None:
    with dumplib.open(_caseb_dump(0xC0000120).to_bytes()) as dump:  # STATUS_CANCELLED
        report = analyze(dump, stacks={0x23D0: _stack(dump, 0x23D0, IOCP_FRAMES)})
    finding = report.finding("clr-double-io-completion")
    assert finding is not None
    ev = _ev(finding)
    assert ev["overlapped"]["internal_name"] == "STATUS_CANCELLED"
    assert not _facts(ev, "overlapped_status_buffer_overflow")
    # 0.15 + AV 0.3 + no application frame 0.15 + fix for 6.3 0.05
    assert finding.confidence == 0.65


def test_stack_memory_is_not_taken_for_an_overlapped() -> None:
    where = 0x50_0080
    with dumplib.open(_caseb_dump(0x80000005, overlapped_at=where).to_bytes()) as dump:
        report = analyze(dump, stacks={0x23D0: _stack(dump, 0x23D0, IOCP_FRAMES)})
    finding = report.finding("clr-double-io-completion")
    assert finding is not None
    assert not _facts(finding.evidence, "overlapped")
    reasons = {c["address"]: c["reason"] for c in finding.evidence["overlapped_candidates"]}
    assert reasons[where] == "on a thread stack (a NativeOverlapped lives on the heap)"


def test_successful_overlapped_is_structure_not_the_double_completion_tell() -> None:
    with dumplib.open(_caseb_dump(0, overlapped_at=OVERLAPPED).to_bytes()) as dump:
        report = analyze(dump, stacks={0x23D0: _stack(dump, 0x23D0, IOCP_FRAMES)})
    finding = report.finding("clr-double-io-completion")
    assert finding is not None
    (ov,) = _facts(finding.evidence, "overlapped")
    assert ov["value"] == OVERLAPPED
    assert finding.evidence["overlapped"]["internal_name"] == "STATUS_SUCCESS"
    assert not _facts(finding.evidence, "overlapped_status_buffer_overflow")
    # A normal completion status lowers it: 0.65 without an OVERLAPPED, 0.55 with this one.
    assert _facts(finding.evidence, "overlapped_status_normal")
    assert finding.confidence == 0.55


def test_application_frame_on_the_thread_is_not_case_b() -> None:
    frames = [IOCP_FRAMES[0], ("App.exe", "OnReceive"), *IOCP_FRAMES[1:]]
    with dumplib.open(_caseb_dump(0x80000005).to_bytes()) as dump:
        report = analyze(dump, stacks={0x23D0: _stack(dump, 0x23D0, frames)})
    finding = report.finding("clr-double-io-completion")
    assert finding is None or finding.confidence < 0.5


# -- case A's blocked network threads ------------------------------------------------------

DUMP_TIME = 1_700_000_000
NET_WAIT = [("ntdll.dll", "NtWaitForSingleObject"), ("ws2_32.dll", "recv"),
            ("fabnetinspect.dll", "FabInspectRecv"), ("App.exe", "RelayWorker")]
STOP_WAIT = [("ntdll.dll", "NtWaitForMultipleObjects"), ("kernel32.dll", "WaitForMultipleObjects"),
             ("App.exe", "ServiceCtrlHandler_Stop")]


def _casea_dump(with_exception: bool = False) -> DumpBuilder:
    b = _base(time_date_stamp=DUMP_TIME)
    for tid in (0x10, 0x14, 0x18):
        b.add_thread(tid, context={"rip": NTDLL + 0x1000, "rsp": 0x50_0000 + tid * 0x1000},
                     stack=bytes(0x40))
    # Worker 0x10 was created an hour before the dump and used 0.5 s of CPU.
    b.add_thread_info(0x10, create_time=FILETIME_1970 + (DUMP_TIME - 3600) * 10_000_000,
                      user_time=3_000_000, kernel_time=2_000_000)
    b.add_thread_info(0x14, create_time=FILETIME_1970 + (DUMP_TIME - 60) * 10_000_000)
    b.add_handle(0x40, type_name="File", object_name=r"\Device\Afd")
    b.add_handle(0x44, type_name="File", object_name=r"\Device\Afd")
    b.add_handle(0x48, type_name="Event")
    if with_exception:
        b.set_exception(0x18, 0xC0000005, APP + 0x1000, parameters=(0, 0))
    return b


def _casea_stacks(dump: dumplib.Dump) -> dict[int, Stack]:
    return {0x10: _stack(dump, 0x10, NET_WAIT), 0x14: _stack(dump, 0x14, NET_WAIT),
            0x18: _stack(dump, 0x18, STOP_WAIT)}


def test_hung_stop_with_thread_times_and_socket_handles() -> None:
    """A waiter whose name says "Stop" is not a service-control handler: without the
    dispatcher the finding stays below 0.5, with the blocked threads' facts."""
    with dumplib.open(_casea_dump().to_bytes()) as dump:
        report = analyze(dump, stacks=_casea_stacks(dump))
    finding = report.finding("hung-stop-network-io")
    assert finding is not None and finding.confidence < 0.5
    ev = _ev(finding)
    blocked = {f["where"]["thread"] for f in _facts(ev, "network_blocked_thread")}
    assert blocked == {0x10, 0x14}
    ages = {f["where"]["thread"]: f["value"] for f in _facts(ev, "thread_age_seconds")}
    assert ages == {0x10: 3600, 0x14: 60}
    assert [f["where"]["thread"] for f in _facts(ev, "blocked_long")] == [0x10, 0x14]
    chain = {c["thread"]: c for c in ev["wait_chain"]}
    assert chain[0x10]["cpu_seconds"] == 0.5
    assert ev["socket_handles"] == 2
    # Without images there is no version resource: vendor unknown, so not "third party".
    assert ev["network_path_modules"] == []
    assert "module_vendor" in {m["fact"] for m in ev["missing"]}


def test_threads_age_needs_thread_times() -> None:
    with dumplib.open(_casea_dump().to_bytes()) as dump:
        ctx = AnalysisContext(dump, stacks=_casea_stacks(dump))
        ages = {t.id: t.age_seconds for t in ctx.threads}
    assert ages == {0x10: 3600.0, 0x14: 60.0, 0x18: None}


def test_no_hung_stop_when_the_dump_has_a_crash_or_no_network_wait() -> None:
    with dumplib.open(_casea_dump(with_exception=True).to_bytes()) as dump:
        assert analyze(dump, stacks=_casea_stacks(dump)).finding("hung-stop-network-io") is None
    with dumplib.open(_casea_dump().to_bytes()) as dump:
        stacks = _casea_stacks(dump)
        for tid in (0x10, 0x14):
            stacks[tid] = _stack(dump, tid, [("ntdll.dll", "NtDelayExecution"),
                                             ("App.exe", "Idle")])
        assert analyze(dump, stacks=stacks).finding("hung-stop-network-io") is None


# -- out of memory: the memory map ---------------------------------------------------------------

MIB = 1 << 20


def _x86_oom(used_mib: int) -> DumpBuilder:
    """A 32-bit process whose 2 GiB address space has ``used_mib`` MiB reserved or committed."""
    b = DumpBuilder("x86", os_version=(6, 1, 7601))
    b.add_module(r"C:\App\App.exe", base=0x40_0000, size=0x10000)
    b.add_thread(0x10, context={"eip": 0x40_1000, "esp": 0x10_0000}, stack=bytes(0x100))
    b.set_exception(0x10, 0xC0000017, 0x40_1000)  # STATUS_NO_MEMORY
    half = used_mib // 2
    b.add_memory_info(0x100_0000, half * MIB, state=0x1000)  # MEM_COMMIT
    b.add_memory_info(0x100_0000 + half * MIB, (used_mib - half) * MIB, state=0x2000)
    free_at = 0x100_0000 + used_mib * MIB
    b.add_memory_info(free_at, 0x8000_0000 - free_at, state=0x10000, protect=1, type=0)
    b.set_process_vm_counters(private_usage=half * MIB, virtual_size=used_mib * MIB)
    return b


def test_out_of_memory_confirmed_by_a_full_address_space() -> None:
    with dumplib.open(_x86_oom(1900).to_bytes()) as dump:
        finding = analyze(dump, stacks={}).finding("out-of-memory")
    assert finding is not None
    ev = _ev(finding)
    assert ev["committed_bytes"] == 950 * MIB and ev["reserved_bytes"] == 950 * MIB
    assert ev["address_space_bytes"] == 2 << 30
    assert ev["largest_free_region"] == 0x8000_0000 - (0x100_0000 + 1900 * MIB)
    assert ev["virtual_size"] == 1900 * MIB and ev["private_usage"] == 950 * MIB
    assert ev["confirmed"] is True and finding.confidence == 0.9


def test_out_of_memory_with_room_left_is_not_confirmed() -> None:
    with dumplib.open(_x86_oom(300).to_bytes()) as dump:
        finding = analyze(dump, stacks={}).finding("out-of-memory")
    assert finding is not None
    assert finding.evidence["confirmed"] is False and finding.confidence == 0.8
