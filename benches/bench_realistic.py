"""Benchmarks on real dumps, measuring the work the headlines claim (issue #16).

* ``find`` over the wine full dump ``caseb-full`` (104 MB of real process
  memory: images, heaps, stacks), next to ``mmap.find`` over the same file --
  the older ``bench_core`` figure runs over a sparse, mostly zero file.
* A cold stack walk of that full dump with its images and PDBs (resolver caches
  cleared each round), as frames/s, next to the synthetic 200-thread walk of
  ``bench_unwind``.
* Triage of a corpus made of real dumps: the nine wine fixture dumps (real
  images and PDBs given as ``symbols``, stack overflow with 1,000+ frames,
  C++ throws, waits, callbacks), copied ``DUMPLIB_BENCH_REAL_COPIES`` times
  (default 3), plus builder dumps with a real-code synthetic image (.pdata,
  prologs) and 8 threads of 20-80 frames each. Dumps/s per core in this
  process, and the pool cold (worker start-up included) and warm, 1 and 2
  workers.

Run::

    pytest benches/bench_realistic.py --benchmark-enable --benchmark-group-by=group \\
        --benchmark-columns=min,mean,rounds -s

The machine is shared; every printed line carries the load average.
"""

from __future__ import annotations

import itertools
import lzma
import mmap
import os
import random
import shutil
import time
from pathlib import Path

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

import dumplib
from benches.bench_unwind import BASE, FUNCTIONS, NAMES, STACK_BASE, STACK_SIZE
from dumplib.builder import DumpBuilder
from dumplib.unwind.synth import Simulator, build_image

ROOT = Path(__file__).resolve().parents[1]
WINE = ROOT / "fixtures" / "wine"
CASES = ("callback", "casea", "caseb", "cppexc", "deeprec", "nullwrite", "raise",
         "stackoverflow", "waits")
SYMBOLS = [str(WINE / c) for c in CASES] + [str(WINE / "system")]

_times: dict[str, float] = {}


def _load() -> str:
    return f"load average {os.getloadavg()[0]:.2f}"


