"""Views for people: HTML and console renderings, data frames and hex views.

Expected values come from outside the code under test: the wine case B
replica's ``runtime.json`` (thread ids, process id, module bases, written by
the program while it ran) and ``truth.json`` (module names, exception,
crash chain from the program's source), and dumps described in code with
dumplib's builder (bytes and gaps known by construction).
"""

from __future__ import annotations

import html as html_lib
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dumplib
import dumplib.views as views
from dumplib.builder import DumpBuilder
from dumplib.model.hexdump import HEXDUMP_MAX_BYTES

pd = pytest.importorskip("pandas")

CASEB = Path(__file__).resolve().parent.parent / "fixtures" / "wine" / "caseb"
RUNTIME: dict[str, Any] = json.loads((CASEB / "runtime.json").read_text())
TRUTH: dict[str, Any] = json.loads((CASEB / "truth.json").read_text())


@pytest.fixture(scope="module")
def dump() -> dumplib.Dump:
    return dumplib.open(CASEB / "caseb.dmp")


@pytest.fixture(scope="module")
def stack(dump: dumplib.Dump) -> Any:
    return dump.stack(RUNTIME["faulting_thread"], symbols=[str(CASEB)])


def _visible_text(fragment: str) -> str:
    """The text a browser shows: tags dropped, entities decoded."""
    no_style = re.sub(r"<style>.*?</style>", "", fragment, flags=re.S)
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", no_style))


# -- HTML --------------------------------------------------------------------------------


def test_dump_card_shows_process_exception_and_counts(dump: dumplib.Dump) -> None:
    text = _visible_text(dump._repr_html_())
    assert TRUTH["process"] in text
    assert f"pid {RUNTIME['pid']}" in text
    assert TRUTH["exception"]["name"] in text
    assert f"0x{RUNTIME['exception.address']:x}" in text
    assert f"on thread {RUNTIME['faulting_thread']}" in text
    assert "Windows 7 6.1.7601" in text  # what wine 8.0's dbghelp reports (fixtures/README)
    assert "amd64" in text
    assert "MiniDumpNormal" in text
    assert re.search(r"threads\s+2\b", text)  # the program's two threads: main and iocp
    assert dump._repr_html_() == views.html(dump)


def test_thread_table_has_every_thread_and_marks_the_faulting_one(dump: dumplib.Dump) -> None:
    fragment = views.threads(dump)._repr_html_()
    text = _visible_text(fragment)
    for role in ("main", "iocp"):
        tid = RUNTIME[f"thread.{role}"]
        assert f"{tid} (0x{tid:x})" in text
    rows = re.findall(r"<tr[^>]*>.*?</tr>", fragment, flags=re.S)
    hot = [r for r in rows if 'class="hot"' in r]
    assert len(hot) == 1
    assert f"{RUNTIME['faulting_thread']} (0x" in _visible_text(hot[0])
    assert "mscorlib.ni.dll+0x" in _visible_text(hot[0])  # the faulting module (truth.json)
    # the bare list renders too (without module names)
    assert f"{RUNTIME['thread.main']} (0x" in _visible_text(views.html(dump.threads))


def test_module_table_names_bases_versions_and_symbol_status(dump: dumplib.Dump) -> None:
    text = _visible_text(views.modules(dump, symbols=[str(CASEB)])._repr_html_())
    for name in TRUTH["modules"]:
        assert name in text
        assert f"0x{RUNTIME['module.' + name]:x}" in text
        assert ".".join(map(str, TRUTH["versions"][name])) in text
    # the shipped PDBs are found for the program's modules (fixtures/README)
    assert text.count("pdb") >= len(TRUTH["modules"])
    bare = _visible_text(views.html(dump.modules))
    assert all(name in bare for name in TRUTH["modules"])


