"""Signature files: validation on load, user directories, every condition, and a
positive and a negative case for every built-in signature.

Dumps are made with DumpBuilder and stacks given as Frame objects, so whether
a signature must match follows from how each dump was built.
"""

from __future__ import annotations

import shutil
import struct
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dumplib
from dumplib.analysis import Report, analyze
from dumplib.analysis.facts import AnalysisContext
from dumplib.analysis.signatures import (
    SignatureError,
    builtin_signature_dir,
    load_signature,
    load_signatures,
    match_signature,
    parse_signature,
)
from dumplib.builder import DumpBuilder
from dumplib.unwind.frames import Frame, Stack, StackStatus, Trust
from tests.kernel_helpers import analyze_machine

ROOT = Path(__file__).resolve().parent.parent
FABNET = ROOT / "fixtures" / "wine" / "casea" / "fabnetinspect.dll"

APP = 0x1_4000_0000
CLR = 0x7FF8_3000_0000
MSCORLIB = 0x7FF8_1000_0000
NTDLL = 0x7FF8_2000_0000
KERNEL32 = 0x7FF8_4000_0000
WS2_32 = 0x7FF8_5000_0000
VENDOR = 0x1_8000_0000
BUILTIN_IDS = {
    "clr-double-io-completion", "hung-stop-network-io", "network-filter-driver",
    "stack-overflow", "heap-corruption", "out-of-memory", "network-filter-driver-bugcheck",
}


def _pe_key(path: Path) -> tuple[int, int]:
    """(TimeDateStamp, SizeOfImage) read straight from the PE headers."""
    data = path.read_bytes()[:4096]
    (lfanew,) = struct.unpack_from("<I", data, 0x3C)
    (timestamp,) = struct.unpack_from("<I", data, lfanew + 8)
    (size,) = struct.unpack_from("<I", data, lfanew + 24 + 56)
    return timestamp, size


def _builder(*, process: str = "App.exe", os_build: int = 9600,
             extra_modules: Sequence[str] = ()) -> DumpBuilder:
    b = DumpBuilder("amd64", os_version=(6, 3, os_build), product_type=3)
    b.add_module(rf"C:\Services\{process}", base=APP, size=0x40000, version=(1, 2, 3, 4))
    b.add_module(r"C:\Windows\System32\ntdll.dll", base=NTDLL, size=0x1F0000)
    b.add_module(r"C:\Windows\System32\kernel32.dll", base=KERNEL32, size=0x100000)
    b.add_module(r"C:\Windows\System32\ws2_32.dll", base=WS2_32, size=0x80000)
    b.add_module(r"C:\Windows\Microsoft.NET\Framework64\v4.0.30319\clr.dll", base=CLR,
                 size=0xA0_0000, version=(4, 0, 30319, 36331))
    b.add_module(r"C:\Windows\assembly\NativeImages_v4.0.30319_64\mscorlib\mscorlib.ni.dll",
                 base=MSCORLIB, size=0x100_0000, version=(4, 0, 30319, 36331))
    for i, path in enumerate(extra_modules):
        b.add_module(path, base=0x2_0000_0000 + i * 0x100000, size=0x10000,
                     version=(9, 8, 7, 6))
    for tid in (0x10, 0x14, 0x18):
        b.add_thread(tid, context={"rip": NTDLL + 0x1000, "rsp": 0x50_0000 + tid * 0x1000},
                     stack=bytes(0x40))
    return b


def _stack(dump: dumplib.Dump, tid: int, frames: Sequence[tuple[str, str | None]]) -> Stack:
    out = []
    for i, (module, function) in enumerate(frames):
        m = dump.modules.by_name(module)
        assert m is not None, module
        ip = m.base + 0x1000 + 0x40 * i
        out.append(Frame(i, ip, 0x50_0000 + 0x40 * i, Trust.CFI, m, function,
                         0x40 * i if function else ip - m.base))
    return Stack(tid, tuple(out), StackStatus.COMPLETE)


StackSpec = Mapping[int, Sequence[tuple[str, str | None]]]


