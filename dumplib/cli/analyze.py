"""``dumplib analyze FILE``: the explanation of a dump, for people or (``--json``) tools.

The human report has, in order: a summary, the exception decoded, the
faulting instruction, the crashing stack, the findings with their evidence
and advice, the third-party modules and the WER event 1000 view. ``--json``
prints :meth:`dumplib.analysis.Report.to_json`. Invalid ``--signatures``
files are a usage error (exit 2), reported before the dump is read.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from dumplib.cli.common import EXIT_USAGE, add_dump_args, run_on_dump
from dumplib.views.textsafe import data

if TYPE_CHECKING:  # imported when the command runs, rich for people only (issue #16)
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from dumplib.analysis import Report, Signature
    from dumplib.dump import Dump

__all__ = ["register", "render_report", "run"]


def _hx(value: int | None) -> str:
    return "-" if value is None else f"0x{value:x}"


def _kv_table(title: str | None = None) -> Table:
    from rich.table import Table

    t = Table(show_header=False, box=None, pad_edge=False, title=title, title_justify="left")
    t.add_column(style="bold cyan", no_wrap=True)
    t.add_column(overflow="fold")
    return t


def _where(where: Any) -> str:
    """Where a fact was read: thread, frame, register, address, stream."""
    if not isinstance(where, dict):
        return ""
    parts = []
    for key in ("thread", "frame", "register", "address", "stream"):
        if key in where:
            value = where[key]
            shown = _hx(value) if key == "address" and isinstance(value, int) else value
            parts.append(f"{key} {shown}")
    return f"  [{', '.join(str(p) for p in parts)}]" if parts else ""


def _fact_lines(evidence: dict[str, Any]) -> Text:
    """A finding's facts and misses, one per line, each with where it was read."""
    import json

    from rich.text import Text

    from dumplib.views.console import is_hex_key

    text = Text()
    def scalar(name: str, value: Any) -> str:
        if isinstance(value, bool) or value is None:
            return json.dumps(value)
        if isinstance(value, int):
            return f"0x{value:x}" if is_hex_key(name) and value > 9 else str(value)
        return str(value)

    for f in evidence.get("facts") or []:
        if isinstance(f, dict):
            value, name = f.get("value"), str(f.get("fact"))
            if isinstance(value, dict):
                shown = ", ".join(f"{k}={scalar(str(k), v)}" for k, v in value.items())
            elif isinstance(value, (list, tuple)):
                shown = ", ".join(scalar(name, v) for v in value)
            else:
                shown = scalar(name, value)
            text.append("  fact: ", style="green")
            text.append_text(data(f"{f.get('fact')} = {shown}{_where(f.get('where'))}"))
            text.append("\n")
    for miss in evidence.get("missing") or []:
        if isinstance(miss, dict):
            text.append("  missing: ", style="yellow")
            text.append_text(data(f"{miss.get('fact')} (looked in {miss.get('looked_in')})"))
            text.append("\n")
    candidates = evidence.get("overlapped_candidates")
    if isinstance(candidates, list):
        text.append(f"  OVERLAPPED candidates looked at: {len(candidates)} (each in --json)\n")
    return text


def _wait_chain(report: Report) -> Table | None:
    """Who waits on whom, since when: the wait chain a hang finding recovered."""
    from rich.table import Table

    for fd in report.findings:
        chain = fd.evidence.get("wait_chain")
        if not isinstance(chain, list) or not chain:
            continue
        t = Table(title=f"Wait chain ({fd.id})", title_justify="left")
        for col in ("thread", "role", "blocked in", "waits on", "age"):
            t.add_column(col)
        for link in chain:
            if not isinstance(link, dict):
                continue
            waits = []
            waits_on = link.get("waits_on")
            for w in waits_on if isinstance(waits_on, list) else []:
                if isinstance(w, dict):
                    target = (f"thread {w['thread']} ({w.get('thread_state', '?')})"
                              if "thread" in w else str(w.get("leads_to")))
                    handle = w.get("handle")
                    shown = _hx(handle) if isinstance(handle, int) else "?"
                    waits.append(f"handle {shown} {w.get('type') or ''} -> {target}")
            age = link.get("age_seconds")
            t.add_row(str(link.get("thread")), data(str(link.get("role"))),
                      data(str(link.get("blocked_in") or link.get("handler") or "-")),
                      data("\n".join(waits) or "-", lines=True),
                      f"{age:.0f} s" if isinstance(age, (int, float)) else "-")
        return t
    return None


