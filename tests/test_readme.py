"""The README's code blocks run, as written, on the bundled sample.

Python blocks are executed top to bottom (a notebook block's bare expressions
are rendered the way Jupyter would, through ``_repr_html_``); a ``print(...)``
whose comment quotes its output must print that text. The command-line block's
commands run on ``--sample``. The network is closed (a proxy on a refused port)
and HOME is a temporary directory, so the ``srv*`` example can neither download
nor write outside the working directory, and must not create a ``C:`` directory.
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

import dumplib
from dumplib.cli import main
from dumplib.samples import sample_path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", README, re.S | re.M)


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")  # discard port: refused, no traffic
    for var in ("no_proxy", "NO_PROXY", "_NT_SYMBOL_PATH", "_NT_ALT_SYMBOL_PATH"):
        monkeypatch.delenv(var, raising=False)
    return work


def _run_block(code: str, name: str) -> str:
    """Run a block like a notebook cell; return what it printed and rendered."""
    tree = ast.parse(code, name)
    env: dict[str, object] = {"__name__": "__readme__"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for node in tree.body:
            if isinstance(node, ast.Expr) and not (
                isinstance(node.value, ast.Call) and getattr(node.value.func, "id", "") == "print"
            ):
                value = eval(compile(ast.Expression(node.value), name, "eval"), env)
                html = getattr(value, "_repr_html_", None)
                print(html() if html is not None else repr(value))
            else:
                exec(compile(ast.Module([node], []), name, "exec"), env)
    return out.getvalue()


def _quoted_outputs(code: str) -> list[str]:
    """Texts a ``print(...)  # "..."`` line promises to print."""
    return re.findall(r'^\s*print\(.*\)\s*#\s*"([^"]+)"', code, re.M)


def test_readme_has_the_blocks_we_run() -> None:
    assert len(_blocks("python")) >= 3
    assert any("dumplib info" in b for b in _blocks("sh"))


@pytest.mark.parametrize("index", range(len(_blocks("python"))))
def test_python_block_runs_on_the_sample(index: int, sandbox: Path) -> None:
    code = _blocks("python")[index]
    printed = _run_block(code, f"README python block {index}")
    for text in _quoted_outputs(code):
        assert text in printed, f"README promises {text!r}; printed:\n{printed}"
    assert not (sandbox / "C:").exists()
    assert not any(p.name.endswith(":") for p in sandbox.parent.rglob("*"))


def test_tour_prints_what_the_sample_holds(sandbox: Path) -> None:
    tour = next(b for b in _blocks("python") if "explain_fault" in b)
    printed = _run_block(tour, "README tour")
    # From the fixture's build (fixtures/wine/caseb/truth.json): the exception,
    # the named crash frame and the case B finding.
    truth = __import__("json").loads((ROOT / "fixtures/wine/caseb/truth.json").read_text())
    assert f"{truth['exception']['code']:#x} EXCEPTION_ACCESS_VIOLATION" in printed
    assert truth["crash_stack"][0] in printed
    assert "clr-double-io-completion" in printed
    assert "STATUS_BUFFER_OVERFLOW" in printed and "FaultExplanation(" not in printed


def _cli_lines() -> list[str]:
    block = next(b for b in _blocks("sh") if "dumplib info" in b)
    return [line.split("#", 1)[0].strip() for line in block.splitlines()
            if line.startswith("dumplib ")]


def _placeholders() -> dict[str, str]:
    """Values for a synopsis's placeholders, from the sample itself."""
    with dumplib.open(sample_path()) as dump:
        exc = dump.exception
        assert exc is not None
        return {"FILE": "--sample", "PATH...": str(sample_path()), "TID": str(exc.thread_id),
                "ADDR": hex(exc.address), "ADDRESS": hex(exc.address), "A": hex(exc.address),
                "N": "4"}


def _concrete(line: str) -> list[str]:
    """A README synopsis line made runnable on the sample: optional parts dropped."""
    line = re.sub(r"\[[^\]]*\](\.\.\.)?", "", line)
    values = _placeholders()
    out: list[str] = []
    for a in shlex.split(line)[1:]:
        if a in values:
            out.append(values[a])
        elif re.fullmatch(r"[A-Z][A-Z_.]*", a):
            pytest.fail(f"README synopsis {line!r}: teach tests/test_readme.py a value for {a}")
        else:
            out.append(a)
    return out


@pytest.mark.parametrize("line", _cli_lines())
def test_cli_synopsis_line_runs_on_the_sample(line: str, sandbox: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    argv = _concrete(line)
    assert main(argv) == 0, (argv, capsys.readouterr().err)
    assert main([*argv, "--json"]) == 0
