"""Result files of batch triage, written as rows finish so a run can resume.

Two formats, chosen by the file's extension:

- ``.jsonl`` (always available): one :meth:`TriageRow.to_json` object per
  line. The file is its own journal: each row is appended and flushed as soon
  as it is known, so an interrupted run loses at most the dumps in flight.
- ``.parquet`` (needs pyarrow): rows are journaled to ``<file>.journal.jsonl``
  while the run goes on; at the end the Parquet file is rewritten (to a
  temporary name, then renamed) with the earlier rows plus the new ones and
  the journal is removed. A run interrupted before that leaves the journal,
  which the next run reads as well.

A result file keeps one row per input path (and zip member), in both
formats (a finished JSONL file whose rows were updated is compacted to one
line per path). When reading, a later row for the same path replaces an earlier one,
and a torn last line (a run killed mid-write) is dropped. Byte-identical copies
(same sha256) under other names keep their own rows, marked with
``duplicate_of``: the path of the first copy recorded (earlier runs first, then
this run's rows by path).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from dumplib._exc import CorruptDumpError, SourceError
from dumplib.triage.rows import TriageRow, row_key, rows_from_table, rows_to_table

__all__ = ["FORMATS", "ResultStore", "read_results"]

#: Result file extensions and their formats.
FORMATS = {".jsonl": "jsonl", ".parquet": "parquet"}


def _format_of(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"result file must end in .jsonl or .parquet, not {path.name!r}")
    return fmt


def _read_jsonl(path: Path) -> list[TriageRow]:
    rows: list[TriageRow] = []
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return rows
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from exc
    lines = data.split(b"\n")
    torn = len(lines) - 1 if not data.endswith(b"\n") else -1
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except ValueError as exc:
            if i == torn:
                continue  # the last line of an interrupted run, cut mid-write
            raise CorruptDumpError(f"{path}: line {i + 1} is not JSON: {exc}",
                                   stream="triage result") from exc
        if not isinstance(doc, dict):
            raise CorruptDumpError(f"{path}: line {i + 1} is not a JSON object",
                                   stream="triage result")
        rows.append(TriageRow.from_json(doc))
    return rows


def _read_parquet(path: Path) -> list[TriageRow]:
    if not path.exists():
        return []
    pq = importlib.import_module("pyarrow.parquet")
    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as exc:
        raise CorruptDumpError(f"cannot read result file {path}: {exc}",
                               stream="triage result") from exc
    return rows_from_table(table)


def _dedupe(rows: Iterable[TriageRow]) -> dict[tuple[str, ...], TriageRow]:
    out: dict[tuple[str, ...], TriageRow] = {}
    for r in rows:
        key = row_key(r)
        out.pop(key, None)  # keep the newest last
        out[key] = r
    return out


def read_results(path: str | os.PathLike[str]) -> list[TriageRow]:
    """The rows of a result file (``.jsonl`` or ``.parquet``, plus a Parquet file's journal).

    Raises:
        ValueError: the extension is neither ``.jsonl`` nor ``.parquet``.
        CorruptDumpError: the file holds something that is not a row.
    """
    p = Path(path)
    if _format_of(p) == "jsonl":
        rows = _read_jsonl(p)
    else:
        rows = _read_parquet(p) + _read_jsonl(_journal_of(p))
    return list(_dedupe(rows).values())


def _journal_of(path: Path) -> Path:
    return path.with_name(path.name + ".journal.jsonl")


class ResultStore:
    """The rows already known for a result file and the journal new rows go to.

    Args:
        out: the result file, or None to keep rows in memory only.

    Raises:
        ValueError: the extension is neither ``.jsonl`` nor ``.parquet``.
        ImportError: Parquet output without pyarrow installed.
        CorruptDumpError: the existing file holds something that is not a row.
    """

    def __init__(self, out: str | os.PathLike[str] | None) -> None:
        self.path = Path(out) if out is not None else None
        self.format = _format_of(self.path) if self.path is not None else None
        self.journal: Path | None = None
        self._file: IO[bytes] | None = None
        self._replaced = False
        self.new: list[TriageRow] = []
        if self.path is None:
            self.rows: dict[tuple[str, ...], TriageRow] = {}
            self._earlier: frozenset[tuple[str, ...]] = frozenset()
            return
        if self.format == "parquet":
            importlib.import_module("pyarrow.parquet")  # fail before any work is done

            self.journal = _journal_of(self.path)
        else:
            self.journal = self.path
        self.rows = _dedupe(read_results(self.path))
        self._earlier = frozenset(self.rows)

    def known(self, *, retry_errors: bool = False) -> frozenset[str]:
        """The sha256 of every dump already in the file.

        With ``retry_errors``, dumps whose stored row is an error are left out (redone).
        """
        return frozenset(
            r.sha256 for r in self.rows.values()
            if r.sha256 is not None and not (retry_errors and r.error is not None)
        )

    def get(self, sha256: str) -> TriageRow | None:
        """The stored row of the dump with this sha256 (its first copy), if any."""
        found: TriageRow | None = None
        for r in self.rows.values():
            if r.sha256 == sha256:
                if r.duplicate_of is None:
                    return r
                found = found or r
        return found

    def _canonical(self) -> dict[tuple[str, ...], str | None]:
        """``duplicate_of`` of every row: rows from earlier runs first (in file
        order), then this run's rows by path; the first row of a sha256 is the original."""
        earlier = [k for k in self.rows if k in self._earlier]
        new = sorted(k for k in self.rows if k not in self._earlier)
        first: dict[str, str] = {}
        out: dict[tuple[str, ...], str | None] = {}
        for key in earlier + new:
            row = self.rows[key]
            if row.sha256 is None:
                out[key] = None
                continue
            original = first.setdefault(row.sha256, row.display_path)
            out[key] = None if original == row.display_path else original
        return out

    def mark_duplicates(self) -> None:
        """Set ``duplicate_of`` on every row by the rule above; rows it changes are
        journaled again (a later line for a path replaces an earlier one)."""
        for key, dup in self._canonical().items():
            row = self.rows[key]
            if row.duplicate_of != dup:
                self.append(dataclasses.replace(row, duplicate_of=dup))

    def _open_journal(self) -> IO[bytes]:
        assert self.journal is not None
        self.journal.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.journal, "a+b")  # closed in close()
        end = f.seek(0, os.SEEK_END)
        if end:
            f.seek(end - 1)
            if f.read(1) != b"\n":
                # a torn last line: cut it so the next row starts on its own line
                f.seek(0)
                data = f.read()
                keep = data.rfind(b"\n") + 1
                f.truncate(keep)
            f.seek(0, os.SEEK_END)
        return f

    def append(self, row: TriageRow) -> None:
        """Record a new row (written and flushed to the journal at once).

        A row equal to the one already stored for its path is not written again.
        """
        key = row_key(row)
        if self.rows.get(key) == row:
            return
        self.new.append(row)
        if self.rows.pop(key, None) is not None:
            self._replaced = True  # the journal now holds two lines for this path
        self.rows[key] = row
        if self.journal is None:
            return
        if self._file is None:
            self._file = self._open_journal()
        self._file.write(json.dumps(row.to_json(), separators=(",", ":")).encode() + b"\n")
        self._file.flush()

    def _compact_jsonl(self, path: Path) -> None:
        """Rewrite a finished JSONL file with one line per path (atomically)."""
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            for row in self.rows.values():
                f.write(json.dumps(row.to_json(), separators=(",", ":")).encode() + b"\n")
        os.replace(tmp, path)

    def close(self, *, finish: bool = True) -> None:
        """Close the journal; for Parquet (with ``finish``), write the file and drop the journal.

        ``finish=False`` (an interrupted run) leaves the journal for the next run.
        With ``finish``, copies are first marked (:meth:`mark_duplicates`).
        """
        if finish:
            self.mark_duplicates()
        if self._file is not None:
            self._file.close()
            self._file = None
        if not finish:
            return
        if self.format == "jsonl" and self.path is not None and self._replaced:
            self._compact_jsonl(self.path)
        if self.format != "parquet" or self.path is None or self.journal is None:
            return
        if not self.new and not self.journal.exists() and self.path.exists():
            return
        pq = importlib.import_module("pyarrow.parquet")
        tmp = self.path.with_name(self.path.name + ".tmp")
        pq.write_table(rows_to_table(self.rows.values()), tmp)
        os.replace(tmp, self.path)
        with contextlib.suppress(FileNotFoundError):
            self.journal.unlink()