@pytest.fixture(scope="module")
def caseb_full(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("real") / "caseb-full.dmp"
    with lzma.open(WINE / "caseb" / "caseb-full.dmp.xz") as src, path.open("wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    return path


@pytest.mark.parametrize("impl", ["dumplib", "mmap.find"])
def test_find_real_contents(benchmark: BenchmarkFixture, caseb_full: Path, impl: str) -> None:
    benchmark.group = "find 16 bytes, wine caseb-full (104 MB, real contents)"
    with dumplib.open(caseb_full) as d:
        main = d.modules.main
        assert main is not None
        pattern = d.memory.read(main.base + 0x4E, 16)  # "This program can": one per image
        expected = len(list(d.memory.find(pattern)))
        if impl == "dumplib":
            hits = benchmark(lambda: list(d.memory.find(pattern)))
            assert len(hits) == expected
            return
    with caseb_full.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:

        def run() -> list[int]:
            out, pos = [], mm.find(pattern)
            while pos >= 0:
                out.append(pos)
                pos = mm.find(pattern, pos + 1)
            return out

        assert len(benchmark(run)) == expected
    print(f"\nfind: {_load()}")


def test_walk_wine_full_dump_cold(benchmark: BenchmarkFixture, caseb_full: Path) -> None:
    """Open, find images (dump memory + the case's files), parse unwind data, exports
    and PDBs, walk both threads: everything a fresh process pays."""
    from dumplib.symbols import resolver

    benchmark.group = "cold walk, wine caseb-full"

    def run() -> int:
        resolver._cache.clear()  # the process-wide parsed-file cache: start cold
        with dumplib.open(caseb_full) as d:
            return sum(len(s.frames) for s in d.stacks([str(WINE / "caseb"),
                                                        str(WINE / "system")]))

    frames: int = benchmark.pedantic(run, rounds=5, iterations=1,  # type: ignore[no-untyped-call]
                                     warmup_rounds=1)
    assert frames >= 10
    stats = benchmark.stats.stats if benchmark.stats is not None else None
    if stats is not None and stats.min:
        benchmark.extra_info["frames"] = frames
        benchmark.extra_info["frames_per_second"] = round(frames / stats.min)
        print(f"\ncold walk caseb-full: {frames} frames in {stats.min * 1e3:.1f} ms = "
              f"{frames / stats.min:,.0f} frames/s; {_load()}")


@pytest.fixture(scope="module")
def wine_200(caseb_full: Path) -> tuple[Path, int]:
    from benches.wholeprocess import build_wine_threads

    path = caseb_full.with_name("wine-200.dmp")
    return path, build_wine_threads(caseb_full, path)


def test_walk_wine_200_threads_cold(benchmark: BenchmarkFixture,
                                    wine_200: tuple[Path, int]) -> None:
    """caseb-full's real memory and images with 200 threads copied from its two:
    the walker's cold frames/s on real code (no symbol files: images from the dump)."""
    benchmark.group = "cold walk, wine 200 threads"
    path, expected = wine_200

    def run() -> int:
        with dumplib.open(path) as d:
            return sum(len(s.frames) for s in d.stacks())

    frames: int = benchmark.pedantic(run, rounds=5, iterations=1,  # type: ignore[no-untyped-call]
                                     warmup_rounds=1)
    assert frames == expected
    stats = benchmark.stats.stats if benchmark.stats is not None else None
    if stats is not None and stats.min:
        benchmark.extra_info["frames_per_second"] = round(frames / stats.min)
        print(f"\ncold walk wine 200 threads: {frames} frames in {stats.min * 1e3:.1f} ms = "
              f"{frames / stats.min:,.0f} frames/s; {_load()}")


def _synthetic_variant(path: Path, seed: int) -> None:
    """A dump with bench_unwind's real-code image and 8 threads of 20-80 frames."""
    image = build_image(FUNCTIONS, BASE, name="server.dll")
    rng = random.Random(seed)
    b = DumpBuilder("amd64", stack_rva_mode="wine")
    b.add_module(r"C:\Program Files\Server\server.dll", base=BASE, size=image.size,
                 time_date_stamp=image.timestamp)
    b.add_memory(BASE, image.data)
    for i in range(8):
        sim = Simulator(image, STACK_BASE + (i + 1) * 0x10_0000, seed=seed * 100 + i,
                        stack_size=STACK_SIZE)
        chain = [rng.choice(NAMES) for _ in range(rng.randint(20, 80))]
        sim.start(chain[0])
        for caller, callee in itertools.pairwise(chain):
            sim.call_from(caller, rng.randrange(3), callee)
        start, data = sim.stack_bytes()
        b.add_thread(0x100 + 4 * i, context=sim.stop_in_body(chain[-1]), stack=data,
                     stack_start=start)
    b.write(path)


@pytest.fixture(scope="module")
def real_corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    copies = int(os.environ.get("DUMPLIB_BENCH_REAL_COPIES", "3"))
    root = tmp_path_factory.mktemp("real-corpus")
    n = 0
    for k in range(copies):
        for case in CASES:
            shutil.copyfile(WINE / case / f"{case}.dmp", root / f"{case}-{k}.dmp")
            n += 1
        _synthetic_variant(root / f"synthetic-{k}.dmp", k)
        n += 1
    return root, n


def _cpu() -> float:
    import resource

    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


@pytest.mark.parametrize("jobs", [0, 1, 2])
def test_triage_real_corpus_cold(benchmark: BenchmarkFixture,
                                 real_corpus: tuple[Path, int], jobs: int) -> None:
    """Cold: each round starts its workers (jobs 1, 2), start-up included; jobs=0 runs
    in this process (its first round pays the imports and signature loading)."""
    from dumplib.triage import triage

    root, count = real_corpus
    benchmark.group = f"triage {count} real dumps with symbols, cold"
    cpu: list[float] = []

    def run() -> int:
        c0 = _cpu()
        result = triage(root, jobs=jobs, symbols=SYMBOLS)
        cpu.append(_cpu() - c0)
        assert result.errors == 0
        return len(result)

    done = benchmark.pedantic(run, rounds=2, iterations=1)  # type: ignore[no-untyped-call]
    assert done == count
    best = benchmark.stats.stats.min if benchmark.stats else 0.0
    if best:
        _times[f"cold {jobs}"] = best
        line = (f"\ntriage real, cold, jobs={jobs}: {count} dumps in {best:.2f} s = "
                f"{count / best:.1f}/s ({count / best / max(jobs, 1):.1f}/s per core); "
                f"{count / min(cpu):.1f} dumps per CPU-second; {_load()}")
        if jobs == 2 and "cold 1" in _times:
            line += f"; speed-up over 1 worker {_times['cold 1'] / best:.2f}x"
        print(line)


@pytest.mark.parametrize("jobs", [1, 2])
def test_triage_real_corpus_warm(benchmark: BenchmarkFixture,
                                 real_corpus: tuple[Path, int], jobs: int) -> None:
    """Warm: the pool's workers started and warmed (kept with ``reuse=True``)."""
    from dumplib.triage.discover import find_dumps
    from dumplib.triage.pool import WorkerPool
    from dumplib.triage.worker import WorkerConfig

    root, count = real_corpus
    refs = list(find_dumps([root]))
    pool = WorkerPool(jobs, WorkerConfig(symbols=tuple(SYMBOLS)), reuse=True)
    assert len(list(pool.run(refs[: 2 * jobs]))) == 2 * jobs
    benchmark.group = f"triage {count} real dumps with symbols, warm pool"
    t0 = time.perf_counter()
    done = benchmark.pedantic(  # type: ignore[no-untyped-call]
        lambda: sum(1 for _ in pool.run(refs)), rounds=2, iterations=1)
    assert done == count and time.perf_counter() > t0
    best = benchmark.stats.stats.min if benchmark.stats else 0.0
    if best:
        _times[f"warm {jobs}"] = best
        line = (f"\ntriage real, warm pool, jobs={jobs}: {count} dumps in {best:.2f} s = "
                f"{count / best:.1f}/s; {_load()}")
        if jobs == 2 and "warm 1" in _times:
            line += f"; speed-up over 1 worker {_times['warm 1'] / best:.2f}x"
        print(line)
