"""docs/tour.ipynb runs top to bottom, and what it shows is the ground truth.

CI also runs it with ``pytest --nbmake docs/tour.ipynb``; this test executes it
the same way (nbclient, a fresh kernel) and checks its printed findings against
the case B replica's ``runtime.json`` and ``truth.json``, which the program
wrote while it ran and which its source fixes, so the tour cannot drift into
telling a different story than the dump holds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")
pytest.importorskip("pandas")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "docs" / "tour.ipynb"
CASEB = ROOT / "fixtures" / "wine" / "caseb"
RUNTIME: dict[str, Any] = json.loads((CASEB / "runtime.json").read_text())
TRUTH: dict[str, Any] = json.loads((CASEB / "truth.json").read_text())


@pytest.fixture(scope="module")
def executed() -> Any:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []  # run from scratch, whatever was saved
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()
    return nb


def _outputs(nb: Any) -> tuple[str, str, list[str]]:
    """(printed text, HTML, output kinds) of every code cell, in order."""
    text, html, kinds = [], [], []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for out in cell.outputs:
            kinds.append(out.output_type)
            if out.output_type == "stream":
                text.append(out.text)
            elif "data" in out:
                html.append(out.data.get("text/html", ""))
                text.append(out.data.get("text/plain", ""))
    return "\n".join(text), "\n".join(html), kinds


def test_tour_runs_and_tells_the_true_story(executed: Any) -> None:
    text, html, kinds = _outputs(executed)
    assert "error" not in kinds
    exc = TRUTH["exception"]
    assert f"{exc['name']} 0x{exc['code']:x} at 0x{RUNTIME['exception.address']:x} " \
           f"on thread {RUNTIME['faulting_thread']}" in text
    assert f"in {TRUTH['faulting_module']}" in text
    assert "rax = 0x0" in text  # the faulting call through a NULL pointer
    internal = TRUTH["overlapped"]["internal"]
    assert f"pOVERLAP = r8 = 0x{RUNTIME['overlapped.address']:x}" in text
    assert f"Internal     = 0x{internal:08x} ['{TRUTH['overlapped']['status_name']}']" in text
    assert f"InternalHigh = {RUNTIME['overlapped.internal_high']}" in text
    # the stack and the report render as HTML with the crash chain in it
    for fn in TRUTH["crash_stack"]:
        assert fn in html
    assert TRUTH["overlapped"]["status_name"] in html  # the report read the OVERLAPPED


def test_tour_shows_pictures(executed: Any) -> None:
    pngs = [out.data["image/png"] for cell in executed.cells if cell.cell_type == "code"
            for out in cell.outputs if "data" in out and "image/png" in out.data]
    assert len(pngs) == 2  # the address-space map and the bucket chart


def test_tour_triage_passes_symbols(executed: Any) -> None:
    # With the fixtures' symbols, case B's bucket is built from its named crash
    # chain (truth.json), not from module offsets.
    (cell,) = [c for c in executed.cells
               if c.cell_type == "code" and "dumplib.triage(" in c.source]
    assert "symbols=" in cell.source
    shown = "".join(out.data.get("text/html", "") for out in cell.outputs if "data" in out)
    first = TRUTH["crash_stack"][0]
    assert f"mscorlib.ni!{first}" in shown
