"""Case A and case B as structural detectors (issue 12): each problem the issue
lists, on builder-made dumps whose ground truth is how they were built
(tools/case_variants.py), plus the HandleData object information they read.

Every variant is one of at least three positives and three negatives per
detector, with other process names, vendors and runtimes than the replicas.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest

import dumplib
from dumplib.analysis import analyze
from dumplib.analysis.evidence import apply_rule, validate_rule
from dumplib.analysis.facts import AnalysisContext
from dumplib.analysis.signatures import SignatureError, load_signatures, parse_signature
from dumplib.builder import DumpBuilder
from dumplib.format.handle_objects import (
    MutantInfo,
    MutantOwner,
    ThreadObjectInfo,
    decode_object_info,
)
from tools.case_variants import (
    CORELIB,
    HEAP,
    NETFX_IOCP,
    RUNTIME,
    Variant,
    _base,
    _netfx,
    _overlapped,
    _threads,
    all_variants,
    analyze_variant,
    case_a_variants,
    case_b_variants,
    walked_stacks,
)

VARIANTS = {v.name: v for v in all_variants()}


def _facts(ev: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [f for f in ev["facts"] if f["fact"] == name]


def _run(name: str, tmp_path: Path) -> tuple[Variant, Any]:
    v = VARIANTS[name]
    report = analyze_variant(v, tmp_path)
    return v, report.finding(v.finding)


# -- every variant: positives at 0.5 or above, negatives below --------------------------------


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_variant_verdict(name: str, tmp_path: Path) -> None:
    v, finding = _run(name, tmp_path)
    if v.positive:
        assert finding is not None and finding.confidence >= 0.5, name
    else:
        assert finding is None or finding.confidence < 0.5, (name, finding and finding.evidence)


def test_three_positives_and_three_negatives_each_with_different_names() -> None:
    for variants in (case_a_variants(), case_b_variants()):
        pos = [v for v in variants if v.positive]
        neg = [v for v in variants if not v.positive]
        assert len(pos) >= 3 and len(neg) >= 3
        processes = {v.builder._modules[0].path.rsplit("\\", 1)[-1] for v in variants}
        assert len(processes) == len(variants)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_findings_carry_facts_with_where_and_missing(name: str, tmp_path: Path) -> None:
    _, finding = _run(name, tmp_path)
    if finding is None:
        return
    ev = json.loads(json.dumps(finding.evidence))  # plain JSON
    assert ev["facts"] and isinstance(ev["missing"], list)
    for f in ev["facts"]:
        assert set(f) == {"fact", "value", "where"}
        assert f["where"], f  # each fact says where it was read
        assert set(f["where"]) <= {"thread", "frame", "register", "address", "stream"}
    # The confidence is the rule's sum over the facts present.
    rule = ev["confidence_rule"]
    total = rule["base"] + sum(a["weight"] for a in rule["applied"])
    assert finding.confidence == round(min(max(total, 0), rule["max"]), 3)


# -- issue item 1: case B on ordinary .NET bugs ------------------------------------------------


def test_case_b_other_managed_type_is_refuted(tmp_path: Path) -> None:
    """E0434352 InvalidOperationException on a completion thread: the old signature gave
    0.65 ("fixed by KB3179574"); the type refutes it now."""
    _, finding = _run("b-neg-invalid-operation", tmp_path)
    assert finding is None


def test_case_b_jit_frames_are_not_no_application_frame(tmp_path: Path) -> None:
    _, finding = _run("b-neg-jit-callback-nre", tmp_path)
    assert finding is not None and finding.confidence < 0.5
    ev = finding.evidence
    assert _facts(ev, "unattributed_code_frame") and not _facts(ev, "no_application_frame")


# -- issue item 3: the OVERLAPPED is validated, not taken first -------------------------------


def test_overlapped_in_rbx_not_the_unrelated_object_in_r8(tmp_path: Path) -> None:
    _, finding = _run("b-netfx-av-overlapped-in-rbx", tmp_path)
    assert finding is not None
    ev = finding.evidence
    (ov,) = _facts(ev, "overlapped")
    assert ov["value"] == HEAP + 0x2000 and ov["where"]["register"] == "rbx"
    assert _facts(ev, "overlapped_status_buffer_overflow")[0]["value"] == 0x80000005
    cands = {c["where"]["register"]: c for c in ev["overlapped_candidates"]
             if "register" in c["where"]}
    assert cands["r8"]["valid"] is False and "not an I/O status" in cands["r8"]["reason"]
    assert cands["r8"]["internal"] == 1  # STATUS_WAIT_1 is not an I/O status
    assert cands["rbx"]["valid"] is True


def test_overlapped_found_in_an_unwound_frame_register(tmp_path: Path) -> None:
    """A fault deeper in the runtime: only frame 1's restored r14 holds it; the
    CoreCLR GCHandle back-reference makes the enclosing structure consistent."""
    _, finding = _run("b-net8-poller-av", tmp_path)
    assert finding is not None
    ev = finding.evidence
    (ov,) = _facts(ev, "overlapped")
    assert ov["where"] == {"thread": 0x30, "frame": 1, "register": "r14"}
    assert _facts(ev, "overlapped_enclosing_consistent")


def test_overlapped_rejects_wait_statuses_and_implausible_counts(tmp_path: Path) -> None:
    b = _base("Check.exe")
    _netfx(b)
    _overlapped(b, HEAP + 0x100, 0x3F)  # STATUS_WAIT_63
    _overlapped(b, HEAP + 0x200, 0x80000005, high=0x7000_0000)  # 1.75 GiB transferred
    _threads(b, [0x10], contexts={0x10: {"rbx": HEAP + 0x100, "rsi": HEAP + 0x200}})
    b.set_exception(0x10, 0xC0000005, CORELIB + 0x10, parameters=(0, 0))
    v = Variant("x", "clr-double-io-completion", True, b, {0x10: list(NETFX_IOCP)})
    finding = analyze_variant(v, tmp_path).finding(v.finding)
    assert finding is not None
    reasons = {c["address"]: c["reason"] for c in finding.evidence["overlapped_candidates"]}
    assert "not an I/O status" in reasons[HEAP + 0x100]
    assert "not a plausible byte count" in reasons[HEAP + 0x200]
    assert not _facts(finding.evidence, "overlapped")


# -- issue item 4: variants of case B ---------------------------------------------------------


def test_coreclr_framework_assemblies_are_runtime_not_application(tmp_path: Path) -> None:
    _, finding = _run("b-coreclr6-first-chance-nre", tmp_path)
    assert finding is not None and finding.confidence >= 0.5
    names = {f["value"]["name"]: f["value"]["identified_by"]
             for f in _facts(finding.evidence, "runtime_module")}
    assert names["System.Net.Sockets.dll"] == "directory"
    assert names["coreclr.dll"] == "directory"
    assert not _facts(finding.evidence, "application_frame")


def test_net7_portable_thread_pool_poller(tmp_path: Path) -> None:
    _, finding = _run("b-net8-poller-av", tmp_path)
    assert finding is not None
    (cpt,) = _facts(finding.evidence, "completion_port_thread")
    assert "IOCompletionPoller" in cpt["value"] and cpt["where"]["frame"] == 1


def test_early_stopped_walk_uses_the_thread_start_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The walk stops at BindIoCompletionCallbackStub; ThreadInfo's start address is
    CompletionPortThreadStart. The old code took the last frame reached as the start."""
    start = RUNTIME + 0x4242
    b = _base("Halted.exe")
    _netfx(b)
    _threads(b, [0x10], starts={0x10: start})
    b.set_exception(0x10, 0xC0000005, CORELIB + 0x10, parameters=(0, 0))
    v = Variant("early", "clr-double-io-completion", True, b, {0x10: NETFX_IOCP[:2]},
                statuses={0x10: "lost"})
    names = {start: "clr!ThreadpoolMgr::CompletionPortThreadStart"}
    original = AnalysisContext.symbol_at
    monkeypatch.setattr(AnalysisContext, "symbol_at",
                        lambda self, a: names.get(a) or original(self, a))
    finding = analyze_variant(v, tmp_path).finding(v.finding)
    assert finding is not None
    (cpt,) = _facts(finding.evidence, "completion_port_thread")
    assert cpt["value"] == names[start] and cpt["where"]["stream"] == "ThreadInfoListStream"
    assert _facts(finding.evidence, "walk_stopped_early")


