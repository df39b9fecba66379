"""``dumplib.triage``: analyse a pile of dumps, locally or on a Dask cluster.

The work is the same everywhere: each worker opens its dumps itself
(:func:`~dumplib.triage.worker.analyse`), so only paths go out and small
rows come back.

- ``jobs=N`` (default: every core): a :class:`~dumplib.triage.pool.WorkerPool`
  of N worker processes with a time limit per dump.
- ``jobs=0``: in this process, one dump after another, without isolation or
  time limit (for debugging and profiling).
- ``client=distributed.Client(...)``: the dumps are cut into chunks and each
  chunk is a Dask task that runs a one-process pool on the Dask worker (so
  the time limit and crash isolation hold there too). The paths must be
  readable by the workers under the same names (a shared file system).

With ``out=``, rows already in the result file (same sha256) are not redone,
and new rows are journaled as they finish (see :mod:`dumplib.triage.store`).
"""

from __future__ import annotations

import importlib
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from dumplib.triage.discover import DumpRef, find_dumps
from dumplib.triage.pool import DEFAULT_TIMEOUT, Result, WorkerPool
from dumplib.triage.rows import TriageRow, row_key, rows_to_dataframe
from dumplib.triage.store import ResultStore
from dumplib.triage.summary import BucketSummary, summarize
from dumplib.triage.worker import (
    DEFAULT_MEMORY_LIMIT,
    Skipped,
    WorkerConfig,
    analyse,
    error_row,
)

if TYPE_CHECKING:
    import pandas

__all__ = ["Progress", "TriageResult", "run_chunk", "triage"]

#: ``progress(done, total)``, called after each dump (or Dask chunk) finishes.
Progress = Callable[[int, int], None]

#: Most dumps in one Dask task.
MAX_CHUNK = 32


class TriageResult(list[TriageRow]):
    """The rows of a triage run (a ``list[TriageRow]``) with counts and helpers.

    Attributes:
        analysed: dumps analysed in this run.
        skipped: dumps whose rows were already in the result file.
        out: the result file, or None.
    """

    def __init__(self, rows: Iterable[TriageRow] = (), *, analysed: int = 0, skipped: int = 0,
                 out: str | None = None) -> None:
        super().__init__(rows)
        self.analysed = analysed
        self.skipped = skipped
        self.out = out

    #: Most rows :meth:`__repr__` lists.
    REPR_LIMIT = 20

    def __repr__(self) -> str:
        lines = [f"<TriageResult of {len(self)} dumps: {self.analysed} analysed, "
                 f"{self.skipped} already known, {self.errors} unreadable>"]
        lines += [f"  {r.display_path}  {r.bucket}" for r in self[: self.REPR_LIMIT]]
        if len(self) > self.REPR_LIMIT:
            lines.append(f"  ... {len(self) - self.REPR_LIMIT} more")
        return "\n".join(lines)

    @property
    def errors(self) -> int:
        """Rows whose dump could not be analysed."""
        return sum(1 for r in self if r.error is not None)

    def summary(self) -> list[BucketSummary]:
        """One :class:`BucketSummary` per bucket, most dumps first."""
        return summarize(self)

    def to_dataframe(self) -> pandas.DataFrame:
        """The rows as a pandas DataFrame (see :func:`~dumplib.triage.rows.rows_to_dataframe`).

        Raises:
            ImportError: pandas or pyarrow is not installed.
        """
        return rows_to_dataframe(self)


def run_chunk(refs: Sequence[DumpRef], cfg: WorkerConfig, timeout: float) -> list[Result]:
    """Analyse a chunk of dumps in a one-process pool (the body of a Dask task).

    The worker process is kept for the next chunk on the same Dask worker.
    """
    return list(WorkerPool(1, cfg, timeout=timeout, reuse=True).run(refs))


def _local(refs: Sequence[DumpRef], cfg: WorkerConfig, jobs: int,
           timeout: float) -> Iterator[Result]:
    if jobs == 0:
        for ref in refs:
            yield ref, analyse(ref, cfg)
        return
    yield from WorkerPool(min(jobs, len(refs)), cfg, timeout=timeout).run(refs)