def test_html_escapes_names_from_the_dump() -> None:
    b = DumpBuilder("amd64")
    b.add_thread(7, context={"rip": 0x1000, "rsp": 0x2000}, name="<b>bold</b> & co")
    b.add_module(r"C:\x\<img src=x onerror=alert(1)>.dll", base=0x10000, size=0x1000)
    b.add_comment("a & b <i>")
    d = dumplib.open(b.to_bytes())
    for fragment in (views.html(d), views.html(d.modules), views.html(d.threads),
                     views.threads(d)._repr_html_()):
        assert "<img" not in fragment
        assert "<b>bold" not in fragment and "<i>" not in fragment
    assert "&lt;img src=x onerror=alert(1)&gt;.dll" in views.html(d.modules)
    assert "a &amp; b &lt;i&gt;" in views.html(d)


def test_stack_table_lists_frames_in_order_with_trust(stack: Any) -> None:
    fragment = views.html(stack)
    text = _visible_text(fragment)
    positions = [text.index(fn) for fn in TRUTH["crash_stack"]]
    assert positions == sorted(positions)
    # one trust badge per frame, and the innermost frame is the exception context
    badges = re.findall(r'<span class="badge t-(\w+)">(\w+)</span>', fragment)
    assert [b[1] for b in badges] == [f.trust.value for f in stack.frames]
    assert badges[0][1] == "context"
    assert f"thread {RUNTIME['faulting_thread']}" in text


def test_report_shows_findings_with_evidence_and_advice(dump: dumplib.Dump) -> None:
    report = dumplib.analyze(dump, symbols=[str(CASEB)])
    assert report.findings, "the replica is the case the analysis exists for"
    fragment = views.html(report)
    text = _visible_text(fragment)
    assert report.bucket in text
    for f in report.findings:
        assert f.title in text
        assert f"confidence {f.confidence:.2f}" in text
        assert " ".join(f.advice.split()) in " ".join(text.split())
        for key in f.evidence:
            assert f"<th>{key}</th>" in fragment
    for fn in TRUTH["crash_stack"]:
        assert fn in text


def test_memory_table_and_exception(dump: dumplib.Dump) -> None:
    text = _visible_text(views.html(dump.memory))
    assert f"{len(dump.memory)} captured ranges" in text
    first = next(dump.memory.regions())
    assert f"0x{first.start:x}" in text
    exc = _visible_text(views.html(dump.exception))
    assert TRUTH["exception"]["name"] in exc and f"{RUNTIME['faulting_thread']}" in exc


def test_unsupported_objects_raise_type_error() -> None:
    with pytest.raises(TypeError):
        views.html(object())
    with pytest.raises(TypeError):
        views.renderable(42)


def test_ipython_formatter_registration(dump: dumplib.Dump, stack: Any) -> None:
    formatters = pytest.importorskip("IPython.core.formatters")

    class Shell:
        display_formatter = formatters.DisplayFormatter()

    shell = Shell()
    assert views.register_ipython(shell)
    fmt = shell.display_formatter.formatters["text/html"]
    assert f"{RUNTIME['thread.iocp']} (0x" in _visible_text(fmt(dump.threads))
    assert TRUTH["crash_stack"][0] in _visible_text(fmt(stack))
    assert fmt(dump.memory.hexdump(RUNTIME["exception.address"], 16)) is not None
    # the hook in dumplib/__init__ runs only when IPython is loaded; calling it
    # without a running shell reports that nothing was registered
    if "IPython" in sys.modules:
        assert views.register_ipython() is False


# -- console -----------------------------------------------------------------------------


def test_console_views_carry_the_same_values(dump: dumplib.Dump, stack: Any) -> None:
    card = views.text(dump)
    assert TRUTH["exception"]["name"] in card and TRUTH["process"] in card
    threads = views.text(views.threads(dump))
    assert str(RUNTIME["thread.main"]) in threads and str(RUNTIME["thread.iocp"]) in threads
    st_text = views.text(stack, width=200)
    for fn in TRUTH["crash_stack"]:
        assert fn in st_text
    from rich.console import Console

    console = Console(width=200, record=True, color_system=None)
    with console.capture() as cap:
        console.print(dump)  # Dump.__rich__
    assert TRUTH["exception"]["name"] in cap.get()


