"""Short, readable ``repr`` for the objects a notebook or REPL shows most.

Oracles: the builder dump's thread ids and ips are the ones written; the sample's
module bases are those the replica program recorded (runtime.json); the sample's
stack and report are compared with their own fields line by line, and sizes are
bounded (the dataclass repr was several kilobytes).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import dumplib
from dumplib.builder import DumpBuilder
from dumplib.samples import sample_path, sample_symbols

ROOT = Path(__file__).resolve().parent.parent


def test_thread_list_lists_each_thread_up_to_the_limit() -> None:
    b = DumpBuilder("amd64")
    ids = [0x100 + 4 * i for i in range(25)]
    for i, tid in enumerate(ids):
        b.add_thread(tid, context={"rip": 0x401000 + i, "rsp": 0x9F000})
    with dumplib.open(b.to_bytes()) as dump:
        lines = repr(dump.threads).splitlines()
    assert lines[0] == "<ThreadList of 25>"
    assert len(lines) == 1 + 20 + 1 and lines[-1].strip() == "... 5 more"
    for i, (tid, line) in enumerate(zip(ids[:20], lines[1:21], strict=True)):
        assert line.split()[0] == str(tid) and f"ip 0x{0x401000 + i:x}" in line


def test_module_list_one_line_per_module() -> None:
    # Module bases as the replica program recorded them at run time (runtime.json).
    runtime = json.loads((ROOT / "fixtures/wine/caseb/runtime.json").read_text())
    bases = {k.removeprefix("module."): v for k, v in runtime.items() if k.startswith("module.")}
    with dumplib.open(sample_path()) as dump:
        count = len(dump.modules)
        lines = repr(dump.modules).splitlines()
    assert lines[0] == f"<ModuleList of {count}>" and len(lines) == 1 + count
    starts = {ln.split()[1]: int(ln.split()[0].split("-")[0], 16) for ln in lines[1:]}
    for name, base in bases.items():
        assert starts[name] == base


@pytest.fixture(scope="module")
def sample_report() -> dumplib.Report:
    with dumplib.open(sample_path()) as dump:
        return dumplib.analyze(dump, symbols=sample_symbols())


def test_stack_repr_is_a_line_per_frame(sample_report: dumplib.Report) -> None:
    stack = sample_report.crash_stack
    assert stack is not None
    lines = repr(stack).splitlines()
    assert lines[0].startswith(f"<Stack of thread {stack.thread_id} ")
    assert f"{len(stack.frames)} frames" in lines[0]
    for f, line in zip(stack.frames, lines[1:], strict=False):
        assert line.strip() == f"#{f.index:02d} {f} ({f.trust.value})"
    assert "registers" not in repr(stack) and len(repr(stack.frames[0]).splitlines()) == 1


def test_report_repr_is_short_and_names_bucket_and_findings(
        sample_report: dumplib.Report) -> None:
    text = repr(sample_report)
    assert len(text) < 2500  # the dataclass repr was ~7 KB
    assert text.splitlines()[0] == f"<Report bucket={sample_report.bucket}>"
    for f in sample_report.findings:
        assert f"finding {f.id} " in text
    assert "clr-double-io-completion" in text  # case B's known finding
    assert "ThirdPartyModule(" not in text and "WerEvent(" not in text


def test_triage_result_repr_is_a_line_per_dump(tmp_path: Path) -> None:
    import shutil

    from dumplib.triage import triage

    for i in range(3):
        shutil.copy(sample_path("test.dmp"), tmp_path / f"d{i}.dmp")
    result = triage([tmp_path], jobs=0)
    lines = repr(result).splitlines()
    assert lines[0] == "<TriageResult of 3 dumps: 3 analysed, 0 already known, 0 unreadable>"
    assert [ln.split()[0] for ln in lines[1:]] == [str(tmp_path / f"d{i}.dmp") for i in range(3)]
    assert all(ln.split()[1] == r.bucket for ln, r in zip(lines[1:], result, strict=True))
