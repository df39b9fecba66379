"""dumplib's stacks against lldb's (an independent unwinder) on the fixtures.

tools/compare_lldb.py runs lldb-19 on each dump with the same image
directories. Every frame lldb finds (ip and sp) must be among dumplib's
frames of that thread; dumplib may find more (lldb stops early in several
fixtures, or skips frames the programs' ground truth has). The one
exception is the thread whose thread-list context wine overwrote (recorded in
that fixture's truth.json): lldb walks the bogus context, dumplib does not.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools import compare_lldb  # noqa: E402

LLDB = compare_lldb.find_lldb()
pytestmark = pytest.mark.skipif(LLDB is None, reason="lldb is not installed (external tool)")
WINE = ROOT / "fixtures" / "wine"
DUMPS = sorted(WINE.glob("*/*.dmp"))


def _quirk_thread(dump: Path) -> int | None:
    truth = json.loads((dump.parent / "truth.json").read_text())
    quirk = truth.get("wine_writer_thread_quirk")
    if not quirk:
        return None
    runtime = json.loads((dump.parent / "runtime.json").read_text())
    return int(runtime[f"thread.{quirk['writer_role']}"])


@pytest.mark.parametrize("dump", DUMPS, ids=[f"{d.parent.name}/{d.name}" for d in DUMPS])
def test_every_lldb_frame_is_found(dump: Path) -> None:
    assert LLDB is not None
    symbols = [str(dump.parent), str(WINE / "system")]
    ours, _ = compare_lldb.dumplib_stacks(str(dump), symbols)
    theirs, _ = compare_lldb.lldb_stacks(LLDB, str(dump), symbols)
    mine = {t["id"]: {(f["ip"], f["sp"]) for f in t["frames"]} for t in ours}
    skip = _quirk_thread(dump)
    assert {t["id"] for t in theirs} == set(mine)
    compared = 0
    for t in theirs:
        if t["id"] == skip:
            continue
        frames, _inline = compare_lldb.collapse_inline(t["frames"])
        missing = [(hex(f["ip"]), hex(f["sp"]), f["function"]) for f in frames
                   if (f["ip"], f["sp"]) not in mine[t["id"]]]
        assert not missing, (t["id"], missing)
        compared += len(frames)
    assert compared > 0


def test_corpus_x86_against_lldb() -> None:
    assert LLDB is not None
    corpus = ROOT / "fixtures" / "external" / "rust-minidump"
    diff = compare_lldb.compare(str(corpus / "test.dmp"), [str(corpus / "symbols")], LLDB)
    assert diff.error is None
    for t in diff.threads:
        if t.dumplib_status == "dump_writer":
            # BreakpadInfo names 0x11c0 as the thread that wrote the dump; like
            # minidump-stackwalk (0 frames in its snapshot), dumplib does not walk it
            assert t.id == 0x11C0 and t.dumplib_frames == 0
            continue
        assert t.agree == t.lldb_frames > 0  # lldb's frames are the start of ours


def test_report(tmp_path: Path) -> None:
    assert LLDB is not None
    nullwrite = WINE / "nullwrite" / "nullwrite.dmp"
    out = tmp_path / "report.md"
    code = compare_lldb.main([str(nullwrite), "--symbols", str(nullwrite.parent),
                              "--symbols", str(WINE / "system"), "--out", str(out),
                              "--json", str(tmp_path / "r.json")])
    assert code == 0
    text = out.read_text()
    assert "| dump | threads | identical |" in text
    (entry,) = json.loads((tmp_path / "r.json").read_text())
    assert entry["identical_threads"] == len(entry["threads"]) == 1