def _analyze(b: DumpBuilder, stacks: StackSpec | None = None,
             symbols: Sequence[str] = ()) -> Report:
    with dumplib.open(b.to_bytes()) as dump:
        given = {tid: _stack(dump, tid, frames) for tid, frames in (stacks or {}).items()}
        return analyze(dump, symbols=list(symbols), stacks=given)


# -- the built-in signatures: one positive and one negative case each ---------------------------

IOCP = [("mscorlib.ni.dll", "System.Threading._IOCompletionCallback.PerformIOCompletionCallback"),
        ("clr.dll", "BindIoCompletionCallbackStub"),
        ("clr.dll", "ThreadpoolMgr::CompletionPortThreadStart"),
        ("kernel32.dll", "BaseThreadInitThunk")]
NET = [("ntdll.dll", "NtWaitForSingleObject"), ("ws2_32.dll", "WSARecv"), ("App.exe", "Pump")]
STOP = [("ntdll.dll", "NtWaitForMultipleObjects"), ("App.exe", "OnStop"),
        ("sechost.dll", "ScDispatcherLoop")]
HEAP_FAIL = [("ntdll.dll", "RtlReportCriticalFailure"), ("ntdll.dll", "RtlpHeapHandleError"),
             ("ntdll.dll", "RtlFreeHeap"), ("App.exe", "Release")]


def _crash(code: int, params: Sequence[int] = (), **kw: object) -> DumpBuilder:
    b = _builder(**kw)  # type: ignore[arg-type]
    b.set_exception(0x10, code, APP + 0x1000, parameters=tuple(params))
    return b


Case = Callable[[], Report]
CASES: dict[str, tuple[Case, Case]] = {
    "clr-double-io-completion": (
        lambda: _analyze(_crash(0xC0000005, (0, 0)), {0x10: IOCP}),
        # Same crash but the application's own code is on the thread.
        lambda: _analyze(_crash(0xC0000005, (0, 0)), {0x10: [IOCP[0], ("App.exe", "Recv"),
                                                             *IOCP[1:]]}),
    ),
    "hung-stop-network-io": (
        lambda: _analyze(_builder(extra_modules=[r"C:\Windows\System32\sechost.dll"]),
                         {0x10: NET, 0x14: NET, 0x18: STOP}),
        lambda: _analyze(_builder(extra_modules=[r"C:\Windows\System32\sechost.dll"]),
                         {0x10: STOP, 0x14: STOP, 0x18: STOP}),
    ),
    # Drivers are listed only by kernel dumps: a process dump with a module of that name
    # (as this test once injected) is a negative, the kernel dump listing it a positive.
    "network-filter-driver": (
        lambda: analyze_machine(),
        lambda: _analyze(_builder(extra_modules=[r"C:\Windows\System32\drivers\vsepflt.sys"])),
    ),
    "network-filter-driver-bugcheck": (
        lambda: analyze_machine(),
        lambda: analyze_machine(caller="ntfs.sys"),
    ),
    "stack-overflow": (
        lambda: _analyze(_crash(0xC00000FD, (1, 0x4F_F000))),
        lambda: _analyze(_crash(0xC0000005, (1, 0x4F_F000))),
    ),
    "heap-corruption": (
        lambda: _analyze(_crash(0xC0000409, (7,)), {0x10: HEAP_FAIL}),
        lambda: _analyze(_crash(0xC0000409, (2,)), {0x10: [("App.exe", "CheckCookie")]}),
    ),
    "out-of-memory": (
        lambda: _analyze(_crash(0xC0000017)),
        lambda: _analyze(_crash(0xC0000005, (0, 0))),
    ),
}


def test_builtin_signatures_load_and_are_all_covered() -> None:
    sigs = load_signatures()
    assert {s.id for s in sigs} == BUILTIN_IDS == set(CASES)
    for s in sigs:
        assert s.title and s.advice and 0 < s.confidence <= 1 and (s.matches or s.detector)


@pytest.mark.parametrize("sig_id", sorted(CASES))
def test_builtin_signature_positive(sig_id: str) -> None:
    report = CASES[sig_id][0]()
    assert report.finding(sig_id) is not None, [f.id for f in report.findings]


