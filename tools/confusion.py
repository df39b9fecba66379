"""Write the confusion table of dumplib's findings over the whole fixture corpus.

The corpus: every wine-made dump in ``fixtures/wine`` (ground truth from each
scenario's ``truth.json``), every dump in ``fixtures/external`` (other
projects' test dumps: none is a field case), and the builder-made variants of
``tools/case_variants.py``. For each finding id the table counts, at the 0.5
threshold, true positives, false negatives, false positives and true
negatives, and lists the dumps behind every non-true cell.

Labels: a dump is a positive for a finding id when its ground truth says so
(``truth.json`` ``expected_findings``, a variant's ``positive``). The wine
programs are labelled for every finding id (their behaviour is known from
their sources); external dumps and builder variants for the two case
detectors only. Findings of other ids on dumps without a label for them are
counted as "unlabelled" and listed.

Usage: ``python tools/confusion.py [--out docs/confusion.md] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import json
import lzma
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import dumplib  # noqa: E402
from dumplib.analysis import Report, analyze  # noqa: E402
from tools.case_variants import all_variants, analyze_variant  # noqa: E402

WINE = ROOT / "fixtures" / "wine"
EXTERNAL = ROOT / "fixtures" / "external"
THRESHOLD = 0.5
CASE_IDS = ("clr-double-io-completion", "hung-stop-network-io")
DETECTOR_IDS = ("deadlock-critical-section", "orphaned-critical-section", "loader-lock-held")


@dataclass
class Row:
    """One dump: its name, the finding ids expected at 0.5+, and what was reported."""

    name: str
    source: str
    expected: set[str]
    labelled: set[str]
    reported: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    without_evidence: list[str] = field(default_factory=list)


def _wine_dumps(tmp: Path) -> Iterator[tuple[str, Path, list[str], dict[str, object]]]:
    for truth_path in sorted(WINE.glob("*/truth.json")):
        truth = json.loads(truth_path.read_text())
        directory = truth_path.parent
        for dmp in sorted(directory.glob("*.dmp")) + sorted(directory.glob("*.dmp.xz")):
            path = dmp
            if dmp.suffix == ".xz":
                path = tmp / directory.name / dmp.name.removesuffix(".xz")
                path.parent.mkdir(parents=True, exist_ok=True)
                with lzma.open(dmp) as fin, path.open("wb") as fout:
                    shutil.copyfileobj(fin, fout, 1 << 20)
            yield (f"wine/{directory.name}/{dmp.name}", path,
                   [str(directory), str(WINE / "system")], truth)


ALL_IDS: set[str] = set()


def collect(tmp: Path) -> list[Row]:
    """Analyze the corpus; one row per dump."""
    from dumplib.analysis import load_signatures

    ALL_IDS.clear()
    ALL_IDS.update({s.id for s in load_signatures()} | set(DETECTOR_IDS))
    rows: list[Row] = []
    for name, path, symbols, truth in _wine_dumps(tmp):
        expected = set(truth.get("expected_findings", []))  # type: ignore[arg-type]
        # The wine programs' behaviour is known in full (their sources): every finding
        # id is labelled on them, positive only where truth.json expects it.
        labelled = ALL_IDS | expected
        row = Row(name, "wine", expected, labelled)
        try:
            with dumplib.open(path) as dump:
                _record(row, analyze(dump, symbols=symbols))
        except dumplib.DumpError as exc:
            row.error = str(exc)
        rows.append(row)
    for path in sorted(EXTERNAL.rglob("*.dmp")):
        row = Row(f"external/{path.relative_to(EXTERNAL)}", "external", set(), set(CASE_IDS))
        try:
            with dumplib.open(path) as dump:
                _record(row, analyze(dump))
        except dumplib.DumpError as exc:
            row.error = f"{type(exc).__name__}: {exc}"[:120]
        rows.append(row)
    for v in all_variants():
        row = Row(f"builder/{v.name}", "builder", {v.finding} if v.positive else set(),
                  set(CASE_IDS))
        _record(row, analyze_variant(v, tmp / "variants"))
        rows.append(row)
    return rows


def _record(row: Row, report: Report) -> None:
    for f in report.findings:
        row.reported[f.id] = max(row.reported.get(f.id, 0.0), f.confidence)
        if not isinstance(f.evidence.get("facts"), list) or not isinstance(
                f.evidence.get("missing"), list):
            row.without_evidence.append(f.id)


def table(rows: list[Row]) -> dict[str, dict[str, list[str]]]:
    """Per finding id: tp/fn/fp/tn/unlabelled lists of dump names."""
    ids = sorted({i for r in rows for i in r.reported} | set(CASE_IDS) | ALL_IDS
                 | {i for r in rows for i in r.expected})
    out: dict[str, dict[str, list[str]]] = {}
    for fid in ids:
        cells: dict[str, list[str]] = {"tp": [], "fn": [], "fp": [], "tn": [], "unlabelled": []}
        for r in rows:
            if r.error is not None:
                continue
            hit = r.reported.get(fid, 0.0) >= THRESHOLD
            if fid not in r.labelled:
                if hit:
                    cells["unlabelled"].append(r.name)
                continue
            positive = fid in r.expected
            key = ("tp" if hit else "fn") if positive else ("fp" if hit else "tn")
            cells[key].append(r.name)
        out[fid] = cells
    return out


def markdown(rows: list[Row], cells: dict[str, dict[str, list[str]]]) -> str:
    """The table as the Markdown document docs/confusion.md."""
    lines = [
        "# Confusion table of dumplib's findings",
        "",
        "Written by `python tools/confusion.py` (do not edit by hand); "
        "`tests/test_confusion.py` keeps it current and at zero false positives.",
        "",
        f"Corpus: {sum(r.source == 'wine' for r in rows)} wine-made dumps (fixtures/wine), "
        f"{sum(r.source == 'external' for r in rows)} external dumps (fixtures/external), "
        f"{sum(r.source == 'builder' for r in rows)} builder-made variants "
        "(tools/case_variants.py). A finding counts when its confidence is "
        f"{THRESHOLD} or more.",
        "",
        "| finding id | TP | FN | FP | TN | fired without a label |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for fid, c in cells.items():
        lines.append(f"| {fid} | {len(c['tp'])} | {len(c['fn'])} | {len(c['fp'])} | "
                     f"{len(c['tn'])} | {len(c['unlabelled'])} |")
    lines += ["", "## Where each finding fired or was expected", ""]
    for fid, c in cells.items():
        for key, title in (("tp", "true positives"), ("fn", "false negatives"),
                           ("fp", "false positives"), ("unlabelled", "fired without a label")):
            if c[key]:
                lines.append(f"- `{fid}` {title}: " + ", ".join(f"`{n}`" for n in c[key]))
    lines += ["", "## Confidence rules of the structural detectors", "",
              "From each signature's `[rule]`: confidence = base + raises - lowers over the "
              "facts present, capped at max; a missing requirement or a refuting fact means "
              "no finding.", ""]
    from dumplib.analysis import load_signatures

    for sig in load_signatures():
        if sig.rule is None:
            continue
        rule = sig.rule
        lines.append(f"### {sig.id} (detector `{sig.detector}`)")
        lines.append("")
        lines.append(f"- requires: {json.dumps(rule.get('requires', []))}")
        lines.append(f"- refuted by facts: {json.dumps(rule.get('refutes', []))}")
        lines.append(f"- base {rule.get('base')}, max {rule.get('max', 0.95)}")
        for key in ("raises", "lowers"):
            table_ = rule.get(key)
            if isinstance(table_, dict) and table_:
                lines.append(f"- {key}: " + ", ".join(f"`{k}` {v}" for k, v in table_.items()))
        for text in sig.refuted_by:
            lines.append(f"- would be refuted by: {text}")
        lines.append("")
    lines += ["## Every dump", "", "| dump | expected | reported (confidence) |",
              "|---|---|---|"]
    for r in rows:
        rep = ", ".join(f"{k} {v:.2f}" for k, v in sorted(r.reported.items())) or "-"
        if r.error:
            rep = f"not analysable: {r.error}"
        lines.append(f"| `{r.name}` | {', '.join(sorted(r.expected)) or '-'} | {rep} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write docs/confusion.md (and optionally JSON)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "confusion.md"))
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", dumplib.DumpWarning)  # damaged external dumps
        rows = collect(Path(tmp))
    cells = table(rows)
    Path(args.out).write_text(markdown(rows, cells), encoding="utf-8")
    if args.json:
        Path(args.json).write_text(json.dumps(cells, indent=2), encoding="utf-8")
    fp = sum(len(c["fp"]) for c in cells.values())
    print(f"{len(rows)} dumps; false positives: {fp}; written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
