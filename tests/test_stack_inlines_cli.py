"""Inline frames on the command line (issue #15): ``dumplib stack`` and ``analyze``.

The oracle is minidump-stackwalk's own output for rust-minidump's macOS sample
(its insta snapshot ``macos_inlines_json_pretty``): the crashing thread has 8
physical frames and 20 with inlines. Each table row, JSON frame and inline entry
is compared with the snapshot's frame of the same number: function names in the
same order, source lines, module offsets and trust.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from dumplib.cli import main
from tests.test_os_crash import RUST, snapshot

DUMP = str(RUST / "pipeline-inlines-macos-segv.dmp")
SYMS = ["--symbols", str(RUST / "symbols")]


def expected_frames() -> list[dict[str, Any]]:
    doc = snapshot("macos_inlines_json_pretty")
    frames: list[dict[str, Any]] = doc["crashing_thread"]["frames"]
    assert len(frames) == 8 and sum(1 + len(f["inlines"] or ()) for f in frames) == 20
    return frames


def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        *argv: str) -> str:
    monkeypatch.setenv("COLUMNS", "400")  # wide enough that no name wraps
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def table_rows(out: str, start: str = "") -> list[tuple[int, list[str], str]]:
    """(frame number, location cell lines, trust) per row of the stack table (the
    first table after the line holding ``start``)."""
    rows: list[tuple[int, list[str], str]] = []
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if start in line)
    for line in lines[at:]:
        if line.startswith("└"):
            break
        if not line.startswith("│"):
            continue
        cells = [c.strip() for c in line.strip("│").split("│")]
        number, where, trust = cells[0], cells[-2], cells[-1]
        if number:
            rows.append((int(number), [where], trust))
        elif where:
            rows[-1][1].append(where)
    return rows


def folded(frames: list[dict[str, Any]]) -> list[tuple[dict[str, Any], int]]:
    """The snapshot's frames with runs at the same module offset (recursion) folded."""
    out: list[tuple[dict[str, Any], int]] = []
    for f in frames:
        if out and (out[-1][0]["module"], out[-1][0]["module_offset"]) == (
                f["module"], f["module_offset"]):
            out[-1] = (out[-1][0], out[-1][1] + 1)
        else:
            out.append((f, 1))
    return out


def physical_name(f: dict[str, Any], n: int) -> str:
    """What the location column shows for a snapshot frame (its module offset is the
    lookup address, one below a caller's return address)."""
    if f["function"] is not None:
        return f"{f['module']}!{f['function']}+0x"
    offset = int(f["module_offset"], 16) + (0 if f["trust"] == "context" else 1)
    return f"{f['module']}+0x{offset:x}" + (f" x{n}" if n > 1 else "")


def line_of(cell: list[str]) -> int | None:
    return int(cell[-1].rsplit(":", 1)[1].rstrip("]")) if len(cell) > 1 else None


