"""The result record of batch triage: one :class:`TriageRow` per dump.

A row is small plain data (strings, integers, tuples) so it crosses process
and machine boundaries cheaply and serializes to one JSON object
(:meth:`TriageRow.to_json` / :meth:`TriageRow.from_json`), one Parquet row
(:func:`arrow_schema`) or one pandas DataFrame row (:func:`rows_to_dataframe`).
Integers stay integers everywhere: codes and addresses are unsigned 64-bit.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dumplib._exc import CorruptDumpError

if TYPE_CHECKING:
    import pandas

__all__ = [
    "ANALYSIS_FULL",
    "ANALYSIS_PARSER",
    "TriageRow",
    "arrow_schema",
    "row_key",
    "rows_to_dataframe",
]

#: ``TriageRow.analysis`` when :func:`dumplib.analyze` produced the row.
ANALYSIS_FULL = "analyze"
#: ``TriageRow.analysis`` when only the parser (and stack walker) did: the
#: fallback used when the analysis layer is missing or failed on this dump.
ANALYSIS_PARSER = "parser"


@dataclass(frozen=True, slots=True)
class TriageRow:
    """What batch triage learned about one dump.

    Attributes:
        path: the file on disk (absolute), the archive for zip members.
        member: the member name inside a zip archive, else None.
        compression: ``"gzip"``, ``"xz"``, ``"zip"`` or None for a plain dump.
        size: bytes of the (decompressed) dump, None when it could not be read.
        sha256: hex digest of the (decompressed) dump bytes; the identity used
            to skip dumps already in a result file. None when unreadable.
        process: the main module's file name (``"MRASSvc.exe"``).
        process_version: its file version ``"a.b.c.d"``, or None.
        process_id: the process id from the misc info stream.
        modules: ``(name, version)`` of the modules of interest: the main
            module, the faulting module, the modules of the top frames and any
            asked for by name; version ``""`` when the record has none.
        arch: ``"amd64"``, ``"x86"``...
        os_version: ``"major.minor.build"``.
        exception_code, exception_name, exception_address, exception_thread:
            the dump's exception (None for hang or on-demand dumps).
        fault_module, fault_offset: the module holding the exception address
            and the offset into it.
        bucket: the crash bucket (``Report.bucket``, or the parser fallback
            ``NAME/module/module+0xoffset``; ``ERROR/<kind>`` for unreadable dumps).
        frames: the crashing thread's top frames, ``module!function+0xoff`` or
            ``module+0xoff`` or ``0xaddress``.
        findings: ids of the analysis findings, most confident first.
        dump_time: when the dump was written, POSIX seconds (UTC).
        process_create_time: when the process started, POSIX seconds (UTC).
        analysis: :data:`ANALYSIS_FULL` or :data:`ANALYSIS_PARSER` (what made the row).
        warnings: the dump's parse warnings and analysis notes that matter
            for triage (at most a few).
        error: why the dump could not be analysed (unreadable, timed out,
            worker died), else None.
        duplicate_of: for a byte-identical copy (same sha256) of a dump recorded
            earlier in the result, the ``display_path`` of that first dump; the
            copy keeps its own row. None for the first (or only) copy.
        bucket_label: the bucket with names instead of offsets (``Report.bucket_label``),
            for people; ``bucket`` is the grouping key, stable with or without PDBs.
    """

    path: str
    member: str | None = None
    compression: str | None = None
    size: int | None = None
    sha256: str | None = None
    process: str | None = None
    process_version: str | None = None
    process_id: int | None = None
    modules: tuple[tuple[str, str], ...] = ()
    arch: str | None = None
    os_version: str | None = None
    exception_code: int | None = None
    exception_name: str | None = None
    exception_address: int | None = None
    exception_thread: int | None = None
    fault_module: str | None = None
    fault_offset: int | None = None
    bucket: str = ""
    frames: tuple[str, ...] = ()
    findings: tuple[str, ...] = ()
    dump_time: int | None = None
    process_create_time: int | None = None
    analysis: str = ANALYSIS_PARSER
    warnings: tuple[str, ...] = ()
    error: str | None = None
    duplicate_of: str | None = None
    bucket_label: str = ""

    @property
    def display_path(self) -> str:
        """``path`` or ``path!member`` for zip members (for people, not parsing)."""
        return self.path if self.member is None else f"{self.path}!{self.member}"

    def to_json(self) -> dict[str, Any]:
        """The row as one JSON object (``modules`` as ``{name: version}``)."""
        doc = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        doc["modules"] = dict(self.modules)
        doc["frames"] = list(self.frames)
        doc["findings"] = list(self.findings)
        doc["warnings"] = list(self.warnings)
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> TriageRow:
        """Rebuild a row from :meth:`to_json` output (unknown keys are ignored).

        Raises:
            CorruptDumpError: the object is not a row (no ``path``, wrong types).
        """
        try:
            values: dict[str, Any] = {}
            for f in dataclasses.fields(cls):
                if f.name not in doc:
                    continue
                v = doc[f.name]
                if f.name == "modules":
                    items = v.items() if isinstance(v, Mapping) else v
                    v = tuple((str(k), str(val)) for k, val in items)
                elif f.name in ("frames", "findings", "warnings"):
                    v = tuple(str(x) for x in v)
                values[f.name] = v
            if not isinstance(values.get("path"), str):
                raise TypeError("no path")
            return cls(**values)
        except (TypeError, ValueError, AttributeError) as exc:
            raise CorruptDumpError(f"not a triage row: {exc}", stream="triage result") from exc


def row_key(row: TriageRow) -> tuple[str, ...]:
    """The identity of a row in a result file: its location (path and zip member).

    A result file holds one row per input path; byte-identical copies under
    other names keep their rows and are marked with ``duplicate_of``.
    """
    return (row.path, row.member or "")


def _pyarrow() -> Any:
    """pyarrow (an optional extra; it has no type information, hence Any)."""
    return importlib.import_module("pyarrow")


def arrow_schema() -> Any:
    """The Parquet schema of a result file, a ``pyarrow.Schema`` (needs pyarrow)."""
    pa = _pyarrow()

    u64 = pa.uint64()
    return pa.schema(
        [
            ("path", pa.string()),
            ("member", pa.string()),
            ("compression", pa.string()),
            ("size", pa.int64()),
            ("sha256", pa.string()),
            ("process", pa.string()),
            ("process_version", pa.string()),
            ("process_id", pa.int64()),
            ("modules", pa.map_(pa.string(), pa.string())),
            ("arch", pa.string()),
            ("os_version", pa.string()),
            ("exception_code", u64),
            ("exception_name", pa.string()),
            ("exception_address", u64),
            ("exception_thread", pa.int64()),
            ("fault_module", pa.string()),
            ("fault_offset", u64),
            ("bucket", pa.string()),
            ("frames", pa.list_(pa.string())),
            ("findings", pa.list_(pa.string())),
            ("dump_time", pa.timestamp("s", tz="UTC")),
            ("process_create_time", pa.timestamp("s", tz="UTC")),
            ("analysis", pa.string()),
            ("warnings", pa.list_(pa.string())),
            ("error", pa.string()),
            ("duplicate_of", pa.string()),
            ("bucket_label", pa.string()),
        ]
    ).with_metadata({b"pandas": _pandas_metadata()})


#: Integer columns and the nullable pandas dtype each reads back as.
_NULLABLE_INTS = {
    "size": "Int64", "process_id": "Int64", "exception_code": "UInt64",
    "exception_address": "UInt64", "exception_thread": "Int64", "fault_offset": "UInt64",
}


def _pandas_metadata() -> bytes:
    """pandas metadata for the schema, so ``pandas.read_parquet`` keeps integer columns
    integers (nullable ``Int64``/``UInt64``) instead of turning them into float64 where
    a row (an unreadable dump) has no value."""
    import json

    columns = [
        {"name": name, "field_name": name, "pandas_type": dtype.lower(), "numpy_type": dtype,
         "metadata": None}
        for name, dtype in _NULLABLE_INTS.items()
    ]
    doc = {"index_columns": [], "column_indexes": [], "columns": columns,
           "creator": {"library": "dumplib"}, "pandas_version": "2.0.0"}
    return json.dumps(doc).encode()


_TIME_FIELDS = ("dump_time", "process_create_time")


def rows_to_table(rows: Iterable[TriageRow]) -> Any:
    """The rows as a ``pyarrow.Table`` with :func:`arrow_schema` (needs pyarrow)."""
    import datetime as dt

    pa = _pyarrow()

    schema = arrow_schema()
    columns: dict[str, list[Any]] = {name: [] for name in schema.names}
    for row in rows:
        for name in schema.names:
            v = getattr(row, name)
            if name in _TIME_FIELDS and v is not None:
                v = dt.datetime.fromtimestamp(v, tz=dt.timezone.utc)
            elif name == "modules":
                v = list(v)
            columns[name].append(v)
    return pa.table(columns, schema=schema)


def rows_from_table(table: Any) -> list[TriageRow]:
    """Rows back from a table written by :func:`rows_to_table`.

    Raises:
        CorruptDumpError: the table lacks the ``path`` column or holds wrong types.
    """
    out: list[TriageRow] = []
    for doc in table.to_pylist():
        for name in _TIME_FIELDS:
            v = doc.get(name)
            if v is not None:
                doc[name] = int(v.timestamp())
        out.append(TriageRow.from_json(doc))
    return out


def rows_to_dataframe(rows: Sequence[TriageRow]) -> pandas.DataFrame:
    """The rows as a pandas DataFrame, one column per field (needs pandas and pyarrow).

    Times are timezone-aware ``datetime64``; codes and addresses ``uint64``
    (nullable); ``modules`` a list of ``(name, version)`` pairs per row.

    Raises:
        ImportError: pandas or pyarrow is not installed (the ``dataframe`` extra).
    """
    import pandas as pd

    table = rows_to_table(rows)
    frame: pd.DataFrame = table.to_pandas(types_mapper=_nullable_types)
    return frame


def _nullable_types(arrow_type: Any) -> Any:
    import pandas as pd

    pa = _pyarrow()
    mapping = {
        pa.uint64(): pd.UInt64Dtype(),
        pa.int64(): pd.Int64Dtype(),
        pa.string(): pd.StringDtype(),
    }
    return mapping.get(arrow_type)
