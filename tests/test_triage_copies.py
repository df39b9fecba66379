"""Triage result files keep one row per input path in both formats; byte-identical
copies are marked, not dropped; integer columns stay integers; progress lines.

Oracles: the files this test creates (their names, and sha256 by hashlib), the
JSONL file read with the json module next to the Parquet file read with pyarrow
and pandas, the exception code of case B from its fixture's truth.json, and a
fake clock for the progress lines.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from pathlib import Path

import pytest

from dumplib.cli import main
from dumplib.samples import sample_path
from dumplib.triage import progress as progress_mod
from dumplib.triage import read_results, triage
from dumplib.triage.progress import LogProgress

ROOT = Path(__file__).resolve().parent.parent
TRUTH = json.loads((ROOT / "fixtures/wine/caseb/truth.json").read_text())

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


@pytest.fixture
def pile(tmp_path: Path) -> Path:
    d = tmp_path / "in"
    d.mkdir()
    shutil.copy(sample_path(), d / "a.dmp")
    shutil.copy(sample_path(), d / "b.dmp")          # a byte-identical copy of a.dmp
    shutil.copy(sample_path("test.dmp"), d / "c.dmp")
    (d / "d.dmp").write_bytes(b"not a dump at all" * 4)  # unreadable: null integer columns
    return d


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("jobs", [0, 2])
def test_both_formats_keep_a_row_per_path_and_mark_copies(pile: Path, tmp_path: Path,
                                                          jobs: int) -> None:
    files = sorted(pile.iterdir())
    triage([pile], jobs=jobs, out=tmp_path / "r.jsonl")
    triage([pile], jobs=jobs, out=tmp_path / "r.parquet")
    docs = _jsonl(tmp_path / "r.jsonl")
    table = pq.read_table(tmp_path / "r.parquet")
    assert len(docs) == table.num_rows == len(files)
    assert sorted(d["path"] for d in docs) == sorted(table.column("path").to_pylist()) == [
        str(f) for f in files]
    for doc in docs:
        assert doc["sha256"] == _sha(Path(str(doc["path"])))
    by_path = {r["path"]: r for r in table.to_pylist()}
    for doc in docs:
        assert by_path[doc["path"]]["duplicate_of"] == doc["duplicate_of"]
    dup = {Path(str(d["path"])).name: d["duplicate_of"] for d in docs}
    assert dup == {"a.dmp": None, "b.dmp": str(pile / "a.dmp"), "c.dmp": None, "d.dmp": None}


def test_a_later_copy_gets_its_own_marked_row(pile: Path, tmp_path: Path) -> None:
    for name in ("r.jsonl", "r.parquet"):
        out = tmp_path / name
        triage([pile], jobs=0, out=out)
        extra = tmp_path / "later" / "e.dmp"
        extra.parent.mkdir(exist_ok=True)
        shutil.copy(sample_path(), extra)
        result = triage([pile, extra.parent], jobs=0, out=out)
        assert result.analysed == 0 and result.skipped == 5
        rows = {r.path: r for r in read_results(out)}
        assert len(rows) == 5
        assert rows[str(extra)].duplicate_of == str(pile / "a.dmp")
        assert rows[str(extra)].sha256 == _sha(extra)
        if name == "r.jsonl":
            assert len(out.read_text().splitlines()) == 5


def test_integer_columns_stay_integers(pile: Path, tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    out = tmp_path / "r.parquet"
    triage([pile], jobs=0, out=out)
    schema = pq.read_schema(out)
    assert schema.field("exception_code").type == pa.uint64()
    assert schema.field("process_id").type == pa.int64()
    df = pd.read_parquet(out)
    for col, dtype in {"exception_code": "UInt64", "exception_address": "UInt64",
                       "fault_offset": "UInt64", "process_id": "Int64",
                       "exception_thread": "Int64", "size": "Int64"}.items():
        assert str(df[col].dtype) == dtype, col
    row = df.set_index("path").loc[str(pile / "a.dmp")]
    assert row["exception_code"] == TRUTH["exception"]["code"]
    assert pd.isna(df.set_index("path").loc[str(pile / "d.dmp"), "process_id"])


def test_log_progress_lines_at_most_every_interval() -> None:
    now = [100.0]
    out = io.StringIO()
    log = LogProgress(out, interval=10, clock=lambda: now[0])
    for done in range(1, 41):
        now[0] += 1.0  # one dump a second
        log(done, 40)
    log.finish()
    lines = out.getvalue().splitlines()
    assert lines[0] == "triage: 10/40 dumps (25%), 1.0 dumps/s, about 30s left"
    assert len(lines) == 5 and lines[-1] == "triage: 40/40 dumps (100%), 1.0 dumps/s, done in 40s"


def test_log_progress_is_quiet_for_short_runs() -> None:
    out = io.StringIO()
    log = LogProgress(out, interval=10, clock=lambda: 0.0)
    log(1, 1)
    log.finish()
    assert out.getvalue() == ""


def test_cli_prints_log_lines_when_stderr_is_not_a_terminal(
        pile: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(progress_mod, "DEFAULT_INTERVAL", 0.0)
    assert main(["triage", str(pile), "--jobs", "0", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["dumps"] == 4
    lines = err.splitlines()
    assert [ln.split(" dumps")[0] for ln in lines[:4]] == [f"triage: {i}/4" for i in range(1, 5)]
    assert lines[-1].startswith("triage: 4/4 dumps (100%)")


def test_summary_and_view_count_the_copies(pile: Path) -> None:
    from dumplib.views.html import triage_html

    result = triage([pile], jobs=0)
    by_bucket = {b.bucket: b for b in result.summary()}
    (caseb,) = [r for r in result if r.path.endswith("a.dmp")]
    assert by_bucket[caseb.bucket].count == 2 and by_bucket[caseb.bucket].duplicates == 1
    assert sum(b.duplicates for b in by_bucket.values()) == 1
    assert by_bucket[caseb.bucket].to_json()["duplicates"] == 1
    assert f"copy of {pile / 'a.dmp'}" in triage_html(result)
