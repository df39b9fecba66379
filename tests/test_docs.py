"""The reference documentation builds with ``mkdocs build --strict``, and its checks work.

Oracles: the argument parser itself for the CLI page (every subcommand of
``dumplib.cli.build_parser`` has a section, with its own help text), the
signature files for the signature page, and a tiny package written here with
an undocumented public function and a dangling cross-reference, which the
docstring check must report (so a passing check on dumplib means something).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytest.importorskip("mkdocs", reason="the docs extra is missing: pip install -e '.[test]'")
pytest.importorskip("griffe")


def _hooks():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("dumplib_docs_hooks", ROOT / "docs/_hooks.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_dumplib_has_no_undocumented_public_name_or_broken_reference() -> None:
    assert _hooks().check_docs() == []


def test_the_check_reports_a_missing_docstring_and_a_broken_reference(tmp_path: Path) -> None:
    pkg = tmp_path / "dumplib"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        '"""A package; see :func:`dumplib.exists` and :class:`~dumplib.Missing`."""\n'
        '__all__ = ["exists", "undocumented"]\n'
        'def exists() -> None:\n    """Documented; :meth:`str.upper` is external."""\n'
        "def undocumented() -> None:\n    pass\n")
    problems = _hooks().check_docs(tmp_path)
    assert sorted(problems) == [
        "dumplib.undocumented: public function without a docstring",
        "dumplib: broken reference :class:`dumplib.Missing`",
    ]


def test_cli_page_has_every_subcommand() -> None:
    sys.path.insert(0, str(ROOT))
    from dumplib.cli import build_parser

    page = _hooks()._cli()
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name, parser in sub.choices.items():
        assert f"## dumplib {name}\n" in page
        assert (parser.description or "").split("\n")[0][:40] in page


def test_signature_page_lists_every_builtin_signature() -> None:
    import tomllib

    page = _hooks()._signatures()
    for f in sorted((ROOT / "dumplib" / "signatures").glob("*.toml")):
        assert f"`{tomllib.loads(f.read_text())['id']}`" in page


def test_strict_build(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q",
                           "-d", str(tmp_path / "site")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    site = tmp_path / "site"
    for page in ("index.html", "cli/index.html", "signatures/index.html",
                 "security/index.html", "api/dumplib/index.html"):
        assert (site / page).is_file(), page
    api = (site / "api/dumplib/index.html").read_text()
    assert 'id="dumplib.Dump"' in api and 'id="dumplib.Dump.explain_fault"' in api
    assert ":class:" not in api and ":func:" not in api  # roles shown as code, not markup
