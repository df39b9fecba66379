"""registers, mem and handles; usage errors of map, --sample and triage --rows.

Expected values are the builder input (registers, memory bytes, handles).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from dumplib.builder import DumpBuilder
from dumplib.cli import main

BASE = 0x7FF6_0000_0000
RIP = BASE + 0x1010
RSP = 0x0000_00C8_3F9F_F000
EXC_RAX = 0x1122_3344_5566_7788
THREAD_RAX = 0xDEAD_BEEF
STACK = struct.pack("<4Q", BASE + 0x2345, 0x4141_4141_4141_4141, 0, 0x7FFF_FFFF_0000) + bytes(
    range(64))
HANDLES = [(0x4, "Event", r"\BaseNamedObjects\ready", 0x1F0003, 2, 32769),
           (0x8C, "File", r"\Device\HarddiskVolume3\log.txt", 0x12019F, 1, 1)]


@pytest.fixture(scope="module")
def dmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    b = DumpBuilder("amd64", time_date_stamp=0x6000_0000)
    b.add_module(r"C:\app\app.exe", base=BASE, size=0x10000, time_date_stamp=0x5F00_0000)
    b.add_thread(0x1A2C, context={"rip": RIP, "rsp": RSP, "rax": THREAD_RAX}, stack=STACK)
    b.add_thread(0x2B3D, context={"rip": RIP + 4, "rsp": RSP + 0x10000, "rax": 7},
                 stack=bytes(64))
    b.set_exception(0x1A2C, 0xC0000005, RIP, parameters=(0, 0),
                    context={"rip": RIP, "rsp": RSP, "rax": EXC_RAX, "rbx": BASE + 0x20})
    for h, t, n, acc, hc, pc in HANDLES:
        b.add_handle(h, type_name=t, object_name=n, granted_access=acc, handle_count=hc,
                     pointer_count=pc)
    p = tmp_path_factory.mktemp("cmds") / "cmds.dmp"
    b.write(p)
    return p


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_registers_default_to_the_exception_context(dmp: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "registers", str(dmp), "--json")
    assert code == 0
    doc = json.loads(out)
    regs = {r["name"]: r for r in doc["registers"]}
    assert doc["source"] == "exception context" and doc["thread_id"] == 0x1A2C
    assert regs["rax"]["value"] == EXC_RAX and regs["rip"]["value"] == RIP
    assert regs["rbx"]["points_to"] == "app.exe+0x20"
    assert "xmm0" not in regs  # general registers only without --all
    _, out, _ = run(capsys, "registers", str(dmp))
    assert f"{EXC_RAX:016x}" in out and "app.exe+0x1010" in out
    _, out, _ = run(capsys, "registers", str(dmp), "--thread", "0x2b3d", "--json")
    assert {r["name"]: r["value"] for r in json.loads(out)["registers"]}["rax"] == 7
    _, out, _ = run(capsys, "registers", str(dmp), "--all", "--json")
    assert "xmm0" in {r["name"] for r in json.loads(out)["registers"]}
    code, _, err = run(capsys, "registers", str(dmp), "--thread", "99")
    assert code == 2 and "no thread 99" in err


def test_mem_as_bytes_dwords_qwords_pointers(dmp: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "mem", str(dmp), f"{RSP:#x}", "--as", "qwords", "--count", "4",
                       "--json")
    assert code == 0
    assert [v["value"] for v in json.loads(out)["values"]] == list(struct.unpack("<4Q",
                                                                                  STACK[:32]))
    _, out, _ = run(capsys, "mem", str(dmp), "rsp", "--as", "dwords", "--count", "2", "--json")
    assert [v["value"] for v in json.loads(out)["values"]] == list(struct.unpack("<2I",
                                                                                  STACK[:8]))
    _, out, _ = run(capsys, "mem", str(dmp), "@rsp", "--as", "pointers", "--count", "2")
    assert f"{BASE + 0x2345:016x}  app.exe+0x2345" in out
    _, out, _ = run(capsys, "mem", str(dmp), f"{RSP + 32:#x}", "--count", "16")
    assert out.splitlines()[0] == (f"{RSP + 32:016x}  " + " ".join(f"{b:02x}" for b in range(16))
                                   + "  |................|")
    # past the captured stack: shown as ??, said once
    end = RSP + len(STACK)
    _, out, _ = run(capsys, "mem", str(dmp), f"{end - 4:#x}", "--count", "8")
    assert "?? ?? ?? ??" in out and "not captured" in out
    code, _, err = run(capsys, "mem", str(dmp), "nosuchreg")
    assert code == 2 and "not an address or register" in err


def test_handles_list(dmp: Path, capsys: pytest.CaptureFixture[str],
                      monkeypatch: pytest.MonkeyPatch) -> None:
    _, out, _ = run(capsys, "handles", str(dmp), "--json")
    doc = json.loads(out)
    assert doc["present"] is True
    assert [(h["handle"], h["type"], h["name"], h["granted_access"], h["handle_count"],
             h["pointer_count"]) for h in doc["handles"]] == HANDLES
    monkeypatch.setenv("COLUMNS", "200")
    _, out, _ = run(capsys, "handles", str(dmp))
    for h, t, n, acc, _, _ in HANDLES:
        assert f"0x{h:x}" in out and t in out and n in out and f"0x{acc:08x}" in out
    _, out, _ = run(capsys, "info", str(dmp), "--json")
    assert json.loads(out)["handle_count"] == len(HANDLES)


def test_handles_absent_is_said(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    b = DumpBuilder("amd64")
    b.add_thread(1, context={"rip": 0x1000, "rsp": 0x2000})
    p = tmp_path / "nohandles.dmp"
    b.write(p)
    code, out, _ = run(capsys, "handles", str(p))
    assert code == 0 and "no handle data" in out
    _, out, _ = run(capsys, "info", str(p), "--json")
    assert json.loads(out)["handle_count"] is None  # not recorded, not "0 handles"


@pytest.mark.parametrize("argv", [
    ["map", "--sample"],
    ["info", "--sample", "nosuch"],
    ["stack", "--sample", "nosuch", "--json"],
])
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1


def test_triage_rows_needs_json(capsys: pytest.CaptureFixture[str], dmp: Path) -> None:
    code, out, err = run(capsys, "triage", "--rows", str(dmp))
    assert code == 2 and out == "" and "--rows needs --json" in err
