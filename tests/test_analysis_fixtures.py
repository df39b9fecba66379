"""dumplib.analyze on the real wine-made dumps, checked against each program's ground truth.

``truth.json`` was written from the programs' sources (what they do, which
thread blocks where, which exception they raise) and ``runtime.json`` by the
programs while they ran (thread ids by role, module bases, the OVERLAPPED's
address and status). Case A and case B must be recognised with their
evidence; no other scenario may produce a finding of those two kinds.
"""

from __future__ import annotations

import json
import lzma
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import dumplib
from dumplib.analysis import Report, analyze
from dumplib.analysis.detectors import waited_critical_section
from dumplib.analysis.facts import AnalysisContext
from dumplib.pe import PeImage

WINE = Path(__file__).resolve().parent.parent / "fixtures" / "wine"
SYSTEM = WINE / "system"
CASE_IDS = {"hung-stop-network-io", "clr-double-io-completion"}


def _truth(scenario: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((WINE / scenario / "truth.json").read_text())
    return data


def _runtime(scenario: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((WINE / scenario / "runtime.json").read_text())
    return data


def _dumps() -> list[tuple[str, str]]:
    out = []
    for truth in sorted(WINE.glob("*/truth.json")):
        for dmp in sorted(truth.parent.glob("*.dmp")) + sorted(truth.parent.glob("*.dmp.xz")):
            out.append((truth.parent.name, dmp.name))
    return out


DUMPS = _dumps()


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[tuple[str, str], Path]]:
    """Paths of every fixture dump, full-memory ones decompressed once."""
    root = tmp_path_factory.mktemp("analysis-wine")
    out: dict[tuple[str, str], Path] = {}
    for scenario, name in DUMPS:
        src = WINE / scenario / name
        if name.endswith(".xz"):
            target = root / scenario / name.removesuffix(".xz")
            target.parent.mkdir(parents=True, exist_ok=True)
            with lzma.open(src) as fin, target.open("wb") as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)
            out[(scenario, name)] = target
        else:
            out[(scenario, name)] = src
    yield out


_REPORTS: dict[tuple[str, str], Report] = {}


def _report(paths: dict[tuple[str, str], Path], scenario: str, name: str) -> Report:
    key = (scenario, name)
    if key not in _REPORTS:
        with dumplib.open(paths[key]) as dump:
            _REPORTS[key] = analyze(dump, symbols=[str(WINE / scenario), str(SYSTEM)])
    return _REPORTS[key]


def test_fixture_set_has_the_two_cases_and_others() -> None:
    scenarios = {s for s, _ in DUMPS}
    assert {"casea", "caseb"} <= scenarios
    assert len(scenarios - {"casea", "caseb"}) >= 3


# -- case A ------------------------------------------------------------------------------------


def test_casea_recognised_with_its_evidence(paths: dict[tuple[str, str], Path]) -> None:
    truth, runtime = _truth("casea"), _runtime("casea")
    report = _report(paths, "casea", "casea.dmp")
    finding = report.finding("hung-stop-network-io")
    assert finding is not None, report.findings
    assert finding.confidence >= 0.85
    ev: Any = json.loads(json.dumps(finding.evidence))  # also proves it is plain JSON
    assert ev["confirmed"] is True
    workers = {runtime[f"thread.worker{i}"] for i in range(runtime["sockets"])}
    blocked = ev["blocked_threads"]
    assert isinstance(blocked, list)
    assert {t["id"] for t in blocked if isinstance(t, dict)} == workers
    for t in blocked:
        assert isinstance(t, dict)
        # The ground truth's blocking call is recv() through the vendor's FabInspectRecv.
        assert t["blocked_in"] == "ws2_32!" + truth["blocking_call"]["worker0"]
        assert any("FabInspectRecv" in str(f) for f in t["frames"])
    stop = ev["stop_handler_threads"]
    assert isinstance(stop, list)
    assert [t["id"] for t in stop if isinstance(t, dict)] == [runtime["thread.stop_handler"]]
    assert truth["other_threads"]["stop_handler"] in str(stop)
    # The vendor module on the network path, named as its version resource says.
    on_path = ev["network_path_modules"]
    assert isinstance(on_path, list)
    expected = truth["third_party"]
    assert [m["name"] for m in on_path if isinstance(m, dict)] == list(expected)
    for m in on_path:
        assert isinstance(m, dict)
        want = expected[str(m["name"])]
        assert m["vendor"] == want["CompanyName"]
        assert m["description"] == want["FileDescription"]
        assert m["version"] == ".".join(map(str, want["version"]))
        assert set(m["threads"]) == workers


