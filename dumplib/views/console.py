"""Rich (terminal) renderings of dumplib's objects.

:func:`renderable` returns something ``rich.console.Console.print`` shows: the
same content as the HTML views, for a terminal. :class:`dumplib.Dump` delegates
its ``__rich__`` here; the view objects of :mod:`dumplib.views` use it for theirs.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from dumplib._exc import DumpError
from dumplib.format.constants import MemoryProtect, MemoryState, MemoryType
from dumplib.model.dump import DumpFile
from dumplib.model.hexdump import HexDump
from dumplib.model.memory import Memory, MemoryRegion
from dumplib.model.objects import ExceptionInfo, Module, ModuleList, Thread, ThreadList
from dumplib.views.html import flag_names, summary_items

if TYPE_CHECKING:
    from dumplib.analysis.model import Report
    from dumplib.triage.rows import TriageRow
    from dumplib.unwind.frames import Stack

__all__ = [
    "dump_renderable",
    "hexdump_renderable",
    "memory_renderable",
    "modules_renderable",
    "renderable",
    "report_renderable",
    "stack_renderable",
    "text",
    "threads_renderable",
    "triage_renderable",
]

_TRUST_STYLE = {"context": "green", "cfi": "blue", "frame_pointer": "yellow", "scan": "magenta"}


def _hx(v: int | None) -> str:
    return "-" if v is None else f"0x{v:x}"


def dump_renderable(dump: DumpFile) -> RenderableType:
    """The summary card of a dump as a rich panel."""
    t = Table(show_header=False, box=None, pad_edge=False)
    t.add_column(style="bold cyan")
    t.add_column()
    for k, v in summary_items(dump):
        t.add_row(k, Text(v, style="bold red" if k == "exception" and v != "none" else ""))
    return Panel(t, title=f"minidump {dump.name}", expand=False)


def threads_renderable(
    threads: Sequence[Thread], *, modules: ModuleList | None = None, faulting: int | None = None
) -> RenderableType:
    """Threads: id, name, ip and its module, sp, stack range."""
    t = Table(title=f"{len(threads)} threads")
    for col in ("", "id", "name", "ip", "where", "sp", "stack"):
        t.add_column(col, no_wrap=True)
    for th in threads:
        try:
            ctx = th.context
            ip: int | None = ctx.ip
            sp: int | None = ctx.sp
        except DumpError:
            ip = sp = None
        mod = modules.find(ip) if modules is not None and ip is not None else None
        where = f"{mod.name}+0x{ip - mod.base:x}" if mod and ip is not None else "-"
        st = th.stack_range
        hot = faulting is not None and th.id == faulting
        t.add_row("*" if hot else "", f"{th.id} (0x{th.id:x})", th.name or "", _hx(ip), where,
                  _hx(sp), f"{_hx(st[0])} +0x{st[1]:x}" if st else "-",
                  style="bold red" if hot else None)
    return t


def modules_renderable(
    modules: Sequence[Module], details: Mapping[int, Mapping[str, Any]] | None = None
) -> RenderableType:
    """Modules: base, end, name, version, vendor, timestamp, PDB, symbols (when known)."""
    details = details or {}
    with_symbols = any("symbols" in d for d in details.values())
    t = Table(title=f"{len(modules)} modules")
    cols = ["base", "end", "name", "version", "vendor", "timestamp", "pdb"]
    if with_symbols:
        cols.append("symbols")
    for col in cols:
        t.add_column(col, no_wrap=col not in ("pdb", "vendor"))
    for m in modules:
        extra = details.get(m.base, {})
        ident = m.pdb or extra.get("pdb_identity")
        row = [_hx(m.base), _hx(m.end), m.name,
               ".".join(map(str, m.version)) if m.version else "-",
               extra.get("vendor") or "-", f"{m.timestamp:08x}",
               f"{ident[0]} {ident[1]}{ident[2]:X}" if ident else "-"]
        if with_symbols:
            row.append(", ".join(extra.get("symbols") or []) or "none")
        t.add_row(*row)
    return t


def memory_renderable(
    regions: Sequence[MemoryRegion], *, modules: ModuleList | None = None,
    limit: int | None = 200,
) -> RenderableType:
    """Captured memory ranges with protection, state, type and module."""
    shown = regions if limit is None else regions[:limit]
    t = Table(title=f"{len(regions)} captured ranges, {sum(r.size for r in regions):,} bytes")
    for col in ("start", "end", "size", "protect", "state", "type", "module"):
        t.add_column(col, no_wrap=True)
    for r in shown:
        info = r.info
        mod = modules.find(r.start) if modules is not None else None
        t.add_row(_hx(r.start), _hx(r.end), f"0x{r.size:x}",
                  flag_names(info.protect if info else None, MemoryProtect),
                  flag_names(info.state if info else None, MemoryState),
                  flag_names(info.type if info else None, MemoryType),
                  mod.name if mod else "")
    if len(shown) < len(regions):
        t.caption = f"first {len(shown)} shown"
    return t


def hexdump_renderable(view: HexDump) -> RenderableType:
    """A hex view as text, uncaptured bytes as ``??`` (dimmed)."""
    out = Text()
    for i, line in enumerate(view.text().splitlines()):
        if i:
            out.append("\n")
        addr, _, rest = line.partition("  ")
        out.append(addr, style="cyan")
        out.append("  ")
        out.append(rest)
    out.highlight_regex(r"\?\?", "dim red")
    return out


def stack_renderable(stack: Stack, *, limit: int | None = 200) -> RenderableType:
    """A walked stack with each frame's trust."""
    frames = stack.frames if limit is None else stack.frames[:limit]
    t = Table(title=f"thread {stack.thread_id}: {len(stack.frames)} frames, "
                    f"walk {stack.status.value}")
    t.add_column("#", no_wrap=True, min_width=2)
    t.add_column("trust", no_wrap=True, min_width=13)
    t.add_column("ip", no_wrap=True, min_width=10)
    t.add_column("sp", no_wrap=True, min_width=10)
    t.add_column("location", overflow="fold", ratio=3)
    t.add_column("source", overflow="fold", ratio=1)
    for f in frames:
        src = f"{f.source_file}:{f.source_line}" if f.source_file else ""
        t.add_row(f"{f.index:02d}", Text(f.trust.value, style=_TRUST_STYLE.get(f.trust.value, "")),
                  _hx(f.ip), _hx(f.sp), f.location, src)
    if len(frames) < len(stack.frames):
        t.caption = f"first {len(frames)} shown"
    if not stack.notes:
        return t
    return Group(t, *(Text(n, style="dim") for n in stack.notes))


