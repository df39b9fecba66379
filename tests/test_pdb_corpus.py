"""dumplib.pdb against independent truth: breakpad .sym files and symbolic.

The corpus PDBs (getsentry/symbolic test fixtures) come with breakpad ``.sym``
files another tool (dump_syms) wrote from them. Every FUNC (address, size,
name), PUBLIC (address, parameter size, name), line record and the MODULE id
must agree with what dumplib reads from the PDB. The ``.sym`` text is parsed
here with a few lines of independent code.

The x64 ``.sym`` was written by a converter with two quirks, which the
comparison reproduces instead of hiding:

* names it could not give a parameter list drop one leading underscore
  (it lists ``_exit`` and ``exit`` both as ``exit``);
* functions without a public C++ name are printed from type information as
  ``static <return type> name(<params>)``; only ``name`` is compared for those.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dumplib.pdb import PdbFile
from dumplib.pdb.streams import Machine

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "external" / "symbolic" / "windows"
CASES = [
    ("crash.pdb", "crash.sym", Machine.I386),
    ("CrashWithException.pdb", "CrashWithException.pdb.sym", Machine.AMD64),
]


@dataclass
class SymFile:
    """What a breakpad .sym file says (parsed independently of dumplib)."""

    module_id: str = ""
    module_name: str = ""
    arch: str = ""
    funcs: list[tuple[int, int, str, bool]] = field(default_factory=list)
    publics: set[tuple[int, int, str]] = field(default_factory=set)
    lines: list[tuple[int, int, int, str, int]] = field(default_factory=list)


def parse_sym(path: Path) -> SymFile:
    sym = SymFile()
    files: dict[int, str] = {}
    func_start = -1
    for raw in path.read_text().splitlines():
        parts = raw.split(" ")
        tag = parts[0]
        if tag == "MODULE":
            sym.arch, sym.module_id, sym.module_name = parts[2], parts[3], " ".join(parts[4:])
        elif tag == "FILE":
            files[int(parts[1])] = " ".join(parts[2:])
        elif tag == "FUNC":
            multiple = parts[1] == "m"
            rest = parts[2:] if multiple else parts[1:]
            func_start = int(rest[0], 16)
            sym.funcs.append((func_start, int(rest[1], 16), " ".join(rest[3:]), multiple))
        elif tag == "PUBLIC":
            rest = parts[2:] if parts[1] == "m" else parts[1:]
            sym.publics.add((int(rest[0], 16), int(rest[1], 16), " ".join(rest[2:])))
        elif tag in ("INFO", "STACK"):
            continue
        else:
            addr, size, line, fileno = parts
            sym.lines.append(
                (int(addr, 16), int(size, 16), int(line), files[int(fileno)], func_start)
            )
    return sym


@pytest.fixture(scope="module", params=CASES, ids=[c[0] for c in CASES])
def case(request: pytest.FixtureRequest) -> tuple[PdbFile, SymFile, Machine]:
    pdb_name, sym_name, machine = request.param
    return PdbFile.open(CORPUS / pdb_name), parse_sym(CORPUS / sym_name), machine


def _x64_quirk(ours: str) -> str:
    return ours[1:] if ours.startswith("_") else ours


def _sym_base_name(name: str) -> tuple[str, bool]:
    """Split a .sym FUNC name into (name without a parameter list, had one)."""
    static = name.startswith("static ")
    if static:
        name = name[len("static ") :].split(" ", 1)[1].lstrip(" ")
    if not name.endswith(")"):
        return name, False
    depth = 0
    for i in range(len(name) - 1, -1, -1):
        if name[i] == ")":
            depth += 1
        elif name[i] == "(":
            depth -= 1
            if depth == 0:
                return name[:i], True
    raise AssertionError(f"unbalanced parameter list in {name!r}")


def test_module_identity(case: tuple[PdbFile, SymFile, Machine]) -> None:
    pdb, sym, machine = case
    assert pdb.debug_id == sym.module_id
    assert pdb.identity == (sym.module_name, sym.module_id[:32], int(sym.module_id[32:], 16))
    assert pdb.machine == machine
    assert sym.arch == {Machine.I386: "x86", Machine.AMD64: "x86_64"}[machine]


def test_every_func_matches(case: tuple[PdbFile, SymFile, Machine]) -> None:
    pdb, sym, machine = case
    procs = [f for f in pdb.functions if f.kind == "proc"]
    by_rva: dict[int, list[tuple[int, str, str]]] = defaultdict(list)
    for f in procs:
        by_rva[f.rva].append((f.size, f.name, f.signature))
    # the same set of function start addresses, in both directions
    assert {a for a, _, _, _ in sym.funcs} == set(by_rva)
    assert len(sym.funcs) == len(by_rva)
    for addr, size, name, multiple in sym.funcs:
        ours = by_rva[addr]
        assert multiple == (len(ours) > 1), hex(addr)
        assert all(s == size for s, _, _ in ours), hex(addr)
        if machine == Machine.I386:
            # x86: the display name, parameter list included, is exactly breakpad's
            assert name in {sig for _, _, sig in ours}, hex(addr)
            # and where functions were folded, lookups report the one breakpad names
            assert pdb.functions[pdb._function_starts.index(addr)].signature == name
        else:
            base, has_params = _sym_base_name(name)
            if name.startswith("static "):
                candidates = {n for _, n, _ in ours}
            elif has_params:
                candidates = {sig for _, _, sig in ours}
                base = name
            else:
                candidates = {_x64_quirk(n) for _, n, _ in ours}
            assert base in candidates, hex(addr)


def test_signatures_come_from_publics(case: tuple[PdbFile, SymFile, Machine]) -> None:
    pdb, _sym, machine = case
    with_params = [f for f in pdb.functions if f.signature != f.name]
    # C++ functions got a parameter list from their decorated public; nothing else changed
    assert len(with_params) > 20
    for f in with_params:
        assert f.signature.startswith(f.name + "(") or (
            machine == Machine.I386 and f.signature == f.name[1:]
        )


def test_publics_match(case: tuple[PdbFile, SymFile, Machine]) -> None:
    pdb, sym, machine = case
    proc_starts = {f.rva for f in pdb.functions if f.kind == "proc"}
    ours = set()
    for p in pdb.publics:
        if p.is_function and p.rva not in proc_starts:
            name = p.name if machine == Machine.I386 else _x64_quirk(p.name)
            ours.add((p.rva, pdb.parameter_size(p) or 0, name))
    assert ours == sym.publics


def test_line_records_match(case: tuple[PdbFile, SymFile, Machine]) -> None:
    pdb, sym, _machine = case
    ours = [(r.rva, r.size, r.line, r.file) for r in pdb.line_records]
    theirs = [(a, s, ln, f) for a, s, ln, f, _ in sym.lines]
    assert sorted(ours) == sorted(theirs)


def test_lookup_of_every_line_record(case: tuple[PdbFile, SymFile, Machine]) -> None:
    pdb, sym, _machine = case
    for addr, size, line, file, func_start in sym.lines:
        if size == 0:
            continue
        for probe in (addr, addr + size - 1):
            got = pdb.lookup(probe)
            assert got is not None, hex(probe)
            assert got.kind == "function"
            assert got.start_rva == func_start, hex(probe)
            assert got.file == file
            assert got.line == (None if line in (0xF00F00, 0xFEEFEE) else line)
            row = pdb.line_for(probe)
            assert row is not None and row.line == line


def test_lookup_of_publics(case: tuple[PdbFile, SymFile, Machine]) -> None:
    pdb, sym, machine = case
    for addr, _param_size, name in sym.publics:
        got = pdb.lookup(addr + 1)
        assert got is not None
        # import thunks are S_THUNK32 procedures of 6 bytes: they name the address themselves
        assert got.start_rva == addr
        ours = got.name if machine == Machine.I386 else _x64_quirk(got.name)
        assert ours.lstrip("_") == name.lstrip("_")


def test_lines_of_a_function(case: tuple[PdbFile, SymFile, Machine]) -> None:
    pdb, sym, _machine = case
    expected: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for addr, _size, line, _file, func_start in sym.lines:
        expected[func_start].append((addr, line))
    for start, rows in expected.items():
        got = [(r.rva, r.line) for r in pdb.lines(start)]
        assert sorted(got) == sorted(rows), hex(start)


def test_lookup_outside_everything(case: tuple[PdbFile, SymFile, Machine]) -> None:
    pdb, _sym, _machine = case
    assert pdb.lookup(0) is None
    assert pdb.lookup(0x7FFFFFFF) is None
    assert pdb.line_for(0) is None
    assert pdb.lines(0) == ()


@pytest.mark.parametrize("pdb_name", [c[0] for c in CASES])
def test_bytes_and_file_objects_read_the_same(pdb_name: str) -> None:
    path = CORPUS / pdb_name
    mapped = PdbFile.open(path)
    in_memory = PdbFile.open(path.read_bytes(), name=pdb_name)
    with path.open("rb") as fh:
        streamed = PdbFile.open(fh)
        assert streamed.identity == mapped.identity == in_memory.identity
        assert streamed.functions == mapped.functions == in_memory.functions
        assert streamed.line_records == mapped.line_records
        assert streamed.publics == in_memory.publics
    with PdbFile.open(path) as scoped:
        functions = scoped.functions
    assert functions == mapped.functions  # loaded records outlive the mapping
