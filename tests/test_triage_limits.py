"""Triage workers within bounds (issue 14): a worker killed by the time limit
leaves no spill file, a runaway worker meets its memory limit, and archives
of many members cost O(N).

The runaway and the hang are injected through the worker's test hook
(``DUMPLIB_TRIAGE_FAULTS``), so they take the same code path a real one takes;
the expected outcome comes from the supervisor contract (one error row per
dump, the run goes on).
"""

from __future__ import annotations

import gzip
import json
import os
import time
from pathlib import Path

import pytest

from dumplib.triage import DumpRef
from dumplib.triage.pool import WorkerPool
from dumplib.triage.run import triage
from dumplib.triage.worker import FAULTS_ENV, WorkerConfig
from tests._limits import ROOT

SAMPLE = ROOT / "dumplib" / "samples" / "test.dmp"


def _spills(d: Path) -> list[str]:
    return [n for n in os.listdir(d) if n.startswith("dumplib-")]


def test_a_worker_killed_by_the_timeout_leaves_no_spill_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spill = tmp_path / "tmp"
    spill.mkdir()
    monkeypatch.setenv("TMPDIR", str(spill))  # the workers' temp directory
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    data = SAMPLE.read_bytes()
    for name in ("a.dmp.gz", "b.dmp.gz"):
        (dumps / name).write_bytes(gzip.compress(data))
    monkeypatch.setenv(FAULTS_ENV, json.dumps({"a.dmp.gz": "hang"}))
    cfg = WorkerConfig(in_memory_limit=1000)  # every dump spills to a file
    refs = [DumpRef(str(dumps / n), None, "gzip") for n in ("a.dmp.gz", "b.dmp.gz")]
    t0 = time.monotonic()
    rows = dict(WorkerPool(1, cfg, timeout=3).run(refs))
    assert time.monotonic() - t0 < 60
    by_name = {Path(r.path).name: r for r in rows.values()}
    assert by_name["a.dmp.gz"].bucket == "ERROR/timeout"
    assert by_name["b.dmp.gz"].error is None
    assert _spills(spill) == []  # neither spill files nor worker directories are left


def test_a_runaway_worker_meets_its_memory_limit(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    for name in ("hog.dmp", "fine.dmp"):
        (dumps / name).write_bytes(SAMPLE.read_bytes())
    monkeypatch.setenv(FAULTS_ENV, json.dumps({"hog.dmp": "hog"}))
    t0 = time.monotonic()
    result = triage(dumps, jobs=1, timeout=60, memory_limit=256 << 20)
    assert time.monotonic() - t0 < 60
    rows = {Path(r.path).name: r for r in result}
    assert rows["hog.dmp"].bucket == "ERROR/memory-limit", rows["hog.dmp"]
    assert "memory limit" in (rows["hog.dmp"].error or "")
    assert rows["fine.dmp"].error is None  # the same worker goes on after the limit


def test_the_memory_limit_follows_each_dump_size(tmp_path: Path) -> None:
    """A large dump after a small one in the same worker is not refused by the
    small one's limit (the limit is the dump's size plus the allowance)."""
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    (dumps / "a.dmp").write_bytes(SAMPLE.read_bytes())
    big = dumps / "b.dmp"
    big.write_bytes(SAMPLE.read_bytes())
    with big.open("r+b") as f:
        f.truncate(512 << 20)  # sparse: trailing bytes the dump does not use
    result = triage(dumps, jobs=1, timeout=120, memory_limit=64 << 20)
    rows = {Path(r.path).name: r for r in result}
    assert rows["a.dmp"].error is None
    assert rows["b.dmp"].error is None, rows["b.dmp"].error