@pytest.mark.parametrize("sig_id", sorted(CASES))
def test_builtin_signature_negative(sig_id: str) -> None:
    report = CASES[sig_id][1]()
    finding = report.finding(sig_id)
    # Structural signatures may report a possible finding below 0.5, never above.
    assert finding is None or finding.confidence < 0.5


def _facts(ev: Any, name: str) -> list[Any]:
    return [f for f in ev["facts"] if f["fact"] == name]


def test_case_b_from_runtime_public_symbols_only() -> None:
    """No managed names (mscorlib.ni is a bare offset): clr's public symbols still tell."""
    frames: list[tuple[str, str | None]] = [("mscorlib.ni.dll", None), *IOCP[1:]]
    b = _crash(0xE0434F4D)
    b.add_comment("*** procdump -ma -e 1 -f NullReferenceException App.exe\r\n"
                  "*** First chance exception: E0434F4D.System.NullReferenceException")
    report = _analyze(b, {0x10: frames})
    finding = report.finding("clr-double-io-completion")
    assert finding is not None and finding.confidence == 0.65
    assert _facts(finding.evidence, "chance")[0]["value"] == "first"
    (nre,) = _facts(finding.evidence, "null_reference_or_av")
    assert nre["value"] == "System.NullReferenceException"
    with_app = [("mscorlib.ni.dll", None), ("App.exe", None), *IOCP[1:]]
    other = _analyze(_crash(0xE0434F4D), {0x10: with_app}).finding("clr-double-io-completion")
    assert other is None or other.confidence < 0.5


def test_case_b_first_chance_stack_as_cases_md_describes_it() -> None:
    """The faulting thread of the field dumps (CASES.md), innermost first."""
    frames: list[tuple[str, str | None]] = [
        ("ntdll.dll", "ZwWaitForSingleObject"), ("kernel32.dll", "WaitForSingleObjectEx"),
        ("clr.dll", "Debugger::FirstChanceManagedException"),
        ("clr.dll", "ExceptionTracker::ProcessOSExceptionNotification"),
        ("ntdll.dll", "KiUserExceptionDispatch"), ("kernel32.dll", "RaiseException"),
        ("clr.dll", "NakedThrowHelper"),
        ("mscorlib.ni.dll",
         "System.Threading._IOCompletionCallback.PerformIOCompletionCallback"),
        ("clr.dll", "BindIoCompletionCallbackStub"),
        ("clr.dll", "ThreadpoolMgr::CompletionPortThreadStart"),
        ("clr.dll", "Thread::intermediateThreadProc"),
        ("kernel32.dll", "BaseThreadInitThunk"), ("ntdll.dll", "RtlUserThreadStart"),
    ]
    b = _crash(0xE0434F4D)
    b.add_comment("*** procdump -ma -e 1 -f NullReferenceException DataMCUSvc.exe")
    report = _analyze(b, {0x10: frames})
    finding = report.finding("clr-double-io-completion")
    # 0.15 base + NullReferenceException 0.3 + no application frame 0.15 + fix for 6.3 0.05
    assert finding is not None and finding.confidence == 0.65
    assert finding.evidence["start_function"] == "clr!ThreadpoolMgr::CompletionPortThreadStart"
    (cpt,) = _facts(finding.evidence, "completion_port_thread")
    assert cpt["where"] == {"thread": 0x10, "frame": 12}
    # The first-chance NullReferenceException shares the bucket of the second-chance
    # access violation at the same frames (issue 12), module = the raising frame's.
    assert report.bucket_label == (
        "NULL_DEREFERENCE/mscorlib.ni.dll/mscorlib.ni!System.Threading."
        "_IOCompletionCallback.PerformIOCompletionCallback|clr!BindIoCompletionCallbackStub"
        "|clr!ThreadpoolMgr::CompletionPortThreadStart")


