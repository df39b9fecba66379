"""Benchmark: walking every thread of a 200-thread full-memory AMD64 dump.

The dump is built here: a synthetic PE32+ image (dumplib.unwind.synth: real
x64 prologs and epilogues, .pdata/.xdata with PUSH_NONVOL, ALLOC_SMALL/LARGE,
SET_FPREG, SAVE_NONVOL, SAVE_XMM128, chained fragments, and an export table)
is mapped into a full-memory dump beside 256 MB of sparse heap; each of the
200 threads runs a random call chain of 20 to 80 frames forward on its own
stack (the simulator executes the prologs), so every frame is known.

Measured:

* ``walk``: ``dump.stacks()`` on a freshly opened dump (image found in the
  dump's memory, .pdata and UNWIND_INFO parsed once, symbols from the exports),
  with frames/s;
* ``lldb bt all``: lldb-19's ``thread backtrace all`` on the same file, when
  lldb is installed (wall time of the whole lldb process).

Run: ``.venv/bin/pytest benches/bench_unwind.py --benchmark-enable
--benchmark-columns=min,mean,rounds``
"""

from __future__ import annotations

import itertools
import random
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

import dumplib
from dumplib.builder import DumpBuilder, Sparse
from dumplib.unwind import StackStatus
from dumplib.unwind.synth import Simulator, SynthFunction, build_image

THREADS = 200
BASE = 0x7FF6_4000_0000
STACK_BASE = 0x0000_0060_0000_0000
STACK_SIZE = 0x2_0000
FUNCTIONS = [
    SynthFunction("RequestLoop", [("push", 3, 0), ("push", 6, 0), ("alloc", 0x38, 0)], calls=3),
    SynthFunction("Dispatch", [("push", 5, 0), ("push", 7, 0), ("alloc", 0x60, 0),
                               ("setfp", 5, 0x20)], lea_epilogue=True, calls=3),
    SynthFunction("ParseBuffer", [("alloc", 0x98, 0), ("save", 3, 0x20), ("save", 12, 0x28),
                                  ("savexmm", 6, 0x40), ("savexmm", 7, 0x50)], calls=3),
    SynthFunction("ReadChunk", [("push", 13, 0), ("alloc", 0x1230, 0)], calls=2),
    SynthFunction("WorkItem", [("push", 14, 0), ("alloc", 0x248, 1)], calls=2),
    SynthFunction("Callback", [("push", 3, 0), ("alloc", 0x28, 0)],
                  fragment=[("push", 15, 0)], calls=2),
    SynthFunction("Leafish", [("alloc", 0x18, 0)], calls=1),
]
NAMES = [f.name for f in FUNCTIONS]


class Built:
    """The benchmark dump and what it holds."""

    def __init__(self, path: Path, frames: int) -> None:
        self.path = path
        self.frames = frames


def build_walk_dump(path: Path) -> Built:
    """Write the 200-thread dump to ``path`` (also used by ``benches/wholeprocess.py``)."""
    image = build_image(FUNCTIONS, BASE, name="server.dll")
    rng = random.Random(2024)
    b = DumpBuilder("amd64", full_memory=True, stack_rva_mode="wine")
    b.add_module(r"C:\Program Files\Server\server.dll", base=BASE, size=image.size,
                 time_date_stamp=image.timestamp)
    b.add_memory(BASE, image.data)
    b.add_memory(0x10_0000_0000, Sparse(256 << 20, {0x1000: b"heap"}))
    frames = 0
    for i in range(THREADS):
        top = STACK_BASE + (i + 1) * 0x10_0000
        sim = Simulator(image, top, seed=i, stack_size=STACK_SIZE)
        chain = [rng.choice(NAMES) for _ in range(rng.randint(20, 80))]
        sim.start(chain[0])
        for caller, callee in itertools.pairwise(chain):
            sim.call_from(caller, rng.randrange(3), callee)
        ctx = sim.stop_in_body(chain[-1])
        start, data = sim.stack_bytes()
        b.add_thread(0x100 + 4 * i, context=ctx, stack=data, stack_start=start)
        frames += len(sim.expected())
    b.write(path)
    return Built(path, frames)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    yield build_walk_dump(tmp_path_factory.mktemp("bench-unwind") / "server-200.dmp")


def _walk(path: Path) -> int:
    with dumplib.open(path) as dump:
        return sum(len(s.frames) for s in dump.stacks())


def test_walk_all_threads(benchmark: BenchmarkFixture, built: Built) -> None:
    benchmark.group = "stack walk: 200 threads, full-memory dump"
    total: int = benchmark.pedantic(  # type: ignore[no-untyped-call]
        _walk, args=(built.path,), rounds=5, iterations=1, warmup_rounds=1)
    assert total == built.frames
    stats = benchmark.stats.stats if benchmark.stats is not None else None
    if stats is not None and stats.min:
        benchmark.extra_info["frames"] = total
        benchmark.extra_info["frames_per_second"] = round(total / stats.min)


def test_walk_is_complete(built: Built) -> None:
    with dumplib.open(built.path) as dump:
        stacks = dump.stacks()
    assert len(stacks) == THREADS
    assert all(s.status is StackStatus.COMPLETE for s in stacks)
    assert all(f.trust.value in ("context", "cfi") for s in stacks for f in s.frames)
    assert sum(len(s.frames) for s in stacks) == built.frames


def _lldb() -> str | None:
    return shutil.which("lldb-19") or shutil.which("lldb")


@pytest.mark.skipif(_lldb() is None, reason="lldb is not installed")
def test_lldb_bt_all(benchmark: BenchmarkFixture, built: Built) -> None:
    benchmark.group = "stack walk: 200 threads, full-memory dump"
    lldb = _lldb()
    assert lldb is not None

    def run() -> int:
        proc = subprocess.run(
            [lldb, "--batch", "--no-lldbinit", "-o", f"target create --core {built.path}",
             "-o", "thread backtrace all"],
            capture_output=True, text=True, timeout=600, check=False)
        return proc.stdout.count("frame #")

    start = time.perf_counter()
    frames: int = benchmark.pedantic(run, rounds=2, iterations=1)  # type: ignore[no-untyped-call]
    benchmark.extra_info["frames"] = frames
    benchmark.extra_info["wall_seconds_first"] = round(time.perf_counter() - start, 3)
    assert frames >= THREADS


def test_walk_frame_pointer_chains(benchmark: BenchmarkFixture, large_dump: Any) -> None:
    """build_large_dump's 200 threads: modules without .pdata, rbp chains whose return
    addresses follow planted CALLs: every frame is validated by decoding the CALL."""
    benchmark.group = "stack walk: frame pointers, build_large_dump 200 MB"
    ld = large_dump("200MB")
    total: int = benchmark.pedantic(  # type: ignore[no-untyped-call]
        _walk, args=(Path(ld.path),), rounds=3, iterations=1, warmup_rounds=0)
    stats = benchmark.stats.stats if benchmark.stats is not None else None
    if stats is not None and stats.min:
        benchmark.extra_info["frames"] = total
        benchmark.extra_info["frames_per_second"] = round(total / stats.min)
    with dumplib.open(ld.path) as dump:
        stack = dump.stack(ld.thread_ids[1])
    returns = set(ld.return_addresses)
    assert all(f.ip in returns for f in stack.frames[1:])
    assert len(stack.frames) >= ld.stacks[ld.thread_ids[1]][1] // 0x60