def test_runtime_name_with_another_vendor_is_not_the_runtime(tmp_path: Path) -> None:
    """Identity is name plus directory or vendor: a clr.dll whose version resource
    names another vendor is application code."""
    from tools.case_variants import FABNET

    with dumplib.open(_base("Id.exe").to_bytes()) as dump:
        ctx = AnalysisContext(dump)
        assert ctx.runtime_identity(dump.modules.main) is None  # type: ignore[arg-type]
    b = _base("Id.exe")
    from tools.case_variants import pe_key
    ts, size = pe_key(FABNET)
    b.add_module(r"C:\Program Files\Fabrikam\fabnetinspect.dll", base=0x1_9000_0000,
                 size=size, time_date_stamp=ts)
    b.add_module(r"C:\Program Files\Id\clr.dll", base=0x1_A000_0000, size=0x1000)
    (tmp_path / "s").mkdir()
    with dumplib.open(b.to_bytes()) as dump:
        ctx = AnalysisContext(dump, [str(tmp_path / "s")])
        assert ctx.runtime_identity(dump.modules.by_name("clr.dll")) == "name only"  # type: ignore[arg-type]
        framework = r"C:\Windows\Microsoft.NET\Framework64\v4.0.30319\clr.dll"
        b2 = _base("Id2.exe")
        b2.add_module(framework, base=0x1_A000_0000, size=0x1000)
    with dumplib.open(b2.to_bytes()) as dump2:
        ctx2 = AnalysisContext(dump2)
        assert ctx2.runtime_identity(dump2.modules.by_name("clr.dll")) == "directory"  # type: ignore[arg-type]