def test_casea_thread_states_match_the_blocking_calls(paths: dict[tuple[str, str], Path]) -> None:
    truth, runtime = _truth("casea"), _runtime("casea")
    report = _report(paths, "casea", "casea.dmp")
    expected_state = {"recv": "network_io", "WaitForSingleObject": "wait",
                      "WaitForMultipleObjects": "wait"}
    for role, call in truth["blocking_call"].items():
        assert report.thread_states[runtime[f"thread.{role}"]] == expected_state[call], role
    assert report.exception is None and report.wer is None
    # A hang buckets on the thread the finding is about: a worker blocked in recv()
    # under the vendor's FabInspectRecv, started as RelayWorkerThread (MRASSvc.c).
    assert report.bucket == (
        f"HANG/mrassvc.exe/ws2_32!{truth['blocking_call']['worker0']}"
        f"|fabnetinspect!{truth['other_threads']['worker0']}|mrassvc!RelayWorkerThread"
    )
    assert report.crash_stack is not None
    assert report.crash_stack.thread_id == runtime["thread.worker0"]


def test_casea_third_party_modules_listed(paths: dict[tuple[str, str], Path]) -> None:
    truth = _truth("casea")
    report = _report(paths, "casea", "casea.dmp")
    by_name = {m.name: m for m in report.third_party_modules}
    for name, want in truth["third_party"].items():
        assert by_name[name].vendor == want["CompanyName"]
        assert by_name[name].version == want["FileVersion"]
    # Windows' own DLLs (wine's builtins say "Microsoft Corporation") are not third-party.
    assert not {"ntdll.dll", "kernel32.dll", "ws2_32.dll"} & {n.lower() for n in by_name}


# -- case B ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["caseb.dmp", "caseb-full.dmp.xz"])
def test_caseb_recognised_with_its_evidence(
    paths: dict[tuple[str, str], Path], name: str
) -> None:
    truth, runtime = _truth("caseb"), _runtime("caseb")
    report = _report(paths, "caseb", name)
    finding = report.finding("clr-double-io-completion")
    assert finding is not None, report.findings
    ev: Any = json.loads(json.dumps(finding.evidence))  # also proves it is plain JSON
    (group,) = ev["threads"]
    (thread,) = group
    assert thread["id"] == runtime["thread.iocp"] == runtime["faulting_thread"]
    assert truth["thread_start"]["iocp"] in thread["start_function"]
    assert thread["matched_frames"] == [f"mscorlib.ni!{truth['faulting_function']}"]
    assert ev["os_build"] == 7601 and "KB3179574" in str(ev["fix"])
    assert ev["fix_applies_to_this_os"] is False  # wine says 6.1.7601; the KB is for 6.3
    assert "KB3179574" in finding.references
    if name.endswith(".xz"):
        # The heap holds the OVERLAPPED: its address and status are the program's own.
        ov = ev["overlapped"]
        assert isinstance(ov, dict)
        assert ov["address"] == runtime["overlapped.address"]
        assert ov["internal"] == truth["overlapped"]["internal"] == runtime["overlapped.internal"]
        assert ov["internal_name"] == truth["overlapped"]["status_name"]
        assert ov["internal_high"] == runtime["overlapped.internal_high"]
        assert str(ov["found_in"]).endswith(truth["overlapped"]["register_at_fault"])
        assert ev["confirmed"] is True and finding.confidence >= 0.95
    else:
        # The small dump does not capture the heap (tests/test_fixtures_wine.py checks that).
        assert ev["overlapped"] is None and ev["confirmed"] is False
        assert 0.5 <= finding.confidence < 0.95


def test_caseb_exception_and_wer_view(paths: dict[tuple[str, str], Path]) -> None:
    truth, runtime = _truth("caseb"), _runtime("caseb")
    for name in ("caseb.dmp", "caseb-full.dmp.xz"):
        report = _report(paths, "caseb", name)
        exc = report.exception
        assert exc is not None
        assert exc.code == truth["exception"]["code"] == runtime["exception.code"]
        assert exc.access == truth["exception"]["access"]
        assert exc.target == truth["exception"]["target"]
        assert exc.target_kind == "null_page"
        assert exc.module == truth["faulting_module"]
        wer = report.wer
        assert wer is not None
        fault_offset = runtime["exception.address"] - runtime["module.mscorlib.ni.dll"]
        assert wer.fault_offset == fault_offset
        assert wer.application_name == truth["process"]
        assert wer.application_version == ".".join(map(str, truth["versions"]["DataMCUSvc.exe"]))
        assert wer.module_version == ".".join(map(str, truth["versions"]["mscorlib.ni.dll"]))
        assert wer.process_id == runtime["pid"]
        text = wer.text()
        assert f"Faulting application name: {truth['process']}, version: 5.0.8308.0" in text
        assert f"Fault offset: 0x{fault_offset:016x}" in text
        assert f"Faulting process id: 0x{runtime['pid']:x}" in text
        assert "Exception code: 0xc0000005" in text


def test_caseb_bucket_equal_across_small_and_full_dump(
    paths: dict[tuple[str, str], Path],
) -> None:
    truth = _truth("caseb")
    small = _report(paths, "caseb", "caseb.dmp").bucket
    full = _report(paths, "caseb", "caseb-full.dmp.xz").bucket
    assert small == full
    assert small.startswith("AV_READ_NULL/mscorlib.ni.dll/")
    assert small.split("/", 2)[2].split("|") == [
        f"{m.removesuffix('.dll')}!{f}"
        for m, f in zip(truth["crash_stack_modules"], truth["crash_stack"], strict=True)
    ]


