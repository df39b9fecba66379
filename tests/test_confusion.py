"""The confusion table over the whole fixture corpus (tools/confusion.py): no false
positive at 0.5 or above, every labelled positive found, every finding with facts
and misses, and docs/confusion.md current.

Labels come from each wine scenario's truth.json (written from the program's
source) and from how each builder variant was built, not from dumplib.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

import dumplib
from tools.confusion import ROOT, Row, collect, markdown, table

Corpus = tuple[list[Row], dict[str, dict[str, list[str]]]]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dumplib.DumpWarning)
        rows = collect(tmp_path_factory.mktemp("confusion"))
    return rows, table(rows)


def test_no_false_positives_and_no_missed_positives(corpus: Corpus) -> None:
    _, cells = corpus
    for fid, c in cells.items():
        assert c["fp"] == [], (fid, c["fp"])
        assert c["fn"] == [], (fid, c["fn"])
    # Both case detectors have positives and look-alike negatives in the corpus.
    for fid in ("clr-double-io-completion", "hung-stop-network-io"):
        assert len(cells[fid]["tp"]) >= 3 and len(cells[fid]["tn"]) >= 3


def test_every_finding_carries_facts_and_misses(corpus: Corpus) -> None:
    rows, _ = corpus
    assert [(r.name, r.without_evidence) for r in rows if r.without_evidence] == []


def test_wine_negative_controls_are_in_the_corpus(corpus: Corpus) -> None:
    rows, _ = corpus
    names = {r.name for r in rows}
    for scenario in ("idleserver", "cleanstop", "iocpmanaged"):
        assert f"wine/{scenario}/{scenario}.dmp" in names


def test_docs_table_is_current(corpus: Corpus) -> None:
    rows, cells = corpus
    written = (Path(ROOT) / "docs" / "confusion.md").read_text(encoding="utf-8")
    assert written == markdown(rows, cells), "run: python tools/confusion.py"
