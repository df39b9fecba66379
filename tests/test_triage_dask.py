"""Triage on Dask: a real LocalCluster (worker processes) and a ``dask scheduler`` +
``dask worker`` pair started as subprocesses, all on 127.0.0.1, give the same rows as
the local pool. Dask is an optional extra, hence the import-or-skip.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dumplib.cli import main
from dumplib.triage import TriageRow
from dumplib.triage.corpus import CorpusDump, build_corpus
from dumplib.triage.run import triage
from dumplib.triage.worker import FAULTS_ENV

distributed = pytest.importorskip("distributed")  # the 'dask' extra

COUNT = 10


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[CorpusDump]:
    return build_corpus(tmp_path_factory.mktemp("corpus"), COUNT, min_size=20_000,
                        max_size=300_000, seed=23)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_local_cluster_equals_local_pool(corpus: list[CorpusDump], tmp_path: Path) -> None:
    paths = [c.path for c in corpus]
    local = triage(paths, jobs=2)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        out = tmp_path / "rows.jsonl"
        remote = triage(paths, client=client, out=out)
        assert list(remote) == list(local)
        assert remote.analysed == COUNT
        again = triage(paths, client=client, out=out)
        assert again.skipped == COUNT and again.analysed == 0
        assert list(again) == list(local)


@contextlib.contextmanager
def _dask_pair(env: dict[str, str]) -> Iterator[str]:
    dask = Path(sys.executable).with_name("dask")
    if not dask.exists():
        pytest.skip("the dask command is not installed next to this interpreter")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = [subprocess.Popen(
        [str(dask), "scheduler", "--host", "127.0.0.1", "--port", str(port),
         "--no-dashboard", "--no-show"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        procs.append(subprocess.Popen(
            [str(dask), "worker", address, "--host", "127.0.0.1", "--nworkers", "1",
             "--nthreads", "2", "--no-dashboard"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 60
        while True:
            try:
                with distributed.Client(address, timeout="5s") as c:
                    c.wait_for_workers(1, timeout=60)
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def test_dask_scheduler_and_worker_subprocesses_via_cli(
    corpus: list[CorpusDump], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    crash = Path(corpus[3].path).name
    faults = json.dumps({crash: "crash"})
    monkeypatch.setenv(FAULTS_ENV, faults)
    local = triage([c.path for c in corpus], jobs=2)
    crashed = [r for r in local if r.error is not None]
    assert [Path(r.path).name for r in crashed] == [crash]
    assert crashed[0].bucket == "ERROR/worker-died"

    env = dict(os.environ, **{FAULTS_ENV: faults})
    directory = os.path.dirname(corpus[0].path)
    out = tmp_path / "rows.jsonl"
    with _dask_pair(env) as address:
        code = main(["triage", directory, "--dask", address, "--out", str(out), "--json",
                     "--rows"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    rows = [TriageRow.from_json(d) for d in doc["rows"]]
    assert rows == list(local)
    assert doc["dumps"] == COUNT and doc["errors"] == 1
    assert sum(b["count"] for b in doc["buckets"]) == COUNT
