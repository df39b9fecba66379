"""Data frames of the higher layers' results: a walked stack's frames and triage rows.

(Threads, modules and memory have ``to_dataframe()`` methods of their own, in
:mod:`dumplib.model.tables`.) pandas is imported on call; without it an
:class:`ImportError` names the ``dataframe`` extra.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from dumplib.unwind.frames import FRAME_COLUMNS

if TYPE_CHECKING:
    import pandas

    from dumplib.triage.rows import TriageRow
    from dumplib.unwind.frames import Stack

__all__ = ["FRAME_COLUMNS", "frames_dataframe", "triage_dataframe"]

def frames_dataframe(stack: Stack) -> pandas.DataFrame:
    """One row per frame of ``stack`` (see :meth:`dumplib.unwind.frames.Stack.to_dataframe`).

    Raises:
        ImportError: pandas is not installed (``pip install 'dumplib[dataframe]'``).
    """
    return stack.to_dataframe()


def triage_dataframe(rows: Sequence[TriageRow]) -> pandas.DataFrame:
    """Triage rows as a DataFrame (:func:`dumplib.triage.rows.rows_to_dataframe`).

    Raises:
        ImportError: pandas (or pyarrow, which types the columns) is not installed.
    """
    from dumplib.triage.rows import rows_to_dataframe

    return rows_to_dataframe(rows)
