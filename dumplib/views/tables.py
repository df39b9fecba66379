"""The terminal tables of threads, modules, memory, streams, handles and stacks.

One builder per table, used by the command line (:mod:`dumplib.cli`) and the
console views (:mod:`dumplib.views.console`) alike. Each returns a
:class:`~dumplib.views.fit.FittedTable`: addresses and ids are never cut;
text columns wrap; when the terminal is too narrow, columns are dropped in
the order stated in each function's docstring (first named, first dropped).
Text from the dump goes through :func:`dumplib.views.textsafe.shown`.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dumplib._exc import DumpError
from dumplib.format.constants import MemoryProtect, MemoryState, MemoryType
from dumplib.views.fit import Col, FittedTable
from dumplib.views.textsafe import data, shown

if TYPE_CHECKING:
    from dumplib.format.records import HandleDescriptor
    from dumplib.model.memory import MemoryRegion
    from dumplib.model.objects import Module, ModuleList, Thread
    from dumplib.unwind.frames import Frame, LogicalFrame, Stack

__all__ = [
    "collapse_recursion",
    "date_text",
    "handles_table",
    "hx",
    "memory_table",
    "modules_table",
    "stack_table",
    "threads_table",
]


def hx(value: int | None) -> str:
    """An address or code for people: ``0x...`` (``-`` for None)."""
    return "-" if value is None else f"0x{value:x}"


def date_text(timestamp: int) -> str:
    """A time_t (PE/module TimeDateStamp) as a UTC date, ``-`` for 0 or out of range."""
    if not timestamp:
        return "-"
    try:
        return _dt.datetime.fromtimestamp(timestamp, tz=_dt.timezone.utc).strftime("%Y-%m-%d")
    except (OverflowError, OSError, ValueError):
        return "-"


def flag_text(value: int | None, enum_type: type[MemoryProtect | MemoryState | MemoryType]) -> str:
    """``PAGE_EXECUTE_READ|PAGE_GUARD``-style text for a flags value (``-`` for 0/None)."""
    if not value:
        return "-"
    names = [m.name for m in enum_type if m.value and value & m.value and m.name]
    rest = value & ~sum(m.value for m in enum_type)
    if rest:
        names.append(f"0x{rest:x}")
    return "|".join(names)


def threads_table(
    threads: Sequence[Thread], *, modules: ModuleList | None = None, faulting: int | None = None,
) -> FittedTable:
    """Threads: mark, id, name, ip, module+offset, sp, stack range.

    Dropped when narrow, in this order: stack, sp, name. id, ip and module+offset stay.
    """
    cols = [Col(""), Col("id"), Col("name", keep=False, drop=3, min_width=8), Col("ip"),
            Col("module"), Col("sp", drop=2), Col("stack", drop=1)]
    rows: list[list[object]] = []
    styles: list[str | None] = []
    for th in threads:
        try:
            ctx = th.context
            ip: int | None = ctx.ip
            sp: int | None = ctx.sp
        except DumpError:
            ip = sp = None
        mod = modules.find(ip) if modules is not None and ip is not None else None
        where = f"{shown(mod.name)}+0x{ip - mod.base:x}" if mod and ip is not None else "-"
        st = th.stack_range
        hot = faulting is not None and th.id == faulting
        rows.append(["*" if hot else "", f"{th.id} (0x{th.id:x})", th.name or "", hx(ip), where,
                     hx(sp), f"{hx(st[0])} +0x{st[1]:x}" if st else "-"])
        styles.append("bold red" if hot else None)
    caption = "* the thread of the exception" if faulting is not None else None
    return FittedTable(cols, rows, title=f"{len(threads)} threads", caption=caption,
                       row_styles=styles)


def modules_table(
    modules: Sequence[Module], details: Mapping[int, Mapping[str, Any]] | None = None, *,
    main: Module | None = None, unloaded: Sequence[Any] = (),
) -> FittedTable:
    """Modules sorted by base: mark (``*`` = main module), base, end, name, version,
    build date, vendor, PDB name, PDB GUID+age, symbols (when looked for), timestamp.

    Dropped when narrow, in this order: timestamp, end, pdb id, pdb, built,
    symbols, vendor, version. base and name stay.
    """
    details = details or {}
    with_symbols = any("symbols" in d for d in details.values())
    cols = [Col(""), Col("base"), Col("end", drop=2), Col("name", keep=False, min_width=12),
            Col("version", drop=8), Col("built", drop=5),
            Col("vendor", keep=False, drop=7, min_width=10),
            Col("pdb", keep=False, drop=4, min_width=10), Col("pdb id", drop=3)]
    if with_symbols:
        cols.append(Col("symbols", keep=False, drop=6, min_width=8))
    cols.append(Col("timestamp", drop=1))
    rows: list[list[object]] = []
    styles: list[str | None] = []
    for m in sorted(modules, key=lambda m: m.base):
        extra = details.get(m.base, {})
        ident = m.pdb or extra.get("pdb_identity")
        is_main = main is not None and m is main
        row: list[object] = [
            "*" if is_main else "", hx(m.base), hx(m.end), m.name,
            ".".join(map(str, m.version)) if m.version else "-", date_text(m.timestamp),
            extra.get("vendor") or "-", ident[0] if ident else "-",
            f"{ident[1]}{ident[2]:X}" if ident else "-"]
        if with_symbols:
            row.append(", ".join(extra.get("symbols") or []) or "none")
        row.append(f"{m.timestamp:08x}")
        rows.append(row)
        styles.append("bold" if is_main else None)
    for u in sorted(unloaded, key=lambda u: u.base):
        row = ["", hx(u.base), hx(u.end), f"{shown(u.name)} (unloaded)", "-",
               date_text(u.timestamp), "-", "-", "-"]
        if with_symbols:
            row.append("-")
        row.append(f"{u.timestamp:08x}")
        rows.append(row)
        styles.append("dim")
    caption = "* main module" if main is not None else None
    return FittedTable(cols, rows, title=f"{len(modules)} modules", caption=caption,
                       row_styles=styles)


def memory_table(
    regions: Sequence[MemoryRegion], *, modules: ModuleList | None = None,
    limit: int | None = 200,
) -> FittedTable:
    """Captured memory ranges: start, end, size, protect, state, type, module.

    Dropped when narrow, in this order: state, type, end. start and size stay.
    """
    shown_regions = regions if limit is None else regions[:limit]
    cols = [Col("start"), Col("end", drop=3), Col("size"),
            Col("protect", keep=False, min_width=10), Col("state", drop=1),
            Col("type", drop=2), Col("module", keep=False, min_width=10)]
    rows: list[list[object]] = []
    for r in shown_regions:
        info = r.info
        mod = modules.find(r.start) if modules is not None else None
        rows.append([hx(r.start), hx(r.end), f"0x{r.size:x}",
                     flag_text(info.protect if info else None, MemoryProtect),
                     flag_text(info.state if info else None, MemoryState),
                     flag_text(info.type if info else None, MemoryType),
                     mod.name if mod else ""])
    caption = None
    if len(shown_regions) < len(regions):
        caption = f"first {len(shown_regions)} shown; {len(regions) - len(shown_regions)} more " \
                  "(--all or --json)"
    return FittedTable(cols, rows, caption=caption,
                       title=f"{len(regions)} captured ranges, "
                             f"{sum(r.size for r in regions):,} bytes")


def handles_table(handles: Sequence[HandleDescriptor]) -> FittedTable:
    """Open handles: handle value, type, object name, granted access, counts.

    Dropped when narrow, in this order: pointers, handles, access. handle and type stay.
    """
    cols = [Col("handle"), Col("type", keep=False, min_width=8),
            Col("name", keep=False, min_width=16), Col("access", drop=3),
            Col("handles", drop=2, justify="right"), Col("pointers", drop=1, justify="right")]
    rows = [[hx(h.handle), h.type_name or "-", h.object_name or "",
             f"0x{h.granted_access:08x}", str(h.handle_count), str(h.pointer_count)]
            for h in handles]
    return FittedTable(cols, rows, title=f"{len(handles)} handles")


def collapse_recursion(frames: Sequence[Frame]) -> list[tuple[Frame, int]]:
    """Frames with runs of the same location (direct recursion) folded into one entry.

    Returns ``(first frame of the run, run length)`` pairs in stack order; frames
    differ in ip/sp within a run, only ``location`` (module!function+offset) repeats.
    """
    out: list[tuple[Frame, int]] = []
    for f in frames:
        if out and out[-1][0].location == f.location and out[-1][0].module is f.module:
            out[-1] = (out[-1][0], out[-1][1] + 1)
        else:
            out.append((f, 1))
    return out


def stack_table(stack: Stack, *, title: str | None = None, limit: int | None = None,
                with_sp: bool = True, physical_only: bool = False) -> FittedTable:
    """One walked stack: #, ip, sp, location (with ``xN`` for a folded recursion), trust.

    A run of identical locations (direct recursion) is one row ``Recurse+0x27 x4062``,
    numbered by its first frame. Calls inlined into a frame (``.sym`` INLINE
    records, PDB inline sites) come first, innermost first, as rows of their own:
    the same number as their physical frame, no ip or sp (they have none of their
    own), ``module!function`` with its source line, and trust ``inlined``; the
    physical frame's row then shows the line of the call. ``physical_only`` leaves
    them out. ``limit`` counts physical rows after folding. Dropped when narrow,
    in this order: sp, trust. # and ip stay; location wraps.
    """
    cols = [Col("#", justify="right"), Col("ip")]
    if with_sp:
        cols.append(Col("sp", drop=1))
    cols += [Col("location", keep=False, min_width=16), Col("trust", drop=2)]
    runs = collapse_recursion(stack.frames)
    shown_runs = runs if limit is None else runs[:limit]
    logical: dict[int, list[LogicalFrame]] = {}
    for lf in stack.logical_frames(physical_only=physical_only):
        logical.setdefault(id(lf.frame), []).append(lf)
    rows: list[list[object]] = []
    styles: list[str | None] = []
    for f, n in shown_runs:
        for lf in logical.get(id(f), ()):
            text = lf.location
            if not lf.inline and n > 1:
                text += f" x{n}"
            where = data(text)
            if lf.source_file:  # the source line on a line of its own, under the function
                where.append("\n")
                where.append_text(data(f"[{lf.source_file}:{lf.source_line}]", style="dim"))
            row: list[object] = [f"{f.index:02d}", "" if lf.inline else hx(f.ip)]
            if with_sp:
                row.append("" if lf.inline else hx(f.sp))
            row += [where, "inlined" if lf.inline else f.trust.value]
            rows.append(row)
            styles.append("italic" if lf.inline else None)
    caption = None
    if len(shown_runs) < len(runs):
        rest = sum(n for _, n in runs[len(shown_runs):])
        caption = f"{rest} more frames"
    return FittedTable(cols, rows, caption=caption, row_styles=styles,
                       title=title or f"thread {stack.thread_id}: {len(stack.frames)} frames, "
                                      f"walk {stack.status.value}")