def _dask(refs: Sequence[DumpRef], cfg: WorkerConfig, client: Any,
          timeout: float) -> Iterator[list[Result]]:
    as_completed = importlib.import_module("distributed").as_completed
    threads = sum(client.nthreads().values()) or 1
    size = max(1, min(MAX_CHUNK, math.ceil(len(refs) / (threads * 4))))
    chunks = [list(refs[i:i + size]) for i in range(0, len(refs), size)]
    cfg_future = client.scatter(cfg, broadcast=True)
    futures = client.map(run_chunk, chunks, cfg=cfg_future, timeout=timeout, pure=False)
    which = {f.key: chunk for f, chunk in zip(futures, chunks, strict=True)}
    for future in as_completed(futures):
        chunk = which[future.key]
        try:
            got: list[Result] = future.result()
        except Exception as exc:  # the task failed or its Dask worker died
            msg = f"dask task failed: {type(exc).__name__}: {exc}"
            got = [(r, error_row(r, msg, kind="dask")) for r in chunk]
        yield got


def triage(
    paths: Iterable[str | os.PathLike[str]] | str | os.PathLike[str],
    *,
    jobs: int | None = None,
    client: Any = None,
    out: str | os.PathLike[str] | None = None,
    symbols: Sequence[str | os.PathLike[str]] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    modules: Sequence[str] = (),
    retry_errors: bool = False,
    progress: Progress | None = None,
    memory_limit: int | None = DEFAULT_MEMORY_LIMIT,
) -> TriageResult:
    """Triage every dump under ``paths``: one row per dump.

    Args:
        paths: files and directories (walked for ``.dmp``/``.mdmp``, their
            ``.gz``/``.xz`` forms and dump members of ``.zip`` archives).
        jobs: worker processes (default ``os.cpu_count()``); 0 runs in this process.
        client: a ``distributed.Client``: run on that Dask cluster instead.
        out: result file (``.jsonl`` or ``.parquet``) to extend; dumps already
            in it are not redone.
        symbols: ``symbols=`` entries for the analysis.
        timeout: seconds one dump may take before its worker is killed and
            the dump recorded as timed out.
        modules: module names whose versions every row should record.
        retry_errors: redo dumps whose stored row is an error.
        progress: called as ``progress(done, total)`` as work finishes.
        memory_limit: bytes a worker process may allocate per dump beyond its
            baseline and the dump's size (None: unlimited); a dump needing more
            gets an error row of kind "memory-limit". Local workers only.

    Returns:
        The rows of the dumps found, sorted by path, as a :class:`TriageResult`.
        A skipped dump gets its stored row (found by sha256), with this run's
        path. Every path keeps its own row, here and in the result file;
        byte-identical copies are marked with ``duplicate_of`` (the first copy's path).

    Raises:
        SourceError: a path does not exist.
        ValueError: ``out`` is neither ``.jsonl`` nor ``.parquet``.
        ImportError: Parquet output without pyarrow.
        WorkerStartError: worker processes cannot be started.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    refs = list(dict.fromkeys(find_dumps(paths)))  # a file named twice is one dump
    store = ResultStore(out)
    cfg = WorkerConfig(
        symbols=tuple(os.fspath(s) for s in symbols or ()),
        modules=tuple(modules),
        skip=store.known(retry_errors=retry_errors),
        memory_limit=memory_limit,
    )
    jobs = os.cpu_count() or 1 if jobs is None else max(0, int(jobs))
    got: dict[DumpRef, TriageRow] = {}
    analysed = skipped = 0
    total = len(refs)
    done = 0
    try:
        if refs:
            batches: Iterator[list[Result]]
            if client is not None:
                batches = _dask(refs, cfg, client, timeout)
            else:
                batches = ([r] for r in _local(refs, cfg, jobs, timeout))
            for batch in batches:
                for ref, row in batch:
                    if isinstance(row, Skipped):
                        stored = store.get(row.sha256)
                        if stored is None:  # pragma: no cover - the store gave the hash
                            continue
                        # the same bytes may have been stored under another name:
                        # this path gets its own row (marked a duplicate at close)
                        row = replace(stored, path=ref.path, member=ref.member,
                                      compression=ref.compression, duplicate_of=None)
                        if row_key(row) in store.rows:
                            row = replace(row, duplicate_of=store.rows[row_key(row)].duplicate_of)
                        store.append(row)
                        got[ref] = row
                        skipped += 1
                    else:
                        store.append(row)
                        got[ref] = row
                        analysed += 1
                    done += 1
                if progress is not None:
                    progress(done, total)
    except BaseException:
        store.close(finish=False)
        raise
    store.close()  # marks byte-identical copies (duplicate_of)
    rows = sorted((store.rows.get(row_key(r), r) for r in got.values()),
                  key=lambda r: (r.path, r.member or ""))
    return TriageResult(rows, analysed=analysed, skipped=skipped,
                        out=os.fspath(out) if out is not None else None)
