"""Compare dumplib's stacks with lldb's, frame by frame, and write a report.

lldb (Debian's lldb-19) opens minidumps with ``target create --core``; given
the directories holding the images (``target.exec-search-paths``) it reads
their unwind data too. This tool walks every thread of each dump with both,
lines the frames up by (ip, sp) and reports, per thread, how many frames
each side found, how many agree from the innermost on, and where they first
differ::

    python tools/compare_lldb.py                      # every wine fixture + the corpus
    python tools/compare_lldb.py X.dmp --symbols DIR  # one dump
    python tools/compare_lldb.py --out report.md --json report.json

Exit status 0 when the report was written (differences are data, not errors),
2 when lldb is not installed.
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WINE = ROOT / "fixtures" / "wine"

_SCRIPT = '''
import json
import lldb


def run(debugger, command, result, internal_dict):
    out = []
    for t in debugger.GetSelectedTarget().GetProcess():
        frames = []
        for f in t:
            name = f.GetFunctionName() or f.GetSymbol().GetName()
            frames.append({"ip": f.GetPC(), "sp": f.GetSP(),
                           "module": f.GetModule().GetFileSpec().GetFilename(),
                           "function": name})
        out.append({"id": t.GetThreadID(), "frames": frames})
    print("LLDBJSON" + json.dumps(out))


def __lldb_init_module(debugger, internal_dict):
    debugger.HandleCommand("command script add -f dumplib_lldb.run dumplib_frames")
'''


def find_lldb() -> str | None:
    """The lldb executable (``lldb-19`` preferred), or None."""
    for name in ("lldb-19", "lldb"):
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class ThreadDiff:
    """How the two sides compare on one thread."""

    id: int
    dumplib_frames: int
    lldb_frames: int
    agree: int
    first_difference: dict[str, Any] | None
    dumplib_status: str
    dumplib_trusts: list[str] = field(default_factory=list)
    lldb_inline_frames: int = 0


@dataclass
class DumpDiff:
    """The comparison of one dump."""

    dump: str
    symbols: list[str]
    threads: list[ThreadDiff]
    lldb_seconds: float
    dumplib_seconds: float
    error: str | None = None

    @property
    def identical_threads(self) -> int:
        """Threads where both sides found exactly the same frames."""
        return sum(1 for t in self.threads
                   if t.agree == t.dumplib_frames == t.lldb_frames)


def lldb_stacks(lldb: str, dump: str, search: list[str], timeout: float = 600) -> tuple[
        list[dict[str, Any]], float]:
    """Every thread's frames as lldb sees them, and lldb's wall time in seconds.

    Raises:
        RuntimeError: lldb failed or printed no frames.
    """
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "dumplib_lldb.py"
        script.write_text(_SCRIPT)
        cmd = [lldb, "--batch", "--no-lldbinit"]
        if search:
            cmd += ["-o", "settings set target.exec-search-paths " + " ".join(search)]
        cmd += ["-o", f"target create --core {dump}", "-o", f"command script import {script}",
                "-o", "dumplib_frames"]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        elapsed = time.perf_counter() - start
    for line in proc.stdout.splitlines():
        if line.startswith("LLDBJSON"):
            found: list[dict[str, Any]] = json.loads(line[len("LLDBJSON"):])
            return found, elapsed
    raise RuntimeError(f"lldb printed no frames (exit {proc.returncode}): "
                       f"{proc.stderr.strip()[-500:]}")


def dumplib_stacks(dump: str, symbols: list[str]) -> tuple[list[dict[str, Any]], float]:
    """Every thread's frames as dumplib walks them, and the walk's wall time."""
    import dumplib

    with dumplib.open(dump) as d:
        start = time.perf_counter()
        stacks = d.stacks(symbols=symbols)
        elapsed = time.perf_counter() - start
        out = []
        for s in stacks:
            out.append({
                "id": s.thread_id,
                "status": s.status.value,
                "frames": [{"ip": f.ip, "sp": f.sp, "function": f.function,
                            "module": f.module.name if f.module else None,
                            "trust": f.trust.value} for f in s.frames],
            })
    return out, elapsed


def collapse_inline(frames: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Drop the inlined-function frames lldb adds from DWARF (wine's DLLs carry it).

    lldb lists each inlined call as a frame of its own with the same stack
    pointer as the frame it was inlined into; a real caller always has a
    higher one. The first frame of such a run (the concrete pc) is kept.

    Returns:
        The physical frames and how many inline frames were dropped.
    """
    out: list[dict[str, Any]] = []
    dropped = 0
    for f in frames:
        if out and f["sp"] == out[-1]["sp"]:
            dropped += 1
            continue
        out.append(f)
    return out, dropped


