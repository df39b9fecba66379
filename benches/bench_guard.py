"""CI guard against performance regressions (issue #16): ratios, not absolute times.

Each check times dumplib against a reference doing the same job on the same
machine in the same run, so a loaded or slow CI machine slows both sides:

* ``import dumplib`` and ``dumplib info --json`` (whole processes) against the
  bare interpreter;
* ``Memory.find`` against ``mmap.find`` over the same file: the wine full dump
  ``caseb-full`` (real, non-zero contents, 104 MB);
* open + threads + modules + exception against the ``minidump`` package on a
  200-thread, 4,000-range dump from ``build_large_dump``;
* ``dumplib stack --all --json`` against ``lldb-19 -b -o "bt all"`` (whole
  processes) on caseb-full's memory and images with 200 threads
  (``benches/wholeprocess.py``), when lldb-19 is installed (a loud skip
  otherwise).

A check fails when its ratio is more than :data:`LIMIT` times its baseline
(the ratio measured when the guard was written, below). Times are the minimum
of interleaved repeats; a failing ratio is measured once more before the test
fails, so one burst of load from a neighbour does not fail CI. The whole guard
takes about 10-20 s. It runs with the rest of ``benches/`` in CI (pytest's
``--benchmark-disable`` does not skip it: it uses no benchmark fixture).
"""

from __future__ import annotations

import logging
import lzma
import mmap
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from minidump.minidumpfile import MinidumpFile

import dumplib
from benches.conftest import SIZES
from dumplib.builder import LargeDump

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "dumplib" / "samples" / "test.dmp"
CASEB_FULL = ROOT / "fixtures" / "wine" / "caseb" / "caseb-full.dmp.xz"

#: A ratio may grow to this many times its baseline before the guard fails.
LIMIT = 2.0

#: Ratios measured on the project's 2-core VM on 2026-12-04 (load average 2-3;
#: see benches/RESULTS.md, "Start-up and a CI guard").
BASELINE = {
    "import dumplib / bare interpreter": 1.05,
    "dumplib info --json / bare interpreter": 3.8,  # 6.5 before issue 16b (measured 3.6-3.9)
    "Memory.find / mmap.find (caseb-full)": 1.0,
    "open+threads+modules+exception / minidump package": 0.03,
    "dumplib stack --all --json / lldb-19 bt all (wine 200 threads)": 1.0,
}

logging.getLogger().setLevel(logging.CRITICAL)  # minidump logs PEB errors on synthetic dumps


def _min_times(fns: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Minimum wall time of each function over ``rounds`` interleaved rounds."""
    best = {name: float("inf") for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def _check(name: str, measure: Callable[[], float]) -> float:
    """Measure a ratio (twice if the first is over the limit) and assert it is within it."""
    limit = LIMIT * BASELINE[name]
    ratio = measure()
    if ratio > limit:
        ratio = min(ratio, measure())
    print(f"guard: {name} = {ratio:.3f} (baseline {BASELINE[name]}, limit {limit:.3f})",
          file=sys.stderr)
    assert ratio <= limit, f"{name}: {ratio:.3f}, more than {LIMIT}x the baseline {BASELINE[name]}"
    return ratio


def _process(args: list[str], env: dict[str, str]) -> Callable[[], object]:
    def run() -> object:
        return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, check=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return run


@pytest.fixture(scope="module")
def pycache_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for child interpreters: bytecode cached, as for an installed package."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(tmp_path_factory.mktemp("pycache"))
    env["PYTHONPATH"] = str(ROOT)
    return env


def test_cold_start_against_bare_interpreter(pycache_env: dict[str, str]) -> None:
    fns = {
        "bare": _process(["-c", "pass"], pycache_env),
        "import": _process(["-c", "import dumplib"], pycache_env),
        "info": _process(["-m", "dumplib", "info", "--json", str(SAMPLE)], pycache_env),
    }
    for fn in fns.values():  # warm the bytecode and page caches
        fn()
    cache: dict[str, float] = {}

    def times() -> dict[str, float]:
        cache.update(_min_times(fns, 9))
        return cache

    _check("import dumplib / bare interpreter", lambda: times()["import"] / cache["bare"])
    _check("dumplib info --json / bare interpreter", lambda: times()["info"] / cache["bare"])


@pytest.fixture(scope="module")
def caseb_full(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("guard") / "caseb-full.dmp"
    with lzma.open(CASEB_FULL) as src, path.open("wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    return path


def test_find_against_mmap_find(caseb_full: Path) -> None:
    with dumplib.open(caseb_full) as d:
        main = d.modules.main
        assert main is not None
        pattern = d.memory.read(main.base + 0x4E, 16)  # "This program can" in every image
        with caseb_full.open("rb") as fh, \
                mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:

            def mmap_find() -> list[int]:
                out, pos = [], mm.find(pattern)
                while pos >= 0:
                    out.append(pos)
                    pos = mm.find(pattern, pos + 1)
                return out

            def ours() -> list[int]:
                return list(d.memory.find(pattern))

            assert len(ours()) == len(mmap_find()) >= 2

            def ratio() -> float:
                t = _min_times({"mmap": mmap_find, "dumplib": ours}, 5)
                return t["dumplib"] / t["mmap"]

            _check("Memory.find / mmap.find (caseb-full)", ratio)


def test_open_against_minidump_package(large_dump: Callable[[str], LargeDump]) -> None:
    assert "20MB" in SIZES
    path = large_dump("20MB").path

    def ours() -> tuple[int, int, int]:
        with dumplib.open(path) as d:
            e = d.exception
            return len(d.threads), len(d.modules), e.code if e else 0

    def theirs() -> tuple[int, int, int]:
        mf = MinidumpFile.parse(path)
        e = mf.exception.exception_records[0].ExceptionRecord.ExceptionCode_raw
        return len(mf.threads.threads), len(mf.modules.modules), e

    assert ours() == theirs()

    def ratio() -> float:
        t = _min_times({"dumplib": ours, "minidump": theirs}, 5)
        return t["dumplib"] / t["minidump"]

    _check("open+threads+modules+exception / minidump package", ratio)


def test_stack_against_lldb(caseb_full: Path, pycache_env: dict[str, str]) -> None:
    lldb = shutil.which("lldb-19") or shutil.which("lldb")
    if lldb is None:
        print("WARNING: lldb-19 not installed: the stack-vs-lldb guard did not run",
              file=sys.stderr)
        pytest.skip("lldb-19 is not installed")
    from benches.wholeprocess import build_wine_threads

    dump = caseb_full.with_name("wine-200.dmp")
    build_wine_threads(caseb_full, dump)

    def run(cmd: list[str]) -> Callable[[], object]:
        return lambda: subprocess.run(cmd, cwd=ROOT, env=pycache_env, check=True,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    fns = {
        "dumplib": run([sys.executable, "-m", "dumplib", "stack", "--all", "--json", str(dump)]),
        "lldb": run([lldb, "--no-lldbinit", "-c", str(dump), "-b", "-o", "bt all"]),
    }
    for fn in fns.values():
        fn()

    def ratio() -> float:
        t = _min_times(fns, 5)
        return t["dumplib"] / t["lldb"]

    _check("dumplib stack --all --json / lldb-19 bt all (wine 200 threads)", ratio)


def test_the_guard_can_fail() -> None:
    """The check itself: a ratio over the limit fails, at the limit passes."""
    name = "import dumplib / bare interpreter"
    with pytest.raises(AssertionError):
        _check(name, lambda: BASELINE[name] * LIMIT * 1.01)
    assert _check(name, lambda: BASELINE[name] * LIMIT) == BASELINE[name] * LIMIT