# -- every other fixture -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scenario", "name"), [d for d in DUMPS if d[0] not in ("casea", "caseb")],
    ids=[f"{s}/{n}" for s, n in DUMPS if s not in ("casea", "caseb")],
)
def test_other_fixtures_have_no_case_findings(
    paths: dict[tuple[str, str], Path], scenario: str, name: str
) -> None:
    report = _report(paths, scenario, name)
    assert not CASE_IDS & {f.id for f in report.findings}
    truth = _truth(scenario)
    exc = report.exception
    if truth.get("exception") is None:
        assert exc is None
        return
    assert exc is not None and exc.code == truth["exception"]["code"]
    if "access" in truth["exception"]:
        assert exc.access == truth["exception"]["access"]
        assert exc.target == truth["exception"]["target"]
        assert (exc.target_kind == "null_page") == (truth["exception"]["target"] < 0x10000)


def test_buckets_differ_across_different_crashes(paths: dict[tuple[str, str], Path]) -> None:
    buckets: dict[str, set[str]] = {}
    for scenario, name in DUMPS:
        buckets.setdefault(scenario, set()).add(_report(paths, scenario, name).bucket)
    # One bucket per scenario (small and full dumps agree) ...
    assert all(len(b) == 1 for b in buckets.values()), buckets
    # ... and no two scenarios share one.
    flat = [next(iter(b)) for b in buckets.values()]
    assert len(set(flat)) == len(flat)


def test_crash_bucket_frames_are_the_truth_crash_stack(paths: dict[tuple[str, str], Path]) -> None:
    """The bucket's frames are the first crash-stack functions of the ground truth."""
    for scenario, name in DUMPS:
        truth = _truth(scenario)
        stack = truth.get("crash_stack") or []
        if not stack or "crash_stack_modules" in truth:
            continue
        frames = _report(paths, scenario, name).bucket.split("/", 2)[2].split("|")
        functions = [f.split("!", 1)[1] for f in frames if "!" in f]
        assert functions[: min(3, len(stack))] == stack[:3], scenario


def test_stack_overflow_fixture(paths: dict[tuple[str, str], Path]) -> None:
    report = _report(paths, "stackoverflow", "stackoverflow.dmp")
    finding = report.finding("stack-overflow")
    assert finding is not None
    assert finding.evidence["most_repeated_frame"] == "stackoverflow!Recurse"
    assert isinstance(finding.evidence["repeats"], int) and finding.evidence["repeats"] > 100
    # deeprec recurses too but dies of a NULL write, not an overflow.
    assert _report(paths, "deeprec", "deeprec.dmp").finding("stack-overflow") is None


def test_raise_fixture_chance_from_procdump_comment(paths: dict[tuple[str, str], Path]) -> None:
    truth = _truth("raise")
    exc = _report(paths, "raise", "raise.dmp").exception
    assert exc is not None
    assert exc.code == truth["exception"]["code"]
    assert exc.parameters[:2] == tuple(truth["exception"]["parameters"][:2])
    assert exc.noncontinuable == bool(truth["exception"]["flags"] & 1)
    # The comment's trigger line says "Unhandled exception": second chance, despite "-e 1".
    assert "Unhandled exception" in truth["comment"]
    assert exc.chance == "second"


def test_waits_fixture_states_and_critical_section(paths: dict[tuple[str, str], Path]) -> None:
    truth, runtime = _truth("waits"), _runtime("waits")
    report = _report(paths, "waits", "waits.dmp")
    expected = {
        "WaitForSingleObject": "wait", "SleepEx": "sleep",
        "EnterCriticalSection": "critical_section", "SleepConditionVariableCS": "wait",
        "WaitForMultipleObjects": "wait",
    }
    for role, call in truth["blocking_call"].items():
        assert report.thread_states[runtime[f"thread.{role}"]] == expected[call], role
    # main holds the section cs_waiter waits for, and main waits for the crasher: no cycle.
    assert report.finding("deadlock-critical-section") is None
    with dumplib.open(paths[("waits", "waits.dmp")]) as dump:
        ctx = AnalysisContext(dump, [str(WINE / "waits"), str(SYSTEM)])
        facts = ctx.thread(runtime["thread.cs_waiter"])
        assert facts is not None
        # The section is a global in waits.exe's .data, which a small dump does not
        # capture: nothing may be read as the waited section then (builder-made dumps
        # in test_detectors.py check the reading itself).
        exe = dump.modules.by_name("waits.exe")
        assert exe is not None
        with PeImage.from_file(WINE / "waits" / "waits.exe") as pe:
            (data,) = [s for s in pe.sections if s.name == ".data"]
        lo = exe.base + data.virtual_address
        hi = lo + data.virtual_size
        assert all(start + size <= lo or start >= hi for start, size in dump.memory.ranges)
        assert waited_critical_section(ctx, facts) is None
        ctx.close()