# -- data frames ---------------------------------------------------------------------------


def test_threads_dataframe_equals_the_api(dump: dumplib.Dump) -> None:
    df = dump.threads.to_dataframe()
    assert list(df["id"]) == [t.id for t in dump.threads]
    assert set(df["id"]) == {RUNTIME["thread.main"], RUNTIME["thread.iocp"]}
    assert list(df["ip"]) == [t.context.ip for t in dump.threads]
    assert list(df["sp"]) == [t.context.sp for t in dump.threads]
    assert list(df["stack_start"]) == [t.stack_range[0] for t in dump.threads if t.stack_range]
    assert str(df["ip"].dtype) == "UInt64"


def test_modules_dataframe_equals_the_api(dump: dumplib.Dump) -> None:
    df = dump.modules.to_dataframe()
    assert list(df["name"]) == [m.name for m in dump.modules]
    assert list(df["base"]) == [m.base for m in dump.modules]
    assert list(df["end"]) == [m.end for m in dump.modules]
    by_name = df.set_index("name")
    for name in TRUTH["modules"]:
        assert by_name.loc[name, "base"] == RUNTIME[f"module.{name}"]
        assert by_name.loc[name, "version"] == ".".join(map(str, TRUTH["versions"][name]))
    assert df["base"].dtype == "uint64"


def test_memory_dataframe_equals_the_ranges(dump: dumplib.Dump) -> None:
    df = dump.memory.to_dataframe()
    assert list(zip(df["start"], df["size"], strict=True)) == dump.memory.ranges
    assert df["protect"].isna().all()  # wine writes no memory-info list


def test_memory_dataframe_with_memory_info() -> None:
    b = DumpBuilder("amd64")
    b.add_memory(0x10000, b"x" * 0x100)
    b.add_memory_info(0x10000, 0x1000, protect=0x20, type=0x1000000)
    df = dumplib.open(b.to_bytes()).memory.to_dataframe()
    assert list(df["protect"]) == [0x20] and list(df["type"]) == [0x1000000]
    assert list(df["allocation_base"]) == [0x10000]


@pytest.mark.parametrize("via", ["views", "method"])
def test_stack_dataframe_equals_the_frames(stack: Any, via: str) -> None:
    df = views.to_dataframe(stack) if via == "views" else stack.to_dataframe()
    assert list(df["ip"]) == [f.ip for f in stack.frames]
    assert list(df["sp"]) == [f.sp for f in stack.frames]
    assert list(df["trust"]) == [f.trust.value for f in stack.frames]
    assert list(df["function"][: len(TRUTH["crash_stack"])]) == TRUTH["crash_stack"]
    assert list(df["module"][: len(TRUTH["crash_stack_modules"])]) == \
        TRUTH["crash_stack_modules"]


def test_triage_rows_dataframe() -> None:
    from dumplib.triage.rows import TriageRow

    rows = [TriageRow(path=f"/d/{i}.dmp", bucket=f"B{i % 2}", dump_time=1000 + i)
            for i in range(5)]
    df = views.to_dataframe(rows)
    assert list(df["bucket"]) == [r.bucket for r in rows]
    assert list(df["dump_time"]) == [pd.Timestamp(r.dump_time, unit="s", tz="UTC")
                                     for r in rows]


def test_missing_pandas_names_the_extra(monkeypatch: pytest.MonkeyPatch,
                                        dump: dumplib.Dump) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"dumplib\[dataframe\]"):
        dump.threads.to_dataframe()
    with pytest.raises(ImportError, match=r"dumplib\[dataframe\]"):
        dump.memory.to_dataframe()


# -- hex views -----------------------------------------------------------------------------