# -- issue item 2: case A, structurally ---------------------------------------------------------


def test_idle_server_with_stop_words_is_not_a_hung_stop(tmp_path: Path) -> None:
    """recv/accept threads plus waiters named WaitForStopEvent / GracefulShutdownMonitor:
    the old signature said 0.75 with the words, 0.6 without; no control is handled."""
    _, finding = _run("a-neg-idle-server", tmp_path)
    assert finding is not None and finding.confidence < 0.5
    assert "control_handler_running" in {m["fact"] for m in finding.evidence["missing"]}


def test_handler_is_the_first_non_system_frame_above_the_dispatcher(tmp_path: Path) -> None:
    _, finding = _run("a-windows-dispatcher-handle-array", tmp_path)
    assert finding is not None
    (h,) = _facts(finding.evidence, "control_handler_running")
    assert h["value"] == "relayauthsvc!Svc_Control" and h["where"] == {"thread": 0x10, "frame": 2}
    _, managed = _run("a-servicebase-mutant-owner", tmp_path)
    assert managed is not None
    (h,) = _facts(managed.evidence, "control_handler_running")
    assert h["value"] == "contoso.media.core!Contoso.Media.Host.Shutdown"


def test_wait_chain_from_handle_array_and_thread_information(tmp_path: Path) -> None:
    _, finding = _run("a-windows-dispatcher-handle-array", tmp_path)
    assert finding is not None
    chain = finding.evidence["wait_chain"]
    handler = chain[0]
    assert handler["thread"] == 0x10
    assert [(w["handle"], w["thread"]) for w in handler["waits_on"]] == [(0x104, 0x14),
                                                                         (0x108, 0x18)]
    assert all(w["found_in"]["array"] == HEAP + 0x100 for w in handler["waits_on"])
    assert {w["thread_age_seconds"] for w in handler["waits_on"]} == {600.0}
    blocked = {c["thread"]: c for c in chain[1:]}
    assert set(blocked) == {0x14, 0x18}
    assert all(c["blocked_in"] == "mswsock!SockWaitForSingleObject" for c in blocked.values())
    assert sorted(f["value"] for f in _facts(finding.evidence,
                                             "handler_waits_on_blocked_thread")) == [0x14, 0x18]


def test_wait_chain_through_a_mutant_owner(tmp_path: Path) -> None:
    _, finding = _run("a-servicebase-mutant-owner", tmp_path)
    assert finding is not None
    (w,) = finding.evidence["wait_chain"][0]["waits_on"]
    assert w["handle"] == 0x220 and w["leads_to"] == "mutant owner" and w["thread"] == 0x28
    assert w["found_in"]["register"] == "r10"


def test_third_party_is_vendor_other_than_microsoft_and_main_exe(tmp_path: Path) -> None:
    _, pos = _run("a-windows-dispatcher-handle-array", tmp_path)
    assert pos is not None
    (m,) = pos.evidence["network_path_modules"]
    assert m["name"] == "fabnetinspect.dll"
    assert m["vendor"] == "Fabrikam Network Security, Inc."  # build.sh's versionres
    assert m["frames"][0]["between"] == ["mswsock!SockWaitForSingleObject",
                                         "relayauthsvc!RelayWorker"]
    _, own = _run("a-neg-own-dll-event-wait", tmp_path)
    assert own is not None and own.evidence["network_path_modules"] == []


