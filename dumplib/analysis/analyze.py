"""``dumplib.analyze``: from a dump to a :class:`~dumplib.analysis.model.Report`.

The pipeline: decode the exception; walk the stacks (when the stack walker is
available); match every signature (built-in plus the caller's directories),
running the collectors a matching signature names; run the code detectors
(deadlocks, loader lock); then bucket the crash, rebuild the WER event, list
third-party modules and disassemble the faulting instruction. A rule or
detector that fails on bad memory leaves a note in ``Report.notes`` instead of
stopping the analysis.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dumplib._exc import DumpError
from dumplib.analysis.bucket import FunctionStart, bucket, bucket_label
from dumplib.analysis.collectors import COLLECTORS
from dumplib.analysis.detectors import run_detectors
from dumplib.analysis.facts import AnalysisContext
from dumplib.analysis.model import FaultingInstruction, Finding, Report
from dumplib.analysis.signatures import Signature, load_signatures, match_signature
from dumplib.analysis.structural import signature_facts, structural_finding
from dumplib.analysis.thirdparty import third_party_modules
from dumplib.analysis.wer import wer_event
from dumplib.format.constants import Arch
from dumplib.model.dump import DumpFile
from dumplib.unwind.frames import Frame, Stack

__all__ = ["analyze", "evaluate_signatures", "faulting_instruction"]

SignatureSource = str | os.PathLike[str] | Signature


def evaluate_signatures(ctx: AnalysisContext, signatures: Sequence[Signature]) -> list[Finding]:
    """Match signatures against the context and build their findings."""
    findings: list[Finding] = []
    for sig in signatures:
        if sig.detector is not None:
            try:
                found = structural_finding(ctx, sig)
            except DumpError as exc:
                ctx.notes.append(f"signature {sig.id} could not be evaluated: {exc}")
                continue
            if found is not None:
                findings.append(found)
            continue
        try:
            got = match_signature(sig, ctx)
        except DumpError as exc:
            ctx.notes.append(f"signature {sig.id} could not be evaluated: {exc}")
            continue
        if got is None:
            continue
        match, evidence = got
        if sig.evidence:
            evidence.update(sig.evidence)  # collectors see (and may refine) the fixed facts
        confirmed = False
        for name in sig.collect:
            try:
                collected = COLLECTORS[name](ctx, evidence)
            except DumpError as exc:
                ctx.notes.append(f"signature {sig.id}: collector {name} failed: {exc}")
                continue
            evidence.update(collected.evidence)
            confirmed = confirmed or collected.confirmed
            ctx.notes.extend(f"signature {sig.id}: {n}" for n in collected.notes)
        confidence = match.confidence if match.confidence is not None else sig.confidence
        if sig.collect:
            evidence["confirmed"] = confirmed
        if confirmed and sig.confidence_confirmed is not None:
            confidence = max(confidence, sig.confidence_confirmed)
        evidence.update(signature_facts(ctx, evidence))
        if sig.refuted_by:
            evidence["refuted_by"] = list(sig.refuted_by)
        findings.append(
            Finding(
                id=sig.id,
                title=sig.title,
                confidence=round(confidence, 3),
                evidence=evidence,
                advice=sig.advice,
                source=f"signature:{Path(sig.path).name}" if sig.path else "signature",
                references=sig.references,
            )
        )
    return findings


_CAPSTONE_MODES = {
    Arch.AMD64: ("CS_ARCH_X86", "CS_MODE_64"),
    Arch.X86: ("CS_ARCH_X86", "CS_MODE_32"),
    Arch.ARM64: ("CS_ARCH_ARM64", "CS_MODE_ARM"),
}


def faulting_instruction(ctx: AnalysisContext) -> FaultingInstruction | None:
    """Disassemble the instruction at the exception address.

    The bytes come from the dump's memory, else from the module's image on the
    symbol path. Returns None when neither holds them or capstone is missing.
    """
    exc = ctx.dump.exception
    if exc is None:
        return None
    explain = getattr(ctx.dump, "explain_fault", None)
    if callable(explain):
        try:
            got = explain(ctx.symbols)
        except DumpError as err:
            ctx.notes.append(f"faulting instruction: {err}")
            got = None
        insn = getattr(got, "instruction", None)
        if insn is not None:
            module = ctx.dump.modules.find(insn.address)
            where = (
                f"{module.name}+0x{insn.address - module.base:x}" if module
                else f"0x{insn.address:x}"
            )
            return FaultingInstruction(
                insn.address, where, bytes(insn.raw), insn.text, getattr(got, "text", None) or None
            )
    address = exc.address
    module = ctx.dump.modules.find(address)
    data = ctx.dump.memory.try_read(address, 16)
    if data is None:
        data = ctx.dump.memory.read_available(address, 16) or None
    if data is None and module is not None and ctx.resolver is not None:
        try:
            image = ctx.resolver.image(module)
            if image is not None:
                data = image.read(address - module.base, 16)
        except DumpError:
            data = None
    mode = _CAPSTONE_MODES.get(ctx.dump.system.arch)
    if not data or mode is None:
        return None
    try:
        import capstone
    except ImportError:  # pragma: no cover - capstone is a dependency
        ctx.notes.append("capstone is not installed: no disassembly")
        return None
    cs: Any = capstone.Cs(getattr(capstone, mode[0]), getattr(capstone, mode[1]))
    for insn in cs.disasm(bytes(data), address, 1):
        text = f"{insn.mnemonic} {insn.op_str}".strip()
        where = f"{module.name}+0x{address - module.base:x}" if module else f"0x{address:x}"
        return FaultingInstruction(address, where, bytes(insn.bytes), text)
    return None


def _finding_thread(findings: Sequence[Finding]) -> int | None:
    """The first thread the most confident finding names (for hang dumps' stack and bucket)."""
    for f in findings:
        if f.confidence < 0.5:
            continue  # a possible finding does not choose the thread a hang is bucketed on
        groups = f.evidence.get("threads")
        if isinstance(groups, list):
            for group in groups:
                items = group if isinstance(group, list) else [group]
                for item in items:
                    if isinstance(item, dict) and isinstance(item.get("id"), int):
                        tid = item["id"]
                        assert isinstance(tid, int)
                        return tid
    return None


def _function_start(ctx: AnalysisContext) -> FunctionStart:
    """A frame's function start RVA from its image's .pdata (image in the dump or on
    the symbol path), or None: bucket keys that do not depend on PDBs."""

    def start_of(frame: Frame) -> int | None:
        module = frame.module
        res = ctx.resolver
        if module is None or res is None:
            return None
        try:
            image = res.image(module)
            if image is None:
                return None
            rva = frame.lookup_address - module.base
            entry = image.function_for(rva)
        except DumpError:
            return None
        # A leaf function has no .pdata entry: its address is still independent of PDBs.
        return entry.begin if entry is not None else rva

    return start_of


def _summary(ctx: AnalysisContext, findings: Sequence[Finding]) -> str:
    dump = ctx.dump
    main = dump.modules.main
    who = f"{main.name if main else 'unknown process'}"
    if dump.process_id is not None:
        who += f" (pid {dump.process_id})"
    exc = ctx.exception
    what = exc.description if exc is not None else "no exception (a hang or on-demand dump)"
    line = f"{who}: {what}"
    if findings and findings[0].confidence >= 0.5:
        line += f"; most likely: {findings[0].title}"
    elif findings:  # below 0.5: a possibility the evidence does not carry
        line += f"; possibly (confidence {findings[0].confidence:.2f}): {findings[0].title}"
    return line


def analyze(
    dump: DumpFile,
    symbols: Sequence[str | os.PathLike[str]] | str | os.PathLike[str] | None = None,
    signatures: Sequence[SignatureSource] | SignatureSource | None = None,
    *,
    stacks: Mapping[int, Stack] | None = None,
    builtin_signatures: bool = True,
) -> Report:
    """Explain a dump: exception, findings, bucket, WER event, third-party modules.

    Args:
        dump: an open dump (``dumplib.open(path)``).
        symbols: ``symbols=`` entries for stack walking and names (directories,
            files, ``_NT_SYMBOL_PATH``-style strings).
        signatures: extra signature directories (``*.toml``) or loaded
            :class:`~dumplib.analysis.signatures.Signature` objects, used with
            the built-in ones.
        stacks: walked stacks by thread id to use instead of walking (for tools
            that walked already, and tests).
        builtin_signatures: load the signatures that ship with dumplib.

    Returns:
        The report.

    Raises:
        SignatureError: a signature file is invalid (raised before any analysis).
        DumpError: the dump's core streams (modules, threads, exception) are unreadable.
    """
    if isinstance(symbols, (str, os.PathLike)):
        symbols = [symbols]  # one entry, not a sequence of characters
    if isinstance(signatures, (str, os.PathLike, Signature)):
        signatures = [signatures]
    dirs = [s for s in (signatures or ()) if not isinstance(s, Signature)]
    given = [s for s in (signatures or ()) if isinstance(s, Signature)]
    sigs = load_signatures(dirs, builtin=builtin_signatures)
    if given:
        ids = {s.id for s in given}
        sigs = [s for s in sigs if s.id not in ids] + given
    ctx = AnalysisContext(dump, symbols, stacks)
    try:
        findings = evaluate_signatures(ctx, sigs)
        findings += run_detectors(ctx)
        findings.sort(key=lambda f: (-f.confidence, f.id))
        exc = ctx.exception
        crash_stack = None
        if exc is not None:
            crash_stack = ctx.stack_of(exc.thread_id)
        else:
            tid = _finding_thread(findings)
            if tid is None and len(dump.threads):
                tid = dump.threads[0].id
            crash_stack = ctx.stack_of(tid) if tid is not None else None
        if crash_stack is not None and ctx.resolver is not None:
            from dumplib.unwind.coverage import symbol_coverage

            # which modules lacked image and symbols, which frames are guesses, and the fix
            ctx.notes.extend(
                symbol_coverage([crash_stack], ctx.resolver, list(ctx.symbols)).notes())
        main = dump.modules.main
        report_bucket = bucket(exc, crash_stack, main.name if main else None,
                               _function_start(ctx))
        label = bucket_label(exc, crash_stack, main.name if main else None)
        bugcheck_report = None
        summary = _summary(ctx, findings)
        if dump.kind != "user":
            from dumplib.analysis.kernel import kernel_report, kernel_summary_line

            # a bug check buckets WinDbg's way (AV_driver!Function): the name is the key
            crash_stack, report_bucket, bugcheck_report = kernel_report(ctx)
            label = report_bucket
            summary = kernel_summary_line(bugcheck_report, findings)
        states = {t.id: t.state for t in ctx.threads}
        if ctx.resolver is not None:  # symbol-server faults: recorded, never raised
            ctx.notes.extend(ctx.resolver.locator.faults)
        return Report(
            findings=findings,
            bucket=report_bucket,
            bucket_label=label,
            exception=exc,
            wer=wer_event(dump),
            third_party_modules=third_party_modules(ctx),
            faulting_instruction=faulting_instruction(ctx),
            crash_stack=crash_stack,
            thread_states=states,
            notes=list(dict.fromkeys(ctx.notes)),
            summary=summary,
            bugcheck=bugcheck_report,
        )
    finally:
        ctx.close()

