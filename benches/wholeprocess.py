"""Whole-process timings, side by side in one run (issue #16).

Users run dumplib as a command, so start-up counts. This script times complete
processes -- the bare interpreter, ``import dumplib``, ``dumplib info``,
``dumplib stack --all --json`` and lldb-19's ``bt all`` on the same dumps --
interleaved round by round, so a busy machine slows all of them alike, and
prints a Markdown table of minimum and median wall times with ratios to the
bare interpreter.

Run from the repository root::

    python benches/wholeprocess.py --rounds 15

Bytecode is cached in a temporary ``PYTHONPYCACHEPREFIX`` (warmed first), as
for an installed package: with ``PYTHONDONTWRITEBYTECODE`` every run would
recompile dumplib from source. ``python -m dumplib`` stands in for the
``dumplib`` console script (which also skips runpy).

Dumps: ``dumplib/samples/test.dmp`` (11 KB, breakpad x86), the 200-thread
full-memory AMD64 dump of ``benches/bench_unwind.py`` (a synthetic PE32+ image
with real prologs and .pdata, 10,065 frames known by construction, 264 MB) and
the wine full dump ``fixtures/wine/caseb/caseb-full.dmp.xz`` (decompressed to
a temporary directory), and ``wine-200.dmp``: that dump's real memory and
images with 200 threads, each a copy of one of its two real threads
(:func:`build_wine_threads`; 1,300 frames through wine's own code).
"""

from __future__ import annotations

import argparse
import lzma
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, bytes]:
    """Wall time of one run of ``cmd`` and its stdout (a ``PYTHONPATH=TREE`` prefix runs
    it in that tree: for ``-c`` and ``-m`` the working directory comes first on sys.path)."""
    cwd = ROOT
    if cmd[0].startswith("PYTHONPATH="):
        cwd = Path(cmd[0].split("=", 1)[1])
        env = {**env, "PYTHONPATH": str(cwd)}
        cmd = cmd[1:]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}")
    return elapsed, proc.stdout


def measure(commands: dict[str, list[str]], rounds: int,
            env: dict[str, str]) -> dict[str, list[float]]:
    """Interleaved: every round runs each command once, in order."""
    for cmd in commands.values():  # warm: bytecode cache, page cache
        timed(cmd, env)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, cmd in commands.items():
            times[name].append(timed(cmd, env)[0])
    return times


def build_wine_threads(source: Path, target: Path, threads: int = 200) -> int:
    """A full-memory dump with the real memory, images and modules of the wine dump
    ``source`` and ``threads`` threads, each a copy of one of its threads (real
    contexts on real stacks through wine's ntdll/kernel32 code); returns the
    frames dumplib walks in it."""
    import dumplib
    from dumplib.builder import DumpBuilder

    raw = source.read_bytes()
    with dumplib.open(source) as d:
        b = DumpBuilder("amd64", full_memory=True, stack_rva_mode="wine")
        for m in d.modules:
            r = m.raw
            b.add_module(r.module_name, base=r.base_of_image, size=r.size_of_image,
                         time_date_stamp=r.time_date_stamp, checksum=r.checksum,
                         cv_record=r.cv_record or None)
        for region in d.memory.regions():
            b.add_memory(region.start, d.memory.read(region.start, region.size))
        originals = list(d.threads)
        for i in range(threads):
            t = originals[i % len(originals)]
            loc = t.raw.thread_context
            b.add_thread(0x1000 + 4 * i, context=raw[loc.rva : loc.rva + loc.data_size],
                         teb=t.teb)
        frames_each = [len(d.stack(t.id, from_exception=False).frames) for t in originals]
    b.write(target)
    return sum(frames_each[i % len(originals)] for i in range(threads))


