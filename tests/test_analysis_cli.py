"""``dumplib analyze`` and ``dumplib err`` on the command line.

The dumps are the wine replicas of the two field cases; what the output must
contain comes from their ground truth (truth.json / runtime.json) and from
CASES.md (the codes err.exe names for case B).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dumplib.cli import main

WINE = Path(__file__).resolve().parent.parent / "fixtures" / "wine"
CASEA = WINE / "casea"
CASEB = WINE / "caseb"
SYMBOLS = ["--symbols", str(CASEB), "--symbols", str(WINE / "system")]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _json(path: Path) -> Any:
    return json.loads(path.read_text())


def test_analyze_json_for_case_b(capsys: pytest.CaptureFixture[str]) -> None:
    truth, runtime = _json(CASEB / "truth.json"), _json(CASEB / "runtime.json")
    code, out, _ = run(capsys, "analyze", str(CASEB / "caseb.dmp"), *SYMBOLS, "--json")
    assert code == 0
    doc = json.loads(out)
    assert set(doc) >= {"bucket", "exception", "findings", "wer", "third_party_modules",
                        "faulting_instruction", "crash_stack", "summary", "notes"}
    assert doc["exception"]["code"] == truth["exception"]["code"]
    assert doc["exception"]["thread_id"] == runtime["faulting_thread"]
    assert doc["exception"]["access"] == truth["exception"]["access"]
    (finding,) = [f for f in doc["findings"] if f["id"] == "clr-double-io-completion"]
    assert isinstance(finding["confidence"], float) and finding["advice"]
    (code_fact,) = [f for f in finding["evidence"]["facts"] if f["fact"] == "exception_code"]
    assert code_fact["value"] == truth["exception"]["code"]  # an int
    assert code_fact["where"] == {"thread": runtime["faulting_thread"],
                                  "stream": "ExceptionStream"}
    frames = [f["function"] for f in doc["crash_stack"]["frames"] if f["function"]]
    assert frames[: len(truth["crash_stack"])] == truth["crash_stack"]
    assert doc["wer"]["process_id"] == runtime["pid"]
    assert doc["faulting_instruction"]["address"] == runtime["exception.address"]


def test_analyze_human_report_for_case_a(capsys: pytest.CaptureFixture[str]) -> None:
    truth = _json(CASEA / "truth.json")
    code, out, _ = run(capsys, "analyze", str(CASEA / "casea.dmp"), "--symbols", str(CASEA),
                       "--symbols", str(WINE / "system"))
    assert code == 0
    for text in ("dumplib analyze", "Exception", "none", "Service stop hangs",
                 "evidence", "advice", "Third-party modules", "bucket"):
        assert text in out, text
    for name, info in truth["third_party"].items():
        assert name in out and info["CompanyName"] in out


def test_analyze_human_report_has_every_section_for_a_crash(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "analyze", str(CASEB / "caseb.dmp"), *SYMBOLS)
    assert code == 0
    for text in ("Exception", "Faulting instruction", "Stack of thread", "KB3179574",
                 "WER event 1000", "Faulting application name: DataMCUSvc.exe",
                 "call qword ptr [rax]"):
        assert text in out, text


def test_analyze_bad_signatures_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "bad.toml").write_text('id = "x"\n')
    code, out, err = run(capsys, "analyze", str(CASEB / "caseb.dmp"),
                         "--signatures", str(tmp_path), "--json")
    assert code == 2 and out == ""
    assert "bad.toml" in err and err.count("\n") == 1


def test_analyze_extra_signatures_directory(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "mine.toml").write_text(
        'id = "datamcu-crash"\ntitle = "DataMCU crash"\nconfidence = 0.4\n'
        'advice = "Call us."\n[match]\nprocess = ["DataMCUSvc.exe"]\n'
    )
    code, out, _ = run(capsys, "analyze", str(CASEB / "caseb.dmp"),
                       "--signatures", str(tmp_path), "--json")
    assert code == 0
    ids = [f["id"] for f in json.loads(out)["findings"]]
    assert "datamcu-crash" in ids


def test_analyze_not_a_dump_exits_1(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "x.dmp"
    bad.write_bytes(b"nope" * 10)
    code, out, err = run(capsys, "analyze", str(bad), "--json")
    assert code == 1 and out == "" and err.startswith("dumplib: error: ")


# -- err -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "names"),
    [
        ("0xc0000005", {"STATUS_ACCESS_VIOLATION", "EXCEPTION_ACCESS_VIOLATION"}),
        ("0x80000005", {"STATUS_BUFFER_OVERFLOW"}),
        ("0x80131506", {"COR_E_EXECUTIONENGINE"}),
        ("C0000005", {"STATUS_ACCESS_VIOLATION"}),
        ("-1073741819", {"STATUS_ACCESS_VIOLATION"}),
        ("5", {"ERROR_ACCESS_DENIED"}),
    ],
)
def test_err_names_every_match(
    capsys: pytest.CaptureFixture[str], code: str, names: set[str]
) -> None:
    rc, out, _ = run(capsys, "err", code)
    assert rc == 0
    for name in names:
        assert name in out
    rc, out, _ = run(capsys, "err", code, "--json")
    assert rc == 0
    doc = json.loads(out)
    assert isinstance(doc["code"], int)
    assert names <= {m["name"] for m in doc["matches"]}


@pytest.mark.parametrize("code", ["0xE0434F4D", "0xE0434352"])
def test_err_knows_the_clr_exception_codes(capsys: pytest.CaptureFixture[str], code: str) -> None:
    rc, out, _ = run(capsys, "err", code, "--json")
    assert rc == 0
    doc = json.loads(out)
    assert doc["code"] == int(code, 16)
    assert [m for m in doc["matches"] if m["table"] == "exception"]


@pytest.mark.parametrize("text", ["zzz", "0x1FFFFFFFF", ""])
def test_err_bad_code_is_a_usage_error(capsys: pytest.CaptureFixture[str], text: str) -> None:
    rc, out, err = run(capsys, "err", text)
    assert rc == 2 and out == "" and "error" in err


def test_help_lists_analyze_and_err(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "analyze" in out and "err" in out
