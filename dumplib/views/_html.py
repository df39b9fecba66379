"""Small HTML building blocks shared by the Jupyter views (escaping, tables, cards).

Everything is escaped here; renderers pass plain text. The CSS is scoped to
``.dumplib`` and uses the notebook's own colours where it can, so the views
read in light and dark themes. Notebook front ends right-align table cells and
fix the table layout with selectors stronger than ours (JupyterLab's
``:not(.jp-RenderedMarkdown).jp-RenderedHTMLCommon td``), so alignment and
layout are ``!important``; cells of long unbroken text (buckets, paths, C++
names: class ``wrap``) may wrap anywhere, so a table fits its output area
instead of pushing the columns after them off screen.
"""

from __future__ import annotations

import html as _html
from collections.abc import Iterable, Sequence

__all__ = ["CSS", "Cell", "badge", "card", "esc", "hx", "kv_table", "table", "wrap"]

#: Scoped style sheet, included once per rendered view.
CSS = """<style>
.dumplib{font-family:var(--jp-ui-font-family,sans-serif);font-size:13px;line-height:1.35}
.dumplib{max-width:100%;overflow-wrap:break-word}
.dumplib table{border-collapse:collapse;margin:4px 0!important;table-layout:auto!important;
 max-width:100%}
.dumplib th,.dumplib td{padding:2px 8px!important;text-align:left!important;
 vertical-align:top!important;white-space:normal;overflow-wrap:break-word;
 border-bottom:1px solid rgba(128,128,128,.25)}
.dumplib th{font-weight:600;white-space:nowrap}
.dumplib td.wrap{overflow-wrap:anywhere;min-width:12em}
.dumplib .mono,.dumplib code{font-family:var(--jp-code-font-family,monospace);font-size:12px}
.dumplib td.num,.dumplib th.num{text-align:right!important;white-space:nowrap}
.dumplib td.addr{white-space:nowrap;overflow-wrap:normal}
.dumplib .dim{opacity:.6}
.dumplib .card{border:1px solid rgba(128,128,128,.4);border-radius:6px;padding:8px 12px;
 display:inline-block;min-width:min(420px,100%);max-width:100%;box-sizing:border-box}
.dumplib .title{font-weight:700;font-size:15px;margin-bottom:4px}
.dumplib .badge{display:inline-block;padding:0 6px;border-radius:8px;font-size:11px;
 color:#fff;background:#777}
.dumplib .t-context{background:#2e7d32}.dumplib .t-cfi{background:#1565c0}
.dumplib .t-frame_pointer{background:#ef6c00}.dumplib .t-scan{background:#8e24aa}
.dumplib .bad{color:#c62828;font-weight:600}
.dumplib .hot{background:rgba(198,40,40,.12)}
.dumplib .miss{color:#c62828;opacity:.7}
.dumplib .bar{display:inline-block;height:8px;background:#1565c0;border-radius:2px}
.dumplib .advice{margin:4px 0 8px 0;padding:4px 8px;border-left:3px solid #2e7d32}
.dumplib details{margin:2px 0}
</style>"""

#: A table cell: plain text (escaped), or ``(text, css_class)``.
Cell = "str | tuple[str, str]"


def esc(text: object) -> str:
    """HTML-escape ``str(text)``."""
    return _html.escape(str(text), quote=True)


def hx(value: int | None) -> str:
    """``0x...`` for an address, ``-`` for None."""
    return "-" if value is None else f"0x{value:x}"


def badge(text: str, css: str = "") -> str:
    """A small coloured label."""
    return f'<span class="badge {esc(css)}">{esc(text)}</span>'


def _cell(tag: str, value: str | tuple[str, str], raw: bool) -> str:
    if isinstance(value, tuple):
        text, css = value
        body = text if raw else esc(text)
        return f'<{tag} class="{esc(css)}">{body}</{tag}>'
    return f"<{tag}>{value if raw else esc(value)}</{tag}>"


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str | tuple[str, str]]],
    *,
    caption: str | None = None,
    raw_columns: frozenset[int] = frozenset(),
    row_classes: Sequence[str] | None = None,
) -> str:
    """An HTML table.

    Args:
        headers: column titles.
        rows: cells per row; a cell is text or ``(text, css_class)``.
        caption: a line above the table.
        raw_columns: indexes of columns whose cells are already HTML.
        row_classes: a css class per row ('' for none).
    """
    out = ["<table>"]
    if caption:
        out.append(f'<caption style="text-align:left">{esc(caption)}</caption>')
    out.append("<thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in headers) + "</tr></thead>")
    out.append("<tbody>")
    for n, row in enumerate(rows):
        cls = row_classes[n] if row_classes is not None and n < len(row_classes) else ""
        tr = f'<tr class="{esc(cls)}">' if cls else "<tr>"
        cells = "".join(_cell("td", v, i in raw_columns) for i, v in enumerate(row))
        out.append(f"{tr}{cells}</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def kv_table(items: Iterable[tuple[str, str]], *, raw: bool = False) -> str:
    """A two-column key/value table (values escaped unless ``raw``)."""
    rows = "".join(
        f'<tr><th>{esc(k)}</th><td class="wrap">{v if raw else esc(v)}</td></tr>'
        for k, v in items
    )
    return f"<table>{rows}</table>"


def card(title: str, body: str) -> str:
    """A bordered box with a title; ``body`` is HTML."""
    return f'<div class="card"><div class="title">{esc(title)}</div>{body}</div>'


def wrap(body: str) -> str:
    """The outer ``<div class="dumplib">`` with the style sheet."""
    return f'<div class="dumplib">{CSS}{body}</div>'
