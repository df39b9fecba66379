"""The command line: JSON shapes of API.md, exit codes, help text, human tables."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dumplib.cli import main
from tests.conftest import RUST_MINIDUMP

TEST_DMP = str(RUST_MINIDUMP / "test.dmp")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_info_json_shape(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "info", TEST_DMP, "--json")
    assert code == 0 and err == ""
    doc = json.loads(out)
    assert doc["arch"] == "x86"
    assert doc["os_version"] == [5, 1, 2600]
    assert doc["process_id"] == 3932
    assert doc["thread_count"] == 2 and doc["module_count"] == 13
    exc = doc["exception"]
    assert exc["code"] == 0xC0000005 and isinstance(exc["code"], int)
    assert exc["name"] == "EXCEPTION_ACCESS_VIOLATION"
    assert exc["address"] == 0x40429E and exc["thread_id"] == 0xBF4


def test_threads_modules_memory_streams_json(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "threads", TEST_DMP, "--json")
    threads = json.loads(out)
    assert [t["id"] for t in threads] == [0xBF4, 0x11C0]
    assert threads[0]["ip"] == 0x7C90EB94 and threads[0]["sp"] == 0x12F320
    assert threads[0]["faulting"] is True and threads[1]["faulting"] is False
    _, out, _ = run(capsys, "modules", TEST_DMP, "--json")
    mods = json.loads(out)
    assert mods[0]["name"] == "test_app.exe" and mods[0]["base"] == 0x400000
    assert mods[0]["end"] == 0x42D000
    assert mods[0]["pdb"] == ["c:\\test_app.pdb", "5A9832E5287241C1838ED98914E9B7FF", 1]
    assert mods[12]["version"] == [5, 1, 2600, 2180]
    _, out, _ = run(capsys, "memory", TEST_DMP, "--json")
    mem = json.loads(out)
    assert {(m["address"], m["size"]) for m in mem} >= {(0x12F31C, 0x130000 - 0x12F31C)}
    _, out, _ = run(capsys, "streams", TEST_DMP, "--json")
    streams = json.loads(out)
    assert [s["name"] for s in streams][:3] == [
        "ThreadListStream", "ModuleListStream", "MemoryListStream"
    ]
    assert streams[6]["type"] == 0x47670001 and streams[6]["name"] == "BreakpadInfo"


def test_human_output_names_things(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "info", TEST_DMP)
    assert "EXCEPTION_ACCESS_VIOLATION" in out and "test_app.exe" in out
    assert "Windows XP" in out and "Service Pack 2" in out
    _, out, _ = run(capsys, "threads", TEST_DMP)
    assert "ntdll.dll+0xeb94" in out
    _, out, _ = run(capsys, "modules", TEST_DMP)
    assert "psapi.dll" in out and "5.1.2600.2180" in out


def test_sample_is_bundled(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "info", "--sample", "--json")
    assert code == 0 and json.loads(out)["thread_count"] == 2


def test_bad_input_is_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.dmp"
    bad.write_bytes(b"not a dump at all, really not")
    for args in (["info", str(bad)], ["threads", str(bad), "--json"],
                 ["info", str(tmp_path / "missing.dmp")]):
        code, out, err = run(capsys, *args)
        assert code == 1 and out == ""
        assert err.count("\n") == 1 and err.startswith("dumplib: error: ")
        assert "Traceback" not in err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["info"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["frobnicate", TEST_DMP])
    assert info.value.code == 2


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("info", "threads", "modules", "memory", "streams"):
        assert cmd in out


def test_python_dash_m_and_truncated_warning(tmp_path: Path) -> None:
    cut = tmp_path / "cut.dmp"
    data = Path(TEST_DMP).read_bytes()
    cut.write_bytes(data[: len(data) - 2000])
    proc = subprocess.run(
        [sys.executable, "-m", "dumplib", "info", str(cut), "--json"],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["thread_count"] == 2
    assert "warning" in proc.stderr and "cut" in proc.stderr


def test_modules_vendor_and_symbols_from_images(capsys: pytest.CaptureFixture[str]) -> None:
    # case A replica: the third-party DLL's version resource names its vendor
    # (fixtures/wine/casea/truth.json is written from the program's .rc source)
    wine = Path(__file__).resolve().parent.parent / "fixtures" / "wine"
    truth = json.loads((wine / "casea" / "truth.json").read_text())
    code, out, _ = run(capsys, "modules", str(wine / "casea" / "casea.dmp"),
                       "--symbols", str(wine / "casea"), "--symbols", str(wine / "system"),
                       "--json")
    assert code == 0
    mods = {m["name"]: m for m in json.loads(out)}
    for name, want in truth["third_party"].items():
        got = mods[name]
        assert got["vendor"] == want["CompanyName"]
        assert got["description"] == want["FileDescription"]
        assert got["file_version"] == want["FileVersion"]
        assert got["version"] == want["version"]
        assert "pdb" in got["symbols"]
        assert got["pdb"] is None and got["pdb_identity"] is not None  # wine writes no CodeView
    assert mods["ntdll.dll"]["vendor"] == "Microsoft Corporation"
    # without symbols: the small dump does not hold the DLL's resources, so no vendor,
    # and no symbol search was made
    _, out, _ = run(capsys, "modules", str(wine / "casea" / "casea.dmp"), "--json")
    bare = {m["name"]: m for m in json.loads(out)}
    assert bare["fabnetinspect.dll"]["vendor"] is None
    assert "symbols" not in bare["fabnetinspect.dll"]