def test_clean_stop_handler_waiting_on_a_finishing_worker(tmp_path: Path) -> None:
    _, finding = _run("a-neg-clean-stop", tmp_path)
    assert finding is not None and finding.confidence < 0.5
    (w,) = finding.evidence["wait_chain"][0]["waits_on"]
    assert w["thread"] == 0x64 and w["thread_state"] == "sleep"
    assert not _facts(finding.evidence, "handler_waits_on_blocked_thread")


def test_advice_names_the_filter_driver_listing_tools() -> None:
    (sig,) = [s for s in load_signatures() if s.id == "hung-stop-network-io"]
    for tool in ("fltmc", "netsh wfp show filters", "driverquery"):
        assert tool in sig.advice


# -- rules in data ------------------------------------------------------------------------------


def test_rule_semantics() -> None:
    rule: dict[str, Any] = {"requires": ["a", ["b", "c"]], "refutes": ["z"], "base": 0.2,
                            "raises": {"a": 0.3, "c": 0.2}, "lowers": {"d": 0.5}, "max": 0.6}
    assert validate_rule(rule) is None
    assert apply_rule(rule, {"a", "c"}).confidence == 0.6  # capped
    assert apply_rule(rule, {"a", "b", "d"}).confidence == 0.0
    assert apply_rule(rule, {"a"}).confidence is None  # b or c required
    assert apply_rule(rule, {"a", "b", "z"}).confidence is None  # refuted
    assert validate_rule({"base": 2}) is not None
    assert validate_rule({"base": 0.1, "raises": {"a": "x"}}) is not None


def test_structural_signature_validation() -> None:
    base = {"id": "x", "title": "t", "confidence": 0.5, "advice": "a"}
    with pytest.raises(SignatureError, match="detector"):
        parse_signature({**base, "detector": "nope", "rule": {"base": 0.1}})
    with pytest.raises(SignatureError, match="rule"):
        parse_signature({**base, "detector": "clr-io-completion"})
    with pytest.raises(SignatureError, match="rule"):
        parse_signature({**base, "detector": "clr-io-completion", "rule": {"bogus": 1}})
    sig = parse_signature({**base, "detector": "clr-io-completion", "rule": {"base": 0.1},
                           "patterns": {"callback_frames": ["x"]}})
    assert sig.detector == "clr-io-completion" and sig.matches == ()


# -- HandleData object information -------------------------------------------------------------


def test_handle_object_information_decodes_documented_layouts() -> None:
    """THREAD_BASIC_INFORMATION / MUTANT_BASIC_INFORMATION / MUTANT_OWNER_INFORMATION
    packed by hand from their ntdef layouts, written by the builder, read back."""
    b = DumpBuilder("amd64")
    tbi = struct.pack("<I4xQQQQii", 0x103, 0x7FF0_0000_1000, 0x1234, 0x5678, 3, 8, 0)
    b.add_handle(0x10, type_name="Thread", object_info=[(1, tbi)])
    b.add_handle(0x14, type_name="Mutant",
                 object_info=[(2, struct.pack("<iBB2x", 0, 0, 0)),
                              (3, struct.pack("<QQ", 0x1234, 0x9ABC))])
    b.add_handle(0x18, type_name="Thread", object_info=[(1, b"\x01\x02")])  # unknown size
    with dumplib.open(b.to_bytes()) as dump:
        by = {h.handle: h for h in dump.handles}
        (t,) = [decode_object_info(i) for i in by[0x10].object_info]
        assert t == ThreadObjectInfo(0x103, 0x7FF0_0000_1000, 0x1234, 0x5678, 3, 8, 0)
        basic, owner = [decode_object_info(i) for i in by[0x14].object_info]
        assert basic == MutantInfo(0, False, False)
        assert owner == MutantOwner(0x1234, 0x9ABC)
        assert decode_object_info(by[0x18].object_info[0]) is None