def bench_env(pycache: str) -> dict[str, str]:
    """The environment of the measured processes: bytecode cached under ``pycache``."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = pycache
    env["PYTHONPATH"] = str(ROOT)
    return env


def _startup_only(py: str, small: str, args: argparse.Namespace, env: dict[str, str]) -> int:
    """``--startup-only``: the start-up rows of the table (issue #16's 2x and 4x targets)."""
    commands: dict[str, list[str]] = {
        "bare interpreter (`python -c pass`)": [py, "-c", "pass"],
        "`python -c 'import dumplib'`": [py, "-c", "import dumplib"],
        "`dumplib info --json test.dmp`": [py, "-m", "dumplib", "info", "--json", small],
        "`dumplib info test.dmp` (rich table)": [py, "-m", "dumplib", "info", small],
    }
    if args.compare:
        old = f"PYTHONPATH={os.path.abspath(args.compare)}"
        for name, cmd in list(commands.items())[1:]:
            commands[f"{name}, --compare tree"] = [old, *cmd]
    load_before = os.getloadavg()
    times = measure(commands, args.rounds, env)
    load_after = os.getloadavg()
    bare = min(next(iter(times.values())))
    print(f"{args.rounds} interleaved rounds; load average {load_before[0]:.2f} before, "
          f"{load_after[0]:.2f} after; {os.cpu_count()} cores; Python {sys.version.split()[0]}\n")
    print("| process | min | median | min / bare |")
    print("|---|---|---|---|")
    for name, ts in times.items():
        print(f"| {name} | {min(ts) * 1e3:.1f} ms | {statistics.median(ts) * 1e3:.1f} ms | "
              f"{min(ts) / bare:.2f}x |")
    return 0


def main() -> int:
    """Build the dumps, time the commands, print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--compare", metavar="TREE",
                    help="another dumplib source tree (e.g. `git worktree add /tmp/old OLD`): "
                         "its import/info/stack rows are timed in the same rounds")
    ap.add_argument("--startup-only", action="store_true",
                    help="time only the interpreter, import and info rows (no dumps built)")
    args = ap.parse_args()
    from benches.bench_unwind import build_walk_dump

    py = sys.executable
    lldb = shutil.which("lldb-19") or shutil.which("lldb")
    with tempfile.TemporaryDirectory(prefix="dumplib-wholeprocess-") as tmp:
        env = bench_env(os.path.join(tmp, "pycache"))
        small = str(ROOT / "dumplib" / "samples" / "test.dmp")
        if args.startup_only:
            return _startup_only(py, small, args, env)
        synth = build_walk_dump(Path(tmp) / "server-200.dmp")
        caseb = Path(tmp) / "caseb-full.dmp"
        with lzma.open(ROOT / "fixtures/wine/caseb/caseb-full.dmp.xz") as src, \
                caseb.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        wine200 = Path(tmp) / "wine-200.dmp"
        wine_frames = build_wine_threads(caseb, wine200)
        print(f"wine-200.dmp: 200 threads, {wine_frames} frames expected", file=sys.stderr)
        commands: dict[str, list[str]] = {
            "bare interpreter (`python -c pass`)": [py, "-c", "pass"],
            "`python -c 'import dumplib'`": [py, "-c", "import dumplib"],
            "`import dumplib` + open test.dmp, threads, modules": [
                py, "-c", f"import dumplib; d = dumplib.open({small!r}); d.threads; d.modules"],
            "`dumplib info --json test.dmp`": [py, "-m", "dumplib", "info", "--json", small],
            "`dumplib info test.dmp` (rich table)": [py, "-m", "dumplib", "info", small],
            "`dumplib stack --all --json` 200-thread synthetic": [
                py, "-m", "dumplib", "stack", "--all", "--json", str(synth.path)],
            "`dumplib stack --all --json` wine caseb-full": [
                py, "-m", "dumplib", "stack", "--all", "--json", str(caseb)],
            "`dumplib stack --all --json` wine 200 threads": [
                py, "-m", "dumplib", "stack", "--all", "--json", str(wine200)],
        }
        if args.compare:
            old = f"PYTHONPATH={os.path.abspath(args.compare)}"
            for name, cmd in list(commands.items())[1:]:
                if "dumplib" in name:
                    commands[f"{name}, --compare tree"] = [old, *cmd]
        if lldb:
            commands["`lldb-19 -b -o 'bt all'` 200-thread synthetic"] = [
                lldb, "--no-lldbinit", "-c", str(synth.path), "-b", "-o", "bt all"]
            commands["`lldb-19 -b -o 'bt all'` wine caseb-full"] = [
                lldb, "--no-lldbinit", "-c", str(caseb), "-b", "-o", "bt all"]
            commands["`lldb-19 -b -o 'bt all'` wine 200 threads"] = [
                lldb, "--no-lldbinit", "-c", str(wine200), "-b", "-o", "bt all"]
        else:
            print("WARNING: lldb-19 is not installed; no lldb comparison", file=sys.stderr)
        frames = {}
        for name, cmd in commands.items():
            if "stack" in name or "lldb" in name:
                out = timed(cmd, env)[1].decode("utf-8", "replace")
                frames[name] = out.count('"ip"') if "dumplib" in name else out.count("frame #")
        load_before = os.getloadavg()
        times = measure(commands, args.rounds, env)
        load_after = os.getloadavg()
    bare = min(next(iter(times.values())))
    print(f"{args.rounds} interleaved rounds; load average {load_before[0]:.2f} before, "
          f"{load_after[0]:.2f} after; {os.cpu_count()} cores; Python {sys.version.split()[0]}\n")
    print("| process | min | median | min / bare | frames |")
    print("|---|---|---|---|---|")
    for name, ts in times.items():
        print(f"| {name} | {min(ts) * 1e3:.1f} ms | {statistics.median(ts) * 1e3:.1f} ms | "
              f"{min(ts) / bare:.2f}x | {frames.get(name, '')} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
