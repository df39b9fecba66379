"""Pictures with matplotlib (the ``plot`` extra): the address-space map and the
triage bucket chart.

:func:`address_map` draws :func:`~dumplib.views.maplayout.map_layout`: the
address space top (low) to bottom (high), cut at its largest empty gaps into
bands whose height grows with the logarithm of their size (inside a band
addresses are linear). The left column is the region type, the right one
the protection (or, without a memory-info list, which bytes the dump holds);
modules and thread stacks are labelled beside, the faulting ones in red, and
an arrow marks the exception address. SVG elements carry ids
(``region-<hex start>``, ``module-<name>``, ``stack-<thread id>``, ``fault``).

:func:`bucket_chart` stacks triage results per time bin, one colour per crash
bucket. Nothing here opens a window: figures are built with the Agg/SVG
backends and returned or saved.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dumplib.model.dump import DumpFile
from dumplib.views.maplayout import KINDS, LABEL_SPACING, PROTECTIONS, MapLayout, map_layout

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["KIND_COLORS", "PROTECTION_COLORS", "address_map", "bucket_chart", "save_map"]

KIND_COLORS = {
    "image": "#4e79a7",
    "mapped": "#59a14f",
    "private": "#f28e2b",
    "reserved": "#d9d9d9",
    "stack": "#b07aa1",
    "captured": "#9c755f",
}
PROTECTION_COLORS = {
    "execute": "#e15759",
    "write": "#edc948",
    "read": "#76b7b2",
    "noaccess": "#bab0ac",
    "captured": "#333333",
    "unknown": "#f2f2f2",
}

#: Drawing order of kinds where regions overlap (records drawn over captured bytes).
_KIND_Z = {"captured": 1.0, "image": 1.2, "stack": 1.4}

#: Least drawn height of a region, in map units (so one page stays visible).
MIN_REGION_HEIGHT = 0.06


def _matplotlib() -> Any:
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError("pictures need matplotlib: pip install 'dumplib[plot]'") from exc
    return matplotlib


def _figure(width: float, height: float) -> Figure:
    _matplotlib()
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _size_text(n: int) -> str:
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.1f} {unit}"
    return f"{n} B"


def _spread(targets: list[float], min_gap: float) -> list[float]:
    """Label positions at or below ``targets`` (sorted), at least ``min_gap`` apart."""
    out: list[float] = []
    for t in targets:
        out.append(max(t, out[-1] + min_gap) if out else t)
    return out


def address_map(
    dump: DumpFile,
    *,
    max_bands: int = 24,
    width: float = 11.0,
    layout: MapLayout | None = None,
) -> Figure:
    """Draw the address-space map of ``dump``.

    Args:
        dump: the dump.
        max_bands: most blocks the address space is cut into.
        width: figure width in inches (the height follows the content).
        layout: a precomputed :func:`~dumplib.views.maplayout.map_layout`.

    Returns:
        A matplotlib Figure (shown inline by Jupyter; save with ``savefig``).

    Raises:
        ImportError: matplotlib is not installed.
    """
    lay = layout or map_layout(dump, max_bands=max_bands)
    # marks: a bracket beside the columns and a label, spread to avoid overlaps
    marks = sorted(lay.marks, key=lambda m: (lay.y(m.start) or 0.0))
    targets = []
    for m in marks:
        mb = lay.band_of(m.start)
        assert mb is not None  # every mark is inside a band by construction
        targets.append((mb.y(m.start) + mb.y(m.end)) / 2)
    labels = _spread(targets, LABEL_SPACING) if targets else []
    total = max(lay.height, labels[-1] + 0.5 if labels else 0.0, 1.0)
    height = min(40.0, max(5.0, 0.2 * total + 1.8))
    fig = _figure(width, height)
    ax = fig.add_subplot()
    from matplotlib.patches import Rectangle

    x_kind, w_kind = 2.4, 1.4
    x_prot, w_prot = 3.85, 0.45
    x_mark = 4.45
    for bd in lay.bands:
        ax.add_patch(Rectangle((x_kind, bd.top), w_kind + w_prot + 0.05, bd.height,
                               facecolor="none", edgecolor="#888888", linewidth=0.6))
        ax.text(x_kind - 0.08, bd.top, f"0x{bd.start:x}", ha="right", va="top",
                fontsize=7, family="monospace")
        ax.text(x_kind - 0.08, bd.top + bd.height, f"0x{bd.end:x}", ha="right",
                va="bottom", fontsize=7, family="monospace", color="#666666")
    for prev, nxt in zip(lay.bands, lay.bands[1:]):  # noqa: B905 - adjacent pairs
        mid = prev.top + prev.height + lay.gap / 2
        ax.text(x_kind + w_kind / 2, mid, f"\u22ee {_size_text(nxt.start - prev.end)} unused",
                ha="center", va="center", fontsize=6.5, color="#777777")
    for r in lay.regions:
        rb = lay.band_of(r.start)
        if rb is None:
            continue
        y0 = rb.y(r.start)
        h = max(rb.y(r.end) - y0, MIN_REGION_HEIGHT)
        gid = f"region-{r.start:x}"
        z = _KIND_Z.get(r.kind, 1.0)
        ax.add_patch(Rectangle((x_kind, y0), w_kind, h, facecolor=KIND_COLORS[r.kind],
                               edgecolor="none", gid=gid, zorder=z))
        ax.add_patch(Rectangle((x_prot, y0), w_prot, h,
                               facecolor=PROTECTION_COLORS[r.protection], edgecolor="none",
                               gid=f"{gid}-protection", zorder=1.0 if r.protection == "unknown"
                               else 1.5))
    for m, target, ly in zip(marks, targets, labels, strict=True):
        lb = lay.band_of(m.start)
        assert lb is not None
        y0, y1 = lb.y(m.start), max(lb.y(m.end), lb.y(m.start) + MIN_REGION_HEIGHT)
        color = "#c62828" if m.hot else ("#6a3d9a" if m.kind == "stack" else "#1f3b5a")
        xb = x_mark + (0.12 if m.kind == "stack" else 0.0)
        gid = f"{m.kind}-{m.ident}"
        ax.plot([xb, xb], [y0, y1], color=color, linewidth=2.2, solid_capstyle="butt", gid=gid)
        ax.plot([xb + 0.05, x_mark + 0.45, x_mark + 0.6], [target, ly, ly], color=color,
                linewidth=0.5)
        text = f"{m.label}  0x{m.start:x}-0x{m.end:x} ({_size_text(m.end - m.start)})"
        ax.text(x_mark + 0.65, ly, text, va="center", fontsize=7.5, color=color,
                fontweight="bold" if m.hot else "normal", gid=f"{gid}-label")
    if lay.fault is not None:
        fy = lay.y(lay.fault)
        if fy is not None:
            ax.annotate(lay.fault_label, xy=(x_kind, fy), xytext=(0.02, fy + 0.5),
                        fontsize=7, color="#c62828", va="top", gid="fault",
                        arrowprops={"arrowstyle": "->", "color": "#c62828"})
    if not lay.bands:
        ax.text(5, 0.5, "no module, thread stack or memory region to draw", ha="center",
                va="center", fontsize=9, color="#777777")
    ax.set_xlim(0, 10)
    ax.set_ylim(total + 0.3, -0.6)
    ax.axis("off")
    ax.set_title(lay.title, fontsize=9, loc="left")
    from matplotlib.patches import Patch

    kinds_used = {r.kind for r in lay.regions}
    prots_used = {r.protection for r in lay.regions}
    handles = [Patch(facecolor=KIND_COLORS[k], label=KINDS[k]) for k in KINDS if k in kinds_used]
    handles += [Patch(facecolor=PROTECTION_COLORS[p], edgecolor="#999999", label=PROTECTIONS[p])
                for p in PROTECTIONS if p in prots_used]
    fig.legend(handles=handles, loc="outside lower center", ncol=min(4, len(handles) or 1),
               fontsize=7.5, frameon=False)
    return fig


def save_map(dump: DumpFile, path: str | os.PathLike[str], **options: Any) -> None:
    """Write :func:`address_map` to ``path`` as SVG or PNG (by suffix).

    Raises:
        ValueError: the suffix is neither ``.svg`` nor ``.png``.
        ImportError: matplotlib is not installed.
    """
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in ("svg", "png"):
        raise ValueError(f"the map is written as .svg or .png, not {Path(path).name!r}")
    fig = address_map(dump, **options)
    fig.savefig(os.fspath(path), format=fmt, dpi=150 if fmt == "png" else "figure")


# -- triage ----------------------------------------------------------------------------


def _row_values(rows: Any) -> list[tuple[str, int | None]]:
    """``(bucket, dump_time)`` from TriageRows, mappings or a DataFrame."""
    columns = getattr(rows, "columns", None)
    if columns is not None:  # a pandas DataFrame
        import pandas

        buckets = list(rows["bucket"])
        times: list[Any] = (
            list(rows["dump_time"]) if "dump_time" in columns else [None] * len(buckets)
        )
        out: list[tuple[str, int | None]] = []
        for b, t in zip(buckets, times, strict=True):
            if pandas.isna(t):
                out.append((str(b), None))
            elif hasattr(t, "timestamp"):  # a Timestamp column (rows_to_dataframe)
                out.append((str(b), int(t.timestamp())))
            else:
                out.append((str(b), int(t)))
        return out
    values: list[tuple[str, int | None]] = []
    for r in rows:
        if isinstance(r, Mapping):
            values.append((str(r.get("bucket", "")), r.get("dump_time")))
        else:
            values.append((str(r.bucket), r.dump_time))
    return values


def _bin_edges(lo: int, hi: int) -> tuple[list[int], str]:
    span = max(hi - lo, 1)
    choices = ((3600, "hour"), (86400, "day"), (7 * 86400, "week"))
    step, name = next((c for c in choices if span / c[0] <= 90), choices[-1])
    start = lo - lo % step
    edges = list(range(start, hi + step + 1, step))
    if len(edges) < 2:
        edges.append(edges[0] + step)
    return edges, name


def bucket_chart(
    rows: Iterable[Any] | Any,
    *,
    top: int = 8,
    width: float = 10.0,
    height: float = 4.5,
) -> Figure:
    """Crash buckets over time: dumps per time bin, stacked by bucket.

    Args:
        rows: TriageRows, their JSON mappings, or a DataFrame with ``bucket`` and
            ``dump_time`` (POSIX seconds or timestamps) columns.
        top: buckets drawn in their own colour (the rest are stacked as "other").
        width, height: figure size in inches.

    Returns:
        A matplotlib Figure; the bin (hour, day or week) follows the time span.

    Raises:
        ImportError: matplotlib is not installed.
    """
    values = _row_values(rows)
    timed = [(b, t) for b, t in values if t is not None]
    untimed = len(values) - len(timed)
    counts: dict[str, int] = {}
    for b, _ in timed:
        counts[b] = counts.get(b, 0) + 1
    ranked = [b for b, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    shown = ranked[:top]
    fig = _figure(width, height)
    ax: Axes = fig.add_subplot()
    if not timed:
        ax.text(0.5, 0.5, "no dump with a time", ha="center", va="center")
        ax.axis("off")
        return fig
    lo = min(t for _, t in timed)
    hi = max(t for _, t in timed)
    edges, unit = _bin_edges(lo, hi)
    nbins = len(edges) - 1
    step = edges[1] - edges[0]
    series: dict[str, list[int]] = {b: [0] * nbins for b in [*shown, "other"]}
    for b, t in timed:
        i = min((t - edges[0]) // step, nbins - 1)
        series[b if b in shown else "other"][i] += 1
    if not any(series["other"]):
        del series["other"]
    from matplotlib import dates as mdates

    date2num: Callable[[_dt.datetime], float] = mdates.date2num
    x = [float(date2num(_dt.datetime.fromtimestamp(e, _dt.timezone.utc))) for e in edges[:-1]]
    bar_width = step * 0.9 / 86400  # matplotlib dates count days
    bottom = [0] * nbins
    cmap = _matplotlib().colormaps["tab10"]
    for n, (b, ys) in enumerate(series.items()):
        label = b if len(b) <= 70 else b[:67] + "..."
        color = "#bbbbbb" if b == "other" else cmap(n % 10)
        ax.bar(x, ys, width=bar_width, bottom=bottom, label=f"{label} ({sum(ys)})",
               color=color, align="edge", gid=f"bucket-{n}")
        bottom = [a + c for a, c in zip(bottom, ys, strict=True)]
    ax.xaxis_date(tz=_dt.timezone.utc)
    ax.set_ylabel(f"dumps per {unit}")
    title = f"{len(timed)} dumps in {len(counts)} buckets"
    if untimed:
        title += f" ({untimed} without a time not shown)"
    ax.set_title(title, fontsize=10, loc="left")
    handles, labels = ax.get_legend_handles_labels()  # top of the legend = top of the stack
    ax.legend(handles[::-1], labels[::-1], fontsize=7, loc="upper left",
              bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.autofmt_xdate()
    return fig