def compare(dump: str, symbols: list[str], lldb: str) -> DumpDiff:
    """Walk ``dump`` with both and line the frames up."""
    search = [s for s in symbols if os.path.isdir(s)]
    ours, our_time = dumplib_stacks(dump, symbols)
    try:
        theirs, their_time = lldb_stacks(lldb, dump, search)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        return DumpDiff(dump, symbols, [], 0.0, our_time, str(exc))
    by_id = {t["id"]: t["frames"] for t in theirs}
    threads = []
    for t in ours:
        mine = t["frames"]
        other, inlined = collapse_inline(by_id.get(t["id"], []))
        agree = 0
        for a, b in zip(mine, other, strict=False):
            if (a["ip"], a["sp"]) != (b["ip"], b["sp"]):
                break
            agree += 1
        diff = None
        if agree < max(len(mine), len(other)):
            diff = {
                "index": agree,
                "dumplib": mine[agree] if agree < len(mine) else None,
                "lldb": other[agree] if agree < len(other) else None,
            }
        threads.append(ThreadDiff(t["id"], len(mine), len(other), agree, diff, t["status"],
                                  [f["trust"] for f in mine], inlined))
    return DumpDiff(dump, symbols, threads, their_time, our_time)


def _fmt(frame: dict[str, Any] | None) -> str:
    if frame is None:
        return "(no frame)"
    where = frame.get("module") or "?"
    if frame.get("function"):
        where += f"!{frame['function']}"
    return f"0x{frame['ip']:x} sp=0x{frame['sp']:x} {where}"


def report_markdown(diffs: list[DumpDiff]) -> str:
    """The report as Markdown."""
    lines = ["# dumplib vs lldb: stack frames", "",
             "Frames are compared by (ip, sp) from the innermost on. lldb lists inlined calls",
             "(from the DWARF in wine's DLLs) as frames sharing their parent's sp; those are",
             "folded first and counted in the last column.", "",
             "| dump | threads | identical | dumplib frames | lldb frames | "
             "dumplib s | lldb s | lldb inline |", "|---|---|---|---|---|---|---|---|"]
    for d in diffs:
        ours = sum(t.dumplib_frames for t in d.threads)
        theirs = sum(t.lldb_frames for t in d.threads)
        name = os.path.relpath(d.dump, ROOT) if d.dump.startswith(str(ROOT)) else d.dump
        lines.append(f"| {name} | {len(d.threads)} | {d.identical_threads} | {ours} | "
                     f"{theirs} | {d.dumplib_seconds:.3f} | {d.lldb_seconds:.3f} | "
                     f"{sum(t.lldb_inline_frames for t in d.threads)} |")
    lines.append("")
    for d in diffs:
        differing = [t for t in d.threads if t.first_difference]
        if not differing and not d.error:
            continue
        lines.append(f"## {os.path.basename(d.dump)}")
        if d.error:
            lines.append(f"lldb failed: {d.error}")
        for t in differing:
            fd = t.first_difference
            assert fd is not None
            lines.append(
                f"- thread {t.id}: {t.agree} frames agree; dumplib {t.dumplib_frames} "
                f"({t.dumplib_status}), lldb {t.lldb_frames}; at #{fd['index']}: "
                f"dumplib {_fmt(fd['dumplib'])} | lldb {_fmt(fd['lldb'])}")
        lines.append("")
    return "\n".join(lines)


def default_targets(tmp: str) -> list[tuple[str, list[str]]]:
    """Every wine fixture dump (full dumps decompressed into ``tmp``) and the x86 corpus dump."""
    out: list[tuple[str, list[str]]] = []
    for truth in sorted(WINE.glob("*/truth.json")):
        d = truth.parent
        syms = [str(d), str(WINE / "system")]
        for dump in sorted(d.glob("*.dmp")):
            out.append((str(dump), syms))
        for packed in sorted(d.glob("*.dmp.xz")):
            target = Path(tmp) / packed.name.removesuffix(".xz")
            with lzma.open(packed) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            out.append((str(target), syms))
    corpus = ROOT / "fixtures" / "external" / "rust-minidump"
    out.append((str(corpus / "test.dmp"), [str(corpus / "symbols")]))
    return out


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dumps", nargs="*", help="dumps to compare (default: the fixtures)")
    parser.add_argument("--symbols", action="append", default=[],
                        help="symbol/image directory for the given dumps (repeatable)")
    parser.add_argument("--out", help="write the Markdown report here (default: stdout)")
    parser.add_argument("--json", dest="json_out", help="also write the raw comparison as JSON")
    args = parser.parse_args(argv)
    lldb = find_lldb()
    if lldb is None:
        sys.stderr.write("compare_lldb: lldb is not installed\n")
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        targets = ([(d, list(args.symbols)) for d in args.dumps] if args.dumps
                   else default_targets(tmp))
        diffs = [compare(d, s, lldb) for d, s in targets]
    text = report_markdown(diffs)
    if args.out:
        Path(args.out).write_text(text + "\n")
    else:
        sys.stdout.write(text + "\n")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(
            [dict(asdict(d), identical_threads=d.identical_threads) for d in diffs], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
