"""Replay every input the fuzzers found (tests/fuzz_regressions/) and smoke-run each target.

File names start with the target (``dump-``, ``pe-``, ``pdb-``, ``sym-``); each
must now be rejected with a DumpError or read cleanly.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from tools.fuzz.crafted import CRAFTED
from tools.fuzz.targets import TARGETS

ROOT = Path(__file__).resolve().parent.parent
CASES = sorted((ROOT / "tests" / "fuzz_regressions").glob("*-*"))


@pytest.mark.parametrize("path", CASES, ids=[p.name[:40] for p in CASES])
def test_regression(path: Path) -> None:
    target = TARGETS[path.name.split("-", 1)[0]]
    target(path.read_bytes())  # raises only if a non-DumpError escapes


def test_regressions_exist_for_found_crashes() -> None:
    assert any(p.name.startswith("dump-") for p in CASES)


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None,
                    reason="atheris is not installed (it is in the test extra)")
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_short_fuzz_run(target: str, tmp_path: Path) -> None:
    """A short coverage-guided run per target, as CI's fuzzing smoke test."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "fuzz" / "run.py"), target,
         "--runs", "40" if target in CRAFTED else "300",  # a crafted input walks many threads
         "--corpus", str(tmp_path / "corpus"), "--crashes", str(tmp_path / "crashes"),
         "--max-len", "65536"],
        capture_output=True, text=True, timeout=600, check=False, cwd=ROOT,
    )
    crashes = list((tmp_path / "crashes").glob("*"))
    assert proc.returncode == 0 and not crashes, proc.stderr[-3000:]
