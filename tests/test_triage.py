"""Batch triage on one machine: rows against how each dump was built, compressed inputs,
the worker pool against in-process runs, and what the parser fallback buckets.

The corpus comes from :func:`dumplib.triage.corpus.build_corpus`, which records
what it wrote (process, version, exception, faulting module and offset, process
id, dump time) without reading the files back; hashes are computed here with
hashlib over the files' bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import lzma
import os
import shutil
import tempfile
import zipfile
from collections import defaultdict
from pathlib import Path

import pytest

import dumplib
from dumplib._exc import SourceError
from dumplib.source import Source
from dumplib.triage import (
    DumpRef,
    TriageRow,
    find_dumps,
    load_dump,
    summarize,
)
from dumplib.triage import worker as worker_mod
from dumplib.triage.corpus import KINDS, CorpusDump, build_corpus
from dumplib.triage.run import triage

PER_KIND = 3

#: Exception names from ntstatus.h / the MSVC runtime, as the fallback bucket spells them.
FALLBACK_KIND = {
    0xC0000005: "ACCESS_VIOLATION",
    0xC00000FD: "STACK_OVERFLOW",
    0xC0000409: "STACK_BUFFER_OVERRUN",
    0xE06D7363: "CPP_EH_EXCEPTION",
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[CorpusDump]:
    d = tmp_path_factory.mktemp("corpus")
    return build_corpus(d, PER_KIND * len(KINDS), min_size=20_000, max_size=400_000)


@pytest.fixture(scope="module")
def local_rows(corpus: list[CorpusDump]) -> list[TriageRow]:
    return list(triage(os.path.dirname(corpus[0].path), jobs=2))


def _sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _version(v: tuple[int, int, int, int]) -> str:
    return ".".join(map(str, v))


def _same_dump(row: TriageRow) -> TriageRow:
    """A row with where-it-was-read fields blanked, to compare a dump across containers."""
    from dataclasses import replace

    return replace(row, path="", member=None, compression=None)


def test_rows_match_how_the_dumps_were_built(
    corpus: list[CorpusDump], local_rows: list[TriageRow]
) -> None:
    assert [r.path for r in local_rows] == [c.path for c in corpus]
    for c, r in zip(corpus, local_rows, strict=True):
        assert r.error is None, r.error
        assert r.analysis == "analyze"
        assert r.size == c.size == os.path.getsize(c.path)
        assert r.sha256 == _sha(c.path)
        assert r.process == c.process
        assert r.process_version == _version(c.process_version)
        assert r.process_id == c.process_id
        assert r.arch == "amd64"
        assert r.os_version == "10.0.19045"
        assert r.exception_code == c.code
        assert r.exception_address == c.address
        assert r.exception_thread == c.thread_id
        assert r.fault_module == c.fault_module
        assert r.fault_offset == c.fault_offset
        assert r.dump_time == c.dump_time
        assert r.process_create_time == c.dump_time - 3600
        assert r.frames[0] == f"{c.fault_module}+0x{c.fault_offset:x}"
        modules = dict(r.modules)
        assert modules[c.process] == _version(c.process_version)
        assert c.fault_module in modules


def test_buckets_group_the_kinds(corpus: list[CorpusDump], local_rows: list[TriageRow]) -> None:
    by_kind: dict[int, set[str]] = defaultdict(set)
    for c, r in zip(corpus, local_rows, strict=True):
        by_kind[c.kind].add(r.bucket)
    assert all(len(b) == 1 for b in by_kind.values()), by_kind
    assert len({next(iter(b)) for b in by_kind.values()}) == len(KINDS)

    summary = summarize(local_rows)
    assert sorted(s.count for s in summary) == [PER_KIND] * len(KINDS)
    for s in summary:
        members = [c for c, r in zip(corpus, local_rows, strict=True) if r.bucket == s.bucket]
        assert s.first_time == min(c.dump_time for c in members)
        assert s.last_time == max(c.dump_time for c in members)
        assert s.processes == (members[0].process,)
        assert s.example == max(members, key=lambda c: c.dump_time).path
        assert set(s.versions) == {f"{c.process} {_version(c.process_version)}" for c in members}


def test_pool_rows_equal_in_process_rows(
    corpus: list[CorpusDump], local_rows: list[TriageRow]
) -> None:
    in_process = triage([c.path for c in corpus], jobs=0)
    assert list(in_process) == local_rows
    assert in_process.analysed == len(corpus) and in_process.skipped == 0


def test_compressed_and_zipped_dumps_give_the_same_rows(
    corpus: list[CorpusDump], local_rows: list[TriageRow], tmp_path: Path
) -> None:
    src = [Path(c.path) for c in corpus[:4]]
    (tmp_path / "a.dmp.gz").write_bytes(gzip.compress(src[0].read_bytes()))
    (tmp_path / "b.MDMP.xz").write_bytes(lzma.compress(src[1].read_bytes()))
    with zipfile.ZipFile(tmp_path / "batch.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.write(src[2], "x/c.dmp")
        z.write(src[3], "d.mdmp")
        z.writestr("readme.txt", "not a dump")
    (tmp_path / "notes.zip").write_bytes(b"this is not an archive")
    (tmp_path / "notes.txt").write_text("ignored")
    result = triage(tmp_path, jobs=0)
    got = {(Path(r.path).name, r.member): r for r in result}
    assert set(got) == {("a.dmp.gz", None), ("b.MDMP.xz", None), ("batch.zip", "d.mdmp"),
                        ("batch.zip", "x/c.dmp")}
    expect = {("a.dmp.gz", None): (0, "gzip"), ("b.MDMP.xz", None): (1, "xz"),
              ("batch.zip", "x/c.dmp"): (2, "zip"), ("batch.zip", "d.mdmp"): (3, "zip")}
    for key, (i, kind) in expect.items():
        row = got[key]
        assert row.compression == kind
        assert row.sha256 == _sha(corpus[i].path)
        assert _same_dump(row) == _same_dump(local_rows[i])


def test_named_file_compression_is_sniffed(corpus: list[CorpusDump], tmp_path: Path) -> None:
    odd = tmp_path / "upload.bin"
    odd.write_bytes(gzip.compress(Path(corpus[0].path).read_bytes()))
    (row,) = triage([odd], jobs=0)
    assert row.compression == "gzip"
    assert row.sha256 == _sha(corpus[0].path)


def test_large_decompressed_dumps_spill_to_a_temp_file(corpus: list[CorpusDump],
                                                       tmp_path: Path) -> None:
    data = Path(corpus[0].path).read_bytes()
    gz = tmp_path / "big.dmp.gz"
    gz.write_bytes(gzip.compress(data))
    ref = DumpRef(str(gz), None, "gzip")
    before = set(os.listdir(tempfile.gettempdir()))
    with load_dump(ref, in_memory_limit=len(data) // 3) as loaded:
        assert isinstance(loaded.source, Source)
        assert loaded.source.raw is not None and not isinstance(loaded.source.raw, bytes)
        assert bytes(loaded.source.read(0, len(data))) == data
        assert loaded.sha256 == hashlib.sha256(data).hexdigest()
        assert loaded.size == len(data)
        # the spill file has no name on disk while it is in use (POSIX): nothing to leak
        assert not {n for n in set(os.listdir(tempfile.gettempdir())) - before
                    if n.startswith("dumplib-")}
    with pytest.raises(SourceError, match="expands beyond"), load_dump(ref,
                                                                     max_size=len(data) - 1):
        pass


def test_unreadable_inputs_become_error_rows(corpus: list[CorpusDump], tmp_path: Path) -> None:
    good = tmp_path / "good.dmp"
    shutil.copy(corpus[0].path, good)
    (tmp_path / "garbage.dmp").write_bytes(b"NOT A MINIDUMP" * 100)
    (tmp_path / "cut.dmp.gz").write_bytes(gzip.compress(good.read_bytes())[:500])
    (tmp_path / "empty.dmp").write_bytes(b"")
    rows = {Path(r.path).name: r for r in triage(tmp_path, jobs=0)}
    assert rows["good.dmp"].error is None
    garbage = rows["garbage.dmp"]
    assert garbage.bucket == "ERROR/NotADumpError" and garbage.error
    assert garbage.sha256 == _sha(str(tmp_path / "garbage.dmp"))
    cut = rows["cut.dmp.gz"]
    assert cut.bucket == "ERROR/ArchiveError" and "decompress" in (cut.error or "")
    assert cut.sha256 is None
    assert rows["empty.dmp"].error is not None
    assert rows["empty.dmp"].bucket.startswith("ERROR/")


def test_find_dumps_walks_sorted_and_rejects_missing_paths(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "a").mkdir()
    for name in ("b/2.dmp", "a/1.DMP", "a/0.mdmp.xz", "a/skip.txt", "a/x.dmp.bz2", "3.dmp.gz"):
        (tmp_path / name).write_bytes(b"x")
    names = [os.path.relpath(r.path, tmp_path) for r in find_dumps([tmp_path])]
    assert names == ["3.dmp.gz", os.path.join("a", "0.mdmp.xz"), os.path.join("a", "1.DMP"),
                     os.path.join("a", "x.dmp.bz2"), os.path.join("b", "2.dmp")]
    with pytest.raises(SourceError, match="no such file"):
        list(find_dumps([tmp_path / "missing"]))


def test_parser_fallback_bucket_without_the_analysis_layer(
    corpus: list[CorpusDump], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(worker_mod._analysis_cache, "analyze", None)
    rows = triage([c.path for c in corpus[: len(KINDS)]], jobs=0)
    for c, r in zip(corpus[: len(KINDS)], rows, strict=True):
        stem = c.fault_module.lower().rsplit(".", 1)[0]
        assert r.analysis == "parser"
        assert r.findings == ()
        kind = FALLBACK_KIND[c.code]
        assert r.bucket == f"{kind}/{c.fault_module.lower()}/{stem}+0x{c.fault_offset:x}"
        assert r.frames[0] == f"{c.fault_module}+0x{c.fault_offset:x}"
        assert r.exception_code == c.code and r.fault_offset == c.fault_offset


def test_analysis_failure_falls_back_with_a_note(
    corpus: list[CorpusDump], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("bug in a detector")

    monkeypatch.setitem(worker_mod._analysis_cache, "analyze", (broken, []))
    (row,) = triage([corpus[0].path], jobs=0)
    assert row.error is None
    assert row.analysis == "parser"
    assert any("ZeroDivisionError" in w for w in row.warnings)
    assert row.bucket.startswith("ACCESS_VIOLATION/")


def test_public_names() -> None:
    assert dumplib.triage is triage
    assert dumplib.TriageRow is TriageRow


def test_wine_fixtures_through_the_pool() -> None:
    """The real wine dumps (one xz-compressed) triage as dumplib.analyze sees each alone."""
    root = Path(__file__).resolve().parent.parent / "fixtures" / "wine"
    rows = triage(root, jobs=2)
    assert rows and all(r.error is None for r in rows)
    for r in rows:
        if r.compression is not None:
            continue
        with dumplib.open(r.path) as d:
            report = dumplib.analyze(d)
            assert r.bucket == report.bucket
            assert r.findings == tuple(f.id for f in report.findings)
            assert r.process == (d.modules.main.name if d.modules.main else None)
    by_name = {Path(r.path).name: r for r in rows}
    full = by_name["caseb-full.dmp.xz"]
    with lzma.open(full.path) as f:
        raw = f.read()
    assert full.sha256 == hashlib.sha256(raw).hexdigest()
    assert full.size == len(raw)
    assert "clr-double-io-completion" in full.findings


def test_symbols_reach_the_workers() -> None:
    """With the scenario's PDBs on the symbol path, rows name functions as analyze does."""
    case = Path(__file__).resolve().parent.parent / "fixtures" / "wine" / "nullwrite"
    dump = case / "nullwrite.dmp"
    (plain,) = triage([dump], jobs=1)
    (named,) = triage([dump], jobs=1, symbols=[case])
    with dumplib.open(dump) as d:
        report = dumplib.analyze(d, symbols=[case])
    assert named.bucket == report.bucket
    assert named.bucket != plain.bucket
    assert not any("!" in f for f in plain.frames)
    truth = json.loads((case / "truth.json").read_text())
    functions = [f.split("!", 1)[1].rsplit("+", 1)[0] for f in named.frames if "!" in f]
    assert functions[: len(truth["crash_stack"])] == truth["crash_stack"]
    assert named.fault_module == truth["faulting_module"]


def test_broken_signatures_fall_back_to_the_parser(
    corpus: list[CorpusDump], monkeypatch: pytest.MonkeyPatch
) -> None:
    import dumplib.analysis
    from dumplib.analysis import SignatureError

    def boom(*args: object, **kwargs: object) -> None:
        raise SignatureError("bad table", path="x.toml")

    monkeypatch.setattr(worker_mod, "_analysis_cache", {})
    monkeypatch.setattr(dumplib.analysis, "load_signatures", boom)
    (row,) = triage([corpus[0].path], jobs=0)
    assert row.error is None and row.analysis == "parser"
    assert any(w.startswith("analysis unavailable: SignatureError") for w in row.warnings)