def test_stack_table_lists_inline_frames_as_minidump_stackwalk(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    out = run(capsys, monkeypatch, "stack", DUMP, *SYMS)
    assert "8 frames (20 with inlines)" in out
    rows = table_rows(out)
    want: list[tuple[int, str, str, int | None]] = []
    for f, n in folded(expected_frames()):
        for i in f["inlines"] or ():
            want.append((f["frame"], f"{f['module']}!{i['function']}", "inlined", i["line"]))
        want.append((f["frame"], physical_name(f, n), f["trust"], f["line"]))
    assert len(rows) == len(want) == 19  # 20 frames, the two libdyld frames folded
    for (number, cell, trust), (w_number, w_name, w_trust, w_line) in zip(rows, want, strict=True):
        assert number == w_number
        if not w_name.endswith("+0x"):
            assert cell[0] == w_name
        else:  # a physical frame with a function: the offset is from the function start
            assert cell[0].startswith(w_name) and cell[0][len(w_name):].isalnum()
        assert trust == w_trust
        assert line_of(cell) == w_line


def test_stack_table_physical_only_is_the_physical_frames(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    out = run(capsys, monkeypatch, "stack", DUMP, *SYMS, "--physical-only")
    assert "inlined" not in out and "with inlines" not in out
    rows = table_rows(out)
    want = folded(expected_frames())
    assert len(rows) == len(want) == 7
    for (number, cell, trust), (f, n) in zip(rows, want, strict=True):
        assert number == f["frame"] and trust == f["trust"]
        assert cell[0].startswith(physical_name(f, n))
        # the address's own line: the innermost inlined call's line when there is one
        inl = f["inlines"] or ()
        assert line_of(cell) == (inl[0]["line"] if inl else f["line"])


def test_stack_json_keeps_physical_frames_and_adds_inlines(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    doc = json.loads(run(capsys, monkeypatch, "stack", DUMP, *SYMS, "--json"))
    flat = json.loads(run(capsys, monkeypatch, "stack", DUMP, *SYMS, "--json",
                          "--physical-only"))
    frames = doc["threads"][0]["frames"]
    physical = flat["threads"][0]["frames"]
    expected = expected_frames()
    assert len(frames) == len(physical) == len(expected)
    for ours, plain, theirs in zip(frames, physical, expected, strict=True):
        assert plain["inlines"] == []
        # every other field is the same with and without inlines
        assert {k: v for k, v in ours.items() if k != "inlines"} == {
            k: v for k, v in plain.items() if k != "inlines"}
        assert ours["function"] == theirs["function"]
        assert ours["module_offset"] - (0 if ours["trust"] == "context" else 1) == int(
            theirs["module_offset"], 16)
        inl = theirs["inlines"] or []
        assert [(i["function"], i["source_line"]) for i in ours["inlines"]] == [
            (i["function"], i["line"]) for i in inl]
        assert [i["source_file"] for i in ours["inlines"]] == [i["file"] for i in inl]
        if inl:  # the outermost inline is called from the physical function's line
            assert ours["inlines"][-1]["call_line"] == theirs["line"]
            assert ours["source_line"] == inl[0]["line"]  # unchanged: the address's line
        else:
            assert ours["source_line"] == theirs["line"]


def test_analyze_crash_stack_shows_inline_frames(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    names = [f"{f['module']}!{i['function']}" for f in expected_frames()
             for i in f["inlines"] or ()]
    out = run(capsys, monkeypatch, "analyze", DUMP, *SYMS)
    rows = table_rows(out, "Stack of thread")
    assert len(rows) == 19
    assert [cell[0] for _n, cell, trust in rows if trust == "inlined"] == names
    out = run(capsys, monkeypatch, "analyze", DUMP, *SYMS, "--physical-only")
    rows = table_rows(out, "Stack of thread")
    assert len(rows) == 7 and not [r for r in rows if r[2] == "inlined"]


def shell_rows(text: str) -> list[tuple[int, str, str]]:
    """(number, what stands where Child-SP and RetAddr are, call site without its source
    line) for each ``kn`` row of ``dumplib.shell.run`` output."""
    rows = []
    for line in text.splitlines():
        if line[:2].strip() and line[2:3] == " " and not line.startswith(("0:", " #")):
            number, rest = line.split(" ", 1)
            slots, site = rest[:35], rest[35:].strip()
            rows.append((int(number, 16), slots, site.split(" [", 1)[0]))
    return rows


def test_shell_k_numbers_inline_frames_as_windbg() -> None:
    """``kn`` lists the 20 frames with inlines in minidump-stackwalk's order, each
    inlined call with WinDbg's ``(Inline Function) --------`--------`` in place of
    Child-SP and RetAddr (Microsoft's "Debugging Optimized Code and Inline
    Functions"); ``.inline 0`` gives the 8 physical frames; ``.frame N`` on an
    inlined call chooses the physical frame it is inlined into."""
    import dumplib
    import dumplib.shell

    want: list[tuple[bool, str, int]] = []  # (inlined, call site, physical frame number)
    for f in expected_frames():
        stem = f["module"].rsplit(".", 1)[0]  # WinDbg names modules without the extension
        want += [(True, f"{stem}!{i['function']}", f["frame"]) for i in f["inlines"] or ()]
        if f["function"] is None:
            offset = int(f["module_offset"], 16) + (0 if f["trust"] == "context" else 1)
            want.append((False, f"{stem}+0x{offset:x}", f["frame"]))
        else:
            want.append((False, f"{stem}!{f['function']}+0x", f["frame"]))
    with dumplib.open(DUMP) as d:
        text = dumplib.shell.run(d, "kn", symbols=SYMS[1:])
        rows = shell_rows(text)
        assert [n for n, _s, _c in rows] == list(range(20))
        for (_n, slots, site), (inlined, name, _frame) in zip(rows, want, strict=True):
            assert (slots == "(Inline Function) --------`--------") == inlined
            if name.endswith("+0x"):  # then the offset from the function start
                assert site.startswith(name) and site[len(name):].isalnum()
            else:
                assert site == name
        session = dumplib.shell.Session(d, SYMS[1:])
        flat = shell_rows(dumplib.shell.run(d, ".inline 0; kn", session=session))
        assert [site for _n, _s, site in flat] == [
            site for _n, slots, site in rows if not slots.startswith("(Inline")]
        assert len(flat) == 8
        dumplib.shell.run(d, ".inline 1", session=session)
        for n in (0, 3, 12):  # inlined calls into physical frames 0, 1 and 4
            dumplib.shell.run(d, f".frame {n:x}", session=session)
            assert want[n][0] and session.frame_index == want[n][2]
        # .frame without N shows the chosen inlined call again, by its number
        again = shell_rows(dumplib.shell.run(d, ".frame 3; .frame", session=session))
        assert [(n, slots) for n, slots, _c in again] == [
            (3, "(Inline Function) --------`--------")] * 2


def test_pdb_inline_sites_in_stack_cli(tmp_path: Any, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """PDB inline sites reach the command line too. A builder-made x86 dump loads
    symbolic's crash.exe (identity from its PE header and crash.pdb's debug id as
    Sentry's symbolic reads it) and faults at an address where symbolic lists two
    inlined calls; ``stack --json`` and the table list symbolic's frames in its order."""
    import struct
    import uuid

    pdb_symbolic = pytest.importorskip("tests.test_pdb_symbolic")
    from dumplib.builder import DumpBuilder
    from dumplib.pdb import PdbFile

    pdb_path = pdb_symbolic.CORPUS / "crash.pdb"
    obj, cache = pdb_symbolic._symcache(pdb_path)
    rva = next(r.rva for r in PdbFile.open(pdb_path).line_records[:4000]
               if r.size and len(cache.lookup(r.rva)) >= 3)
    theirs = [(pdb_symbolic._base(loc.symbol), loc.line) for loc in cache.lookup(rva)]
    exe = (pdb_symbolic.CORPUS / "crash.exe").read_bytes()
    pe = struct.unpack_from("<I", exe, 0x3C)[0]
    timestamp, size = struct.unpack_from("<I", exe, pe + 8)[0], struct.unpack_from(
        "<I", exe, pe + 24 + 56)[0]
    guid, age = str(obj.debug_id).rsplit("-", 1)
    base = 0x400000
    b = DumpBuilder("x86")
    b.add_module(r"C:\crash\crash.exe", base=base, size=size, time_date_stamp=timestamp,
                 pdb70=("crash.pdb", uuid.UUID(guid), int(age, 16)))
    b.add_thread(0x10, context={"eip": base + rva, "esp": 0x100000, "ebp": 0x100040},
                 stack=bytes(0x100), stack_start=0x100000)
    b.set_exception(0x10, 0xC0000005, base + rva, parameters=(0, 0))
    dump = tmp_path / "inline.dmp"
    b.write(dump)
    argv = ["stack", str(dump), "--symbols", str(pdb_path), "--max-frames", "1"]
    (frame,) = json.loads(run(capsys, monkeypatch, *argv, "--json"))["threads"][0]["frames"]
    ours = [(i["function"], i["source_line"]) for i in frame["inlines"]]
    ours.append((frame["function"], frame["inlines"][-1]["call_line"]))
    assert ours == theirs and len(ours) == 3
    rows = table_rows(run(capsys, monkeypatch, *argv))
    assert [(n, cell[0], trust) for n, cell, trust in rows[:2]] == [
        (0, f"crash!{name}", "inlined") for name, _line in theirs[:2]]
    assert rows[2][1][0].startswith(f"crash!{theirs[2][0]}+0x") and rows[2][2] == "context"
    assert [line_of(cell) for _n, cell, _t in rows] == [line for _f, line in theirs]