def render_report(report: Report, dump: Dump, console: Console, *,
                  physical_only: bool = False) -> None:
    """Print a report for people (every text from the dump or its symbols shown as data).

    The crash stack lists inlined calls as frames of their own unless ``physical_only``.
    """
    from rich.console import Group
    from rich.panel import Panel
    from rich.text import Text

    from dumplib.views.console import evidence_text
    from dumplib.views.tables import stack_table

    sysinfo = dump.system
    main = dump.modules.main
    head = _kv_table()
    head.add_row("summary", data(report.summary))
    pid = dump.process_id
    head.add_row("process", data(f"{main.name if main else '?'} "
                                 f"(pid {pid if pid is not None else '?'})"))
    ver = ".".join(map(str, sysinfo.os_version))
    head.add_row("system", data(f"{sysinfo.os_name} {ver} {sysinfo.csd_version}".rstrip()
                                + f", {sysinfo.arch.value}"))
    head.add_row("written", dump.time.strftime("%Y-%m-%d %H:%M:%S UTC"))
    console.print(Panel(head, title="dumplib analyze", expand=False))
    # the bucket on a line of its own, never wrapped, so it can be copied whole
    console.print(Text("bucket: ", style="bold cyan") + data(report.bucket), soft_wrap=True)

    exc = report.exception
    if exc is not None:
        t = _kv_table("Exception")
        t.add_row("code", data(f"0x{exc.code:08x} {exc.name or ''}"))
        if exc.message:
            t.add_row("meaning", data(exc.message))
        t.add_row("what", data(exc.description))
        t.add_row("thread", f"{exc.thread_id} (0x{exc.thread_id:x})")
        if exc.parameters:
            t.add_row("parameters", ", ".join(_hx(p) for p in exc.parameters))
        if exc.thrown_types:
            t.add_row("thrown", data(", ".join(exc.thrown_types)))
        if exc.managed_type:
            t.add_row("managed type", data(exc.managed_type))
        told = f" ({exc.chance_source})" if exc.chance_source else ""
        t.add_row("chance", data(exc.chance + told))
        for n in exc.nested:
            t.add_row("nested", data(f"0x{n.code:08x} {n.name or ''} at {_hx(n.address)}"))
        console.print(t)
    else:
        console.print(Text("Exception", style="bold") + Text(": none (a hang or on-demand dump)"))

    fi = report.faulting_instruction
    if fi is not None:
        line = f"{fi.location}: {fi.text}  [{fi.data.hex(' ')}]"
        if fi.explanation:
            line += f"\n  {fi.explanation}"
        console.print(Panel(data(line, lines=True), title="Faulting instruction", expand=False))

    if report.crash_stack is not None:
        st = report.crash_stack
        console.print(stack_table(st, limit=64, with_sp=False, physical_only=physical_only,
                                  title=f"Stack of thread {st.thread_id} ({st.status.value})"))
        if st.status.value != "complete":
            console.print(data(f"  walk {st.status.meaning}"))

    if report.findings:
        for fd in report.findings:
            body = Text()
            body.append_text(data(fd.title, style="bold"))
            body.append("\n")
            body.append_text(data(f"{fd.id}  confidence {fd.confidence:.2f}  ({fd.source})",
                                  style="dim"))
            body.append("\n")
            body.append("evidence:\n", style="bold")
            body.append_text(_fact_lines(fd.evidence))
            body.append_text(evidence_text({k: v for k, v in fd.evidence.items() if k not in
                                            ("facts", "missing", "wait_chain",
                                             "overlapped_candidates")}))
            body.append("\nadvice: ", style="bold")
            body.append_text(data(" ".join(fd.advice.split())))
            if fd.references:
                body.append("\n")
                body.append_text(data(f"references: {', '.join(fd.references)}"))
            console.print(Panel(body, title=data(fd.id), title_align="left"))
    else:
        console.print(Text("Findings", style="bold") + Text(": none"))
    chain = _wait_chain(report)
    if chain is not None:
        console.print(chain)

    if report.third_party_modules:
        from dumplib.views.fit import Col, FittedTable

        rows = [[m.name, m.version or "-", m.vendor or "?", m.description or "-",
                 ", ".join(map(str, m.on_threads)) or "-", m.path]
                for m in report.third_party_modules]
        console.print(FittedTable(
            [Col("name", keep=False), Col("version", drop=4), Col("vendor", keep=False, drop=3),
             Col("description", keep=False, drop=1), Col("on threads", keep=False, drop=5),
             Col("path", keep=False, drop=2, min_width=16)],
            rows, title="Third-party modules"))

    if report.wer is not None:
        console.print(Panel(Group(data(report.wer.text(), lines=True)),
                            title="WER event 1000 (Application Error)", expand=False))
    for note in report.notes:
        console.print(Text("note: ", style="yellow") + data(note))


def run(args: argparse.Namespace) -> int:
    """Validate ``--signatures``, then analyze the dump."""
    from dumplib.analysis import SignatureError, analyze, load_signatures

    try:
        sigs: list[Signature] = load_signatures(args.signatures or [])
    except SignatureError as exc:
        sys.stderr.write(f"dumplib analyze: error: {exc}\n")
        return EXIT_USAGE

    def body(a: argparse.Namespace, dump: Dump, console: Console) -> Any:
        report = analyze(dump, symbols=a.symbols or [], signatures=sigs, builtin_signatures=False)
        if a.json:
            return report.to_json()
        render_report(report, dump, console, physical_only=a.physical_only)
        return None

    return run_on_dump(args, body)


def register(sub: Any) -> None:
    """Add the ``analyze`` subcommand."""
    help_text = "explain a crash or hang: exception, findings, bucket, WER event, vendors"
    p: argparse.ArgumentParser = sub.add_parser("analyze", help=help_text, description=help_text)
    add_dump_args(p)
    p.add_argument(
        "--symbols", action="append", metavar="S",
        help="symbol directory, file or _NT_SYMBOL_PATH-style string (repeatable)",
    )
    p.add_argument(
        "--signatures", action="append", metavar="DIR",
        help="a directory of extra signature files (*.toml), used with the built-in ones",
    )
    p.add_argument("--physical-only", action="store_true",
                   help="crash stack without inlined calls (by default each is a row of its own)")
    p.set_defaults(run=run)
