"""Data frames of the higher layers' results: a walked stack's frames and triage rows.

(Threads, modules and memory have ``to_dataframe()`` methods of their own, in
:mod:`dumplib.model.tables`.) pandas is imported on call; without it an
:class:`ImportError` names the ``dataframe`` extra.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from dumplib.model.tables import frame_from_rows

if TYPE_CHECKING:
    import pandas

    from dumplib.triage.rows import TriageRow
    from dumplib.unwind.frames import Stack

__all__ = ["FRAME_COLUMNS", "frames_dataframe", "triage_dataframe"]

#: The columns of :func:`frames_dataframe`, in order.
FRAME_COLUMNS = ("thread_id", "index", "ip", "sp", "trust", "module", "function", "offset",
                 "location", "source_file", "source_line")


def frames_dataframe(stack: Stack) -> pandas.DataFrame:
    """One row per frame of ``stack``, innermost first (columns :data:`FRAME_COLUMNS`).

    Raises:
        ImportError: pandas is not installed (``pip install 'dumplib[dataframe]'``).
    """
    rows = [
        {
            "thread_id": stack.thread_id, "index": f.index, "ip": f.ip, "sp": f.sp,
            "trust": f.trust.value, "module": f.module_name, "function": f.function,
            "offset": f.offset, "location": f.location, "source_file": f.source_file,
            "source_line": f.source_line,
        }
        for f in stack.frames
    ]
    return frame_from_rows(rows, FRAME_COLUMNS, u64=["thread_id", "index", "ip", "sp"],
                           nullable_u64=["source_line"])


def triage_dataframe(rows: Sequence[TriageRow]) -> pandas.DataFrame:
    """Triage rows as a DataFrame (:func:`dumplib.triage.rows.rows_to_dataframe`).

    Raises:
        ImportError: pandas (or pyarrow, which types the columns) is not installed.
    """
    from dumplib.triage.rows import rows_to_dataframe

    return rows_to_dataframe(rows)