def test_case_a_with_windows_socket_and_service_control_frames() -> None:
    """Windows' own names: mswsock's WSPRecv / closesocket under ws2_32, and the
    service-control dispatcher (sechost!ScDispatcherLoop) running the app's handler."""
    b = _builder(extra_modules=[r"C:\Windows\System32\mswsock.dll",
                                r"C:\Windows\System32\sechost.dll"])
    recv = [("ntdll.dll", "NtWaitForSingleObject"), ("mswsock.dll", "SockWaitForSingleObject"),
            ("mswsock.dll", "WSPRecv"), ("ws2_32.dll", "WSARecv"), ("App.exe", None)]
    close = [("ntdll.dll", "NtDeviceIoControlFile"), ("mswsock.dll", "WSPCloseSocket"),
             ("ws2_32.dll", "closesocket"), ("App.exe", None)]
    stop = [("ntdll.dll", "NtWaitForMultipleObjects"),
            ("kernel32.dll", "WaitForMultipleObjectsEx"), ("App.exe", None),
            ("sechost.dll", "ScDispatcherLoop")]
    report = _analyze(b, {0x10: recv, 0x14: close, 0x18: stop})
    assert report.thread_states == {0x10: "network_io", 0x14: "network_io", 0x18: "wait"}
    finding = report.finding("hung-stop-network-io")
    # 0.1 base + a control handler running 0.3; no handles, no vendor, no ages in this dump
    assert finding is not None and finding.confidence == 0.4
    blocked = {f["where"]["thread"]: f["value"]
               for f in _facts(finding.evidence, "network_blocked_thread")}
    assert blocked == {0x10: "mswsock!SockWaitForSingleObject", 0x14: "mswsock!WSPCloseSocket"}
    (h,) = _facts(finding.evidence, "control_handler_running")
    assert h["where"] == {"thread": 0x18, "frame": 2}


def test_heap_corruption_status_code_and_evidence() -> None:
    report = _analyze(_crash(0xC0000374))
    finding = report.finding("heap-corruption")
    assert finding is not None and finding.evidence["exception_code"] == 0xC0000374


def test_stack_overflow_reports_the_recursion() -> None:
    frames = [("App.exe", "Recurse")] * 40 + [("App.exe", "main")]
    report = _analyze(_crash(0xC00000FD, (1, 0x4F_F000)), {0x10: frames})
    finding = report.finding("stack-overflow")
    assert finding is not None
    assert finding.evidence["most_repeated_frame"] == "app!Recurse"
    assert finding.evidence["repeats"] == 40 and finding.evidence["confirmed"] is True


def test_stack_needing_signatures_are_skipped_without_stacks() -> None:
    """The model-level DumpFile cannot walk stacks: thread rules do not match, a note says why."""
    (sig,) = [s for s in load_signatures() if s.id == "hung-stop-network-io"]
    with dumplib.DumpFile(_builder().to_bytes()) as plain:
        ctx = AnalysisContext(plain)
        assert ctx.stacks is None and any("stack walking" in n for n in ctx.notes)
        assert match_signature(sig, ctx) is None
        report = analyze(plain)
    assert report.finding("hung-stop-network-io") is None
    assert any("stack walking" in n for n in report.notes)


# -- each condition ------------------------------------------------------------------------------


def _sig(match: dict[str, object], **top: object) -> dict[str, object]:
    return {"id": "t", "title": "t", "confidence": 0.5, "advice": "a", "match": match, **top}


def _matches(sig_doc: dict[str, object], b: DumpBuilder, stacks: StackSpec | None = None,
             symbols: Sequence[str] = ()) -> bool:
    sig = parse_signature(sig_doc, "test.toml")
    with dumplib.open(b.to_bytes()) as dump:
        given = {tid: _stack(dump, tid, frames) for tid, frames in (stacks or {}).items()}
        ctx = AnalysisContext(dump, list(symbols), given)
        try:
            return match_signature(sig, ctx) is not None
        finally:
            ctx.close()


def test_condition_process() -> None:
    doc = _sig({"process": ["*mcusvc.exe"]})
    assert _matches(doc, _builder(process="DataMCUSvc.exe"))
    assert not _matches(doc, _builder(process="w3wp.exe"))


