"""HTML renderings of dumplib's objects for Jupyter.

:func:`html` takes any object dumplib returns (a dump, its thread or module
list, memory, a hex view, a walked stack, an analysis report, triage rows,
or one of the view objects of :mod:`dumplib.views`) and returns an HTML
fragment. The model classes do not know about this module: IPython is told
about them by :func:`dumplib.views.register_ipython`, and :class:`dumplib.Dump`
delegates its ``_repr_html_`` here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dumplib._exc import DumpError
from dumplib.format.constants import MemoryProtect, MemoryState, MemoryType
from dumplib.model.dump import DumpFile
from dumplib.model.hexdump import HexDump
from dumplib.model.memory import Memory, MemoryRegion
from dumplib.model.objects import (
    ExceptionInfo,
    Module,
    ModuleList,
    Thread,
    ThreadList,
    basename,
)
from dumplib.views._html import badge, card, esc, hx, kv_table, table, wrap

if TYPE_CHECKING:
    from dumplib.analysis.model import Finding, Report
    from dumplib.triage.rows import TriageRow
    from dumplib.unwind.frames import Frame, Stack

__all__ = [
    "dump_html",
    "exception_html",
    "hexdump_html",
    "html",
    "memory_html",
    "modules_html",
    "report_html",
    "stack_html",
    "threads_html",
    "triage_html",
]

#: Rows shown before a long table is cut (the rest are counted in a caption).
DEFAULT_ROW_LIMIT = 200


def flag_names(value: int | None, enum_type: type[MemoryProtect | MemoryState | MemoryType]) -> str:
    """``PAGE_EXECUTE_READ|PAGE_GUARD``-style text (``-`` for 0 or None)."""
    if not value:
        return "-"
    known = 0
    names = []
    for m in enum_type:
        if m.value and value & m.value == m.value and m.name:
            names.append(m.name)
            known |= m.value
    if value & ~known:
        names.append(f"0x{value & ~known:x}")
    return "|".join(names)


def _where(modules: ModuleList, address: int | None) -> str:
    if address is None:
        return "-"
    m = modules.find(address)
    return f"{m.name}+0x{address - m.base:x}" if m else "-"


def _version(v: tuple[int, ...] | None) -> str:
    return ".".join(map(str, v)) if v else "-"


# -- dump summary ----------------------------------------------------------------------


def summary_items(dump: DumpFile) -> list[tuple[str, str]]:
    """The summary card's rows as ``(label, text)`` (shared by HTML and console views)."""
    sysinfo = dump.system
    main = dump.modules.main
    pid = dump.process_id
    ver = ".".join(map(str, sysinfo.os_version))
    csd = f" {sysinfo.csd_version}" if sysinfo.csd_version else ""
    items = [
        ("process", f"{main.name if main else '?'} (pid {pid if pid is not None else '?'})"),
        ("system", f"{sysinfo.os_name} {ver}{csd}"),
        ("arch", sysinfo.arch.value),
        ("dump type", ", ".join(dump.dump_type_names) or "-"),
        ("written", dump.time.strftime("%Y-%m-%d %H:%M:%S UTC")),
    ]
    exc = dump.exception
    if exc is None:
        items.append(("exception", "none"))
    else:
        items.append((
            "exception",
            f"0x{exc.code:08x} {exc.name or '(unknown code)'} at {hx(exc.address)} "
            f"({_where(dump.modules, exc.address)}) on thread {exc.thread_id}",
        ))
    mem = dump.memory
    items += [
        ("threads", str(len(dump.threads))),
        ("modules", str(len(dump.modules))),
        ("memory", f"{len(mem)} ranges, {mem.total_size:,} bytes"),
    ]
    items += [("comment", c) for c in dump.comments]
    if dump.warnings:
        items.append(("warnings", "; ".join(dump.warnings)))
    return items


def dump_html(dump: DumpFile) -> str:
    """The summary card of a dump: process, OS, arch, dump type, exception, counts."""
    rows = []
    for k, v in summary_items(dump):
        cls = ' class="bad"' if k == "exception" and v != "none" else ""
        rows.append((k, f"<span{cls}>{esc(v)}</span>"))
    return wrap(card(f"minidump {dump.name}", kv_table(rows, raw=True)))


def exception_html(exc: ExceptionInfo) -> str:
    """An exception record: code, name, address, thread, parameters."""
    items = [
        ("code", f"0x{exc.code:08x} {exc.name or ''}"),
        ("address", hx(exc.address)),
        ("thread", str(exc.thread_id)),
        ("flags", f"0x{exc.flags:x}"),
        ("parameters", ", ".join(hx(p) for p in exc.parameters) or "-"),
    ]
    return wrap(card("exception", kv_table(items)))


