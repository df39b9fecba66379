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

from dumplib.model.dump import DumpFile
from dumplib.model.hexdump import HexDump
from dumplib.model.memory import Memory, MemoryRegion
from dumplib.model.objects import ExceptionInfo, Module, ModuleList, Thread, ThreadList
from dumplib.views import tables
from dumplib.views.fit import Col, FittedTable
from dumplib.views.html import summary_items
from dumplib.views.textsafe import data, shown

if TYPE_CHECKING:
    from dumplib.analysis.model import Report
    from dumplib.triage.rows import TriageRow
    from dumplib.unwind.frames import Stack

__all__ = [
    "dump_renderable",
    "evidence_text",
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

def dump_renderable(dump: DumpFile) -> RenderableType:
    """The summary card of a dump as a rich panel."""
    t = Table(show_header=False, box=None, pad_edge=False)
    t.add_column(style="bold cyan")
    t.add_column()
    for k, v in summary_items(dump):
        t.add_row(k, data(v, style="bold red" if k == "exception" and v != "none" else ""))
    return Panel(t, title=data(f"minidump {dump.name}"), expand=False)


def threads_renderable(
    threads: Sequence[Thread], *, modules: ModuleList | None = None, faulting: int | None = None
) -> RenderableType:
    """Threads: id, name, ip and its module, sp, stack range (see
    :func:`dumplib.views.tables.threads_table` for what is dropped when narrow)."""
    return tables.threads_table(threads, modules=modules, faulting=faulting)


def modules_renderable(
    modules: Sequence[Module], details: Mapping[int, Mapping[str, Any]] | None = None
) -> RenderableType:
    """Modules by base: base, end, name, version, build date, vendor, PDB, symbols (when
    known); see :func:`dumplib.views.tables.modules_table`."""
    main = modules.main if isinstance(modules, ModuleList) else None
    return tables.modules_table(modules, details, main=main)


def memory_renderable(
    regions: Sequence[MemoryRegion], *, modules: ModuleList | None = None,
    limit: int | None = 200,
) -> RenderableType:
    """Captured memory ranges with protection, state, type and module."""
    return tables.memory_table(regions, modules=modules, limit=limit)


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


def stack_renderable(stack: Stack, *, limit: int | None = 200,
                     physical_only: bool = False) -> RenderableType:
    """A walked stack with each frame's trust; direct recursion folded (``x4062``);
    inlined calls as rows of their own unless ``physical_only``."""
    t = tables.stack_table(stack, limit=limit, physical_only=physical_only)
    parts: list[RenderableType] = [t]
    if stack.status.value != "complete":
        parts.append(Text(f"walk {stack.status.meaning}", style="dim"))
    parts += [data(n, style="dim") for n in stack.notes]
    return Group(*parts) if len(parts) > 1 else t


def evidence_text(evidence: Mapping[str, Any], indent: str = "  ") -> Text:
    """A finding's evidence as readable lines: ``key: value``, nested lists and mappings
    indented one per line; integers in hex for codes and addresses (keys such as
    ``*_code``, ``*_address``, ``ip``), decimal for counts and ids."""
    out = Text()

    def scalar(key: str, value: Any) -> str:
        if isinstance(value, bool) or value is None:
            return "yes" if value is True else "no" if value is False else "-"
        if isinstance(value, int):
            return f"0x{value:x}" if is_hex_key(key) and value > 9 else str(value)
        if isinstance(value, float):
            return f"{value:g}"
        return shown(value)

    def walk(key: str, value: Any, pad: str) -> None:
        if isinstance(value, Mapping):
            out.append(f"{pad}{shown(key)}:\n", style="cyan")
            for k, v in value.items():
                walk(str(k), v, pad + "  ")
        elif isinstance(value, (list, tuple)):
            if all(not isinstance(v, (Mapping, list, tuple)) for v in value):
                items = ", ".join(scalar(key, v) for v in value) or "-"
                out.append(f"{pad}{shown(key)}: ", style="cyan")
                out.append(f"{items}\n")
            else:
                out.append(f"{pad}{shown(key)}:\n", style="cyan")
                for i, v in enumerate(value):
                    walk(f"[{i}]", v, pad + "  ")
        else:
            out.append(f"{pad}{shown(key)}: ", style="cyan")
            out.append(f"{scalar(key, value)}\n")

    for k, v in evidence.items():
        walk(str(k), v, indent)
    out.rstrip()
    return out


#: Evidence keys whose integers are codes or addresses (shown in hex); every other
#: integer is a count or an id (decimal). A key matches when one of its ``_``-parts is here.
_HEX_WORDS = frozenset({
    "address", "addr", "code", "ip", "rip", "eip", "sp", "rsp", "esp", "base", "rva",
    "offset", "flags", "status", "pointer", "handle", "value", "parameter", "parameters",
    "teb", "start", "end", "hresult", "ntstatus", "checksum", "target", "return", "fault",
})


def is_hex_key(key: str) -> bool:
    """Whether integers under this evidence key are codes or addresses (shown in hex).

    A key matches when one of its ``_``-parts, or that part without a plural
    ``s``/``es`` (``codes``, ``statuses``), is a word of ``_HEX_WORDS``.
    """
    parts = key.lower().split("_")
    return any(p in _HEX_WORDS or p.removesuffix("es") in _HEX_WORDS
               or p.removesuffix("s") in _HEX_WORDS for p in parts)


def report_renderable(report: Report) -> RenderableType:
    """An analysis report: summary, bucket, findings with evidence and advice."""
    parts: list[RenderableType] = [data(report.summary or "analysis", style="bold")]
    parts.append(Text("bucket: ", style="cyan") + data(report.bucket))
    if report.faulting_instruction is not None:
        fi = report.faulting_instruction
        parts.append(data(f"faulting instruction: {fi.location}: {fi.text}"))
    for f in report.findings:
        body: list[RenderableType] = [data(f"{f.title} ({f.confidence:.2f})", style="bold"),
                                      evidence_text(f.evidence)]
        if f.advice:
            body.append(data(f.advice, style="green"))
        parts.append(Panel(Group(*body), title=data(f.id), expand=False))
    if not report.findings:
        parts.append(Text("no finding", style="dim"))
    if report.crash_stack is not None:
        parts.append(stack_renderable(report.crash_stack, limit=40))
    parts += [data(n, style="dim") for n in report.notes]
    return Group(*parts)


def triage_renderable(rows: Sequence[TriageRow]) -> RenderableType:
    """Triage rows as a count per bucket (bucket ids on one line, never cut)."""
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.bucket] = counts.get(r.bucket, 0) + 1
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return FittedTable([Col("dumps", justify="right"), Col("bucket")],
                       [[str(n), b] for b, n in ordered],
                       title=f"{len(rows)} dumps in {len(counts)} buckets")


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
        return data(repr(obj))
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
