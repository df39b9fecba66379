"""Grouping triage rows by crash bucket: how many of each problem, since when, where.

:func:`summarize` turns rows into one :class:`BucketSummary` per bucket,
largest first. Unreadable dumps form ``ERROR/<kind>`` buckets of their own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dumplib.triage.rows import TriageRow

__all__ = ["BucketSummary", "summarize"]


@dataclass(frozen=True, slots=True)
class BucketSummary:
    """One crash bucket across a batch of dumps.

    Attributes:
        bucket: the bucket string.
        count: dumps in it.
        first_time, last_time: earliest and latest dump time (POSIX seconds,
            UTC), None when no dump in it has one.
        processes: distinct process names, sorted.
        versions: distinct ``process version`` strings (``"app.exe 1.2.3.4"``), sorted.
        findings: distinct finding ids seen in the bucket, sorted.
        example: the path of one dump in it (the latest by dump time).
        error: the error text of that example for ``ERROR/`` buckets.
        duplicates: how many of the ``count`` dumps are byte-identical copies
            of another dump (rows with ``duplicate_of``).
    """

    bucket: str
    count: int
    first_time: int | None
    last_time: int | None
    processes: tuple[str, ...]
    versions: tuple[str, ...]
    findings: tuple[str, ...]
    example: str
    error: str | None = None
    duplicates: int = 0

    def to_json(self) -> dict[str, Any]:
        """The summary as a JSON object (times as POSIX seconds and ISO 8601 text)."""
        return {
            "bucket": self.bucket,
            "count": self.count,
            "first_time": self.first_time,
            "last_time": self.last_time,
            "first": _iso(self.first_time),
            "last": _iso(self.last_time),
            "processes": list(self.processes),
            "versions": list(self.versions),
            "findings": list(self.findings),
            "example": self.example,
            "error": self.error,
            "duplicates": self.duplicates,
        }


def _iso(t: int | None) -> str | None:
    if t is None:
        return None
    return dt.datetime.fromtimestamp(t, tz=dt.timezone.utc).isoformat().replace("+00:00", "Z")


class _Acc:
    __slots__ = ("count", "duplicates", "example", "example_time", "findings", "first", "last",
                 "processes", "row", "versions")

    def __init__(self) -> None:
        self.count = 0
        self.duplicates = 0
        self.first: int | None = None
        self.last: int | None = None
        self.processes: set[str] = set()
        self.versions: set[str] = set()
        self.findings: set[str] = set()
        self.example: TriageRow | None = None
        self.example_time = -1


def summarize(rows: Iterable[TriageRow]) -> list[BucketSummary]:
    """One summary per bucket, most dumps first (ties by bucket name).

    The example of a bucket is its latest dump (by dump time, then path).
    """
    acc: dict[str, _Acc] = {}
    for row in rows:
        a = acc.get(row.bucket)
        if a is None:
            a = acc[row.bucket] = _Acc()
        a.count += 1
        a.duplicates += row.duplicate_of is not None
        t = row.dump_time
        if t is not None:
            a.first = t if a.first is None else min(a.first, t)
            a.last = t if a.last is None else max(a.last, t)
        if row.process:
            a.processes.add(row.process)
            a.versions.add(f"{row.process} {row.process_version or '?'}")
        a.findings.update(row.findings)
        key = t if t is not None else -1
        if (a.example is None or key > a.example_time
                or (key == a.example_time and row.display_path < a.example.display_path)):
            a.example, a.example_time = row, key
    out = []
    for name, a in acc.items():
        assert a.example is not None
        out.append(
            BucketSummary(
                bucket=name,
                count=a.count,
                first_time=a.first,
                last_time=a.last,
                processes=tuple(sorted(a.processes)),
                versions=tuple(sorted(a.versions)),
                findings=tuple(sorted(a.findings)),
                example=a.example.display_path,
                error=a.example.error,
                duplicates=a.duplicates,
            )
        )
    out.sort(key=lambda s: (-s.count, s.bucket))
    return out
