# ruff: noqa: E501  (the snapshots are as wide as the tables they show)
"""Snapshots of the human tables at fixed widths, for a dump whose every value is known.

The expected text is written by hand from the builder input below (ids in
decimal and hex, addresses, base+size, TimeDateStamp as a UTC date, GUID+age
as symbol stores key it); a change to the layout shows up here for review.
Trailing spaces are ignored.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from dumplib.builder import DumpBuilder
from dumplib.cli import main


@pytest.fixture(scope="module")
def snap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    b = DumpBuilder("amd64", time_date_stamp=0x6000_0000, number_of_processors=8)
    b.add_module(r"C:\app\app.exe", base=0x7FF6_0000_0000, size=0x20000,
                 time_date_stamp=0x5F00_0000,  # 2020-07-04 UTC
                 version=(1, 2, 3, 4), pdb70=("app.pdb", uuid.UUID(int=0x1234), 1))
    b.add_module(r"C:\Windows\System32\ntdll.dll", base=0x7FFA_0000_0000, size=0x1F0000,
                 time_date_stamp=0x5A00_0000,  # 2017-11-06 UTC
                 version=(10, 0, 19041, 1), pdb70=("ntdll.pdb", uuid.UUID(int=0xABCDEF), 2))
    b.add_thread(0x1A2C, context={"rip": 0x7FF6_0000_1010, "rsp": 0xC8_3F9F_F000},
                 stack=bytes(0x100), name="main")
    b.add_thread(0x2B3D, context={"rip": 0x7FFA_0000_2000, "rsp": 0xC8_4000_0000},
                 stack=bytes(0x80))
    b.set_exception(0x1A2C, 0xC0000005, 0x7FF6_0000_1010, parameters=(0, 0))
    p = tmp_path_factory.mktemp("snap") / "snap.dmp"
    b.write(p)
    return p


THREADS_80 = """
                                   2 threads
┏━━━┳━━━━━━━━━━━━━━━━┳━━━━━━┳━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━┓
┃   ┃ id             ┃ name ┃ ip             ┃ module           ┃ sp           ┃
┡━━━╇━━━━━━━━━━━━━━━━╇━━━━━━╇━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━┩
│ * │ 6700 (0x1a2c)  │ main │ 0x7ff600001010 │ app.exe+0x1010   │ 0xc83f9ff000 │
│   │ 11069 (0x2b3d) │      │ 0x7ffa00002000 │ ntdll.dll+0x2000 │ 0xc840000000 │
└───┴────────────────┴──────┴────────────────┴──────────────────┴──────────────┘
    * the thread of the exception; not shown at 80 columns: stack (widen the
                     terminal, set COLUMNS, or use --json)
"""

MODULES_80 = """
                                2 modules
┏━━━┳━━━━━━━━━━━━━━━━┳━━━━━━━━━━━┳━━━━━━━━━━━━━━┳━━━━━━━━━━━━┳━━━━━━━━━━━┓
┃   ┃ base           ┃ name      ┃ version      ┃ built      ┃ pdb       ┃
┡━━━╇━━━━━━━━━━━━━━━━╇━━━━━━━━━━━╇━━━━━━━━━━━━━━╇━━━━━━━━━━━━╇━━━━━━━━━━━┩
│ * │ 0x7ff600000000 │ app.exe   │ 1.2.3.4      │ 2020-07-04 │ app.pdb   │
│   │ 0x7ffa00000000 │ ntdll.dll │ 10.0.19041.1 │ 2017-11-06 │ ntdll.pdb │
└───┴────────────────┴───────────┴──────────────┴────────────┴───────────┘
  * main module; not shown at 80 columns: vendor, timestamp, end, pdb id
             (widen the terminal, set COLUMNS, or use --json)
"""

THREADS_120 = """
                                              2 threads
┏━━━┳━━━━━━━━━━━━━━━━┳━━━━━━┳━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━┓
┃   ┃ id             ┃ name ┃ ip             ┃ module           ┃ sp           ┃ stack               ┃
┡━━━╇━━━━━━━━━━━━━━━━╇━━━━━━╇━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━┩
│ * │ 6700 (0x1a2c)  │ main │ 0x7ff600001010 │ app.exe+0x1010   │ 0xc83f9ff000 │ 0xc83f9ff000 +0x100 │
│   │ 11069 (0x2b3d) │      │ 0x7ffa00002000 │ ntdll.dll+0x2000 │ 0xc840000000 │ 0xc840000000 +0x80  │
└───┴────────────────┴──────┴────────────────┴──────────────────┴──────────────┴─────────────────────┘
                                    * the thread of the exception
"""

MODULES_200 = """
                                                                     2 modules
┏━━━┳━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━┳━━━━━━━━━━━┳━━━━━━━━━━━━━━┳━━━━━━━━━━━━┳━━━━━━━━┳━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━┓
┃   ┃ base           ┃ end            ┃ name      ┃ version      ┃ built      ┃ vendor ┃ pdb       ┃ pdb id                            ┃ timestamp ┃
┡━━━╇━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━╇━━━━━━━━━━━╇━━━━━━━━━━━━━━╇━━━━━━━━━━━━╇━━━━━━━━╇━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━┩
│ * │ 0x7ff600000000 │ 0x7ff600020000 │ app.exe   │ 1.2.3.4      │ 2020-07-04 │ -      │ app.pdb   │ 000000000000000000000000000012341 │ 5f000000  │
│   │ 0x7ffa00000000 │ 0x7ffa001f0000 │ ntdll.dll │ 10.0.19041.1 │ 2017-11-06 │ -      │ ntdll.pdb │ 00000000000000000000000000ABCDEF2 │ 5a000000  │
└───┴────────────────┴────────────────┴───────────┴──────────────┴────────────┴────────┴───────────┴───────────────────────────────────┴───────────┘
                                                                   * main module
"""


@pytest.mark.parametrize(("command", "width", "expected"), [
    ("threads", 80, THREADS_80),
    ("modules", 80, MODULES_80),
    ("threads", 120, THREADS_120),
    ("modules", 200, MODULES_200),
])
def test_snapshot(snap: Path, command: str, width: int, expected: str,
                  capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    assert main([command, str(snap)]) == 0
    out = capsys.readouterr().out
    got = [line.rstrip() for line in out.splitlines()]
    assert got == expected.strip("\n").splitlines()