# -- threads and modules ---------------------------------------------------------------


def threads_html(
    threads: Iterable[Thread],
    *,
    modules: ModuleList | None = None,
    faulting: int | None = None,
) -> str:
    """A table of threads: id, name, ip (and its module), sp, stack range.

    Args:
        threads: the threads.
        modules: to name the module holding each ip.
        faulting: the exception's thread id, highlighted.
    """
    rows: list[list[str | tuple[str, str]]] = []
    classes: list[str] = []
    for t in threads:
        try:
            ctx = t.context
            ip: int | None = ctx.ip
            sp: int | None = ctx.sp
        except DumpError:
            ip = sp = None
        st = t.stack_range
        mark = "\u26a1" if faulting is not None and t.id == faulting else ""
        rows.append([
            mark, (f"{t.id} (0x{t.id:x})", "mono addr"), t.name or "",
            (hx(ip), "mono addr"), (_where(modules, ip) if modules else "-", "mono"),
            (hx(sp), "mono addr"),
            (f"{hx(st[0])} +0x{st[1]:x}" if st else "-", "mono addr"),
        ])
        classes.append("hot" if mark else "")
    caption = f"{len(rows)} threads"
    return wrap(table(["", "id", "name", "ip", "where", "sp", "stack"], rows,
                      caption=caption, row_classes=classes))


def modules_html(
    modules: Iterable[Module], details: Mapping[int, Mapping[str, Any]] | None = None
) -> str:
    """A table of modules: base, end, name, version, timestamp, PDB and, when
    ``details`` (keyed by base, as from ``dumplib.cli.basic.module_details``)
    gives them, vendor, description and symbol status."""
    details = details or {}
    with_symbols = any("symbols" in d for d in details.values())
    headers = ["base", "end", "name", "version", "vendor", "timestamp", "pdb"]
    if with_symbols:
        headers.append("symbols")
    rows: list[list[str | tuple[str, str]]] = []
    for m in modules:
        extra = details.get(m.base, {})
        ident = m.pdb or extra.get("pdb_identity")
        pdb = f"{ident[0]} {ident[1]}{ident[2]:X}" if ident else "-"
        row: list[str | tuple[str, str]] = [
            (hx(m.base), "mono addr"), (hx(m.end), "mono addr"), m.name, _version(m.version),
            extra.get("vendor") or "-", (f"{m.timestamp:08x}", "mono addr"), (pdb, "mono"),
        ]
        if with_symbols:
            found = extra.get("symbols") or []
            row.append(", ".join(found) if found else ("none", "dim"))
        rows.append(row)
    return wrap(table(headers, rows, caption=f"{len(rows)} modules"))


# -- memory ----------------------------------------------------------------------------


def memory_html(
    regions: Iterable[MemoryRegion],
    *,
    modules: ModuleList | None = None,
    limit: int | None = DEFAULT_ROW_LIMIT,
) -> str:
    """A table of captured memory ranges with protection, state and type."""
    all_rows = list(regions)
    shown = all_rows if limit is None else all_rows[:limit]
    rows: list[list[str | tuple[str, str]]] = []
    for r in shown:
        info = r.info
        mod = modules.find(r.start) if modules else None
        rows.append([
            (hx(r.start), "mono addr"), (hx(r.end), "mono addr"),
            (f"0x{r.size:x}", "mono num addr"),
            flag_names(info.protect if info else None, MemoryProtect),
            flag_names(info.state if info else None, MemoryState),
            flag_names(info.type if info else None, MemoryType),
            mod.name if mod else "",
        ])
    total = sum(r.size for r in all_rows)
    caption = f"{len(all_rows)} captured ranges, {total:,} bytes"
    if len(shown) < len(all_rows):
        caption += f" (first {len(shown)} shown)"
    return wrap(table(["start", "end", "size", "protect", "state", "type", "module"], rows,
                      caption=caption))


