"""Tests of the breakpad .sym reader against independent truth.

The corpus .sym files were written by breakpad's dump_syms; the truth used here
is (a) counting records in the text with plain string tests, independently of
the reader, and (b) Sentry's ``symbolic`` (a Rust parser) looking up the same
addresses.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import symbolic.debuginfo
from hypothesis import given, settings
from hypothesis import strategies as st

from dumplib._exc import DumpError
from dumplib.symbols.base import SymbolInfo, format_location
from dumplib.symbols.breakpad import (
    BreakpadSymbolizer,
    BreakpadSymbols,
    StackWinType,
    is_breakpad,
    parse_cfi_rules,
    read_module_record,
)
from dumplib.symbols.breakpad_records import RangeIndex
from dumplib.symbols.errors import SymbolError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "external"
TEST_APP = (
    FIXTURES / "rust-minidump/symbols/test_app.pdb/5A9832E5287241C1838ED98914E9B7FF1/test_app.sym"
)
CRASH = FIXTURES / "symbolic/windows/crash.sym"
CWE = FIXTURES / "symbolic/windows/CrashWithException.pdb.sym"
ALL = [TEST_APP, CRASH, CWE]


def _text_lines(path: Path) -> list[str]:
    return path.read_text("utf-8").splitlines()


def _count(path: Path, prefix: str) -> int:
    return sum(1 for line in _text_lines(path) if line.startswith(prefix))


def _is_line_record(line: str) -> bool:
    parts = line.split()
    return len(parts) == 4 and line[0] in "0123456789abcdef"


@pytest.fixture(scope="module")
def parsed() -> dict[Path, BreakpadSymbols]:
    return {path: BreakpadSymbols.open(path) for path in ALL}


def _symcache(path: Path) -> object:
    archive = symbolic.debuginfo.Archive.open(str(path))
    return next(iter(archive.iter_objects())).make_symcache()


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_counts_match_the_text(path: Path, parsed: dict[Path, BreakpadSymbols]) -> None:
    sym = parsed[path]
    assert len(sym.functions) == _count(path, "FUNC ")
    assert len(sym.publics) == _count(path, "PUBLIC ")
    assert len(sym.files) == _count(path, "FILE ")
    assert len(sym.stack_win()) == _count(path, "STACK WIN ")
    assert len(sym.stack_cfi()) == _count(path, "STACK CFI INIT ")
    deltas = sum(len(init.deltas) for init in sym.stack_cfi())
    assert deltas == _count(path, "STACK CFI ") - _count(path, "STACK CFI INIT ")
    assert len(list(sym.line_records())) == sum(
        1 for line in _text_lines(path) if _is_line_record(line)
    )
    multiple = sum(1 for f in sym.functions if f.multiple)
    assert multiple == _count(path, "FUNC m ")


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_module_record_matches_symbolic(path: Path, parsed: dict[Path, BreakpadSymbols]) -> None:
    sym = parsed[path]
    obj = next(iter(symbolic.debuginfo.Archive.open(str(path)).iter_objects()))
    # symbolic prints the debug id as a dashed lower-case GUID followed by -age.
    guid, age = sym.module.id[:32], int(sym.module.id[32:], 16)
    expected = f"{guid[:8]}-{guid[8:12]}-{guid[12:16]}-{guid[16:20]}-{guid[20:]}-{age:x}".lower()
    assert str(obj.debug_id) == expected
    assert sym.module.os == "windows"
    assert read_module_record(path) == sym.module
    first = _text_lines(path)[0].split(" ", 4)
    assert (sym.module.arch, sym.module.name) == (first[2], first[4])
    if sym.code_id is not None:
        assert obj.code_id == sym.code_id.lower()


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_function_lookups_agree_with_symbolic(
    path: Path, parsed: dict[Path, BreakpadSymbols]
) -> None:
    sym = parsed[path]
    cache = _symcache(path)
    publics = sorted(p.address for p in sym.publics)
    checked = 0
    for func in sym.functions:
        if func.size == 0:
            continue
        for rva in (func.address, func.address + func.size // 2, func.address + func.size - 1):
            ours = sym.lookup(rva)
            theirs = cache.lookup(rva)  # type: ignore[attr-defined]
            assert ours is not None
            assert theirs, hex(rva)
            if any(func.address < p <= rva for p in publics):
                # A PUBLIC inside a FUNC's range (test_app.sym's _NLG_Dispatch2):
                # symbolic names the public, breakpad's resolver keeps the FUNC, as we do.
                assert ours.function == func.name
                continue
            outer = theirs[-1]
            assert ours.start_rva == func.address == outer.sym_addr
            assert ours.size == func.size
            if not func.multiple:
                assert ours.function == outer.symbol
            assert ours.line == (outer.line or None), hex(rva)
            if ours.line is not None:
                assert ours.file == outer.full_path
            checked += 1
    assert checked >= len(sym.functions) - 2


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_every_line_record_agrees_with_symbolic(
    path: Path, parsed: dict[Path, BreakpadSymbols]
) -> None:
    sym = parsed[path]
    cache = _symcache(path)
    for func in sym.functions:
        for record in sym.function_lines(func):
            if record.size == 0 or not (func.address <= record.address < func.address + func.size):
                continue
            ours = sym.lookup(record.address)
            theirs = cache.lookup(record.address)  # type: ignore[attr-defined]
            assert ours is not None and theirs
            assert ours.line == record.line == theirs[-1].line
            assert ours.file == sym.files[record.file] == theirs[-1].full_path


def test_edges_of_functions(parsed: dict[Path, BreakpadSymbols]) -> None:
    sym = parsed[CRASH]
    text = _text_lines(CRASH)
    funcs = [line.split(" ", 4) for line in text if line.startswith("FUNC ") and " m " not in line]
    starts = {int(parts[1], 16): (int(parts[2], 16), parts[4]) for parts in funcs}
    for start, (size, name) in starts.items():
        assert sym.lookup(start) is not None
        info = sym.lookup(start)
        assert info is not None and info.function == name
        after = sym.lookup(start + size)
        # The byte after a function is another function, a public, or nothing.
        if after is not None and after.size is not None:
            assert after.start_rva == start + size
        assert sym.lookup(start - 1) is None or sym.lookup(start - 1) != info
    assert sym.lookup(0) is None


def test_public_fallback(parsed: dict[Path, BreakpadSymbols]) -> None:
    sym = parsed[CWE]
    func_ranges = [(f.address, f.address + f.size) for f in sym.functions]
    for public in sym.publics:
        if any(a <= public.address < b for a, b in func_ranges):
            continue
        info = sym.lookup(public.address)
        assert info is not None
        assert info.start_rva == public.address
        assert info.size is None
        assert info.line is None


def test_cfi_rules_from_text(parsed: dict[Path, BreakpadSymbols]) -> None:
    sym = parsed[CWE]
    lines = _text_lines(CWE)
    # Independent walk of the text: for each INIT, apply the deltas in order.
    i = 0
    checked = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("STACK CFI INIT "):
            _, _, _, addr, size, rest = line.split(" ", 5)
            start, length = int(addr, 16), int(size, 16)
            expected = parse_cfi_rules(rest)
            cursor = start
            j = i + 1
            while j < len(lines) and lines[j].startswith("STACK CFI ") and "INIT" not in lines[j]:
                _, _, daddr, drules = lines[j].split(" ", 3)
                at = int(daddr, 16)
                got = sym.cfi_rules(at - 1) if at - 1 >= cursor else None
                if got is not None:
                    assert got.rules == expected
                expected = {**expected, **parse_cfi_rules(drules)}
                cursor = at
                j += 1
            final = sym.cfi_rules(start + length - 1)
            assert final is not None and final.rules == expected
            assert final.address == start and final.size == length
            checked += 1
            i = j
        else:
            i += 1
    assert checked == _count(CWE, "STACK CFI INIT ")
    assert sym.cfi_rules(0) is None


def test_parse_cfi_rules() -> None:
    assert parse_cfi_rules(".cfa: $rsp 16 + .ra: .cfa 8 - ^ $rbx: .cfa 24 - ^") == {
        ".cfa": "$rsp 16 +",
        ".ra": ".cfa 8 - ^",
        "$rbx": ".cfa 24 - ^",
    }
    with pytest.raises(SymbolError):
        parse_cfi_rules("$rsp 16 + .cfa:")


def test_stack_win_records(parsed: dict[Path, BreakpadSymbols]) -> None:
    sym = parsed[CRASH]
    text = [line for line in _text_lines(CRASH) if line.startswith("STACK WIN ")]
    records = sym.stack_win()
    for line, record in zip(text, records, strict=True):
        fields = line.split(" ", 12)
        assert int(record.type) == int(fields[2], 16)
        assert record.address == int(fields[3], 16)
        assert record.size == int(fields[4], 16)
        assert record.parameter_size == int(fields[7], 16)
        if fields[11] == "1":
            assert record.program_string == fields[12]
    # crash.sym nests 100f+f5 inside 1000+114: the innermost wins.
    inner = sym.stack_win_at(0x1010)
    assert inner is not None and inner.address == 0x100F
    outer = sym.stack_win_at(0x1005)
    assert outer is not None and outer.address == 0x1000
    assert outer.type == StackWinType.FRAME_DATA


SYNTHETIC = b"""MODULE windows x86_64 0123456789ABCDEF0123456789ABCDEF2 synth.pdb\r
INFO CODE_ID 5C9E09599000 synth.dll\r
FILE 0 c:\\src\\main.cpp\r
FILE 1 c:\\src\\inl.h\r
INLINE_ORIGIN 0 inner_helper\r
INLINE_ORIGIN 1 outer_helper(int)\r
FUNC m 1000 40 0 folded_a\r
INLINE 0 10 0 1 1008 10\r
INLINE 1 20 1 0 100c 4\r
1000 8 5 0\r
1008 10 11 1\r
1018 28 6 0\r
FUNC 2000 10 8 second function with spaces\r
2000 10 7 0\r
PUBLIC m 3000 0 public_one\r
PUBLIC 3100 4 public_two\r
STACK CFI INIT 1000 40 .cfa: $rsp 8 + .ra: .cfa 8 - ^\r
STACK CFI 1001 .cfa: $rsp 16 + $rbp: .cfa 16 - ^\r
STACK CFI 1004 .cfa: $rsp 48 +\r
STACK WIN 0 2000 10 1 0 8 4 0 0 0 1\r
STACK WIN 4 2004 8 1 0 8 4 0 10 1 $T0 .raSearch = $eip $T0 ^ =\r
"""


def test_synthetic_records() -> None:
    sym = BreakpadSymbols.parse(SYNTHETIC, name="synth.sym")
    assert sym.module.name == "synth.pdb"
    assert sym.code_id == "5C9E09599000" and sym.code_file == "synth.dll"
    assert sym.files == {0: "c:\\src\\main.cpp", 1: "c:\\src\\inl.h"}
    assert sym.inline_origins == {0: "inner_helper", 1: "outer_helper(int)"}
    first, second = sym.functions
    assert first.multiple and first.name == "folded_a"
    assert not second.multiple and second.name == "second function with spaces"
    assert second.parameter_size == 8
    assert [p.multiple for p in sym.publics] == [True, False]
    info = sym.lookup(0x100D)
    assert info is not None
    assert (info.function, info.start_rva, info.size) == ("folded_a", 0x1000, 0x40)
    assert (info.file, info.line) == ("c:\\src\\inl.h", 11)
    assert [(f.function, f.depth, f.call_line, f.call_file) for f in info.inlines] == [
        ("outer_helper(int)", 0, 10, "c:\\src\\main.cpp"),
        ("inner_helper", 1, 20, "c:\\src\\inl.h"),
    ]
    only_outer = sym.lookup(0x1009)
    assert only_outer is not None and [f.depth for f in only_outer.inlines] == [0]
    assert sym.lookup(0x1040) is None  # between FUNC end and the next FUNC
    public = sym.lookup(0x3050)
    assert public is not None and (public.function, public.size) == ("public_one", None)
    assert sym.lookup(0x3100) == SymbolInfo("public_two", 0x3100, None, None, None, "breakpad")
    assert sym.lookup(0x0FFF) is None
    rules = sym.cfi_rules(0x1000)
    assert rules is not None and rules.rules == {".cfa": "$rsp 8 +", ".ra": ".cfa 8 - ^"}
    rules = sym.cfi_rules(0x1003)
    assert rules is not None
    assert rules.rules == {".cfa": "$rsp 16 +", ".ra": ".cfa 8 - ^", "$rbp": ".cfa 16 - ^"}
    rules = sym.cfi_rules(0x103F)
    assert rules is not None and rules.rules[".cfa"] == "$rsp 48 +"
    assert sym.cfi_rules(0x1040) is None
    win = sym.stack_win_at(0x2005)
    assert win is not None and win.type == StackWinType.FRAME_DATA
    assert win.program_string == "$T0 .raSearch = $eip $T0 ^ ="
    fpo = sym.stack_win_at(0x2001)
    assert fpo is not None and fpo.type == StackWinType.FPO and fpo.allocates_base_pointer
    assert fpo.program_string is None
    symbolizer = BreakpadSymbolizer(sym)
    assert format_location("synth.dll", symbolizer.lookup(0x2004), 0x2004) == (
        "synth.dll!second function with spaces+0x4 [c:\\src\\main.cpp:7]"
    )


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"MZ\x90\x00",
        b"MODULE windows x86\n",
        b"MODULE windows x86 ID name\nFUNC zz 10 0 f\n",
        b"MODULE windows x86 ID name\nFUNC 10\n",
        b"MODULE windows x86 ID name\n1000 10 5 0\n",
        b"MODULE windows x86 ID name\nPUBLIC\n",
        b"MODULE windows x86 ID name\nINLINE 0 1 0 0 10 4\n",
        b"MODULE windows x86 ID name\n!bogus record\n",
        b"MODULE windows x86 ID name\nfunc 10 10 0 f\n",
    ],
)
def test_malformed_files_raise_symbol_error(data: bytes) -> None:
    with pytest.raises(SymbolError) as info:
        BreakpadSymbols.parse(data, name="bad.sym")
    assert isinstance(info.value, DumpError)
    assert info.value.stream == "bad.sym"
    assert info.value.offset is not None


def test_error_offset_names_the_line() -> None:
    data = b"MODULE windows x86 ID name\nFILE 0 a\nFUNC 10 zz 0 f\n"
    with pytest.raises(SymbolError) as info:
        BreakpadSymbols.parse(data, name="bad.sym")
    assert info.value.offset == data.index(b"FUNC")
    assert "line 3" in str(info.value)


@pytest.mark.parametrize(
    ("tail", "call"),
    [
        (b"FUNC 10 10 0 f\n10 4 x 0\n", "lookup"),
        (b"FUNC 10 10 0 f\nINLINE 0 1 0\n10 4 1 0\n", "lookup"),
        (b"STACK CFI 10 .cfa: $esp 4 +\n", "cfi"),
        (b"STACK CFI INIT 10 zz .cfa: $esp 4 +\n", "cfi"),
        (b"STACK CFI INIT 10 10 $esp 4 + .cfa:\n", "cfi"),
        (b"STACK WIN 4 10 10 0\n", "win"),
        (b"FILE x name\nFUNC 10 10 0 f\n10 4 1 0\n", "lookup"),
    ],
)
def test_lazily_parsed_records_raise_symbol_error(tail: bytes, call: str) -> None:
    sym = BreakpadSymbols.parse(b"MODULE windows x86 ID name\n" + tail, name="lazy.sym")
    with pytest.raises(SymbolError):
        if call == "lookup":
            sym.lookup(0x11)
        elif call == "cfi":
            sym.cfi_rules(0x11)
        else:
            sym.stack_win_at(0x11)


def test_open_errors(tmp_path: Path) -> None:
    with pytest.raises(SymbolError):
        BreakpadSymbols.open(tmp_path / "missing.sym")
    with pytest.raises(SymbolError):
        read_module_record(tmp_path / "missing.sym")
    (tmp_path / "x.sym").write_bytes(b"\x00" * 10)
    with pytest.raises(SymbolError):
        read_module_record(tmp_path / "x.sym")
    assert is_breakpad(b"\xef\xbb\xbfMODULE windows")
    assert not is_breakpad(b"Microsoft C/C++ MSF 7.00")


def test_unsorted_functions_are_sorted() -> None:
    data = (
        b"MODULE windows x86 ID name\nFILE 0 a.c\n"
        b"FUNC 200 10 0 later\n200 10 2 0\nFUNC 100 10 0 earlier\n100 10 1 0\n"
    )
    sym = BreakpadSymbols.parse(data)
    assert [f.name for f in sym.functions] == ["earlier", "later"]
    one = sym.lookup(0x105)
    two = sym.lookup(0x20F)
    assert one is not None and (one.function, one.line) == ("earlier", 1)
    assert two is not None and (two.function, two.line) == ("later", 2)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 200), st.integers(0, 60)),
        max_size=25,
    ),
    st.lists(st.integers(0, 270), max_size=30),
)
def test_range_index_is_innermost(ranges: list[tuple[int, int]], probes: list[int]) -> None:
    index = RangeIndex(ranges)
    for probe in probes:
        holding = [i for i, (a, s) in enumerate(ranges) if a <= probe < a + s]
        found = index.find(probe)
        if not holding:
            assert found == -1
            continue
        best = max(holding, key=lambda i: (ranges[i][0], -ranges[i][1]))
        assert found >= 0
        assert (ranges[found][0], ranges[found][1]) == (ranges[best][0], ranges[best][1])


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_files_raise_only_symbol_error(data: st.DataObject) -> None:
    raw = bytearray(SYNTHETIC)
    for _ in range(data.draw(st.integers(1, 6))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        action = data.draw(st.integers(0, 2))
        if action == 0:
            raw[pos] = data.draw(st.integers(0, 255))
        elif action == 1:
            del raw[pos : pos + data.draw(st.integers(1, 20))]
        else:
            raw[pos:pos] = data.draw(st.binary(max_size=8))
    try:
        sym = BreakpadSymbols.parse(bytes(raw))
        for rva in (0x0, 0x1000, 0x100D, 0x2004, 0x3050):
            sym.lookup(rva)
            sym.cfi_rules(rva)
            sym.stack_win_at(rva)
        list(sym.line_records())
    except SymbolError:
        pass


def test_unknown_keywords_are_skipped_with_a_warning() -> None:
    data = (
        b"MODULE windows x86 ID name\nINFO GENERATOR dump_syms 2.0\nFILE 0 a.c\n"
        b"FUNC 10 10 0 f\nNEWTHING 1 2 3\n10 10 7 0\nSTACK FOO 10\nZZZ\n"
    )
    sym = BreakpadSymbols.parse(data)
    assert sym.warnings == [
        "line 5: unknown record 'NEWTHING' skipped",
        "line 7: unknown record 'FOO' skipped",
        "line 8: unknown record 'ZZZ' skipped",
    ]
    info = sym.lookup(0x15)
    # The line record after the unknown record still belongs to the FUNC.
    assert info is not None and (info.function, info.line, info.file) == ("f", 7, "a.c")


def test_inline_records_after_line_records() -> None:
    data = (
        b"MODULE windows x86 ID name\nFILE 0 a.c\nINLINE_ORIGIN 3 g\n"
        b"FUNC 10 20 0 f\n10 10 1 0\nINLINE 0 5 0 3 18 4\n20 10 2 0\n"
    )
    sym = BreakpadSymbols.parse(data)
    inner = sym.lookup(0x19)
    assert inner is not None and inner.line == 1
    assert [(f.function, f.call_line) for f in inner.inlines] == [("g", 5)]
    outer = sym.lookup(0x21)
    assert outer is not None and outer.line == 2 and outer.inlines == ()
    assert [r.line for r in sym.line_records()] == [1, 2]
    assert len(sym.function_inlines(sym.functions[0])) == 1


@pytest.mark.parametrize("path", [CRASH, CWE], ids=lambda p: p.name)
def test_public_lookups_agree_with_symbolic(
    path: Path, parsed: dict[Path, BreakpadSymbols]
) -> None:
    sym = parsed[path]
    cache = _symcache(path)
    checked = 0
    for public in sym.publics:
        ours = sym.lookup(public.address)
        assert ours is not None
        if ours.size is not None:
            continue  # inside a FUNC: the FUNC wins (see test_function_lookups_...)
        theirs = cache.lookup(public.address)  # type: ignore[attr-defined]
        assert theirs and theirs[-1].sym_addr == public.address
        assert ours.function == theirs[-1].symbol == public.name
        checked += 1
    assert checked == _count(path, "PUBLIC ")  # every PUBLIC here lies outside the FUNCs
