"""Incremental and resumable triage: result files, journals, torn lines, interrupted runs,
and dumps that hang or kill their worker (recorded, and the run goes on).

Hangs and crashes are injected through ``DUMPLIB_TRIAGE_FAULTS`` (documented in
:mod:`dumplib.triage.worker`), which the worker subprocesses inherit: the pool
sees a real hung process and a real dead one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dumplib._exc import CorruptDumpError
from dumplib.triage import TriageRow, read_results, rows_to_dataframe
from dumplib.triage.corpus import CorpusDump, build_corpus
from dumplib.triage.rows import rows_from_table, rows_to_table
from dumplib.triage.run import TriageResult, triage
from dumplib.triage.worker import FAULTS_ENV

COUNT = 8


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[CorpusDump]:
    return build_corpus(tmp_path_factory.mktemp("corpus"), COUNT, min_size=20_000,
                        max_size=200_000, seed=11)


@pytest.fixture(scope="module")
def baseline(corpus: list[CorpusDump]) -> list[TriageRow]:
    return list(triage([c.path for c in corpus], jobs=0))


def _paths(corpus: list[CorpusDump]) -> list[str]:
    return [c.path for c in corpus]


def test_jsonl_rerun_skips_known_dumps(corpus: list[CorpusDump], baseline: list[TriageRow],
                                       tmp_path: Path) -> None:
    out = tmp_path / "rows.jsonl"
    first = triage(_paths(corpus)[:5], jobs=0, out=out)
    assert first.analysed == 5 and first.skipped == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 5
    # Mark one stored row: if the dump were redone, the mark would be lost.
    docs = [json.loads(x) for x in lines]
    docs[2]["bucket"] = "MARKED"
    out.write_text("".join(json.dumps(d) + "\n" for d in docs))
    second = triage(_paths(corpus), jobs=0, out=out)
    assert second.analysed == COUNT - 5 and second.skipped == 5
    assert second[2].bucket == "MARKED"
    assert [replace(r, bucket="") for r in second] == [replace(r, bucket="") for r in baseline]
    assert len(out.read_text().splitlines()) == COUNT
    assert sorted(r.sha256 or "" for r in read_results(out)) == sorted(
        hashlib.sha256(Path(c.path).read_bytes()).hexdigest() for c in corpus)


def test_interrupted_run_resumes(corpus: list[CorpusDump], baseline: list[TriageRow],
                                 tmp_path: Path) -> None:
    out = tmp_path / "rows.jsonl"

    def stop_after_three(done: int, total: int) -> None:
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        triage(_paths(corpus), jobs=1, out=out, progress=stop_after_three)
    assert len(read_results(out)) == 3
    # A run killed mid-write leaves a torn last line.
    with open(out, "ab") as f:
        f.write(b'{"path": "/x/torn.dmp", "sha2')
    resumed = triage(_paths(corpus), jobs=1, out=out)
    assert resumed.skipped == 3 and resumed.analysed == COUNT - 3
    assert list(resumed) == baseline
    text = out.read_text()
    assert text.endswith("\n") and "torn" not in text
    assert len(text.splitlines()) == COUNT


def test_parquet_journal_then_file(corpus: list[CorpusDump], baseline: list[TriageRow],
                                   tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")  # the 'parquet' extra
    out = tmp_path / "rows.parquet"
    journal = tmp_path / "rows.parquet.journal.jsonl"

    def stop(done: int, total: int) -> None:
        if done == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        triage(_paths(corpus), jobs=1, out=out, progress=stop)
    assert not out.exists()
    assert len(journal.read_text().splitlines()) == 4
    result = triage(_paths(corpus), jobs=1, out=out)
    assert result.skipped == 4 and result.analysed == COUNT - 4
    assert not journal.exists()
    table = pq.read_table(out)
    assert table.num_rows == COUNT
    assert sorted(table.column("sha256").to_pylist()) == sorted(r.sha256 or "" for r in baseline)
    assert str(table.schema.field("exception_address").type) == "uint64"
    assert sorted(rows_from_table(table), key=lambda r: r.path) == baseline
    again = triage(_paths(corpus), jobs=1, out=out)
    assert again.skipped == COUNT and again.analysed == 0
    assert list(again) == baseline


def test_hung_and_crashing_dumps_are_recorded_and_the_run_goes_on(
    corpus: list[CorpusDump], baseline: list[TriageRow], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    names = [Path(c.path).name for c in corpus]
    monkeypatch.setenv(FAULTS_ENV, json.dumps({names[1]: "hang", names[4]: "crash",
                                               names[6]: "raise"}))
    out = tmp_path / "rows.jsonl"
    result = triage(_paths(corpus), jobs=2, timeout=3, out=out)
    assert len(result) == COUNT
    by_name = {Path(r.path).name: r for r in result}
    hung, dead, raised = by_name[names[1]], by_name[names[4]], by_name[names[6]]
    assert hung.bucket == "ERROR/timeout"
    assert "timed out after 3 s" in (hung.error or "")
    assert hung.sha256 == baseline[1].sha256 and hung.size == baseline[1].size
    assert dead.bucket == "ERROR/worker-died"
    assert "exit status 86" in (dead.error or "")
    assert dead.sha256 == baseline[4].sha256
    assert raised.bucket == "ERROR/internal" and "injected failure" in (raised.error or "")
    others = [r for i, r in enumerate(result) if i not in (1, 4, 6)]
    assert others == [r for i, r in enumerate(baseline) if i not in (1, 4, 6)]
    assert result.errors == 3

    # Errors are kept (not redone) unless asked; the fault is gone now.
    monkeypatch.delenv(FAULTS_ENV)
    kept = triage(_paths(corpus), jobs=2, out=out)
    assert kept.analysed == 0 and kept.errors == 3
    retried = triage(_paths(corpus), jobs=2, out=out, retry_errors=True)
    assert retried.analysed == 3 and retried.errors == 0
    assert list(retried) == baseline
    assert sorted(read_results(out), key=lambda r: r.path) == baseline


def test_corrupt_result_file_is_refused(corpus: list[CorpusDump], tmp_path: Path) -> None:
    out = tmp_path / "rows.jsonl"
    out.write_text('{"path": "/a.dmp"}\nnot json\n{"path": "/b.dmp"}\n')
    with pytest.raises(CorruptDumpError, match="line 2"):
        triage(_paths(corpus)[:1], jobs=0, out=out)
    out.write_text('{"bucket": "no path"}\n')
    with pytest.raises(CorruptDumpError):
        read_results(out)
    with pytest.raises(ValueError, match=r"\.jsonl or \.parquet"):
        triage(_paths(corpus)[:1], jobs=0, out=tmp_path / "rows.csv")


def test_dataframe(baseline: list[TriageRow]) -> None:
    pd = pytest.importorskip("pandas")  # the 'dataframe' extra
    df = rows_to_dataframe(baseline)
    assert len(df) == COUNT
    assert list(df["sha256"]) == [r.sha256 for r in baseline]
    assert str(df["exception_address"].dtype) == "UInt64"
    assert [int(x) for x in df["exception_address"]] == [r.exception_address for r in baseline]
    assert df["dump_time"].iloc[0] == pd.Timestamp(baseline[0].dump_time or 0, unit="s", tz="UTC")
    assert TriageResult(baseline).to_dataframe().equals(df)


_u64 = st.integers(0, 2**64 - 1)
_opt_text = st.none() | st.text(max_size=20)
_times = st.none() | st.integers(0, 2**33)
_rows = st.builds(
    TriageRow,
    path=st.text(min_size=1, max_size=30),
    member=_opt_text,
    compression=st.sampled_from([None, "gzip", "xz", "zip"]),
    size=st.none() | st.integers(0, 2**62),
    sha256=st.none() | st.text("0123456789abcdef", min_size=64, max_size=64),
    process=_opt_text,
    process_version=_opt_text,
    process_id=st.none() | st.integers(0, 2**32 - 1),
    modules=st.lists(st.tuples(st.text(max_size=10), st.text(max_size=10)), max_size=3,
                     unique_by=lambda kv: kv[0]).map(tuple),
    exception_code=st.none() | st.integers(0, 2**32 - 1),
    exception_address=st.none() | _u64,
    fault_offset=st.none() | _u64,
    bucket=st.text(max_size=40),
    frames=st.lists(st.text(max_size=10), max_size=3).map(tuple),
    findings=st.lists(st.text(max_size=10), max_size=3).map(tuple),
    dump_time=_times,
    process_create_time=_times,
    warnings=st.lists(st.text(max_size=10), max_size=2).map(tuple),
    error=_opt_text,
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_rows, max_size=4))
def test_rows_survive_json_and_parquet(rows: list[TriageRow]) -> None:
    assert [TriageRow.from_json(json.loads(json.dumps(r.to_json()))) for r in rows] == rows
    pytest.importorskip("pyarrow")
    assert rows_from_table(rows_to_table(rows)) == rows


def test_times_are_utc() -> None:
    pytest.importorskip("pyarrow")
    row = TriageRow(path="/a.dmp", dump_time=1_700_000_000)
    table = rows_to_table([row])
    got = table.column("dump_time").to_pylist()[0]
    assert got == dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.timezone.utc)
    assert os.path.basename(row.display_path) == "a.dmp"


def test_one_worker_requeues_the_dumps_behind_a_hang(
    corpus: list[CorpusDump], baseline: list[TriageRow], monkeypatch: pytest.MonkeyPatch,
) -> None:
    names = [Path(c.path).name for c in corpus]
    monkeypatch.setenv(FAULTS_ENV, json.dumps({names[0]: "crash", names[1]: "hang"}))
    result = triage(_paths(corpus), jobs=1, timeout=2)
    assert [r.bucket for r in result[:2]] == ["ERROR/worker-died", "ERROR/timeout"]
    assert list(result[2:]) == baseline[2:]


def test_a_copy_of_a_known_dump_is_not_redone(corpus: list[CorpusDump], tmp_path: Path) -> None:
    import shutil

    out = tmp_path / "rows.jsonl"
    first = triage([corpus[0].path, corpus[0].path], jobs=0, out=out)
    assert len(first) == 1 and first.analysed == 1
    copy = tmp_path / "renamed.dmp"
    shutil.copy(corpus[0].path, copy)
    (row,) = triage([copy], jobs=0, out=out)
    assert row.path == str(copy) and row.duplicate_of == first[0].path
    assert replace(row, path=first[0].path, duplicate_of=None) == first[0]
    assert len(out.read_text().splitlines()) == 2  # one row per path, the copy marked
