"""Packaging: every data file under ``dumplib/`` is declared package data, and a
missing built-in signature set is an error rather than an empty report.

The end-to-end oracle (build the sdist and the wheel, install the wheel in a
fresh venv outside the checkout, require case B's finding) is ``.ci/release-check``,
which ``.ci/run`` runs; these tests are the quick checks behind it.
"""

from __future__ import annotations

import fnmatch
import subprocess
import sys
from pathlib import Path

import pytest

import dumplib.analysis.signatures as sigmod
from dumplib.analysis import SignatureError, load_signatures
from dumplib.cli import main

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def _tracked_data_files() -> list[str]:
    """Non-Python files git tracks under dumplib/ (the truth of what must ship)."""
    try:
        out = subprocess.run(["git", "ls-files", "dumplib"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [p for p in out.splitlines() if not p.endswith(".py")]


def test_every_data_file_is_declared_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["dumplib"]
    files = _tracked_data_files()
    assert "dumplib/signatures/clr-double-io-completion.toml" in files
    missing = [f for f in files
               if not any(fnmatch.fnmatchcase(f.removeprefix("dumplib/"), g) for g in globs)]
    assert missing == [], f"not declared in [tool.setuptools.package-data]: {missing}"


def test_builtin_set_is_the_package_directory() -> None:
    found = sigmod.builtin_signature_dir()
    assert found is not None
    assert found.resolve() == (ROOT / "dumplib" / "signatures").resolve()
    assert "clr-double-io-completion" in {s.id for s in load_signatures()}


def test_missing_builtin_set_is_an_error(monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Path) -> None:
    monkeypatch.setattr(sigmod, "builtin_signature_dir", lambda: None)
    with pytest.raises(SignatureError, match="built-in signature set is missing"):
        load_signatures()
    assert load_signatures(builtin=False) == []  # asked for none: none, no error
    monkeypatch.setattr(sigmod, "builtin_signature_dir", lambda: tmp_path)  # empty dir
    with pytest.raises(SignatureError, match="built-in signature set is missing"):
        load_signatures()


def test_missing_builtin_set_fails_the_cli(monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sigmod, "builtin_signature_dir", lambda: None)
    code = main(["analyze", "--sample", "--json"])
    out, err = capsys.readouterr()
    assert code != 0 and out == ""
    assert "built-in signature set is missing" in err and len(err.splitlines()) == 1


def test_bundled_caseb_sample_is_the_fixture() -> None:
    """The sample the README's first command analyses is the current case B fixture,
    byte for byte (a stale copy once kept an old build whose runtime modules had no
    Microsoft vendor, and the finding fell to 0.1)."""
    root = Path(__file__).resolve().parent.parent
    sample = root / "dumplib" / "samples" / "caseb"
    fixture = root / "fixtures" / "wine" / "caseb"
    names = sorted(p.name for p in sample.iterdir())
    assert "caseb.dmp" in names
    for name in names:
        assert (sample / name).read_bytes() == (fixture / name).read_bytes(), name