def test_builder_handle_object_encoders_match_the_layouts() -> None:
    from dumplib.builder.handle_objects import (
        mutant_basic_info,
        mutant_owner_info,
        thread_object_info,
    )

    assert thread_object_info(0x5678, 0x1234, teb=0x7FF0_0000_1000, affinity=3) == (
        1, struct.pack("<I4xQQQQii", 0x103, 0x7FF0_0000_1000, 0x1234, 0x5678, 3, 8, 0))
    assert thread_object_info(7, 9, pointer_size=4)[1] == struct.pack(
        "<IIIIIii", 0x103, 0, 9, 7, 1, 8, 0)
    assert mutant_owner_info(0x9ABC, 0x1234) == (3, struct.pack("<QQ", 0x1234, 0x9ABC))
    assert mutant_basic_info(-1, True) == (2, struct.pack("<iBB2x", -1, 1, 0))


def test_walked_stacks_helper_matches_the_spec() -> None:
    v = VARIANTS["b-netfx-av-overlapped-in-rbx"]
    with dumplib.open(v.builder.to_bytes()) as dump:
        stacks = walked_stacks(dump, v)
        texts = [f.function for f in stacks[0x10].frames]
        assert texts == [s[1] for s in v.stacks[0x10]]
        report = analyze(dump, stacks=stacks)
        assert report.finding("clr-double-io-completion") is not None


def test_analyze_report_shows_the_wait_chain(tmp_path: Path) -> None:
    """`dumplib analyze` (its renderer) shows who waits on whom, since when."""
    import io

    from rich.console import Console

    from dumplib.cli.analyze import render_report

    v = VARIANTS["a-windows-dispatcher-handle-array"]
    symbols = v.symbol_dir(tmp_path)
    with dumplib.open(v.builder.to_bytes()) as dump:
        report = analyze(dump, symbols=symbols, stacks=walked_stacks(dump, v))
        console = Console(file=io.StringIO(), width=200)
        render_report(report, dump, console)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    table = out[out.index("Wait chain (hung-stop-network-io)"):]
    rows = [line for line in table.splitlines() if line.startswith("│")]
    # The handler (thread 0x10, created 3600 s before the dump) waits on two thread
    # handles, each leading to a worker blocked in recv() for 600 s (as built).
    assert "16 " in rows[0] and "service-control handler" in rows[0] and "3600 s" in rows[0]
    assert "handle 0x104 Thread -> thread 20 (network_io)" in rows[0]
    assert "handle 0x108 Thread -> thread 24 (network_io)" in rows[1]
    assert any("20 " in r and "600 s" in r and "mswsock!SockWaitForSingleObject" in r
               for r in rows[2:])
    assert "fact: control_handler_running = relayauthsvc!Svc_Control" in out


def test_exports_only_runtime_needs_the_overlapped_to_reach_half(tmp_path: Path) -> None:
    """No names for the completion thread: the ThreadInfo start address in coreclr and
    runtime-only frames are weaker facts; only the validated OVERLAPPED lifts it."""
    _, pos = _run("b-exports-only-coreclr-overlapped", tmp_path)
    _, neg = _run("b-neg-exports-only-no-overlapped", tmp_path)
    assert pos is not None and neg is not None
    for f in (pos, neg):
        (started,) = _facts(f.evidence, "runtime_started_thread")
        assert started["where"]["stream"] == "ThreadInfoListStream"
        assert started["value"] == "coreclr.dll"
        assert _facts(f.evidence, "runtime_frames_only")
    assert pos.confidence >= 0.5 > neg.confidence
    assert _facts(pos.evidence, "overlapped")[0]["where"]["register"] == "rsi"


def test_waited_handle_from_a_home_slot(tmp_path: Path) -> None:
    """WaitForSingleObjectEx's first argument spilled to its home slot (the caller's
    stack pointer + 0): no register holds it."""
    b = _base("Fabrikam.Spool.exe")
    b.add_handle(0x2C, type_name="Thread", object_info=[thread_object_info_for(0x14)])
    _threads(b, [0x10, 0x14], ages={0x14: 120})
    frames: list[Any] = [("ntdll.dll", "NtWaitForSingleObject"),
                         ("KERNELBASE.dll", "WaitForSingleObjectEx"),
                         ("Fabrikam.Spool.exe", "OnControl"),
                         ("sechost.dll", "ScDispatcherLoop")]
    v = Variant("home", "hung-stop-network-io", True, b, {
        0x10: frames,
        0x14: [("ntdll.dll", "NtWaitForSingleObject"), ("ws2_32.dll", "recv"),
               ("Fabrikam.Spool.exe", "Pump")]})
    with dumplib.open(b.to_bytes()) as dump:
        sp2 = walked_stacks(dump, v)[0x10].frames[2].sp
    b.add_memory(sp2, struct.pack("<Q", 0x2C))  # home slot of frame 1 (rcx)
    finding = analyze_variant(v, tmp_path).finding(v.finding)
    assert finding is not None
    (w,) = finding.evidence["wait_chain"][0]["waits_on"]
    assert w["handle"] == 0x2C and w["thread"] == 0x14
    assert w["found_in"] == {"thread": 0x10, "frame": 1, "address": sp2}