def report_renderable(report: Report) -> RenderableType:
    """An analysis report: summary, bucket, findings with evidence and advice."""
    parts: list[RenderableType] = [Text(report.summary or "analysis", style="bold")]
    parts.append(Text(f"bucket: {report.bucket}", style="cyan"))
    if report.faulting_instruction is not None:
        fi = report.faulting_instruction
        parts.append(Text(f"faulting instruction: {fi.location}: {fi.text}"))
    for f in report.findings:
        ev = Table(show_header=False, box=None, pad_edge=False)
        ev.add_column(style="cyan")
        ev.add_column()
        for k, v in f.evidence.items():
            ev.add_row(k, str(v))
        body: list[RenderableType] = [ev]
        if f.advice:
            body.append(Text(f.advice, style="green"))
        parts.append(Panel(Group(*body), title=f"{f.title} ({f.confidence:.2f})",
                           subtitle=f.id, expand=False))
    if not report.findings:
        parts.append(Text("no finding", style="dim"))
    if report.crash_stack is not None:
        parts.append(stack_renderable(report.crash_stack, limit=40))
    parts += [Text(n, style="dim") for n in report.notes]
    return Group(*parts)


def triage_renderable(rows: Sequence[TriageRow]) -> RenderableType:
    """Triage rows as a count per bucket."""
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.bucket] = counts.get(r.bucket, 0) + 1
    t = Table(title=f"{len(rows)} dumps in {len(counts)} buckets")
    t.add_column("dumps", justify="right")
    t.add_column("bucket")
    for b, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        t.add_row(str(n), b)
    return t


def renderable(obj: object) -> RenderableType:
    """A rich renderable for any object :func:`dumplib.views.html` supports.

    Raises:
        TypeError: nothing renders this object.
    """
    own = getattr(obj, "_dumplib_rich_", None)
    if callable(own):
        result: RenderableType = own()
        return result
    if isinstance(obj, DumpFile):
        return dump_renderable(obj)
    if isinstance(obj, ThreadList):
        return threads_renderable(obj)
    if isinstance(obj, ModuleList):
        return modules_renderable(obj)
    if isinstance(obj, Memory):
        return memory_renderable(list(obj.regions()))
    if isinstance(obj, HexDump):
        return hexdump_renderable(obj)
    if isinstance(obj, ExceptionInfo):
        return Text(repr(obj))
    from dumplib.unwind.frames import Stack

    if isinstance(obj, Stack):
        return stack_renderable(obj)
    try:
        from dumplib.analysis.model import Report
    except ImportError:  # pragma: no cover - analysis layer absent
        pass
    else:
        if isinstance(obj, Report):
            return report_renderable(obj)
    if isinstance(obj, (list, tuple)) and obj:
        first = obj[0]
        if isinstance(first, Thread):
            return threads_renderable(obj)
        if isinstance(first, Module):
            return modules_renderable(obj)
        if isinstance(first, MemoryRegion):
            return memory_renderable(obj)
        if type(first).__name__ == "TriageRow":
            return triage_renderable(obj)
    raise TypeError(f"no console view for {type(obj).__name__}")


def text(obj: object, width: int = 120) -> str:
    """The console view of ``obj`` as plain text (no colour codes)."""
    # force_jupyter=False: inside a notebook rich would display instead of writing
    console = Console(width=width, no_color=True, color_system=None, file=io.StringIO(),
                      force_jupyter=False, force_terminal=False)
    console.print(renderable(obj))
    out = console.file
    assert isinstance(out, io.StringIO)
    return out.getvalue()