def hexdump_html(view: HexDump, *, highlight: Iterable[tuple[int, int]] = ()) -> str:
    """A hex view: address, 16 hex columns, printable text; ``??`` for uncaptured bytes.

    Args:
        view: the hex view.
        highlight: ``(address, size)`` ranges to shade (e.g. a structure's fields).
    """
    marks = list(highlight)
    digits = 16 if view.end > 0xFFFF_FFFF else 8
    out = ['<table class="mono">']
    for ln in view.lines():
        cells = []
        text = []
        for i, b in enumerate(ln.cells):
            a = ln.address + i
            hot = any(s <= a < s + n for s, n in marks)
            cls = ' class="hot"' if hot else ""
            sep = ' style="padding-left:10px"' if i and i % 8 == 0 else ""
            if b is not None:
                cells.append(f"<td{cls}{sep}>{b:02x}</td>")
                ch = chr(b) if 0x20 <= b < 0x7F else "."
                text.append(f"<span{cls}>{esc(ch)}</span>")
            elif i in ln.missing:
                cells.append(f'<td class="miss"{sep}>??</td>')
                text.append(" ")
            else:
                cells.append(f"<td{sep}></td>")
                text.append(" ")
        out.append(
            f'<tr><th class="dim">{ln.address:0{digits}x}</th>{"".join(cells)}'
            f'<td style="white-space:pre;padding-left:12px">{"".join(text)}</td></tr>'
        )
    out.append("</table>")
    caption = f"{view.size} bytes at {hx(view.address)}"
    if view.missing:
        caption += f"; {sum(n for _, n in view.missing)} not captured (??)"
    return wrap(f"<div>{esc(caption)}</div>" + "".join(out))


# -- stacks ----------------------------------------------------------------------------


def _frame_row(f: Frame) -> list[str | tuple[str, str]]:
    src = f"{basename(f.source_file)}:{f.source_line}" if f.source_file else ""
    return [
        (f"{f.index:02d}", "mono"),
        badge(f.trust.value, f"t-{f.trust.value}"),
        (hx(f.ip), "mono addr"), (hx(f.sp), "mono addr"),
        f.module_name or "-", (f.function or "-", "wrap"), (f"+0x{f.offset:x}", "mono addr"),
        (src, "mono dim"),
    ]


def stack_html(stack: Stack, *, limit: int | None = DEFAULT_ROW_LIMIT) -> str:
    """A walked stack: one row per frame with its trust as a coloured badge."""
    return wrap(_stack_body(stack, limit))


def _stack_body(stack: Stack, limit: int | None) -> str:
    frames = stack.frames if limit is None else stack.frames[:limit]
    rows = [_frame_row(f) for f in frames]
    caption = f"thread {stack.thread_id}: {len(stack.frames)} frames, walk {stack.status.value}"
    if len(frames) < len(stack.frames):
        caption += f" (first {len(frames)} shown)"
    body = table(["#", "trust", "ip", "sp", "module", "function", "offset", "source"], rows,
                 caption=caption, raw_columns=frozenset({1}))
    if stack.status.value != "complete":
        body += f'<p class="dim">walk {esc(stack.status.meaning)}</p>'
    if stack.notes:
        body += "<ul>" + "".join(f'<li class="dim">{esc(n)}</li>' for n in stack.notes) + "</ul>"
    return body


# -- analysis --------------------------------------------------------------------------


def _finding_html(f: Finding) -> str:
    width = max(2, round(80 * min(max(f.confidence, 0.0), 1.0)))
    head = (
        f'<div><span class="bar" style="width:{width}px"></span> '
        f"<b>{esc(f.title)}</b> "
        f'<span class="dim mono">{esc(f.id)} \u00b7 confidence {f.confidence:.2f}</span></div>'
    )
    evidence = kv_table(
        [(k, _json_text(v)) for k, v in f.evidence.items()]
    ) if f.evidence else ""
    advice = f'<div class="advice">{esc(f.advice)}</div>' if f.advice else ""
    refs = ""
    if f.references:
        refs = "<div class='dim'>" + " \u00b7 ".join(esc(r) for r in f.references) + "</div>"
    return f"<div>{head}<details open><summary>evidence</summary>{evidence}</details>" \
        f"{advice}{refs}</div>"


