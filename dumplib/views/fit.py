"""Tables that fit the terminal without cutting addresses or ids.

Every table of the command line and the console views is built by
:func:`fit_table` from column specs (:class:`Col`). The rule, in order:

1. A *kept* column (addresses, ids, sizes, GUIDs, bucket ids) is never cut
   or wrapped: it is as wide as its widest cell.
2. A *text* column (names, paths, vendor, description) wraps (folds) when the
   table is too wide, down to its ``min_width``.
3. When even that does not fit, whole columns are dropped: first those with
   nothing in them (every cell empty or ``-``), then in the order of their
   ``drop`` number, 1 first (columns with ``drop=0`` are never dropped), and the caption
   names what was left out ("not shown at 80 columns: vendor, pdb").

So the order in which columns disappear is stated in each table's column
list, not left to the terminal library. Cells are rich ``Text`` made with
:func:`dumplib.views.textsafe.data`, so text from the dump is never markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from dumplib.views.textsafe import data

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult
    from rich.table import Table
    from rich.text import Text

__all__ = ["Col", "FittedTable", "fit_table", "table_width"]


@dataclass(frozen=True)
class Col:
    """One column of a fitted table.

    Attributes:
        header: the column title.
        keep: True for addresses, ids and numbers: never cut, never wrapped.
        drop: when the table does not fit, columns are dropped in ``drop`` order
            (1 first); 0 = never dropped.
        min_width: narrowest a text column may be wrapped to.
        justify: ``"left"`` or ``"right"``.
    """

    header: str
    keep: bool = True
    drop: int = 0
    min_width: int = 10
    justify: str = "left"


def _cell(value: object) -> Text:
    from rich.text import Text

    return value if isinstance(value, Text) else data(value)


def _width(text: Text) -> int:
    """Cells of the widest line of ``text``."""
    from rich.cells import cell_len

    return max(cell_len(line) for line in text.plain.split("\n"))


def _need(col: Col, cells: Sequence[Text]) -> int:
    widest = max([len(col.header), *(_width(c) for c in cells)])
    # a text column's lines are folded at its width; a long word is folded too
    return widest if col.keep else min(widest, max(col.min_width, len(col.header)))


def table_width(needs: Sequence[int]) -> int:
    """Width of a rich table with the default box and padding for columns of these widths."""
    return sum(needs) + 3 * len(needs) + 1


def fit_table(
    cols: Sequence[Col], rows: Sequence[Sequence[object]], width: int, *,
    title: str | None = None, caption: str | None = None,
    row_styles: Sequence[str | None] | None = None,
) -> Table:
    """A rich table of ``rows`` that fits ``width`` columns by the rule of this module.

    Args:
        cols: the column specs, in display order.
        rows: one sequence of cells per row (str or rich Text; str is data, not markup).
        width: the console width.
        title: table title (plain text).
        caption: extra caption text (plain text).
        row_styles: an optional style per row.
    """
    from rich.table import Table
    from rich.text import Text

    cells = [[_cell(v) for v in row] for row in rows]
    needs = [_need(c, [r[i] for r in cells]) for i, c in enumerate(cols)]
    shown = list(range(len(cols)))
    dropped: list[str] = []
    def empty(i: int) -> bool:
        return all(r[i].plain.strip() in ("", "-") for r in cells)

    order = sorted((i for i, c in enumerate(cols) if c.drop),
                   key=lambda i: (not empty(i), cols[i].drop))
    for i in order:
        if table_width([needs[j] for j in shown]) <= width:
            break
        shown.remove(i)
        dropped.append(cols[i].header)
    notes = [caption] if caption else []
    if dropped:
        notes.append(f"not shown at {width} columns: {', '.join(dropped)} "
                      "(widen the terminal, set COLUMNS, or use --json)")
    # share what is left among the text columns, the ones nearest to whole first
    widths = {i: needs[i] for i in shown}
    slack = width - table_width([needs[j] for j in shown])
    natural = {i: max([len(cols[i].header), *(_width(r[i]) for r in cells)]) for i in shown}
    for i in sorted((i for i in shown if not cols[i].keep), key=lambda i: natural[i] - needs[i]):
        give = max(0, min(slack, natural[i] - widths[i]))
        widths[i] += give
        slack -= give
    t = Table(title=Text(title) if title else None,
              caption=Text("; ".join(notes)) if notes else None)
    for i in shown:
        c = cols[i]
        justify: Literal["left", "right"] = "right" if c.justify == "right" else "left"
        if c.keep:
            t.add_column(Text(c.header), no_wrap=True, min_width=widths[i], justify=justify)
        else:
            t.add_column(Text(c.header), overflow="fold", width=widths[i], justify=justify)
    for n, row in enumerate(cells):
        style = row_styles[n] if row_styles is not None else None
        t.add_row(*(row[i] for i in shown), style=style)
    total = table_width([widths[i] for i in shown])
    if total > width:
        # even the kept columns do not fit: keep them whole and let the lines run past
        # the edge (the command line prints without cropping) rather than cut them
        t.width = total
    return t


class FittedTable:
    """A table fitted (by :func:`fit_table`) to the width of the console it is printed on.

    Attributes:
        cols, rows, title, caption, row_styles: as for :func:`fit_table`.
    """

    def __init__(self, cols: Sequence[Col], rows: Sequence[Sequence[object]], *,
                 title: str | None = None, caption: str | None = None,
                 row_styles: Sequence[str | None] | None = None) -> None:
        self.cols = list(cols)
        self.rows = [list(r) for r in rows]
        self.title = title
        self.caption = caption
        self.row_styles = row_styles

    def table(self, width: int) -> Table:
        """The rich table for a console ``width`` columns wide."""
        return fit_table(self.cols, self.rows, width, title=self.title, caption=self.caption,
                         row_styles=self.row_styles)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        """Render fitted to ``options.max_width`` (never narrower than the kept columns)."""
        table = self.table(options.max_width)
        yield table
