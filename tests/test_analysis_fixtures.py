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


def _facts(ev: Any, name: str) -> list[Any]:
    return [f for f in ev["facts"] if f["fact"] == name]


def test_casea_replica_recognised_through_wines_dispatcher_thread(
    paths: dict[tuple[str, str], Path]
) -> None:
    """The replica runs as a real service under wine's services.exe (build.sh: sc create,
    sc start, sc stop): the stop control is handled by RelayControl on wine's control
    dispatcher thread (runtime.json's stop_handler, recorded by the handler itself), so
    the finding is recognised, with the handler and the blocked workers as its facts."""
    truth, runtime = _truth("casea"), _runtime("casea")
    assert truth["expected_findings"] == ["hung-stop-network-io"]
    report = _report(paths, "casea", "casea.dmp")
    finding = report.finding("hung-stop-network-io")
    assert finding is not None, report.findings
    assert finding.confidence >= 0.5
    ev: Any = json.loads(json.dumps(finding.evidence))  # also proves it is plain JSON
    handler = _facts(ev, "control_handler_running")
    assert [f["where"]["thread"] for f in handler] == [runtime["thread.stop_handler"]]
    assert [f["value"] for f in handler] == ["mrassvc!" + truth["service"]["handler"]]
    dispatcher = _facts(ev, "control_dispatcher_thread")
    assert [f["where"]["thread"] for f in dispatcher] == [runtime["thread.stop_handler"]]
    assert dispatcher[0]["value"].startswith("sechost")
    # The main thread stays inside StartServiceCtrlDispatcherA; it is not the handler.
    assert runtime["thread.main"] not in {f["where"]["thread"] for f in handler}
    chain = ev["wait_chain"]
    assert chain[0]["role"] == "service-control handler"
    assert chain[0]["thread"] == runtime["thread.stop_handler"]
    workers = {runtime[f"thread.worker{i}"] for i in range(runtime["sockets"])}
    blocked = _facts(ev, "network_blocked_thread")
    assert {f["where"]["thread"] for f in blocked} == workers
    # The ground truth's blocking call is recv() through the vendor's FabInspectRecv.
    assert {f["value"] for f in blocked} == {"ws2_32!" + truth["blocking_call"]["worker0"]}
    # The vendor module between the application and recv(), named as its version
    # resource says; MRASSvc.exe's own vendor differs.
    on_path = ev["network_path_modules"]
    expected = truth["third_party"]
    assert [m["name"] for m in on_path] == list(expected)
    for m in on_path:
        want = expected[str(m["name"])]
        assert m["vendor"] == want["CompanyName"]
        assert m["description"] == want["FileDescription"]
        assert m["version"] == ".".join(map(str, want["version"]))
        assert {f["thread"] for f in m["frames"]} == workers
        assert all(f["between"] == ["ws2_32!recv", "mrassvc!RelayWorkerThread"]
                   for f in m["frames"])