def thread_object_info_for(tid: int) -> tuple[int, bytes]:
    """MiniThreadInformation1 packed by hand (THREAD_BASIC_INFORMATION, x64)."""
    return 1, struct.pack("<I4xQQQQii", 0x103, 0, 0x1234, tid, 1, 8, 0)


def test_user_signature_collectors_use_the_structural_readers(tmp_path: Path) -> None:
    """collect = ["network_threads"] / ["overlapped"] in a user's signature: no word list
    picks "stop handlers", and the OVERLAPPED reader validates every candidate."""
    from dumplib.analysis import Signature, find_overlapped

    sig: Signature = parse_signature({
        "id": "mine", "title": "t", "confidence": 0.5, "advice": "a",
        "collect": ["network_threads"], "match": {"exception": "none"}})
    idle = VARIANTS["a-neg-idle-server"]
    symbols = idle.symbol_dir(tmp_path / "idle")
    with dumplib.open(idle.builder.to_bytes()) as dump:
        report = analyze(dump, symbols=symbols, signatures=[sig],
                         stacks=walked_stacks(dump, idle))
    mine = report.finding("mine")
    assert mine is not None
    assert mine.evidence["stop_handler_threads"] == []  # WaitForStopEvent is no handler
    assert mine.evidence["confirmed"] is False
    v = VARIANTS["b-netfx-av-overlapped-in-rbx"]
    with dumplib.open(v.builder.to_bytes()) as dump:
        ctx = AnalysisContext(dump, stacks=walked_stacks(dump, v))
        found = find_overlapped(ctx, 0x10)
    assert found is not None and found["address"] == HEAP + 0x2000
    assert found["where"]["register"] == "rbx" and found["internal"] == 0x80000005


def test_managed_type_from_the_clr_exception_parameters(tmp_path: Path) -> None:
    """Without procdump's comment, E0434352's (HRESULT, 0, 0, 0, runtime base) tells:
    E_POINTER is a NullReferenceException, COR_E_INVALIDOPERATION refutes."""
    _, pos = _run("b-coreclr6-hresult-nre", tmp_path)
    assert pos is not None and pos.confidence >= 0.5
    (nre,) = _facts(pos.evidence, "null_reference_or_av")
    assert nre == {"fact": "null_reference_or_av", "value": "HRESULT 0x80004003",
                   "where": {"thread": 0xB0, "stream": "ExceptionStream"}}
    _, neg = _run("b-neg-hresult-invalid-operation", tmp_path)
    assert neg is None
    # A fifth parameter that is not the runtime's base: the layout is not the CLR's.
    b = _base("Odd.exe")
    _netfx(b)
    _threads(b, [0x10])
    b.set_exception(0x10, 0xE0434352, CORELIB + 0x10, parameters=(0x80131509, 0, 0, 0, 0x1234))
    v = Variant("odd", "clr-double-io-completion", False, b, {0x10: list(NETFX_IOCP)})
    odd = analyze_variant(v, tmp_path).finding(v.finding)
    assert odd is not None and odd.confidence < 0.5
    assert "managed_exception_type" in {m["fact"] for m in odd.evidence["missing"]}


def test_condition_signatures_say_what_would_refute_them() -> None:
    from dumplib.analysis.signatures import load_signatures as load

    mine = {"stack-overflow", "heap-corruption", "out-of-memory", "clr-double-io-completion",
            "hung-stop-network-io"}
    for sig in load():
        if sig.id in mine:
            assert sig.refuted_by, sig.id
    b = _base("Deep.exe")
    _threads(b, [0x10])
    b.set_exception(0x10, 0xC00000FD, 0x1_4000_1000, parameters=(1, 0x4F_F000))
    with dumplib.open(b.to_bytes()) as dump:
        finding = analyze(dump, stacks={}).finding("stack-overflow")
    assert finding is not None and finding.evidence["refuted_by"]
    assert {"fact": "exception_code", "value": 0xC00000FD,
            "where": {"thread": 0x10, "stream": "ExceptionStream"}} in finding.evidence["facts"]


