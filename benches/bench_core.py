"""Core parser benchmarks, side by side with the skelsec ``minidump`` package and mmap.find.

Run with figures:  pytest benches/bench_core.py --benchmark-enable --benchmark-group-by=group
In CI (``--benchmark-disable``) each runs once as a smoke test.
"""

from __future__ import annotations

import logging
import mmap
import random
from collections.abc import Callable

import pytest
from minidump.minidumpfile import MinidumpFile
from pytest_benchmark.fixture import BenchmarkFixture

import dumplib
from benches.conftest import SIZES
from dumplib.builder import LargeDump

logging.getLogger().setLevel(logging.CRITICAL)  # minidump logs PEB errors on synthetic dumps


def _dumplib_open(path: str) -> tuple[int, int, int]:
    with dumplib.open(path) as d:
        e = d.exception
        return len(d.threads), len(d.modules), e.code if e else 0


def _minidump_open(path: str) -> tuple[int, int, int]:
    mf = MinidumpFile.parse(path)
    e = mf.exception.exception_records[0].ExceptionRecord.ExceptionCode_raw
    return len(mf.threads.threads), len(mf.modules.modules), e


@pytest.mark.parametrize("impl", ["dumplib", "minidump"])
@pytest.mark.parametrize("size", list(SIZES))
def test_open_threads_modules_exception(
    benchmark: BenchmarkFixture, large_dump: Callable[[str], LargeDump], size: str, impl: str
) -> None:
    ld = large_dump(size)
    benchmark.group = f"open+threads+modules+exception {size}"
    fn = _dumplib_open if impl == "dumplib" else _minidump_open
    threads, modules, code = benchmark(fn, ld.path)
    assert threads == 200 and modules == len(ld.modules) and code != 0


def _stack_addresses(ld: LargeDump, n: int) -> list[int]:
    rng = random.Random(1)
    stacks = list(ld.stacks.values())
    out = []
    for _ in range(n):
        start, size = rng.choice(stacks)
        out.append(start + rng.randrange(0, size - 8) & ~7)
    return out


def test_stack_reads_dumplib(benchmark: BenchmarkFixture,
                             large_dump: Callable[[str], LargeDump]) -> None:
    ld = large_dump("2GB")
    addrs = _stack_addresses(ld, 100_000)
    benchmark.group = "random 8-byte stack reads (per 1,000)"
    with dumplib.open(ld.path) as d:
        mem = d.memory
        read = mem.read_u64

        def run() -> int:
            total = 0
            for a in addrs:
                total ^= read(a)
            return total

        benchmark.extra_info["reads_per_round"] = len(addrs)
        benchmark(run)
        # cross-check against plain reads
        assert read(addrs[0]) == int.from_bytes(mem.read(addrs[0], 8), "little")


def test_stack_reads_minidump(benchmark: BenchmarkFixture,
                              large_dump: Callable[[str], LargeDump]) -> None:
    ld = large_dump("2GB")
    addrs = _stack_addresses(ld, 1_000)
    benchmark.group = "random 8-byte stack reads (per 1,000)"
    mf = MinidumpFile.parse(ld.path)
    reader = mf.get_reader()

    def run() -> int:
        total = 0
        for a in addrs:
            total ^= int.from_bytes(reader.read(a, 8), "little")
        return total

    benchmark.extra_info["reads_per_round"] = len(addrs)
    result = benchmark(run)
    with dumplib.open(ld.path) as d:
        expected = 0
        for a in addrs:
            expected ^= d.memory.read_u64(a)
    assert result == expected


def _rss_anon_kb() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0


@pytest.mark.parametrize("impl", ["dumplib", "dumplib-2-workers", "mmap.find"])
def test_find_16_bytes(benchmark: BenchmarkFixture, large_dump: Callable[[str], LargeDump],
                       impl: str) -> None:
    ld = large_dump("2GB")
    benchmark.group = "find 16-byte pattern, 2 GB"
    if impl == "mmap.find":
        with open(ld.path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:

            def run() -> list[int]:
                out = []
                pos = mm.find(ld.pattern)
                while pos >= 0:
                    out.append(pos)
                    pos = mm.find(ld.pattern, pos + 1)
                return out

            hits = benchmark(run)
        assert len(hits) == len(ld.pattern_addresses)
        return
    workers = 2 if impl == "dumplib-2-workers" else 1
    with dumplib.open(ld.path) as d:
        before = _rss_anon_kb()
        hits = benchmark(lambda: list(d.memory.find(ld.pattern, workers=workers)))
        grown_mb = (_rss_anon_kb() - before) / 1024
    benchmark.extra_info["private_memory_growth_mb"] = round(grown_mb, 1)
    assert hits == list(ld.pattern_addresses)
    assert grown_mb < 100, f"private memory grew by {grown_mb:.0f} MB while searching"