def test_casea_thread_states_match_the_blocking_calls(paths: dict[tuple[str, str], Path]) -> None:
    truth, runtime = _truth("casea"), _runtime("casea")
    report = _report(paths, "casea", "casea.dmp")
    expected_state = {"recv": "network_io", "WaitForSingleObject": "wait",
                      "WaitForMultipleObjects": "wait"}
    for role, call in truth["blocking_call"].items():
        assert report.thread_states[runtime[f"thread.{role}"]] == expected_state[call], role
    assert report.exception is None and report.wer is None
    # A recognised finding chooses the hang's thread: the bucket is the handler's.
    assert report.crash_stack is not None
    assert report.crash_stack.thread_id == runtime["thread.stop_handler"]
    assert report.bucket_label is not None
    assert "mrassvc!" + truth["service"]["handler"] in report.bucket_label


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
    tid = runtime["thread.iocp"]
    assert tid == runtime["faulting_thread"]
    (cpt,) = _facts(ev, "completion_port_thread")
    assert cpt["where"]["thread"] == tid and truth["thread_start"]["iocp"] in cpt["value"]
    callbacks = [f["value"] for f in _facts(ev, "completion_callback_frame")]
    assert callbacks[0] == f"mscorlib.ni!{truth['faulting_function']}"
    assert _facts(ev, "no_application_frame") and not _facts(ev, "application_frame")
    # The replica runtime's version resources say Microsoft (build.sh).
    assert {f["value"]["identified_by"] for f in _facts(ev, "runtime_module")} == {"vendor"}
    assert ev["os_build"] == 7601 and "KB3179574" in str(ev["fix"])
    assert ev["fix_applies_to_this_os"] is False  # wine says 6.1.7601; the KB is for 6.3
    assert "KB3179574" in finding.references
    if name.endswith(".xz"):
        # The heap holds the OVERLAPPED: its address and status are the program's own.
        (ov,) = _facts(ev, "overlapped")
        assert ov["value"] == runtime["overlapped.address"]
        got = ev["overlapped"]
        registers = [got["where"].get("register")] + [
            w.get("register") for w in got["where"].get("also_in", [])]
        assert truth["overlapped"]["register_at_fault"] in registers
        assert got["internal"] == truth["overlapped"]["internal"] == runtime["overlapped.internal"]
        assert got["internal_high"] == runtime["overlapped.internal_high"]
        assert _facts(ev, "overlapped_status_buffer_overflow")
        assert finding.confidence >= 0.9
    else:
        # The small dump does not capture the heap (tests/test_fixtures_wine.py checks that).
        assert "overlapped" in {m["fact"] for m in ev["missing"]}
        assert 0.5 <= finding.confidence < 0.9


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
    label = _report(paths, "caseb", "caseb.dmp").bucket_label
    assert small.startswith("NULL_DEREFERENCE/mscorlib.ni.dll/")
    assert label.split("/", 2)[2].split("|") == [
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
    # No case finding at 0.5 or above (a possible one below may list what it saw).
    assert not CASE_IDS & {f.id for f in report.findings if f.confidence >= 0.5}
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
        frames = _report(paths, scenario, name).bucket_label.split("/", 2)[2].split("|")
        functions = [f.split("!", 1)[1] for f in frames if "!" in f]
        assert functions[: min(3, len(stack))] == stack[:3], scenario


@pytest.mark.parametrize("scenario", ["caseb", "callback", "iocpmanaged"])
def test_bucket_does_not_depend_on_pdbs(
    paths: dict[tuple[str, str], Path], scenario: str, tmp_path: Path
) -> None:
    """Issue 12: with the images available, giving or withholding the PDBs leaves the
    bucket alone (frames keyed on .pdata function starts); the label keeps the names."""
    images = tmp_path / "images"
    images.mkdir()
    for f in (WINE / scenario).iterdir():
        if f.suffix.lower() in (".exe", ".dll"):
            shutil.copy(f, images / f.name)
    name = f"{scenario}.dmp"
    with dumplib.open(paths[(scenario, name)]) as dump:
        bare = analyze(dump, symbols=[str(images), str(SYSTEM)])
    full = _report(paths, scenario, name)
    assert bare.bucket == full.bucket
    assert "!" not in bare.bucket.split("/", 2)[2]
    assert bare.bucket_label != full.bucket_label  # PDB names only in the label


@pytest.mark.parametrize("scenario", ["caseb", "callback"])
def test_bucket_without_images_does_not_depend_on_pdbs(
    paths: dict[tuple[str, str], Path], scenario: str, tmp_path: Path
) -> None:
    """Without images (a small dump, no symbol path) frames are keyed on their RVAs:
    PDBs alone (names) leave the bucket as it is and change only the label."""
    pdbs = tmp_path / "pdbs"
    pdbs.mkdir()
    for f in (WINE / scenario).glob("*.pdb"):
        shutil.copy(f, pdbs / f.name)
    name = f"{scenario}.dmp"
    with dumplib.open(paths[(scenario, name)]) as dump:
        bare = analyze(dump)
    with dumplib.open(paths[(scenario, name)]) as dump:
        named = analyze(dump, symbols=[str(pdbs)])
    assert bare.bucket == named.bucket


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
