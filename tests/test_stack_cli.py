"""``dumplib stack`` and ``dumplib disasm``: JSON shape of API.md and values from ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dumplib.cli import main

WINE = Path(__file__).resolve().parent.parent / "fixtures" / "wine"
NULLWRITE = WINE / "nullwrite"
SYMS = ["--symbols", str(NULLWRITE), "--symbols", str(WINE / "system")]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_stack_json_of_the_faulting_thread(capsys: pytest.CaptureFixture[str]) -> None:
    truth = json.loads((NULLWRITE / "truth.json").read_text())
    runtime = json.loads((NULLWRITE / "runtime.json").read_text())
    code, out, _ = _run(capsys, "stack", str(NULLWRITE / "nullwrite.dmp"), "--json", *SYMS)
    assert code == 0
    doc = json.loads(out)
    assert [t["id"] for t in doc["threads"]] == [runtime["faulting_thread"]]
    frames = doc["threads"][0]["frames"]
    for f in frames:
        assert {"ip", "sp", "module", "function", "offset", "trust"} <= set(f)
        assert isinstance(f["ip"], int) and isinstance(f["sp"], int)
    assert frames[0]["ip"] == runtime["exception.address"]
    assert frames[0]["trust"] == "context"
    program = [f["function"] for f in frames if f["module"] == truth["process"]]
    assert program[: len(truth["crash_stack"])] == truth["crash_stack"]
    assert frames[-1]["function"] == "RtlUserThreadStart"
    assert doc["threads"][0]["status"] == "complete"


def test_stack_all_and_thread(capsys: pytest.CaptureFixture[str]) -> None:
    runtime = json.loads((WINE / "waits" / "runtime.json").read_text())
    dump = str(WINE / "waits" / "waits.dmp")
    code, out, _ = _run(capsys, "stack", dump, "--all", "--json")
    assert code == 0
    ids = sorted(t["id"] for t in json.loads(out)["threads"])
    assert ids == sorted(v for k, v in runtime.items() if k.startswith("thread."))
    code, out, _ = _run(capsys, "stack", dump, "--thread", hex(runtime["thread.sleeper"]),
                        "--json", "--symbols", str(WINE / "waits"))
    assert code == 0
    (thread,) = json.loads(out)["threads"]
    assert thread["id"] == runtime["thread.sleeper"]
    assert "SleeperThread" in [f["function"] for f in thread["frames"]]


def test_stack_unknown_thread_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "stack", str(NULLWRITE / "nullwrite.dmp"), "--thread", "99",
                          "--json")
    assert code == 2
    assert out == ""
    assert "no thread 99" in err


def test_stack_table_for_people(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "stack", str(NULLWRITE / "nullwrite.dmp"), *SYMS)
    assert code == 0
    assert "nullwrite!level3+0x53" in out
    assert "nullwrite.c:18" in out  # the PDB's line for the faulting store


def test_disasm_explains_the_fault(capsys: pytest.CaptureFixture[str]) -> None:
    runtime = json.loads((NULLWRITE / "runtime.json").read_text())
    code, out, _ = _run(capsys, "disasm", str(NULLWRITE / "nullwrite.dmp"), "--json", *SYMS)
    assert code == 0
    doc = json.loads(out)
    faulting = [i for i in doc["instructions"] if i["fault"]]
    assert [i["address"] for i in faulting] == [runtime["exception.address"]]
    assert doc["instructions"].index(faulting[0]) > 0  # instructions before it are shown
    why = doc["explanation"]
    assert why["access"] == "write" and why["address"] == 0 and why["matches"] is True
    code, out, _ = _run(capsys, "disasm", str(NULLWRITE / "nullwrite.dmp"), *SYMS)
    assert "=> 0x" in out and "write to [" in out


def test_disasm_at_an_address(capsys: pytest.CaptureFixture[str]) -> None:
    runtime = json.loads((NULLWRITE / "runtime.json").read_text())
    code, out, _ = _run(capsys, "disasm", str(NULLWRITE / "nullwrite.dmp"), "--json",
                        "--address", str(runtime["exception.address"]), "--count", "2", *SYMS)
    assert code == 0
    doc = json.loads(out)
    assert len(doc["instructions"]) == 2
    assert doc["instructions"][0]["address"] == runtime["exception.address"]
    assert doc["explanation"] is None


def test_bad_file_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.dmp"
    bad.write_bytes(b"not a dump at all" * 4)
    code, out, err = _run(capsys, "stack", str(bad), "--json")
    assert code == 1 and out == "" and err.startswith("dumplib: error:")


def test_disasm_without_exception_needs_an_address(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "disasm", str(WINE / "casea" / "casea.dmp"), "--json")
    assert code == 2 and out == "" and "--address" in err


@pytest.mark.parametrize("argv", [["stack", "--max-frames", "0"], ["disasm", "--count", "0"]])
def test_bad_counts_are_usage_errors(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, out, _ = _run(capsys, argv[0], str(NULLWRITE / "nullwrite.dmp"), *argv[1:], "--json")
    assert code == 2 and out == ""


def test_hang_dump_defaults_to_every_thread(capsys: pytest.CaptureFixture[str]) -> None:
    runtime = json.loads((WINE / "casea" / "runtime.json").read_text())
    code, out, _ = _run(capsys, "stack", str(WINE / "casea" / "casea.dmp"), "--json")
    assert code == 0
    ids = sorted(t["id"] for t in json.loads(out)["threads"])
    assert ids == sorted(v for k, v in runtime.items() if k.startswith("thread."))