@pytest.mark.parametrize("scenario", ["caseb", "iocpmanaged"])
def test_triage_bucket_same_with_and_without_symbols(scenario: str, tmp_path: Path) -> None:
    """Issue 13 (bucket part): triage rows of one small dump, once with no symbol path and
    once with its PDBs only (names but no images), carry one bucket."""
    import shutil

    from dumplib.triage import WorkerConfig, analyse
    from dumplib.triage.discover import DumpRef

    wine = Path(__file__).resolve().parent.parent / "fixtures" / "wine" / scenario
    pdbs = tmp_path / "pdbs"
    pdbs.mkdir()
    for f in wine.glob("*.pdb"):
        shutil.copy(f, pdbs / f.name)
    ref = DumpRef(str(wine / f"{scenario}.dmp"))
    bare = analyse(ref, WorkerConfig())
    named = analyse(ref, WorkerConfig(symbols=(str(pdbs),)))
    assert bare.bucket == named.bucket  # type: ignore[union-attr]
    assert bare.bucket.startswith(("NULL_DEREFERENCE/", "CLR_"))  # type: ignore[union-attr]


def test_small_callee_saved_register_value_is_not_a_waited_handle(tmp_path: Path) -> None:
    """rbx = 8 beside a thread handle 0x8: a count, not the waited handle."""
    b = _base("Count.exe")
    b.add_handle(0x8, type_name="Thread", object_info=[thread_object_info_for(0x14)])
    _threads(b, [0x10, 0x14], contexts={0x10: {"rbx": 0x8}})
    v = Variant("count", "hung-stop-network-io", False, b, {
        0x10: [("ntdll.dll", "NtWaitForSingleObject"), ("Count.exe", "OnControl"),
               ("sechost.dll", "ScDispatcherLoop")],
        0x14: [("ntdll.dll", "NtWaitForSingleObject"), ("ws2_32.dll", "recv"),
               ("Count.exe", "Pump")]})
    finding = analyze_variant(v, tmp_path).finding(v.finding)
    assert finding is not None
    assert finding.evidence["wait_chain"][0]["waits_on"] == []
    assert not _facts(finding.evidence, "handler_waits_on_blocked_thread")


def test_software_exception_bucketed_at_the_raiser_and_noncontinuable_is_not_a_chance(
) -> None:
    """The wine negative control raises E0434352 (EXCEPTION_NONCONTINUABLE) from
    NorthwindApi!OnMessageReceived (its source): the bucket names the raiser's module,
    not kernelbase where RaiseException lives; the chance comes from the comment."""
    wine = Path(__file__).resolve().parent.parent / "fixtures" / "wine"
    with dumplib.open(wine / "iocpmanaged" / "iocpmanaged.dmp") as dump:
        report = analyze(dump, symbols=[str(wine / "iocpmanaged"), str(wine / "system")])
    exc = report.exception
    assert exc is not None and exc.module is not None
    assert exc.module.lower() == "kernelbase.dll" and exc.noncontinuable
    assert report.bucket.split("/")[1] == "northwindapi.exe"
    assert report.bucket_label.split("/")[2].startswith("northwindapi!OnMessageReceived")
    assert exc.chance == "second" and "Unhandled exception" in str(exc.chance_source)
    # The same record without the comment: NONCONTINUABLE alone says nothing.
    b = _base("Flags.exe")
    _threads(b, [0x10])
    b.set_exception(0x10, 0xE0434352, 0x1_4000_1000, flags=1)
    with dumplib.open(b.to_bytes()) as d2:
        summary = analyze(d2, stacks={}).exception
    assert summary is not None and summary.noncontinuable and summary.chance == "unknown"


def test_summary_says_possibly_below_half(tmp_path: Path) -> None:
    idle = VARIANTS["a-neg-idle-server"]
    report = analyze_variant(idle, tmp_path)
    assert "most likely" not in report.summary and "possibly (confidence 0.35)" in report.summary
    hung = analyze_variant(VARIANTS["a-windows-dispatcher-handle-array"], tmp_path)
    assert "most likely: Service stop hangs" in hung.summary
