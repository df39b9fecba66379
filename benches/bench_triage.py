"""Batch triage throughput on a built corpus of small dumps (issue 7).

The corpus: :func:`dumplib.triage.corpus.build_corpus`, AMD64 minidumps of 50 KB
to 5 MB (log-uniform sizes, mean about 1.1 MB), five crash kinds. Each round
triages every dump (hash, open, ``dumplib.analyze``, row) with no result file,
so nothing is skipped.

Recorded run (1,000 dumps)::

    pytest benches/bench_triage.py --benchmark-enable --benchmark-group-by=group \\
        --benchmark-columns=min,mean,rounds

In CI (``--benchmark-disable``) the corpus has 50 dumps and each case runs
once as a smoke test; ``DUMPLIB_BENCH_TRIAGE_DUMPS=N`` sets the size either way.
The figures per core and the speed-up of two workers over one are printed and
kept in each benchmark's ``extra_info``.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from dumplib.triage.corpus import KINDS, build_corpus
from dumplib.triage.run import TriageResult, triage
from dumplib.triage.worker import _analysis

_times: dict[str, float] = {}


@pytest.fixture(scope="session")
def triage_corpus(request: pytest.FixtureRequest,
                  tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    disabled = bool(request.config.getoption("benchmark_disable", default=True)
                    and not request.config.getoption("benchmark_enable", default=False))
    count = int(os.environ.get("DUMPLIB_BENCH_TRIAGE_DUMPS", "50" if disabled else "1000"))
    root = tmp_path_factory.mktemp("triage-corpus")
    build_corpus(root, count, min_size=50_000, max_size=5_000_000)
    return root, count


def _check(result: TriageResult, count: int) -> None:
    assert len(result) == count
    assert result.errors == 0
    assert len(result.summary()) == len(KINDS)


def _cpu() -> float:
    """CPU seconds used so far by this process and its waited-for children."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


@pytest.mark.parametrize("jobs", [0, 1, 2])
def test_triage_throughput(benchmark: BenchmarkFixture, triage_corpus: tuple[Path, int],
                           jobs: int) -> None:
    """jobs=0: in this process (per-core cost, no IPC); 1 and 2: the worker pool,
    including starting the workers. Besides wall time, the CPU seconds of each
    round (this process and its workers) are kept: dumps per CPU-second is the
    per-core rate free of what other work on the machine takes from us."""
    root, count = triage_corpus
    _analysis()  # load the signatures once, as a worker does before its first dump
    benchmark.group = f"triage {count} dumps"
    cpu: list[float] = []
    wall: list[float] = []

    def run() -> TriageResult:
        c0, t0 = _cpu(), time.perf_counter()
        result = triage(root, jobs=jobs)
        wall.append(time.perf_counter() - t0)
        cpu.append(_cpu() - c0)
        return result

    result: TriageResult = benchmark.pedantic(  # type: ignore[no-untyped-call]
        run, rounds=3, iterations=1, warmup_rounds=0
    )
    _check(result, count)
    best = min(wall)
    _times[f"jobs={jobs}"] = best
    cores = max(jobs, 1)
    per_cpu_second = count / min(cpu)
    info = {
        "dumps": count,
        "dumps_per_second": round(count / best, 1),
        "dumps_per_second_per_core": round(count / best / cores, 1),
        "dumps_per_cpu_second": round(per_cpu_second, 1),
    }
    line = (f"\ntriage jobs={jobs}: {count} dumps in {best:.2f} s = {count / best:.0f}/s, "
            f"{count / best / cores:.0f}/s per core; {per_cpu_second:.0f} dumps per CPU-second")
    if jobs == 2 and "jobs=1" in _times:
        info["speedup_2_over_1"] = round(_times["jobs=1"] / best, 2)
        line += f"; speed-up over 1 worker {_times['jobs=1'] / best:.2f}x"
    benchmark.extra_info.update(info)
    print(line)


@pytest.mark.parametrize("jobs", [1, 2])
def test_triage_warm_pool(benchmark: BenchmarkFixture, triage_corpus: tuple[Path, int],
                          jobs: int) -> None:
    """Steady-state throughput of the worker pool: workers already started and warm.

    Starting a worker costs about 0.3 s of CPU (importing dumplib and the analysis
    layer); on a 2-second batch that fixed cost hides how the per-dump work
    scales. Here the pool's workers are kept (``reuse=True``) and warmed on a few
    dumps before the timed rounds, so the speed-up of 2 workers over 1 measures
    the per-dump work alone. The cold figures are in ``test_triage_throughput``.
    """
    from dumplib.triage.discover import find_dumps
    from dumplib.triage.pool import WorkerPool
    from dumplib.triage.worker import WorkerConfig

    root, count = triage_corpus
    refs = list(find_dumps([root]))
    pool = WorkerPool(jobs, WorkerConfig(), reuse=True)
    assert len(list(pool.run(refs[: 4 * jobs]))) == 4 * jobs  # start and warm the workers
    benchmark.group = f"triage {count} dumps, warm pool"

    def run() -> int:
        return sum(1 for _ in pool.run(refs))

    done = benchmark.pedantic(run, rounds=3, iterations=1)
    assert done == count
    best = benchmark.stats.stats.min if benchmark.stats else 0.0
    if best:
        _times[f"warm jobs={jobs}"] = best
        line = f"\nwarm pool jobs={jobs}: {count} dumps in {best:.2f} s = {count / best:.0f}/s"
        if jobs == 2 and "warm jobs=1" in _times:
            speedup = _times["warm jobs=1"] / best
            benchmark.extra_info["speedup_2_over_1"] = round(speedup, 2)
            line += f"; speed-up over 1 worker {speedup:.2f}x"
        print(line)