def test_condition_os_build_and_version() -> None:
    doc = _sig({"os_build": {"min": 9600, "max": 9600}})
    assert _matches(doc, _builder(os_build=9600))
    assert not _matches(doc, _builder(os_build=14393))
    doc = _sig({"os_version": {"min": "6.2", "max": "6.3.9600"}})
    assert _matches(doc, _builder(os_build=9600))
    assert not _matches(doc, _builder(os_build=9601))


def test_condition_module_version_range() -> None:
    doc = _sig({"modules": [{"name": "clr.dll", "min_version": "4.0.30319.34000",
                             "max_version": "4.0.30319.36999"}]})
    assert _matches(doc, _builder())
    doc = _sig({"modules": [{"name": "clr.dll", "min_version": "4.0.30319.42000"}]})
    assert not _matches(doc, _builder())


def test_condition_unloaded_modules() -> None:
    doc = _sig({"unloaded_modules": [{"name": "badhook*.dll"}]})
    b = _builder()
    b.add_unloaded_module(r"C:\Temp\badhook64.dll", base=0x3_0000_0000, size=0x1000)
    assert _matches(doc, b)
    assert not _matches(doc, _builder())


def test_condition_exception_code_type_chance_and_faulting_module() -> None:
    doc = _sig({"exception_code": [0xE0434F4D], "exception_type": ["NullReferenceException$"],
                "chance": "first", "faulting_module": ["app.exe"],
                "faulting_function": [r"^app\+0x1000$"]})
    b = _crash(0xE0434F4D)
    b.add_comment("*** procdump -ma -e 1 -f NullReferenceException App.exe")
    assert _matches(doc, b)
    b2 = _crash(0xE0434F4D)
    b2.add_comment("*** Unhandled exception: E0434F4D.System.NullReferenceException")
    assert not _matches(doc, b2)  # second chance
    assert not _matches(_sig({"exception": "none"}), _crash(0xE0434F4D))
    assert _matches(_sig({"exception": "none"}), _builder())


def test_condition_handles() -> None:
    doc = _sig({"handles": [{"type": "file", "name": r"\\Device\\Afd", "min_count": 2}]})
    b = _builder()
    b.add_handle(0x40, type_name="File", object_name=r"\Device\Afd")
    b.add_handle(0x44, type_name="File", object_name=r"\Device\Afd\Endpoint")
    assert _matches(doc, b)
    b2 = _builder()
    b2.add_handle(0x40, type_name="File", object_name=r"\Device\Afd")
    b2.add_handle(0x44, type_name="File", object_name=r"\Device\HarddiskVolume1\x")
    assert not _matches(doc, b2)


def test_condition_thread_keys() -> None:
    doc = _sig({"thread": [{"faulting": False, "wait_state": ["network_io"],
                            "start_function": ["app!Pump"], "frames": ["ws2_32!WSARecv"],
                            "frames_absent": ["!Shutdown$"], "min_count": 2}]})
    assert _matches(doc, _builder(), {0x10: NET, 0x14: NET})
    assert not _matches(doc, _builder(), {0x10: NET})  # min_count
    assert not _matches(doc, _builder(), {0x10: NET, 0x14: [*NET[:2], ("App.exe", "Shutdown")]})


def test_condition_module_vendor_from_the_version_resource(tmp_path: Path) -> None:
    """The vendor comes from the image found on the symbol path (its version resource)."""
    timestamp, size = _pe_key(FABNET)
    shutil.copy(FABNET, tmp_path / "fabnetinspect.dll")
    doc = _sig({"module_vendor": ["^Fabrikam Network Security"]})

    def dump_with(ts: int) -> DumpBuilder:
        b = _builder()
        b.add_module(r"C:\Program Files\Fabrikam\fabnetinspect.dll", base=VENDOR, size=size,
                     time_date_stamp=ts)
        return b

    assert _matches(doc, dump_with(timestamp), symbols=[str(tmp_path)])
    # A different build of the module: the image on the path is not its image.
    assert not _matches(doc, dump_with(timestamp + 1), symbols=[str(tmp_path)])
    assert not _matches(doc, dump_with(timestamp))  # no symbol path, no image, no vendor


