"""Text from a dump is printed as data by every command (issue #14, Terminal).

Each dump here is made by :mod:`dumplib.builder` with names that are rich
markup (``[/x]`` used to raise MarkupError) and terminal escape sequences
(``ESC [2J`` clears the screen, ``ESC ]0;`` sets the window title, U+202E
reverses text). The oracle is the builder input: the name must appear with
its markup literally and every control character as a visible escape, and
no raw control character may reach stdout.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from dumplib.builder import DumpBuilder
from dumplib.cli import main

EVIL = "evil[/x][bold red]\x1b[2J\x1b]0;pwned\x07\u202e"
#: How EVIL must look on the terminal: markup literal, controls escaped.
EVIL_SHOWN = "evil[/x][bold red]\\x1b[2J\\x1b]0;pwned\\x07\\u202e"
RAW_CONTROLS = ("\x1b", "\x07", "\u202e")

IP = 0x7FF6_0000_1010
SP = 0x9F000


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    b = DumpBuilder("amd64", time_date_stamp=0x6000_0000, os_version=(10, 0, 19041),
                    handle_descriptor_version=2)
    b.add_module(f"C:\\app\\{EVIL}.exe", base=0x7FF6_0000_0000, size=0x10000,
                 time_date_stamp=0x5F00_0000, version=(1, 2, 3, 4),
                 pdb70=(f"{EVIL}.pdb", uuid.UUID(int=0x1234), 1))
    b.add_unloaded_module(f"{EVIL}-gone.dll", base=0x7FF7_0000_0000, size=0x1000)
    b.add_thread(0x1A2C, context={"rip": IP, "rsp": SP, "rax": IP},
                 stack=IP.to_bytes(8, "little") * 64, name=EVIL)
    b.add_memory(IP, b"\xc3" * 32)
    b.set_exception(0x1A2C, 0xC0000005, IP, parameters=(0, 0))
    b.add_comment(EVIL)
    b.add_handle(0x44, type_name=f"Event{EVIL}", object_name=f"\\BaseNamedObjects\\{EVIL}")
    path = tmp_path_factory.mktemp("hostile") / "hostile.dmp"
    b.write(path)
    return path


COMMANDS = [
    ("info",), ("threads",), ("modules",), ("modules", "--unloaded"), ("memory",),
    ("streams",), ("stack",), ("stack", "--all"), ("analyze",), ("registers",),
    ("mem", "rsp", "--as", "pointers"), ("handles",), ("disasm",),
]
#: Commands whose text output names the hostile module, thread or comment.
NAMES_IT = {"info", "threads", "modules", "stack", "analyze", "registers", "mem", "handles",
            "disasm"}


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_hostile_names_are_data(hostile: Path, command: tuple[str, ...],
                                capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # wide enough that no name is wrapped
    name, *rest = command
    code = main([name, str(hostile), *rest])
    out, err = capsys.readouterr()
    assert code == 0, err
    for ch in RAW_CONTROLS:
        assert ch not in out, f"raw {ch!r} reached stdout"
        assert ch not in err
    if name in NAMES_IT:
        # module names are cut at the last "/" or "\\" of the path (Windows separators),
        # so this tail is what every command shows, module or thread
        assert "[bold red]\\x1b[2J\\x1b]0;pwned\\x07\\u202e" in out, out


def test_full_escape_form_in_threads_and_info(hostile: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")
    assert main(["threads", str(hostile)]) == 0
    assert EVIL_SHOWN in capsys.readouterr().out          # the thread name
    assert main(["info", str(hostile)]) == 0
    assert EVIL_SHOWN in capsys.readouterr().out          # the comment


def test_json_keeps_the_names_exactly(hostile: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """JSON is data already: the names come back byte for byte (escaped by JSON only)."""
    assert main(["threads", str(hostile), "--json"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert json.loads(out)[0]["name"] == EVIL
    assert main(["info", str(hostile), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["comments"] == [EVIL]


def test_triage_table_shows_buckets_as_data(hostile: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")
    assert main(["triage", "--jobs", "0", str(hostile)]) == 0
    out = capsys.readouterr().out
    for ch in RAW_CONTROLS:
        assert ch not in out


def test_shown_escapes_controls_and_keeps_text() -> None:
    from dumplib.views.textsafe import markup, shown

    assert shown(EVIL) == EVIL_SHOWN
    assert shown("C:\\Windows\\System32\\ntdll.dll") == "C:\\Windows\\System32\\ntdll.dll"
    assert shown("tab\there\x7f\x85") == "tab\\x09here\\x7f\\x85"
    assert shown("日本語 café") == "日本語 café"
    assert markup("[/x]") == "\\[/x]"


def test_console_views_show_names_as_data(hostile: Path) -> None:
    """The rich views (notebooks, ``rich.print(dump)``) use the same helper."""
    import dumplib
    from dumplib.views.console import text

    with dumplib.open(hostile) as dump:
        views = [dump, dump.threads, dump.modules, dump.stack(dump.threads[0]),
                 dumplib.analyze(dump)]
        for obj in views:
            out = text(obj, width=400)
            for ch in RAW_CONTROLS:
                assert ch not in out, (type(obj).__name__, out)
        assert EVIL_SHOWN in text(dump.threads, width=400)
