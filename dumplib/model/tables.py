"""Model objects as pandas DataFrames (the optional ``dataframe`` extra).

``ThreadList.to_dataframe()``, ``ModuleList.to_dataframe()`` and
``Memory.to_dataframe()`` call the functions here. pandas is imported only
when one is called; without it they raise an :class:`ImportError` naming the
extra to install. Addresses and sizes are unsigned 64-bit columns; values a
dump may lack are nullable (``UInt64``) columns with missing values.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from dumplib._exc import DumpError

if TYPE_CHECKING:
    import pandas

    from dumplib.model.memory import MemoryRegion
    from dumplib.model.objects import Module, Thread

__all__ = [
    "frame_from_rows",
    "modules_dataframe",
    "pandas_module",
    "regions_dataframe",
    "threads_dataframe",
]


def pandas_module() -> Any:
    """Import pandas, or raise an ImportError naming the ``dataframe`` extra.

    Raises:
        ImportError: pandas is not installed.
    """
    try:
        import pandas
    except ImportError as exc:
        raise ImportError(
            "to_dataframe() needs pandas: pip install 'dumplib[dataframe]'"
        ) from exc
    return pandas


def frame_from_rows(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    *,
    u64: Iterable[str] = (),
    nullable_u64: Iterable[str] = (),
) -> pandas.DataFrame:
    """A DataFrame with ``columns`` in order, integer columns typed as asked.

    Args:
        rows: one mapping per row.
        columns: the column order.
        u64: columns that always hold an unsigned 64-bit value.
        nullable_u64: unsigned 64-bit columns that may be missing (``UInt64``).
    """
    pd = pandas_module()
    frame: pandas.DataFrame = pd.DataFrame(list(rows), columns=list(columns))
    for col in u64:
        frame[col] = frame[col].astype("uint64")
    for col in nullable_u64:
        frame[col] = frame[col].astype("UInt64")
    return frame


def threads_dataframe(threads: Iterable[Thread]) -> pandas.DataFrame:
    """One row per thread: ``id``, ``name``, ``ip``, ``sp``, ``stack_start``,
    ``stack_size``, ``teb``, ``suspend_count``, ``priority``, ``priority_class``,
    ``start_address``, ``create_time``.

    ``ip``/``sp`` are missing when the thread's context cannot be read.
    """
    rows = []
    for t in threads:
        ip = sp = None
        try:
            ctx = t.context
            ip, sp = ctx.ip, ctx.sp
        except DumpError:
            pass
        st = t.stack_range
        rows.append({
            "id": t.id, "name": t.name, "ip": ip, "sp": sp,
            "stack_start": st[0] if st else None, "stack_size": st[1] if st else None,
            "teb": t.teb, "suspend_count": t.suspend_count, "priority": t.priority,
            "priority_class": t.priority_class, "start_address": t.start_address,
            "create_time": t.create_time,
        })
    cols = ["id", "name", "ip", "sp", "stack_start", "stack_size", "teb", "suspend_count",
            "priority", "priority_class", "start_address", "create_time"]
    return frame_from_rows(
        rows, cols, u64=["id", "teb", "suspend_count", "priority_class"],
        nullable_u64=["ip", "sp", "stack_start", "stack_size", "start_address"],
    )


def modules_dataframe(modules: Iterable[Module]) -> pandas.DataFrame:
    """One row per module: ``name``, ``path``, ``base``, ``size``, ``end``,
    ``timestamp``, ``checksum``, ``version`` (``"a.b.c.d"`` or missing),
    ``pdb_name``, ``pdb_id`` (GUID or signature), ``pdb_age``."""
    rows = []
    for m in modules:
        rows.append({
            "name": m.name, "path": m.path, "base": m.base, "size": m.size, "end": m.end,
            "timestamp": m.timestamp, "checksum": m.checksum,
            "version": ".".join(map(str, m.version)) if m.version else None,
            "pdb_name": m.pdb[0] if m.pdb else None,
            "pdb_id": m.pdb[1] if m.pdb else None,
            "pdb_age": m.pdb[2] if m.pdb else None,
        })
    cols = ["name", "path", "base", "size", "end", "timestamp", "checksum", "version",
            "pdb_name", "pdb_id", "pdb_age"]
    return frame_from_rows(
        rows, cols, u64=["base", "size", "end", "timestamp", "checksum"],
        nullable_u64=["pdb_age"],
    )


def regions_dataframe(regions: Iterable[MemoryRegion]) -> pandas.DataFrame:
    """One row per captured range: ``start``, ``end``, ``size``, ``file_offset`` and,
    from the MemoryInfoList when present (else missing), ``allocation_base``,
    ``state``, ``protect``, ``type``."""
    rows = []
    for r in regions:
        info = r.info
        rows.append({
            "start": r.start, "end": r.end, "size": r.size, "file_offset": r.file_offset,
            "allocation_base": info.allocation_base if info else None,
            "state": info.state if info else None,
            "protect": info.protect if info else None,
            "type": info.type if info else None,
        })
    cols = ["start", "end", "size", "file_offset", "allocation_base", "state", "protect",
            "type"]
    return frame_from_rows(rows, cols, u64=cols[:4], nullable_u64=cols[4:])
