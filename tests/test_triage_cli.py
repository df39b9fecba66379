"""``dumplib triage`` on the command line: the JSON summary, the table, Parquet output read
back with pyarrow on its own, quiet output in pipes and the exit statuses.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from dumplib.cli import main
from dumplib.triage import pool as pool_mod
from dumplib.triage.corpus import KINDS, CorpusDump, build_corpus
from dumplib.triage.worker import WorkerConfig

COUNT = 2 * len(KINDS)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[CorpusDump]:
    return build_corpus(tmp_path_factory.mktemp("corpus"), COUNT, min_size=20_000,
                        max_size=200_000, seed=5)


def _dir(corpus: list[CorpusDump]) -> str:
    return str(Path(corpus[0].path).parent)


def test_json_summary(corpus: list[CorpusDump], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["triage", _dir(corpus), "--jobs", "2", "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""  # no progress bar when stderr is not a terminal
    doc = json.loads(captured.out)
    assert doc["dumps"] == COUNT and doc["analysed"] == COUNT and doc["errors"] == 0
    assert "rows" not in doc
    assert sorted(b["count"] for b in doc["buckets"]) == [2] * len(KINDS)
    by_kind = Counter(c.kind for c in corpus)
    assert sorted(by_kind.values()) == [2] * len(KINDS)
    examples = {b["example"] for b in doc["buckets"]}
    latest: dict[int, CorpusDump] = {}
    for c in corpus:
        if c.kind not in latest or c.dump_time > latest[c.kind].dump_time:
            latest[c.kind] = c
    assert examples == {c.path for c in latest.values()}
    for b in doc["buckets"]:
        assert isinstance(b["first_time"], int) and b["first"].endswith("Z")


def test_table_and_parquet(corpus: list[CorpusDump], tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    pq = pytest.importorskip("pyarrow.parquet")  # the 'parquet' extra
    out = tmp_path / "rows.parquet"
    assert main(["triage", _dir(corpus), "-j", "1", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"{COUNT} dumps, {len(KINDS)} buckets" in text
    for kind in KINDS:
        assert kind.process in text
    table = pq.read_table(out)
    assert table.num_rows == COUNT
    want = {c.path: hashlib.sha256(Path(c.path).read_bytes()).hexdigest() for c in corpus}
    assert dict(zip(table.column("path").to_pylist(), table.column("sha256").to_pylist(),
                    strict=True)) == want
    assert main(["triage", _dir(corpus), "-j", "1", "--out", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["skipped"] == COUNT and doc["analysed"] == 0


def test_exit_statuses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["triage", str(tmp_path / "missing")]) == 1
    assert "no such file" in capsys.readouterr().err
    assert main(["triage", str(tmp_path), "--out", str(tmp_path / "x.csv")]) == 2
    assert ".jsonl or .parquet" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["triage", str(tmp_path), "--jobs", "-1"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        main(["triage", str(tmp_path), "--timeout", "0"])
    assert e.value.code == 2
    capsys.readouterr()
    assert main(["triage", str(tmp_path), "--json"]) == 0  # an empty directory
    assert json.loads(capsys.readouterr().out)["dumps"] == 0


def test_module_entry_point_in_a_pipe(corpus: list[CorpusDump]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dumplib", "triage", corpus[0].path, "-j", "1", "--json",
         "--rows", "--module", "KERNEL32.dll"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    (row,) = json.loads(done.stdout)["rows"]
    assert row["modules"]["kernel32.dll"] == "10.0.19041.3636"


def test_reused_workers_survive_between_pools(corpus: list[CorpusDump]) -> None:
    from dumplib.triage import DumpRef

    cfg = WorkerConfig()
    refs = [DumpRef(c.path) for c in corpus[:2]]
    try:
        first = list(pool_mod.WorkerPool(1, cfg, reuse=True).run(refs))
        idle = [c for stack in pool_mod._IDLE.values() for c in stack]
        assert len(idle) == 1 and idle[0].proc.poll() is None
        pid = idle[0].proc.pid
        second = list(pool_mod.WorkerPool(1, cfg, reuse=True).run(refs))
        again = [c for stack in pool_mod._IDLE.values() for c in stack]
        assert [c.proc.pid for c in again] == [pid]
        assert first == second
    finally:
        for stack in pool_mod._IDLE.values():
            for c in stack:
                c.finish()
        pool_mod._IDLE.clear()


def test_ctrl_c_keeps_the_journal(corpus: list[CorpusDump], tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    import dumplib.cli.triage as cli_triage
    from dumplib.triage.run import triage as real_triage

    out = tmp_path / "rows.jsonl"

    def interrupted(*args: object, **kwargs: object) -> object:
        def stop(done: int, total: int) -> None:
            if done == 2:
                raise KeyboardInterrupt

        kwargs["progress"] = stop
        return real_triage(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(cli_triage, "triage", interrupted)
    assert main(["triage", _dir(corpus), "-j", "1", "--out", str(out)]) == 130
    assert "run again to resume" in capsys.readouterr().err
    assert len(out.read_text().splitlines()) == 2
    monkeypatch.undo()
    assert main(["triage", _dir(corpus), "-j", "1", "--out", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["skipped"] == 2 and doc["analysed"] == COUNT - 2
