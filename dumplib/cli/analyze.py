"""``dumplib analyze FILE``: the explanation of a dump, for people or (``--json``) tools.

The human report has, in order: a summary, the exception decoded, the
faulting instruction, the crashing stack, the findings with their evidence
and advice, the third-party modules and the WER event 1000 view. ``--json``
prints :meth:`dumplib.analysis.Report.to_json`. Invalid ``--signatures``
files are a usage error (exit 2), reported before the dump is read.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from dumplib.cli.common import EXIT_USAGE, add_dump_args, run_on_dump

if TYPE_CHECKING:  # imported when the command runs, rich for people only (issue #16)
    from rich.console import Console
    from rich.text import Text

    from dumplib.analysis import Report, Signature
    from dumplib.dump import Dump

__all__ = ["register", "render_report", "run"]


def _hx(value: int | None) -> str:
    return "-" if value is None else f"0x{value:x}"


def _evidence_lines(evidence: dict[str, Any], width: int = 140) -> Text:
    from rich.text import Text

    text = Text()
    for key, value in evidence.items():
        if isinstance(value, int) and not isinstance(value, bool) and value > 9:
            shown = f"{value} ({_hx(value)})"
        elif isinstance(value, str):
            shown = value
        else:
            shown = json.dumps(value)
        if len(shown) > width:
            shown = shown[: width - 3] + "..."
        text.append(f"  {key}: ", style="cyan")
        text.append(f"{shown}\n")
    return text


def render_report(report: Report, dump: Dump, console: Console) -> None:
    """Print a report for people."""
    from rich.console import Group
    from rich.markup import escape
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    sysinfo = dump.system
    main = dump.modules.main
    head = Table(show_header=False, box=None, pad_edge=False)
    head.add_column(style="bold cyan")
    head.add_column()
    head.add_row("summary", escape(report.summary))
    head.add_row("process", escape(f"{main.name if main else '?'} (pid {dump.process_id or '?'})"))
    ver = ".".join(map(str, sysinfo.os_version))
    head.add_row("system", f"{sysinfo.os_name} {ver} {sysinfo.csd_version}".rstrip()
                 + f", {sysinfo.arch.value}")
    head.add_row("written", dump.time.strftime("%Y-%m-%d %H:%M:%S UTC"))
    head.add_row("bucket", escape(report.bucket))
    console.print(Panel(head, title="dumplib analyze", expand=False))

    exc = report.exception
    if exc is not None:
        t = Table(show_header=False, box=None, pad_edge=False, title="Exception",
                  title_justify="left")
        t.add_column(style="bold cyan")
        t.add_column()
        t.add_row("code", f"0x{exc.code:08x} {exc.name or ''}")
        if exc.message:
            t.add_row("meaning", escape(exc.message))
        t.add_row("what", escape(exc.description))
        t.add_row("thread", str(exc.thread_id))
        if exc.parameters:
            t.add_row("parameters", ", ".join(_hx(p) for p in exc.parameters))
        if exc.thrown_types:
            t.add_row("thrown", escape(", ".join(exc.thrown_types)))
        if exc.managed_type:
            t.add_row("managed type", escape(exc.managed_type))
        told = f" ({exc.chance_source})" if exc.chance_source else ""
        t.add_row("chance", escape(exc.chance + told))
        for n in exc.nested:
            t.add_row("nested", f"0x{n.code:08x} {n.name or ''} at {_hx(n.address)}")
        console.print(t)
    else:
        console.print("[bold]Exception[/bold]: none (a hang or on-demand dump)")

    fi = report.faulting_instruction
    if fi is not None:
        line = f"{fi.location}: {fi.text}  [{fi.data.hex(' ')}]"
        if fi.explanation:
            line += f"\n  {fi.explanation}"
        console.print(Panel(Text(line), title="Faulting instruction", expand=False))

    if report.crash_stack is not None:
        st = report.crash_stack
        t = Table(title=f"Stack of thread {st.thread_id} ({st.status.value})", title_justify="left")
        for col in ("#", "location", "source", "trust"):
            t.add_column(col)
        for f in st.frames[:64]:
            src = f"{f.source_file}:{f.source_line}" if f.source_file else ""
            t.add_row(str(f.index), escape(f.location), escape(src), f.trust.value)
        if len(st.frames) > 64:
            t.add_row("...", f"{len(st.frames) - 64} more frames", "", "")
        console.print(t)

    if report.findings:
        for fd in report.findings:
            body = Text()
            body.append(f"{fd.id}  confidence {fd.confidence:.2f}  ({fd.source})\n", style="dim")
            body.append("evidence:\n", style="bold")
            body.append_text(_evidence_lines(fd.evidence))
            body.append("advice: ", style="bold")
            body.append(" ".join(fd.advice.split()))
            if fd.references:
                body.append(f"\nreferences: {', '.join(fd.references)}")
            console.print(Panel(body, title=escape(fd.title), title_align="left"))
    else:
        console.print("[bold]Findings[/bold]: none")

    if report.third_party_modules:
        t = Table(title="Third-party modules", title_justify="left")
        for col in ("name", "version", "vendor", "description", "on threads", "path"):
            t.add_column(col)
        for m in report.third_party_modules:
            t.add_row(escape(m.name), m.version or "-", escape(m.vendor or "?"),
                      escape(m.description or "-"), ", ".join(map(str, m.on_threads)) or "-",
                      escape(m.path))
        console.print(t)

    if report.wer is not None:
        console.print(Panel(Group(Text(report.wer.text())),
                            title="WER event 1000 (Application Error)", expand=False))
    for note in report.notes:
        console.print(f"[yellow]note:[/yellow] {escape(note)}")


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
        render_report(report, dump, console)
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
    p.set_defaults(run=run)