# -- loading and validation ------------------------------------------------------------------


def _write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    p = directory / name
    p.write_text(text, encoding="utf-8")
    return p


GOOD = """
id = "my-app-crash"
title = "MyApp crashes in its parser"
confidence = 0.8
advice = "Update MyApp to 2.1."
[match]
process = ["App.exe"]
exception_code = [0xC0000005]
"""


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (GOOD.replace('id = "my-app-crash"', 'id = "Bad Id"'), "id"),
        (GOOD.replace("confidence = 0.8", "confidence = 1.5"), "confidence"),
        (GOOD.replace('advice = "Update MyApp to 2.1."', ""), "advice"),
        (GOOD + 'colour = "red"\n', "match.colour"),
        (GOOD.replace("[match]", "[matches]"), "matches"),
        (GOOD.replace('process = ["App.exe"]', 'process = []'), "match.process"),
        (GOOD.replace("[0xC0000005]", "[-5]"), "match.exception_code[0]"),
        (GOOD.replace("[0xC0000005]", '["x"]'), "match.exception_code[0]"),
        (GOOD + 'exception = "maybe"\n', "match.exception"),
        (GOOD + 'frames = ["("]\n', "match.frames"),
        (GOOD + 'exception_type = ["(unclosed"]\n', "match.exception_type[0]"),
        (GOOD + 'os_build = { min = "x" }\n', "match.os_build.min"),
        (GOOD + 'os_version = { min = "six" }\n', "match.os_version.min"),
        (GOOD + '[[match.thread]]\nwait_state = ["dozing"]\n', "match.thread[0].wait_state[0]"),
        (GOOD + "[[match.thread]]\nmin_count = 2\n", "match.thread[0]"),
        (GOOD + '[[match.thread]]\nframes = ["ok", "(bad"]\n', "match.thread[0].frames[1]"),
        (GOOD + '[[match.modules]]\nversion = "1"\n', "match.modules[0].version"),
        (GOOD + '[[match.modules]]\nname = "a.dll"\nmin_version = "1.x"\n',
         "match.modules[0].min_version"),
        (GOOD.replace("[match]", 'collect = ["crystal_ball"]\n[match]'), "collect[0]"),
        (GOOD.replace("[match]", "[evidence]\nwhen = 1979-05-27\n[match]"), "evidence.when"),
        ('id = "x"\ntitle = "t"\nconfidence = 0.5\nadvice = "a"\n', "match"),
        ('id = "x"\ntitle = "t"\nconfidence = 0.5\nadvice = "a"\n[match]\n', "match"),
    ],
)
def test_invalid_signatures_name_file_and_key(tmp_path: Path, text: str, key: str) -> None:
    path = _write(tmp_path, "bad.toml", text)
    with pytest.raises(SignatureError) as info:
        load_signature(path)
    assert info.value.key == key
    assert info.value.path == str(path)
    assert str(path) in str(info.value) and key in str(info.value)


def test_not_toml_and_missing_directory(tmp_path: Path) -> None:
    path = _write(tmp_path, "broken.toml", "id = \n")
    with pytest.raises(SignatureError, match="not valid TOML") as info:
        load_signature(path)
    assert info.value.path == str(path)
    with pytest.raises(SignatureError, match="not a directory"):
        load_signatures([tmp_path / "nope"])


def test_duplicate_ids_in_one_directory(tmp_path: Path) -> None:
    _write(tmp_path, "a.toml", GOOD)
    _write(tmp_path, "b.toml", GOOD)
    with pytest.raises(SignatureError, match="duplicate id"):
        load_signatures([tmp_path], builtin=False)


