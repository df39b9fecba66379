"""Analysis: ``!analyze -v`` and ``!findings``.

``!analyze -v`` prints :func:`dumplib.analyze`'s report in the section order
of WinDbg's: EXCEPTION_RECORD, FAULTING_IP, STACK_TEXT, SYMBOL_NAME,
MODULE_NAME, IMAGE_NAME, FAILURE_BUCKET_ID -- then dumplib's own findings
with their evidence and advice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dumplib.shell.session import Output, Session, module_stem

if TYPE_CHECKING:
    from dumplib.analysis import Report

__all__ = ["analyze", "findings", "report"]

_BANNER = "*" * 79


def report(session: Session) -> Report:
    """The analysis report for the session's dump and symbol path (computed once)."""
    found = session.cache.get("report")
    if found is None:
        from dumplib.analysis import analyze as run_analysis

        found = run_analysis(session.dump, session.symbols)
        session.cache["report"] = found
    return found


def _stack_text(session: Session, rep: Report) -> list[str]:
    from dumplib.shell.threads import call_site

    stack = rep.crash_stack
    if stack is None:
        return ["(no stack: the stack walker found no frames)"]
    lines = []
    frames = stack.frames
    for i, f in enumerate(frames):
        ret = frames[i + 1].ip if i + 1 < len(frames) else 0
        lines.append(f"{session.addr(f.sp)} {session.addr(ret)}     "
                     f"{call_site(session, f, source=False)}")
    return lines


def _first_named(rep: Report) -> Any:
    stack = rep.crash_stack
    if stack is None:
        return None
    for f in stack.frames:
        if f.module is not None:
            return f
    return None


def _symbol_name(f: Any) -> str:
    stem = module_stem(f.module.name)
    if f.function:
        return f"{stem}!{f.function}+{f.offset:x}"
    return f"{stem}+{f.offset:x}"


def analyze(session: Session, args: str) -> Output:
    """``!analyze -v``: dumplib's analysis in WinDbg's section order (the ``-v`` is optional)."""
    rep = report(session)
    lines = [_BANNER, "*" + " " * 77 + "*",
             "*" + "Exception Analysis".center(77) + "*",
             "*" + " " * 77 + "*", _BANNER, ""]
    exc = rep.exception
    if exc is not None:
        from dumplib.shell.context import exr

        lines += ["EXCEPTION_RECORD:  (.exr -1)", exr(session, "-1").text, ""]
    main = session.dump.modules.main
    if main is not None:
        lines += [f"PROCESS_NAME:  {main.name}", ""]
    if exc is not None:
        lines += [f"ERROR_CODE: (NTSTATUS) 0x{exc.code:x} - {exc.message or exc.name or ''}"
                  .rstrip(" -"), ""]
    fi = rep.faulting_instruction
    if fi is not None:
        from dumplib.shell.code import instruction_lines
        from dumplib.shell.session import ShellError

        lines.append("FAULTING_IP: ")
        lines.append(session.symbol(fi.address).replace("+0x", "+"))
        try:
            lines += instruction_lines(session, fi.address, 1)
        except ShellError:
            lines.append(f"{session.addr(fi.address)} {fi.data.hex():<15} {fi.text}")
        if fi.explanation:
            lines.append(f"({fi.explanation})")
        lines.append("")
    if rep.crash_stack is not None:
        lines += ["STACK_TEXT:  ", *_stack_text(session, rep), ""]
    f = _first_named(rep)
    if f is not None:
        lines += [f"SYMBOL_NAME:  {_symbol_name(f)}", "",
                  f"MODULE_NAME: {module_stem(f.module.name)}", "",
                  f"IMAGE_NAME:  {f.module.name}", ""]
    lines += [f"FAILURE_BUCKET_ID:  {rep.bucket}", ""]
    if rep.summary:
        lines += [f"DUMPLIB_SUMMARY:  {rep.summary}", ""]
    lines += ["DUMPLIB_FINDINGS:"]
    lines += _finding_lines(rep) or ["    (none)"]
    if rep.notes:
        lines += ["", "DUMPLIB_NOTES:"] + [f"    {n}" for n in rep.notes]
    return Output("\n".join(lines).rstrip(), rep.to_json())


def _finding_lines(rep: Report) -> list[str]:
    lines: list[str] = []
    for i, fd in enumerate(rep.findings):
        if i:
            lines.append("")
        lines.append(f"    [{fd.confidence:.2f}] {fd.id}: {fd.title}")
        for key, value in fd.evidence.items():
            if key in ("facts", "missing"):
                continue
            lines.append(f"        {key}: {_short(value)}")
        facts = fd.evidence.get("facts")
        if isinstance(facts, list):
            for fact in facts[:20]:
                lines.append(f"        fact: {_short(fact)}")
        if fd.advice:
            lines.append(f"    ADVICE: {fd.advice}")
    return lines


def _short(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0xFFFF:
        return f"0x{value:x}"
    text = str(value)
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= 200 else text[:197] + "..."


def findings(session: Session, args: str) -> Output:
    """``!findings``: dumplib's findings alone (confidence, title, evidence, advice)."""
    rep = report(session)
    lines = _finding_lines(rep) or ["(no findings)"]
    return Output("\n".join(lines), [fd.to_json() for fd in rep.findings])
