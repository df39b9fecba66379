"""Kernel dump benchmarks, side by side with kdmp-parser.

Open + bug check + drivers on sparse kernel dumps of 256 MB and 4 GB of physical memory,
full (run-based) and bitmap, for dumplib and kdmp-parser (which indexes every page at
open); and random virtual 8-byte reads through the page tables.

Run with figures:  pytest benches/bench_kernel.py --benchmark-enable --benchmark-group-by=group
In CI (``--benchmark-disable``) each runs once as a smoke test.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

import dumplib
from dumplib.builder.kernel import BuiltKernelDump, Function, KernelDumpBuilder

try:
    import kdmp_parser
except ImportError:  # the oracle is in the test extra; say so loudly
    kdmp_parser = None
    print("ORACLE MISSING: kdmp-parser not installed; its benchmarks are skipped",
          file=sys.stderr)

SIZES = {"256MB": 0x1_0000, "4GB": 0x10_0000}  # physical pages
KINDS = ("full", "bitmap")


def _build(path: Path, pages: int, kind: str) -> BuiltKernelDump:
    kb = KernelDumpBuilder(build=19041, bugcheck=0xD1, parameters=(0x18, 2, 0, 0),
                           physical_pages=pages, holes=[(0x9F, 0x61)])
    kb.add_driver("ntoskrnl.exe", [Function("KeBugCheckEx"), Function("KiStartSystemThread")])
    for i in range(40):
        kb.add_driver(f"drv{i:02}.sys", [Function("Dispatch", 0x48)], company=f"Vendor {i}")
    kb.set_crash_stack([("ntoskrnl.exe", "KeBugCheckEx", 0x40),
                        ("drv07.sys", "Dispatch", 0x60),
                        ("ntoskrnl.exe", "KiStartSystemThread", 0x30)])
    for k in range(256):  # a 1 MB pool region of mapped pages to read from
        kb.write_virtual(0xFFFF_9000_0000_0000 + k * 0x1000, bytes([k & 0xFF]) * 0x1000)
    return kb.write(path, kind=kind)


@pytest.fixture(scope="session")
def kernel_dump(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str], BuiltKernelDump]:
    """Build (once) a sparse kernel dump of the named physical size and kind."""
    cache: dict[tuple[str, str], BuiltKernelDump] = {}
    root = tmp_path_factory.mktemp("kdumps")

    def get(size: str, kind: str) -> BuiltKernelDump:
        if (size, kind) not in cache:
            cache[size, kind] = _build(root / f"{kind}-{size}.dmp", SIZES[size], kind)
        return cache[size, kind]

    return get


def _dumplib_open(path: str) -> tuple[int, int]:
    with dumplib.open(path) as d:
        bc = d.bugcheck
        assert bc is not None
        return bc.code, len(d.modules)


def _dumplib_open_bugcheck(path: str) -> tuple[int, int]:
    with dumplib.open(path) as d:
        bc = d.bugcheck
        assert bc is not None
        return bc.code, d.kernel_header.ps_loaded_module_list != 0  # type: ignore[attr-defined]


def _kdmp_open(path: str) -> tuple[int, int]:
    assert kdmp_parser is not None
    k = kdmp_parser.KernelDumpParser(path)
    return k.header.BugCheckCode, k.header.PsLoadedModuleList != 0


@pytest.mark.parametrize("impl", ["dumplib", "kdmp-parser"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("size", list(SIZES))
def test_open_bugcheck(
    benchmark: BenchmarkFixture, kernel_dump: Callable[[str, str], BuiltKernelDump],
    size: str, kind: str, impl: str,
) -> None:
    """Like for like: open and read the bug check (what kdmp-parser's open gives)."""
    if impl == "kdmp-parser" and kdmp_parser is None:
        pytest.skip("ORACLE MISSING: kdmp-parser")
    built = kernel_dump(size, kind)
    benchmark.group = f"kernel open+bugcheck {kind} {size}"
    fn = _dumplib_open_bugcheck if impl == "dumplib" else _kdmp_open
    code, _ = benchmark(fn, built.path)
    assert code == 0xD1


@pytest.mark.parametrize("impl", ["dumplib", "kdmp-parser"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("size", list(SIZES))
def test_open_bugcheck_drivers(
    benchmark: BenchmarkFixture, kernel_dump: Callable[[str, str], BuiltKernelDump],
    size: str, kind: str, impl: str,
) -> None:
    if impl == "kdmp-parser" and kdmp_parser is None:
        pytest.skip("ORACLE MISSING: kdmp-parser")
    built = kernel_dump(size, kind)
    benchmark.group = f"kernel open+bugcheck+drivers {kind} {size}"
    code, drivers = benchmark(_dumplib_open if impl == "dumplib" else _kdmp_open, built.path)
    assert code == 0xD1
    if impl == "dumplib":
        assert drivers == 41  # kdmp-parser does not walk PsLoadedModuleList


@pytest.mark.parametrize("kind", KINDS)
def test_random_virtual_reads(
    benchmark: BenchmarkFixture, kernel_dump: Callable[[str, str], BuiltKernelDump], kind: str
) -> None:
    built = kernel_dump("4GB", kind)
    rng = random.Random(18)
    addrs = [0xFFFF_9000_0000_0000 + (rng.randrange(0, 0x10_0000) & ~7) for _ in range(100_000)]
    benchmark.group = f"kernel random virtual u64 reads (100k) {kind} 4GB"
    with dumplib.open(built.path) as d:
        read = d.memory.read_u64

        def run() -> int:
            total = 0
            for a in addrs:
                total += read(a)
            return total

        total = benchmark(run)
        assert total == sum(((a >> 12) & 0xFF) * 0x0101010101010101 for a in addrs)
