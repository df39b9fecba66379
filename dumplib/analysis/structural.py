"""Structural signatures: a detector in code gathers facts, the signature file weighs them.

A signature with ``detector = "<name>"`` is not matched by its ``[match]``
conditions; the named detector reads the dump's structures and returns an
:class:`~dumplib.analysis.evidence.EvidenceSet` (facts with where they were
read, and what was looked for and not found). The signature's ``[rule]`` then
decides whether there is a finding and its confidence (see
:mod:`dumplib.analysis.evidence`); its ``[patterns]`` hold the detector's
frame patterns, and ``refuted_by`` says what would refute it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from dumplib.analysis.case_a import case_a_evidence
from dumplib.analysis.case_b import case_b_evidence
from dumplib.analysis.collectors import COLLECTORS
from dumplib.analysis.evidence import EvidenceSet, apply_rule, validate_rule
from dumplib.analysis.facts import AnalysisContext
from dumplib.analysis.model import Finding, JsonValue

if TYPE_CHECKING:
    from dumplib.analysis.signatures import Signature

__all__ = ["STRUCTURAL", "StructuralDetector", "structural_finding", "validate_rule"]

StructuralDetector = Callable[
    [AnalysisContext, "Signature"], "tuple[EvidenceSet, dict[str, JsonValue]] | None"
]

#: Structural detectors by the name signatures give in ``detector``.
STRUCTURAL: dict[str, StructuralDetector] = {
    "service-stop-hang": case_a_evidence,
    "clr-io-completion": case_b_evidence,
}


def structural_finding(ctx: AnalysisContext, sig: Signature) -> Finding | None:
    """Run a structural signature's detector and weigh its facts by the rule.

    Returns:
        The finding, or None when the detector found nothing to weigh, a
        required fact is missing or a refuting fact is present.
    """
    if sig.detector is None or sig.rule is None:
        return None
    got = STRUCTURAL[sig.detector](ctx, sig)
    if got is None:
        return None
    ev, extra = got
    evidence: dict[str, JsonValue] = dict(sig.evidence or {})
    for name in sig.collect:
        collected = COLLECTORS[name](ctx, evidence)
        evidence.update(collected.evidence)
        ctx.notes.extend(f"signature {sig.id}: {n}" for n in collected.notes)
    if evidence.get("fix_applies_to_this_os") is True:
        ev.add("fix_applies_to_this_os", evidence.get("os_version"), stream="SystemInfoStream")
    result = apply_rule(sig.rule, ev.names)
    if result.confidence is None:
        return None
    evidence.update(extra)
    evidence.update(ev.to_json())
    evidence["confidence_rule"] = result.explanation
    if sig.refuted_by:
        evidence["refuted_by"] = list(sig.refuted_by)
    return Finding(
        id=sig.id,
        title=sig.title,
        confidence=result.confidence,
        evidence=evidence,
        advice=sig.advice,
        source=f"signature:{Path(sig.path).name}" if sig.path else "signature",
        references=sig.references,
    )


def _where_thread(group: JsonValue) -> list[dict[str, JsonValue]]:
    items = group if isinstance(group, list) else [group]
    return [i for i in items if isinstance(i, dict) and isinstance(i.get("id"), int)]


def signature_facts(ctx: AnalysisContext, evidence: dict[str, JsonValue]) -> dict[str, JsonValue]:
    """``facts`` and ``missing`` for a finding of a condition-matched signature.

    Each condition that held, and each collector's result, becomes a fact with
    the stream, thread, frame or address it was read from; a collector's
    ``None`` result is a miss.
    """
    ev = EvidenceSet()
    exc = ctx.exception
    tid = exc.thread_id if exc is not None else None
    if "exception_code" in evidence:
        ev.add("exception_code", evidence["exception_code"], thread=tid, stream="ExceptionStream")
    if evidence.get("exception") == "none":
        ev.add("no_exception", True, stream="ExceptionStream")
    for key in ("managed_type", "chance", "exception_type"):
        if key in evidence:
            ev.add(key, evidence[key], thread=tid, stream="CommentStreamA/W or ExceptionStream")
    if "faulting_function" in evidence and exc is not None:
        ev.add("faulting_function", evidence["faulting_function"], thread=tid, address=exc.address)
    if "faulting_module" in evidence and exc is not None:
        ev.add("faulting_module", evidence["faulting_module"], address=exc.address,
               stream="ModuleListStream")
    if "os_version" in evidence:
        ev.add("os_version", evidence["os_version"], stream="SystemInfoStream")
    if "process" in evidence:
        ev.add("process", evidence["process"], stream="ModuleListStream")
    for key, stream in (("modules", "ModuleListStream"), ("unloaded_modules",
                                                         "UnloadedModuleListStream"),
                        ("vendor_modules", "ModuleListStream")):
        value = evidence.get(key)
        for m in value if isinstance(value, list) else []:
            if isinstance(m, dict):
                base = m.get("base")
                ev.add(key.rstrip("s"), m.get("name"), stream=stream,
                       address=base if isinstance(base, int) else None)
    handles = evidence.get("handles")
    for h in handles if isinstance(handles, list) else []:
        if isinstance(h, dict):
            ev.add("handles", h.get("count"), stream="HandleDataStream")
    threads = evidence.get("threads")
    for group in threads if isinstance(threads, list) else []:
        for t in _where_thread(group):
            frames = t.get("frames")
            matched = t.get("matched_frames")
            for text in matched if isinstance(matched, list) else []:
                idx = frames.index(text) if isinstance(frames, list) and text in frames else None
                ev.add("frame", text, thread=t["id"], frame=idx)
            ev.add("thread_state", t.get("state"), thread=t["id"])
    if "overlapped" in evidence:
        ov = evidence["overlapped"]
        if isinstance(ov, dict):
            ev.add("overlapped_internal", ov.get("internal"), address=ov.get("address"))
        else:
            ev.miss("overlapped", "the thread's registers and stack")
    if "most_repeated_frame" in evidence:
        ev.add("repeated_frame", evidence["most_repeated_frame"], thread=tid)
    for key in ("committed_bytes", "private_usage", "address_space_used"):
        if key in evidence:
            ev.add(key, evidence[key], stream="MemoryInfoListStream / MiscInfoStream")
    if exc is not None and exc.chance == "unknown":
        ev.miss("chance", "procdump's comment and the exception dispatcher frames")
    return ev.to_json()
