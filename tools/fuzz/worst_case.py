"""Measure the worst case: the slowest input and the peak memory over hostile inputs.

Usage::

    python tools/fuzz/worst_case.py [--corpus .fuzz/corpus/dump]

Runs every fixture dump cut at 1,000 points (open and decode every stream),
every 13th cut through stacks and analysis, and every input of a fuzzing
corpus through the ``dump`` fuzz target; prints the slowest input of each kind
and the process's peak resident memory. The figures go into
``benches/RESULTS.md`` ("Hardening").
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import dumplib  # noqa: E402
from tools.fuzz.targets import fuzz_dump  # noqa: E402


def _open(data: bytes) -> dumplib.Dump | None:
    try:
        return dumplib.open(data)
    except dumplib.DumpError:
        return None


def main() -> int:
    """Run the measurements and print a summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / ".fuzz" / "corpus" / "dump")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    dumps = sorted((ROOT / "fixtures").glob("**/*.dmp"))
    cuts = 0
    worst_cut = (0.0, "")
    worst_walk = (0.0, "")
    for path in dumps:
        data = path.read_bytes()
        step = max(1, len(data) // 1000)
        symbols = [str(path.parent), str(ROOT / "fixtures" / "wine" / "system")]
        for n, cut in enumerate(range(0, len(data), step)):
            cuts += 1
            t = time.perf_counter()
            d = _open(data[:cut])
            if d is not None:
                d.check()
            dt = time.perf_counter() - t
            if dt > worst_cut[0]:
                worst_cut = (dt, f"{path.relative_to(ROOT)} cut at {cut}")
            if d is not None and n % 77 == 0:
                t = time.perf_counter()
                fuzz_dump(data[:cut])
                try:
                    dumplib.analyze(d, symbols=symbols)
                except dumplib.DumpError:
                    pass
                dt = time.perf_counter() - t
                if dt > worst_walk[0]:
                    worst_walk = (dt, f"{path.relative_to(ROOT)} cut at {cut}")
    corpus = sorted(args.corpus.glob("*")) if args.corpus.is_dir() else []
    worst_fuzz = (0.0, "")
    for path in corpus:
        t = time.perf_counter()
        fuzz_dump(path.read_bytes())
        dt = time.perf_counter() - t
        if dt > worst_fuzz[0]:
            worst_fuzz = (dt, path.name)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"fixture dumps: {len(dumps)}, cut points tried: {cuts}")
    print(f"slowest open+decode of a cut dump: {worst_cut[0] * 1e3:.1f} ms ({worst_cut[1]})")
    print(f"slowest stacks+analysis of a cut dump: {worst_walk[0] * 1e3:.1f} ms ({worst_walk[1]})")
    print(f"fuzz corpus inputs: {len(corpus)}, slowest: {worst_fuzz[0] * 1e3:.1f} ms "
          f"({worst_fuzz[1]})")
    print(f"peak resident memory: {peak_mb:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