def test_user_directory_adds_and_overrides(tmp_path: Path) -> None:
    _write(tmp_path, "mine.toml", GOOD)
    override = (ROOT / "dumplib" / "signatures" / "stack-overflow.toml").read_text().replace(
        'title = "Stack overflow (STATUS_STACK_OVERFLOW)"', 'title = "Our stack overflow"')
    _write(tmp_path, "so.toml", override)
    sigs = {s.id: s for s in load_signatures([tmp_path])}
    assert set(sigs) == BUILTIN_IDS | {"my-app-crash"}
    assert sigs["stack-overflow"].title == "Our stack overflow"
    with dumplib.open(_crash(0xC0000005, (0, 0)).to_bytes()) as dump:
        report = analyze(dump, signatures=[tmp_path], stacks={})
    finding = report.finding("my-app-crash")
    assert finding is not None
    ev = dict(finding.evidence)
    facts, missing = ev.pop("facts"), ev.pop("missing")
    assert ev == {"process": "App.exe", "exception_code": 0xC0000005,
                  "exception_name": "EXCEPTION_ACCESS_VIOLATION"}
    assert {"fact": "exception_code", "value": 0xC0000005,
            "where": {"thread": 0x10, "stream": "ExceptionStream"}} in facts
    assert {"fact": "chance", "looked_in": "procdump's comment and the exception dispatcher "
            "frames"} in missing
    assert finding.source == "signature:mine.toml" and finding.advice == "Update MyApp to 2.1."


def test_alternatives_and_their_confidence(tmp_path: Path) -> None:
    text = GOOD.replace("[match]\nprocess", "[[match]]\nconfidence = 0.3\nprocess").replace(
        "exception_code = [0xC0000005]\n",
        "exception_code = [0xC00000FD]\n[[match]]\nexception_code = [0xC0000005]\n")
    _write(tmp_path, "alt.toml", text)
    with dumplib.open(_crash(0xC00000FD).to_bytes()) as dump:
        first = analyze(dump, signatures=[tmp_path], stacks={}).finding("my-app-crash")
    with dumplib.open(_crash(0xC0000005, (0, 0)).to_bytes()) as dump:
        second = analyze(dump, signatures=[tmp_path], stacks={}).finding("my-app-crash")
    assert first is not None and first.confidence == 0.3
    assert second is not None and second.confidence == 0.8


def test_builtin_directory_is_the_repository_signatures() -> None:
    found = builtin_signature_dir()
    assert found is not None and found.resolve() == (ROOT / "dumplib" / "signatures").resolve()
    assert sorted(p.stem for p in found.glob("*.toml")) == sorted(
        p.stem for p in (ROOT / "dumplib" / "signatures").glob("*.toml"))


# -- any document: a Signature or a SignatureError, nothing else ----------------------------------

_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40),
                     st.floats(allow_nan=True), st.text(max_size=12),
                     st.sampled_from(["(", "network_io", "any", "none", "first", "6.3", "a.dll"]))
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8)
_MATCH_KEYS = ["confidence", "process", "exception", "exception_code", "exception_type",
               "faulting_module", "faulting_function", "chance", "module_vendor", "os_build",
               "os_version", "modules", "unloaded_modules", "handles", "thread", "bogus"]
_THREAD_KEYS = ["faulting", "wait_state", "start_function", "frames", "frames_absent",
                "no_application_frame", "min_age_seconds", "min_count"]


@st.composite
def _documents(draw: st.DrawFn) -> dict[str, object]:
    match = draw(st.dictionaries(st.sampled_from(_MATCH_KEYS), _VALUES, max_size=4))
    if draw(st.booleans()):
        match["thread"] = draw(st.lists(
            st.dictionaries(st.sampled_from(_THREAD_KEYS), _VALUES, max_size=3), max_size=2))
    doc: dict[str, object] = {"id": draw(st.sampled_from(["ok-id", "Bad Id", ""])),
                              "title": "t", "confidence": draw(_SCALARS), "advice": "a",
                              "match": match if draw(st.booleans()) else [match]}
    if draw(st.booleans()):
        doc["collect"] = draw(_VALUES)
    if draw(st.booleans()):
        doc["evidence"] = draw(_VALUES)
    return doc


@settings(max_examples=150, deadline=None)
@given(_documents())
def test_any_document_validates_or_raises_signature_error(doc: dict[str, object]) -> None:
    try:
        sig = parse_signature(doc, "fuzz.toml")
    except SignatureError as exc:
        assert exc.path == "fuzz.toml"
        return
    assert sig.matches and 0 <= sig.confidence <= 1
