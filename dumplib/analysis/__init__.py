"""Layer 6: analysis -- the explanation an escalation engineer would write.

:func:`analyze` turns an open dump into a :class:`Report`: the decoded
exception (:mod:`~dumplib.analysis.exceptions`), findings from signatures
(``dumplib/signatures/*.toml``, :mod:`~dumplib.analysis.signatures`) and code
detectors (:mod:`~dumplib.analysis.detectors`), a crash bucket
(:mod:`~dumplib.analysis.bucket`), the WER event 1000 view
(:mod:`~dumplib.analysis.wer`) and the third-party modules::

    import dumplib

    with dumplib.open("DataMCUSvc.dmp") as dump:
        report = dumplib.analyze(dump, symbols=["C:/symbols"])
        for f in report.findings:
            print(f.confidence, f.title, f.evidence)
        print(report.bucket)
        print(report.wer.text() if report.wer else "no exception")
"""

from __future__ import annotations

from dumplib.analysis.analyze import analyze, evaluate_signatures, faulting_instruction
from dumplib.analysis.bucket import bucket, bucket_label, meaningful_frames
from dumplib.analysis.collectors import COLLECTORS, Collected, find_overlapped
from dumplib.analysis.detectors import detect_deadlocks, detect_loader_lock, read_critical_section
from dumplib.analysis.evidence import EvidenceSet, apply_rule
from dumplib.analysis.exceptions import summarize_exception, undecorate_type
from dumplib.analysis.facts import AnalysisContext, ThreadFacts, classify_state
from dumplib.analysis.model import (
    ExceptionSummary,
    FaultingInstruction,
    Finding,
    JsonValue,
    NestedException,
    Report,
    ThirdPartyModule,
    WerEvent,
)
from dumplib.analysis.signatures import (
    Signature,
    SignatureError,
    builtin_signature_dir,
    load_signature,
    load_signatures,
    match_signature,
    parse_signature,
)
from dumplib.analysis.structural import STRUCTURAL, structural_finding
from dumplib.analysis.thirdparty import third_party_modules
from dumplib.analysis.wer import time_t_to_filetime, wer_event

__all__ = [
    "COLLECTORS",
    "STRUCTURAL",
    "AnalysisContext",
    "Collected",
    "EvidenceSet",
    "ExceptionSummary",
    "FaultingInstruction",
    "Finding",
    "JsonValue",
    "NestedException",
    "Report",
    "Signature",
    "SignatureError",
    "ThirdPartyModule",
    "ThreadFacts",
    "WerEvent",
    "analyze",
    "apply_rule",
    "bucket",
    "bucket_label",
    "builtin_signature_dir",
    "classify_state",
    "detect_deadlocks",
    "detect_loader_lock",
    "evaluate_signatures",
    "faulting_instruction",
    "find_overlapped",
    "load_signature",
    "load_signatures",
    "match_signature",
    "meaningful_frames",
    "parse_signature",
    "read_critical_section",
    "structural_finding",
    "summarize_exception",
    "third_party_modules",
    "time_t_to_filetime",
    "undecorate_type",
    "wer_event",
]
