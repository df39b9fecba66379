"""Terminal output at fixed widths (COLUMNS=80/120/200): nothing that identifies is cut.

Expected values come from the builder input, the fixtures' runtime.json /
truth.json, or skelsec's ``minidump`` parser -- never from dumplib's output.
Rules checked: addresses, ids, GUIDs and bucket ids appear whole; no line is
wider than COLUMNS; modules are sorted by base with the main module marked;
module build dates; columns are dropped in the documented order and the
caption says which.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from pathlib import Path

import pytest
from minidump.minidumpfile import MinidumpFile

from dumplib.builder import DumpBuilder
from dumplib.cli import main
from tests.conftest import FIXTURES, RUST_MINIDUMP

WIDTHS = (80, 120, 200)
CASEB = FIXTURES / "wine" / "caseb"
OVERFLOW = FIXTURES / "wine" / "stackoverflow"

# builder input of the "wide" dump: 64-bit addresses, long names, PDB GUIDs
MODULES = [  # (path, base, size, timestamp, guid)
    (r"C:\Program Files\Contoso\contoso-service-host.exe", 0x7FF6_1234_0000, 0x80000,
     0x6500_0000, uuid.UUID("6f9619ff-8b86-d011-b42d-00c04fc964ff")),
    (r"C:\Windows\System32\ntdll.dll", 0x7FFA_5670_0000, 0x1F0000, 0x5A00_0000,
     uuid.UUID("0e2a35f1-3d4b-4c5e-9f60-718293a4b5c6")),
    (r"C:\Program Files\Contoso\plugins\contoso-telemetry-uploader.dll", 0x7FF9_0000_0000,
     0x40000, 0x6400_0000, uuid.UUID("12345678-9abc-def0-1234-56789abcdef0")),
]
THREADS = [(0x1A2C, 0x7FF6_1234_1010, 0x0000_00C8_3F9F_F000, "contoso worker thread pool #1"),
           (0x2B3D, 0x7FFA_5670_2000, 0x0000_00C8_4000_0000, None)]
CPUS = 12
CREATED, WRITTEN = 0x6000_0000, 0x6000_0000 + 3 * 86400 + 4 * 3600 + 5 * 60 + 6


@pytest.fixture(scope="module")
def wide(tmp_path_factory: pytest.TempPathFactory) -> Path:
    b = DumpBuilder("amd64", time_date_stamp=WRITTEN, number_of_processors=CPUS)
    for path, base, size, ts, guid in MODULES:
        name = path.rsplit("\\", 1)[1]
        b.add_module(path, base=base, size=size, time_date_stamp=ts, version=(10, 0, 19041, 1),
                     pdb70=(name.rsplit(".", 1)[0] + ".pdb", guid, 3))
    for tid, rip, rsp, name in THREADS:
        b.add_thread(tid, context={"rip": rip, "rsp": rsp, "rax": 0x1122_3344_5566_7788,
                                   "rbx": MODULES[1][1] + 0x1234},
                     stack=bytes(0x100), name=name)
    b.set_exception(THREADS[0][0], 0xC0000005, THREADS[0][1], parameters=(0, 0))
    b.set_misc_info(process_id=4242, process_create_time=CREATED)
    p = tmp_path_factory.mktemp("wide") / "wide.dmp"
    b.write(p)
    return p


def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, width: int,
        *args: str) -> str:
    monkeypatch.setenv("COLUMNS", str(width))
    assert main(list(args)) == 0
    out: str = capsys.readouterr().out
    return out


def _tokens(out: str) -> set[str]:
    return set(re.findall(r"[^\s│┃]+", out))


@pytest.mark.parametrize("width", WIDTHS)
def test_modules_never_cut_sorted_and_marked(wide: Path, width: int,
                                             capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    out = run(capsys, monkeypatch, width, "modules", str(wide))
    assert max(len(line) for line in out.splitlines()) <= width
    toks = _tokens(out)
    by_base = sorted(MODULES, key=lambda m: m[1])
    for _, base, _, ts, guid in by_base:
        assert f"0x{base:x}" in toks
        date = dt.datetime.fromtimestamp(ts, tz=dt.timezone.utc).strftime("%Y-%m-%d")
        assert date in toks
        if width >= 120:
            assert f"{guid.hex.upper()}3" in toks  # GUID + age, as symbol stores key it
    positions = [out.index(f"0x{m[1]:x}") for m in by_base]
    assert positions == sorted(positions)
    main_line = next(line for line in out.splitlines() if f"0x{MODULES[0][1]:x}" in line)
    assert re.match(r"^\W*\*", main_line)  # the main module (first in the list) is marked
    assert "* main module" in out
    if width == 200:
        assert "not shown" not in out
    if width == 80:  # the documented order: empty columns (no version resource, so no
        # vendor), then timestamp, end, pdb id, pdb, ...
        assert "not shown at 80 columns: vendor, timestamp, end" in " ".join(out.split())


@pytest.mark.parametrize("width", WIDTHS)
def test_threads_never_cut(wide: Path, width: int, capsys: pytest.CaptureFixture[str],
                           monkeypatch: pytest.MonkeyPatch) -> None:
    out = run(capsys, monkeypatch, width, "threads", str(wide))
    assert max(len(line) for line in out.splitlines()) <= width
    toks = _tokens(out)
    for tid, rip, _, _ in THREADS:
        assert f"(0x{tid:x})" in toks and f"0x{rip:x}" in toks
    assert "contoso-service-host.exe+0x1010" in toks
    faulting = next(line for line in out.splitlines() if f"(0x{THREADS[0][0]:x})" in line)
    assert "*" in faulting.split(f"{THREADS[0][0]}")[0]


@pytest.mark.parametrize("width", WIDTHS)
def test_info_cpus_uptime_and_dates(wide: Path, width: int, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    out = run(capsys, monkeypatch, width, "info", str(wide))
    assert re.search(rf"cpus\s+{CPUS}\b", out)
    assert re.search(r"uptime\s+3d 04:05:06", out)
    started = dt.datetime.fromtimestamp(CREATED, tz=dt.timezone.utc)
    assert started.strftime("%Y-%m-%d %H:%M:%S") in out
    doc = json.loads(run(capsys, monkeypatch, width, "info", str(wide), "--json"))
    assert doc["cpu_count"] == CPUS and doc["process_uptime"] == WRITTEN - CREATED


def test_info_against_a_second_parser(capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    path = RUST_MINIDUMP / "test.dmp"
    oracle = MinidumpFile.parse(str(path))
    doc = json.loads(run(capsys, monkeypatch, 80, "info", str(path), "--json"))
    assert doc["cpu_count"] == oracle.sysinfo.NumberOfProcessors
    out = run(capsys, monkeypatch, 80, "modules", str(path))
    toks = _tokens(out)
    bases = sorted(m.baseaddress for m in oracle.modules.modules)
    assert [out.index(f"0x{b:x}") for b in bases] == sorted(out.index(f"0x{b:x}") for b in bases)
    assert all(f"0x{b:x}" in toks for b in bases)


def test_piped_output_follows_columns(wide: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    for width in (60, 100, 240):
        out = run(capsys, monkeypatch, width, "modules", str(wide))
        longest = max(len(line) for line in out.splitlines())
        assert longest <= width
        if width == 240:
            assert longest > 160  # not the old fixed 160 columns


@pytest.mark.parametrize("width", WIDTHS)
def test_stack_folds_recursion_and_shows_the_entry(width: int,
                                                   capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    truth = json.loads((OVERFLOW / "truth.json").read_text())
    dmp = str(OVERFLOW / "stackoverflow.dmp")
    out = run(capsys, monkeypatch, width, "stack", dmp, "--symbols", str(OVERFLOW))
    assert truth["crash_stack_outermost"] in out  # OverflowThread, without --all
    if width >= 120:  # frame names whole on one line (they were cut at 120)
        assert re.search(rf"stackoverflow!{truth['crash_stack_outermost']}\+0x[0-9a-f]+ ", out)
    m = re.search(rf"{truth['faulting_function']}\+0x[0-9a-f]+ x(\d+)", out)
    assert m is not None
    doc = json.loads(run(capsys, monkeypatch, width, "stack", dmp, "--symbols", str(OVERFLOW),
                         "--json"))
    frames = doc["threads"][0]["frames"]
    run_len = 0
    for f in frames[1:]:
        if f["function"] != truth["faulting_function"]:
            break
        run_len += 1
    assert int(m.group(1)) == run_len > 1000
    assert len(out.splitlines()) < 60
    for f in frames:  # the module offset sits beside the function offset
        if f["module"] is not None:
            assert f["module_offset"] is not None and "offset" in f
    assert "function_offset" in frames[0]


def test_bucket_stays_on_one_line(capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    dmp = str(CASEB / "caseb.dmp")
    doc = json.loads(run(capsys, monkeypatch, 60, "analyze", dmp, "--symbols", str(CASEB),
                         "--json"))
    bucket = doc["bucket"]
    assert len(bucket) > 60  # longer than the terminal is wide
    out = run(capsys, monkeypatch, 60, "analyze", dmp, "--symbols", str(CASEB))
    assert f"bucket: {bucket}" in out.splitlines()
    out = run(capsys, monkeypatch, 60, "triage", "--jobs", "0", dmp, "--symbols", str(CASEB))
    assert any(bucket in line for line in out.splitlines())


def test_evidence_is_readable_lines(capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = json.loads((CASEB / "runtime.json").read_text())
    out = run(capsys, monkeypatch, 120, "analyze", str(CASEB / "caseb.dmp"),
              "--symbols", str(CASEB))
    assert f"exception_code = 0x{runtime['exception.code']:x}" in out  # a code: hex (a fact)
    assert "os_build: 7601" in out  # a count/build number: decimal (Windows 7 SP1)
    assert "{" not in out.split("evidence:")[1].split("advice:")[0]  # no JSON dumps


def test_too_narrow_runs_past_the_edge_rather_than_cut(wide: Path,
                                                       capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    out = run(capsys, monkeypatch, 30, "threads", str(wide))
    toks = _tokens(out)
    for tid, rip, _, _ in THREADS:
        assert f"(0x{tid:x})" in toks and f"0x{rip:x}" in toks
    faulting = next(line for line in out.splitlines() if f"(0x{THREADS[0][0]:x})" in line)
    assert "*" in faulting  # the mark column is not squeezed away


def test_folded_rows_add_up_to_the_true_depth(capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """deeprec recurses 21 times (truth.json); the folded rows must count 21 Recurse
    frames between CrashInAlloca and main, in at most two rows (two call sites)."""
    d = FIXTURES / "wine" / "deeprec"
    truth = json.loads((d / "truth.json").read_text())
    out = run(capsys, monkeypatch, 120, "stack", str(d / "deeprec.dmp"), "--symbols", str(d))
    rows = re.findall(r"!Recurse\+0x[0-9a-f]+(?: x(\d+))?", out)
    assert 1 <= len(rows) <= 2
    assert sum(int(n or 1) for n in rows) == truth["crash_stack"].count("Recurse") == 21
    assert out.index("CrashInAlloca") < out.index("!Recurse") < out.index("!main+")
