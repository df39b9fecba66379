"""Batch triage: what are the distinct problems in a pile of dumps, how many, since when.

::

    import dumplib

    result = dumplib.triage(["incoming/"], jobs=4, out="triage.parquet")
    for b in result.summary():
        print(b.count, b.bucket, b.versions, b.example)
    df = result.to_dataframe()            # with pandas installed

Each dump becomes one :class:`TriageRow` (path, size, sha256, process and
versions, OS build, exception, bucket, top frames, finding ids, dump time, or
the error that kept it from being read). Work runs in a local pool of worker
processes (:mod:`~dumplib.triage.pool`) or on a Dask cluster
(``client=distributed.Client(...)``); result files (``.jsonl``, ``.parquet``)
make runs incremental (:mod:`~dumplib.triage.store`).
"""

from __future__ import annotations

from dumplib.triage.discover import DumpRef, find_dumps, load_dump
from dumplib.triage.pool import DEFAULT_TIMEOUT, WorkerPool, WorkerStartError
from dumplib.triage.rows import TriageRow, arrow_schema, rows_to_dataframe
from dumplib.triage.run import TriageResult, triage
from dumplib.triage.store import ResultStore, read_results
from dumplib.triage.summary import BucketSummary, summarize
from dumplib.triage.worker import WorkerConfig, analyse, fallback_bucket

__all__ = [
    "DEFAULT_TIMEOUT",
    "BucketSummary",
    "DumpRef",
    "ResultStore",
    "TriageResult",
    "TriageRow",
    "WorkerConfig",
    "WorkerPool",
    "WorkerStartError",
    "analyse",
    "arrow_schema",
    "fallback_bucket",
    "find_dumps",
    "load_dump",
    "read_results",
    "rows_to_dataframe",
    "summarize",
    "triage",
]