def _json_text(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return str(value).lower() if value is not None else "null"
    if isinstance(value, int):
        return f"{value} (0x{value:x})" if value > 9 else str(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(_json_text(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_json_text(v)}" for k, v in value.items())
    return str(value)


def report_html(report: Report) -> str:
    """An analysis report: summary, exception, faulting instruction, findings with
    evidence and advice, the crash stack, third-party modules and notes."""
    parts = [f"<div class='title'>{esc(report.summary or 'analysis')}</div>"]
    items: list[tuple[str, str]] = [("bucket", report.bucket)]
    exc = report.exception
    if exc is not None:
        items.append(("exception", exc.description or f"0x{exc.code:08x} {exc.name or ''}"))
    fi = report.faulting_instruction
    if fi is not None:
        items.append(("faulting instruction", f"{fi.location}: {fi.text}"))
    parts.append(kv_table(items))
    parts.append(f"<h4>findings ({len(report.findings)})</h4>")
    if report.findings:
        parts += [_finding_html(f) for f in report.findings]
    else:
        parts.append("<div class='dim'>no finding</div>")
    if report.crash_stack is not None:
        parts.append("<h4>crash stack</h4>")
        parts.append(_stack_body(report.crash_stack, 40))
    if report.third_party_modules:
        rows: list[list[str | tuple[str, str]]] = [
            [m.name, m.version or "-", m.vendor or "-", m.reason]
            for m in report.third_party_modules
        ]
        parts.append("<h4>third-party modules</h4>")
        parts.append(table(["name", "version", "vendor", "why listed"], rows))
    if report.notes:
        parts.append("<h4>notes</h4><ul>" +
                     "".join(f"<li>{esc(n)}</li>" for n in report.notes) + "</ul>")
    return wrap("".join(parts))


# -- triage ----------------------------------------------------------------------------


def triage_html(rows: Sequence[TriageRow], *, limit: int | None = DEFAULT_ROW_LIMIT) -> str:
    """Triage rows: a count per bucket, then one line per dump."""
    counts: dict[str, int] = {}
    labels: dict[str, str] = {}
    for r in rows:
        counts[r.bucket] = counts.get(r.bucket, 0) + 1
        if r.bucket_label and r.bucket_label != r.bucket:
            labels.setdefault(r.bucket, r.bucket_label)
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    body = table(["dumps", "bucket", "named"],
                 [[(str(n), "num"), (b, "mono wrap"), (labels.get(b, "-"), "wrap")]
                  for b, n in top],
                 caption=f"{len(rows)} dumps in {len(counts)} buckets")
    shown = rows if limit is None else rows[:limit]
    lines: list[list[str | tuple[str, str]]] = []
    for r in shown:
        lines.append([
            (esc(r.display_path) + (f'<br><span class="dim">copy of {esc(r.duplicate_of)}'
                                    "</span>" if r.duplicate_of else ""), "wrap"),
            r.process or "-",
            f"0x{r.exception_code:08x} {r.exception_name or ''}"
            if r.exception_code is not None else "-",
            (r.bucket, "mono wrap"), r.error or "",
        ])
    body += table(["dump", "process", "exception", "bucket", "error"], lines,
                  raw_columns=frozenset({0}))
    return wrap(body)


# -- dispatch --------------------------------------------------------------------------


def _lazy_types() -> list[tuple[type, Callable[[Any], str]]]:
    """Renderers for types of the higher layers, when those layers import."""
    out: list[tuple[type, Callable[[Any], str]]] = []
    try:
        from dumplib.unwind.frames import Stack
    except ImportError:  # pragma: no cover - the unwind layer always ships
        pass
    else:
        out.append((Stack, stack_html))
    try:
        from dumplib.analysis.model import Report
    except ImportError:  # pragma: no cover
        pass
    else:
        out.append((Report, report_html))
    return out


def html(obj: object) -> str:
    """An HTML fragment for any object dumplib returns.

    Supported: a dump, ThreadList (or a list of threads), ModuleList, Memory
    (its captured ranges), a list of MemoryRegion, HexDump, ExceptionInfo,
    Stack, analysis Report, a list of triage rows, and the view objects of
    :mod:`dumplib.views`.

    Raises:
        TypeError: nothing renders this object.
    """
    own = getattr(obj, "_dumplib_html_", None)
    if callable(own):
        text: str = own()
        return text
    if isinstance(obj, DumpFile):
        return dump_html(obj)
    if isinstance(obj, ThreadList):
        return threads_html(obj)
    if isinstance(obj, ModuleList):
        return modules_html(obj)
    if isinstance(obj, Memory):
        return memory_html(obj.regions())
    if isinstance(obj, HexDump):
        return hexdump_html(obj)
    if isinstance(obj, ExceptionInfo):
        return exception_html(obj)
    for typ, fn in _lazy_types():
        if isinstance(obj, typ):
            return fn(obj)
    if isinstance(obj, (list, tuple)) and obj:
        first = obj[0]
        if isinstance(first, Thread):
            return threads_html(obj)
        if isinstance(first, Module):
            return modules_html(obj)
        if isinstance(first, MemoryRegion):
            return memory_html(obj)
        if type(first).__name__ == "TriageRow":
            return triage_html(obj)
    raise TypeError(f"no HTML view for {type(obj).__name__}")
