"""Benchmark: dumplib.pdb against symbolic (Rust, from PyPI) symbolizing a whole PDB.

Both sides do the same work from a cold start on the ~1 MB x86 corpus PDB
(crash.pdb) and the 600 KB x64 one: open the file, build their lookup
structures (dumplib: publics, procedures, C13 lines, inline sites; symbolic:
a symcache, which also holds inlinees),
then look up every function start and every line-record address. The
benchmarks only measure; correctness is checked in tests/test_pdb_*.py (and
by the equal answer counts asserted here).

Run: ``.venv/bin/pytest benches/bench_pdb.py --benchmark-only``
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from dumplib.pdb import PdbFile

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "external" / "symbolic" / "windows"
PDBS = ["crash.pdb", "CrashWithException.pdb"]


def _probes(path: Path) -> list[int]:
    pdb = PdbFile.open(path)
    return sorted({f.rva for f in pdb.functions} | {r.rva for r in pdb.line_records})


def _dumplib_symbolize(path: Path, probes: list[int]) -> int:
    pdb = PdbFile.open(path)
    found = 0
    for rva in probes:
        if pdb.lookup(rva) is not None:
            found += 1
    pdb.close()
    return found


def _symbolic_symbolize(debuginfo: Any, path: Path, probes: list[int]) -> int:
    obj = next(iter(debuginfo.Archive.open(str(path)).iter_objects()))
    cache = obj.make_symcache()
    return sum(1 for rva in probes if cache.lookup(rva))


@pytest.mark.parametrize("pdb_name", PDBS)
def test_bench_dumplib_symbolize_all(benchmark: BenchmarkFixture, pdb_name: str) -> None:
    path = CORPUS / pdb_name
    probes = _probes(path)
    found = benchmark(_dumplib_symbolize, path, probes)
    assert found == len(probes)


@pytest.mark.parametrize("pdb_name", PDBS)
def test_bench_symbolic_symbolize_all(benchmark: BenchmarkFixture, pdb_name: str) -> None:
    debuginfo = pytest.importorskip("symbolic.debuginfo")
    path = CORPUS / pdb_name
    probes = _probes(path)
    found = benchmark(_symbolic_symbolize, debuginfo, path, probes)
    assert found == len(probes)


@pytest.mark.parametrize("pdb_name", PDBS)
def test_bench_dumplib_open_identity_only(benchmark: BenchmarkFixture, pdb_name: str) -> None:
    path = CORPUS / pdb_name

    def identity() -> tuple[str | None, str, int]:
        pdb = PdbFile.open(path)
        try:
            return pdb.identity
        finally:
            pdb.close()

    assert benchmark(identity)[1]
