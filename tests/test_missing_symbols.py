"""Missing images and symbols are said, with the fix (issue #13, "Missing symbols and images").

Oracles: how the fixtures were built. caseb is a MiniDumpNormal dump (no
images inside); its program modules (truth.json ``crash_stack_modules``) and
their PDBs lie beside it, wine's own modules (ntdll, kernel32) do not. The
crash stack's function names come from truth.json.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

import dumplib
from dumplib.cli import main
from dumplib.symbols.defaults import cli_symbol_path, with_default_cache
from tests.conftest import FIXTURES

CASEB = FIXTURES / "wine" / "caseb"
DMP = CASEB / "caseb.dmp"
TRUTH = json.loads((CASEB / "truth.json").read_text())


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("_NT_SYMBOL_PATH", raising=False)
    monkeypatch.delenv("_NT_ALT_SYMBOL_PATH", raising=False)


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port: int = s.getsockname()[1]
    s.close()
    return port


def _notes(symbols: list[str]) -> list[str]:
    with dumplib.open(DMP) as dump:
        return dumplib.analyze(dump, symbols=symbols).notes


def test_without_symbols_the_report_names_what_is_missing_and_the_fix() -> None:
    notes = _notes([])
    missing = next(n for n in notes if n.startswith("no image and no symbols for"))
    for module in set(TRUTH["crash_stack_modules"]):
        assert module in missing
    assert any("guesses found by scanning" in n for n in notes)
    fix = next(n for n in notes if n.startswith("to fix:"))
    assert "--symbols" in fix and "_NT_SYMBOL_PATH" in fix


def test_with_the_fixture_folder_its_modules_are_no_longer_missing() -> None:
    notes = _notes([str(CASEB)])
    missing = next((n for n in notes if n.startswith("no image and no symbols for")), "")
    for module in set(TRUTH["crash_stack_modules"]):
        assert module not in missing
    # wine's ntdll.dll is in fixtures/wine/system/, not beside the dump: still named
    assert "ntdll.dll" in missing


def test_a_symbol_directory_that_does_not_exist_is_reported(tmp_path: Path) -> None:
    nowhere = str(tmp_path / "no-such-dir")
    assert any(f"{nowhere!r} does not exist" in n for n in _notes([nowhere]))


def test_an_unreachable_symbol_server_is_reported(tmp_path: Path) -> None:
    port = _closed_port()
    notes = _notes([f"srv*{tmp_path / 'store'}*http://127.0.0.1:{port}/"])
    assert any(f"127.0.0.1:{port} could not be reached" in n for n in notes), notes


def test_stack_json_and_text_carry_the_same_notes(capsys: pytest.CaptureFixture[str],
                                                   tmp_path: Path) -> None:
    nowhere = str(tmp_path / "missing")
    assert main(["stack", str(DMP), "--json", "--symbols", nowhere]) == 0
    doc = json.loads(capsys.readouterr().out)
    cov = doc["symbols"]
    assert {m["name"] for m in cov["missing"]} >= set(TRUTH["crash_stack_modules"])
    scanned = [[t["id"], f["index"]] for t in doc["threads"] for f in t["frames"]
               if f["trust"] == "scan"]
    assert cov["guessed_frames"] == scanned and scanned
    assert any("does not exist" in p for p in cov["path_problems"])
    assert "--symbols" in cov["fix"]
    (thread,) = doc["threads"]
    assert thread["status_meaning"].startswith(thread["status"])
    assert main(["stack", str(DMP)]) == 0
    out = capsys.readouterr().out
    assert "no image and no symbols for" in out and "to fix:" in out
    if thread["status"] == "lost":
        assert "walk lost: no caller could be found" in out


def test_nt_symbol_path_is_honoured(capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["stack", str(DMP), "--json"]) == 0
    bare = json.loads(capsys.readouterr().out)["threads"][0]["frames"]
    assert TRUTH["faulting_function"] not in {f["function"] for f in bare}
    monkeypatch.setenv("_NT_SYMBOL_PATH", str(CASEB))
    assert main(["stack", str(DMP), "--json"]) == 0
    out, err = capsys.readouterr()
    frames = json.loads(out)["threads"][0]["frames"]
    names = [f["function"] for f in frames if f["function"]]
    assert names[: len(TRUTH["crash_stack"])] == TRUTH["crash_stack"]
    assert "_NT_SYMBOL_PATH" in err


def test_server_entries_without_a_store_use_the_user_cache(tmp_path: Path) -> None:
    cache = str(tmp_path / "xdg-cache" / "dumplib" / "symbols")
    url = "https://msdl.microsoft.com/download/symbols"
    entries, source = cli_symbol_path(None, {"_NT_SYMBOL_PATH": f"srv*{url}"})
    assert entries == [f"cache*{cache};srv*{url}"] and source == "_NT_SYMBOL_PATH"
    assert with_default_cache(f"srv*C:\\sym*{url}", cache) == f"srv*C:\\sym*{url}"
    assert with_default_cache(f"cache*D:\\c;srv*{url}", cache) == f"cache*D:\\c;srv*{url}"
    assert with_default_cache("/some/dir", cache) == "/some/dir"
    assert cli_symbol_path(["/a"], {"_NT_SYMBOL_PATH": "/b"}) == (["/a"], None)


def test_lost_is_explained_in_json_html_and_console() -> None:
    """caseb's crash stack runs into wine's ntdll (no image beside the dump), so the
    walk ends lost; every view that shows the status says what it means."""
    from dumplib.views.console import text
    from dumplib.views.html import stack_html

    with dumplib.open(DMP) as dump:
        report = dumplib.analyze(dump)
        stack = report.crash_stack
        assert stack is not None and stack.status.value == "lost"
        doc = report.to_json()
        crash = doc["crash_stack"]
        assert isinstance(crash, dict)
        assert str(crash["status_meaning"]).startswith("lost: no caller could be found")
        assert "walk lost: no caller could be found" in stack_html(stack)
        assert "walk lost: no caller could be found" in " ".join(text(stack, width=400).split())


@pytest.mark.parametrize("command", ["modules", "disasm", "registers", "stack", "analyze"])
def test_every_command_warns_about_a_missing_symbol_directory(
        command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nowhere = str(tmp_path / "nowhere")
    assert main([command, str(DMP), "--symbols", nowhere, "--json"]) == 0
    err = capsys.readouterr().err
    assert f"warning: symbol path entry {nowhere!r} does not exist" in err