def _parse_hexdump(text: str, digits: int) -> dict[int, int | None]:
    """Read a hex view back: address -> byte, or None for ``??``; blanks are skipped.

    Column positions follow the classic layout: address, two spaces, 16 cells of
    two characters one space apart with one extra space after the eighth.
    """
    out: dict[int, int | None] = {}
    for line in text.splitlines():
        base = int(line[:digits], 16)
        cells = line[digits + 2:]
        for i in range(16):
            pos = 3 * i + (1 if i >= 8 else 0)
            cell = cells[pos:pos + 2]
            if cell == "??":
                out[base + i] = None
            elif cell.strip():
                out[base + i] = int(cell, 16)
    return out


def test_hexdump_matches_the_bytes_and_marks_gaps() -> None:
    b = DumpBuilder("amd64")
    b.add_memory(0x4000, bytes(range(0x20, 0x60)))        # 64 bytes
    b.add_memory(0x4050, b"Hello, world!\x00\xff\x01")   # gap 0x4040-0x404f
    d = dumplib.open(b.to_bytes())
    view = d.memory.hexdump(0x4008, 0x60)
    got = _parse_hexdump(view.text(), 8)
    assert set(got) == set(range(0x4008, 0x4068))
    for a in range(0x4008, 0x4040):
        assert got[a] == 0x20 + a - 0x4000
    assert all(got[a] is None for a in range(0x4040, 0x4050))
    assert [got[a] for a in range(0x4050, 0x4060)] == list(b"Hello, world!\x00\xff\x01")
    assert all(got[a] is None for a in range(0x4060, 0x4068))
    assert view.missing == ((0x4040, 0x10), (0x4060, 0x8))
    # the printable column: "Hello, world!" then dots for the three others
    assert "|Hello, world!...|" in view.text()
    # HTML: same bytes, ?? cells for the gap
    fragment = views.html(view)
    assert fragment.count('class="miss"') == 0x18
    assert "48</td><td>65</td><td>6c" in fragment.replace("\n", "")


def test_hexdump_of_the_fault_site_equals_memory_read(dump: dumplib.Dump) -> None:
    ip = RUNTIME["exception.address"]
    view = dump.memory.hexdump(ip - 6, 24)
    got = _parse_hexdump(view.text(), 8)
    assert [got[a] for a in range(ip - 6, ip + 18)] == list(dump.memory.read(ip - 6, 24))


def test_hexdump_limits() -> None:
    d = dumplib.open(DumpBuilder("amd64").to_bytes())
    with pytest.raises(ValueError):
        d.memory.hexdump(0, HEXDUMP_MAX_BYTES + 1)
    with pytest.raises(ValueError):
        d.memory.hexdump(0, -1)
    empty = d.memory.hexdump(0x1000, 32)
    assert empty.missing == ((0x1000, 32),) and "??" in str(empty)


@settings(max_examples=40, deadline=None)
@given(
    chunks=st.lists(st.tuples(st.integers(0, 64), st.binary(min_size=1, max_size=48)),
                    min_size=1, max_size=4),
    start=st.integers(0, 40),
    size=st.integers(0, 200),
)
def test_hexdump_round_trip(chunks: list[tuple[int, bytes]], start: int, size: int) -> None:
    # lay the chunks out with the given gaps before each, starting at 0x8000
    b = DumpBuilder("amd64")
    truth: dict[int, int] = {}
    cur = 0x8000
    for gap, data in chunks:
        cur += gap
        b.add_memory(cur, data)
        truth.update({cur + i: v for i, v in enumerate(data)})
        cur += len(data) + 1  # keep ranges apart so each is its own range
    d = dumplib.open(b.to_bytes())
    addr = 0x8000 + start
    view = d.memory.hexdump(addr, size)
    got = _parse_hexdump(view.text(), 8) if size else {}
    assert set(got) == set(range(addr, addr + size))
    for a in range(addr, addr + size):
        assert got[a] == truth.get(a)
        assert view.is_captured(a) == (a in truth)
