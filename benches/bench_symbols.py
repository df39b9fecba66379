"""Benchmark: dumplib's breakpad .sym reader against symbolic and a naive parser.

Files: the symbolic corpus ``crash.sym`` (46 KB, 92 FUNCs) and rust-minidump's
``test_app.sym`` (818 KB, 1,065 FUNCs, 12,604 line records, 1,815 STACK WIN).

* open: bytes -> an object ready for lookups. dumplib builds sorted FUNC and
  PUBLIC arrays and leaves line, INLINE and STACK records for first use;
  symbolic (Rust, via cffi) builds a SymCache; the naive parser splits and
  converts every record in Python.
* lookup: name 1,000 addresses spread over the module (with file:line).

Run: ``.venv/bin/pytest benches/bench_symbols.py --benchmark-only``
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from pathlib import Path

import pytest
import symbolic.debuginfo
import symbolic.symcache
from pytest_benchmark.fixture import BenchmarkFixture

from dumplib.symbols.breakpad import BreakpadSymbols

ROOT = Path(__file__).resolve().parent.parent / "fixtures" / "external"
FILES = {
    "crash.sym": ROOT / "symbolic/windows/crash.sym",
    "test_app.sym": ROOT
    / "rust-minidump/symbols/test_app.pdb/5A9832E5287241C1838ED98914E9B7FF1/test_app.sym",
}


class NaiveSym:
    """Parses every record eagerly with str.split; linear scans for lookups' parents."""

    def __init__(self, data: bytes) -> None:
        self.funcs: list[tuple[int, int, str, list[tuple[int, int, int, int]]]] = []
        self.files: dict[int, str] = {}
        self.stack: list[list[str]] = []
        for line in data.decode("utf-8", "replace").splitlines():
            parts = line.split(" ")
            head = parts[0]
            if head == "FUNC":
                if parts[1] == "m":
                    parts.pop(1)
                self.funcs.append((int(parts[1], 16), int(parts[2], 16), " ".join(parts[4:]), []))
            elif head == "FILE":
                self.files[int(parts[1])] = " ".join(parts[2:])
            elif head == "STACK":
                self.stack.append(parts)
            elif head in ("MODULE", "INFO", "PUBLIC", "INLINE", "INLINE_ORIGIN"):
                continue
            elif self.funcs:
                a, s, ln, f = parts
                self.funcs[-1][3].append((int(a, 16), int(s, 16), int(ln), int(f)))
        self.funcs.sort()
        self.starts = [f[0] for f in self.funcs]

    def lookup(self, rva: int) -> tuple[str, int] | None:
        i = bisect_right(self.starts, rva) - 1
        if i < 0 or rva >= self.funcs[i][0] + self.funcs[i][1]:
            return None
        for a, s, ln, _f in self.funcs[i][3]:
            if a <= rva < a + s:
                return self.funcs[i][2], ln
        return self.funcs[i][2], 0


def _symbolic_open(data: bytes) -> object:
    archive = symbolic.debuginfo.Archive.from_bytes(data)
    return next(iter(archive.iter_objects())).make_symcache()


OPENERS: dict[str, Callable[[bytes], object]] = {
    "dumplib": BreakpadSymbols.parse,
    "symbolic": _symbolic_open,
    "naive": NaiveSym,
}


def _probes(data: bytes, count: int = 1000) -> list[int]:
    sym = BreakpadSymbols.parse(data)
    lo = sym.functions[0].address
    hi = sym.functions[-1].address + sym.functions[-1].size
    step = max((hi - lo) // count, 1)
    return list(range(lo, hi, step))[:count]


@pytest.mark.parametrize("impl", list(OPENERS))
@pytest.mark.parametrize("name", list(FILES))
def test_open(benchmark: BenchmarkFixture, name: str, impl: str) -> None:
    data = FILES[name].read_bytes()
    benchmark.group = f"open {name}"
    result = benchmark(OPENERS[impl], data)
    assert result is not None


@pytest.mark.parametrize("impl", list(OPENERS))
@pytest.mark.parametrize("name", list(FILES))
def test_lookup_1000(benchmark: BenchmarkFixture, name: str, impl: str) -> None:
    data = FILES[name].read_bytes()
    probes = _probes(data)
    opened = OPENERS[impl](data)
    lookup: Callable[[int], object] = opened.lookup  # type: ignore[attr-defined]
    for rva in probes[:50]:  # warm lazily parsed tables
        lookup(rva)

    def run() -> int:
        return sum(1 for rva in probes if lookup(rva))

    benchmark.group = f"lookup x1000 {name}"
    found = benchmark(run)
    assert found > len(probes) // 2
