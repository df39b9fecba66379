"""Tests of the symbol resolver: finding each module's image and symbols and naming addresses.

Truth comes from outside dumplib's symbol code: the scenario files written
with the wine fixtures (``truth.json``: the function that faults, by
construction), the breakpad .sym files produced by dump_syms from the PDBs,
symbolic (Sentry's Rust reader) for identities and lookups, and PE export
tables decoded here with ``struct`` from the format's definition.
"""

from __future__ import annotations

import json
import shutil
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import symbolic.debuginfo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dumplib
from dumplib._exc import CorruptDumpError
from dumplib.symbols import (
    ChainSymbolizer,
    SymbolInfo,
    Symbolizer,
    format_location,
)
from dumplib.symbols.breakpad import BreakpadSymbols
from dumplib.symbols.path import Outcome, image_key
from dumplib.symbols.resolver import (
    ExportSymbolizer,
    FileKind,
    SymbolResolver,
    _Guarded,
    identify_file,
)
from tests._http import StaticServer

ROOT = Path(__file__).resolve().parent.parent / "fixtures"
RM = ROOT / "external" / "rust-minidump"
WIN = ROOT / "external" / "symbolic" / "windows"
WINE = ROOT / "wine"
CRASH_ID = ("crash.pdb", "3249D99D0C4049318610F4E4FB0B6936", 1)


@dataclass(frozen=True)
class FakeModule:
    name: str
    base: int
    size: int
    timestamp: int
    pdb: tuple[str, str, int] | None


def crash_module(pdb: tuple[str, str, int] | None = CRASH_ID) -> FakeModule:
    # crash.exe: TimeDateStamp 0x5AB38077, SizeOfImage 0x9000 (INFO CODE_ID of crash.sym).
    return FakeModule("crash.exe", 0x400000, 0x9000, 0x5AB38077, pdb)


def _debug_id(path: Path) -> str:
    obj = next(iter(symbolic.debuginfo.Archive.open(str(path)).iter_objects()))
    return str(obj.debug_id)


def _dashed(guid: str, age: int) -> str:
    g = guid.lower()
    return f"{g[:8]}-{g[8:12]}-{g[12:16]}-{g[16:20]}-{g[20:]}-{age:x}"


def test_identify_file(tmp_path: Path) -> None:
    assert identify_file(str(WIN / "crash.exe")) == FileKind.PE
    assert identify_file(str(WIN / "crash.pdb")) == FileKind.PDB
    assert identify_file(str(WIN / "crash.sym")) == FileKind.BREAKPAD
    (tmp_path / "x").write_bytes(b"MSCF\0\0\0\0")
    assert identify_file(str(tmp_path / "x")) == FileKind.CAB
    (tmp_path / "y").write_bytes(b"")
    assert identify_file(str(tmp_path / "y")) == FileKind.UNKNOWN


def test_breakpad_tree_names_the_crash_in_rust_minidump_test_dmp() -> None:
    sym_path = RM / "symbols/test_app.pdb/5A9832E5287241C1838ED98914E9B7FF1/test_app.sym"
    with dumplib.open(RM / "test.dmp") as dump:
        exc = dump.exception
        assert exc is not None
        module = dump.modules.find(exc.address)
        assert module is not None and module.name == "test_app.exe"
        with SymbolResolver([str(RM / "symbols")], memory=dump.memory.read) as resolver:
            info = resolver.lookup(module, exc.address)
            found = resolver.module_symbols(module)
            text = resolver.format(exc.address, module)
    assert found.sources == ("breakpad",)
    assert found.pdb_identity_source == "dump"
    assert found.sym_path == str(sym_path)
    # Independent answer: symbolic's lookup of the same RVA in the same .sym.
    archive = symbolic.debuginfo.Archive.open(str(sym_path))
    cache = next(iter(archive.iter_objects())).make_symcache()
    theirs = cache.lookup(exc.address - module.base)[-1]  # type: ignore[no-untyped-call]
    assert info is not None
    assert (info.function, info.start_rva, info.line) == (
        theirs.symbol,
        theirs.sym_addr,
        theirs.line,
    )
    assert info.file == theirs.full_path
    offset = exc.address - module.base - theirs.sym_addr
    assert text == f"test_app.exe!{theirs.symbol}+0x{offset:x} [{theirs.full_path}:{theirs.line}]"


@pytest.mark.parametrize("scenario", ["nullwrite"])
def test_wine_module_without_codeview_gets_its_pdb_through_the_image(scenario: str) -> None:
    truth = json.loads((WINE / scenario / "truth.json").read_text())
    with dumplib.open(WINE / scenario / f"{scenario}.dmp") as dump:
        exc = dump.exception
        assert exc is not None
        module = dump.modules.find(exc.address)
        assert module is not None and module.name == truth["faulting_module"]
        assert module.pdb is None  # wine writes no CodeView record
        resolver = SymbolResolver([str(WINE / scenario)], memory=dump.memory.read)
        info = resolver.lookup(module, exc.address)
        found = resolver.module_symbols(module)
    assert info is not None and info.function == truth["faulting_function"]
    assert info.source == "pdb"
    assert found.pdb_identity_source == "image"
    assert found.pdb_identity is not None
    _, guid, age = found.pdb_identity
    assert _debug_id(WINE / scenario / f"{scenario}.pdb") == _dashed(guid, age)
    assert found.image_path == str(WINE / scenario / truth["faulting_module"])
    assert [a.outcome for a in found.attempts] == [Outcome.FOUND, Outcome.FOUND]
    assert found.errors == []


def _store(root: Path, folder: str, key: str, name: str, source: Path) -> Path:
    target = root / folder / key / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target


def test_pdb_is_preferred_and_agrees_with_the_sym_made_from_it(tmp_path: Path) -> None:
    store = tmp_path / "store"
    key = "3249D99D0C4049318610F4E4FB0B69361"
    _store(store, "crash.pdb", key, "crash.pdb", WIN / "crash.pdb")
    _store(store, "crash.pdb", key, "crash.sym", WIN / "crash.sym")
    module = crash_module()
    resolver = SymbolResolver([str(store)])
    found = resolver.module_symbols(module)
    assert found.sources == ("pdb", "breakpad")
    sym = BreakpadSymbols.open(WIN / "crash.sym")
    for func in sym.functions:
        info = resolver.lookup(module, module.base + func.address + func.size - 1)
        assert info is not None and info.source == "pdb"
        assert (info.start_rva, info.size) == (func.address, func.size)
    assert found.breakpad is not None
    assert found.breakpad.stack_win_at(0x1010) is not None  # kept for the unwinder


def test_sym_alone_and_process_cache(tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    flat.mkdir()
    shutil.copyfile(WIN / "crash.sym", flat / "crash.sym")
    module = crash_module()
    first = SymbolResolver([str(flat)]).module_symbols(module)
    second = SymbolResolver([str(flat)]).module_symbols(module)
    assert first.sources == ("breakpad",)
    assert first.breakpad is second.breakpad  # parsed once per process
    text = (flat / "crash.sym").read_text().splitlines()
    func = next(line.split(" ", 4) for line in text if line.startswith("FUNC "))
    start = int(func[1], 16)
    info = SymbolResolver([str(flat)]).lookup(module, module.base + start)
    assert info is not None and (info.function, info.source) == (func[4], "breakpad")


def test_mismatched_files_are_reported_not_used(tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    flat.mkdir()
    for name in ("crash.pdb", "crash.sym", "crash.exe"):
        shutil.copyfile(WIN / name, flat / name)
    module = FakeModule("crash.exe", 0x400000, 0x9000, 0x5AB38077, ("crash.pdb", CRASH_ID[1], 2))
    found = SymbolResolver([str(flat)]).module_symbols(module)
    assert found.pdb is None and found.breakpad is None
    mismatches = [a for a in found.attempts if a.outcome is Outcome.MISMATCH]
    assert {Path(a.location).name for a in mismatches} == {"crash.pdb", "crash.sym"}
    assert all("wanted 3249D99D0C4049318610F4E4FB0B69362" in a.detail for a in mismatches)
    # The image matches (timestamp + size) and is kept; it has no exports.
    assert found.image_path == str(flat / "crash.exe")
    assert found.sources == ()

    wrong_image = FakeModule("crash.exe", 0x400000, 0xA000, 0x5AB38077, None)
    found = SymbolResolver([str(flat)]).module_symbols(wrong_image)
    assert found.image is None
    assert [a.outcome for a in found.attempts] == [Outcome.MISMATCH]
    assert image_key(0x5AB38077, 0x9000) in found.attempts[0].detail


def test_corrupt_pdb_is_an_error_and_the_search_goes_on(tmp_path: Path) -> None:
    first = tmp_path / "first"
    first.mkdir()
    (first / "crash.pdb").write_bytes((WIN / "crash.pdb").read_bytes()[:5000])
    second = tmp_path / "second"
    _store(second, "crash.pdb", "3249D99D0C4049318610F4E4FB0B69361", "crash.pdb", WIN / "crash.exe")
    third = tmp_path / "third"
    _store(third, "crash.pdb", "3249D99D0C4049318610F4E4FB0B69361", "crash.sym", WIN / "crash.sym")
    bad_sym = tmp_path / "badsym"
    bad_sym.mkdir()
    (bad_sym / "crash.sym").write_bytes(
        b"MODULE windows x86 3249D99D0C4049318610F4E4FB0B69361 crash.pdb\nFUNC zz\n"
    )
    found = SymbolResolver([str(first), str(second), str(bad_sym), str(third)]).module_symbols(
        crash_module()
    )
    errors = [a for a in found.attempts if a.outcome is Outcome.ERROR]
    assert [Path(a.location).parent.name for a in errors][:2] == [
        "first",
        "3249D99D0C4049318610F4E4FB0B69361",
    ]
    assert "expected a pdb file, found pe" in errors[1].detail
    assert any(Path(a.location).parent.name == "badsym" for a in errors)
    assert found.pdb is None
    assert found.sources == ("breakpad",)
    assert found.sym_path is not None and "third" in found.sym_path


def _exports_by_struct(path: Path) -> dict[int, str]:
    """Decode a PE export table with struct, from the PE/COFF specification."""
    data = path.read_bytes()
    pe = struct.unpack_from("<I", data, 0x3C)[0]
    nsections = struct.unpack_from("<H", data, pe + 6)[0]
    opt_size = struct.unpack_from("<H", data, pe + 20)[0]
    opt = pe + 24
    magic = struct.unpack_from("<H", data, opt)[0]
    dirs = opt + (112 if magic == 0x20B else 96)
    export_rva = struct.unpack_from("<I", data, dirs)[0]
    sections = []
    for i in range(nsections):
        at = opt + opt_size + 40 * i
        vsize, va, rawsize, rawptr = struct.unpack_from("<IIII", data, at + 8)
        sections.append((int(va), int(max(vsize, rawsize)), int(rawptr)))

    def off(rva: int) -> int:
        for va, size, raw in sections:
            if va <= rva < va + size:
                return int(rva - va + raw)
        raise AssertionError(hex(rva))

    d = off(export_rva)
    _, _, _, _, _, _base, _nfuncs, nnames, funcs, names, ords = struct.unpack_from(
        "<IIHHIIIIIII", data, d
    )
    result: dict[int, str] = {}
    for i in range(nnames):
        name_rva = struct.unpack_from("<I", data, off(names) + 4 * i)[0]
        ordinal = struct.unpack_from("<H", data, off(ords) + 2 * i)[0]
        rva = struct.unpack_from("<I", data, off(funcs) + 4 * ordinal)[0]
        raw = data[off(name_rva) :]
        result[rva] = raw[: raw.index(b"\0")].decode()
    return result


def test_exports_when_nothing_better_exists(tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    flat.mkdir()
    shutil.copyfile(WINE / "caseb" / "clr.dll", flat / "clr.dll")
    exports = _exports_by_struct(flat / "clr.dll")
    data = (flat / "clr.dll").read_bytes()
    pe = struct.unpack_from("<I", data, 0x3C)[0]
    timestamp = struct.unpack_from("<I", data, pe + 8)[0]
    size = struct.unpack_from("<I", data, pe + 24 + 56)[0]
    module = FakeModule("clr.dll", 0x180000000, size, timestamp, None)
    resolver = SymbolResolver([str(flat)])
    found = resolver.module_symbols(module)
    assert found.sources == ("export",)
    # The PDB is named by the image's CodeView but is not on the path.
    assert found.pdb_identity_source == "image" and found.pdb is None
    for rva, name in sorted(exports.items()):
        info = resolver.lookup(module, module.base + rva + 3)
        assert info is not None and (info.function, info.start_rva) == (name, rva)
        assert resolver.format(module.base + rva + 3, module) == f"clr.dll!{name}+0x3"
    assert resolver.lookup(module, module.base + min(exports) - 1) is None
    assert resolver.lookup(module, module.base + size) is None


def test_chain_guards_broken_sources() -> None:
    class Broken:
        def lookup(self, rva: int) -> SymbolInfo | None:
            raise CorruptDumpError("bad record", offset=rva)

    class Fixed:
        def lookup(self, rva: int) -> SymbolInfo | None:
            return SymbolInfo("f", rva - 1, None, None, None, "test")

    errors: list[str] = []
    guarded = _Guarded(Broken(), "broken source", errors)
    assert isinstance(guarded, Symbolizer)
    chain = ChainSymbolizer([guarded, Fixed()])
    assert chain.lookup(0x10) == SymbolInfo("f", 0xF, None, None, None, "test")
    assert chain.lookup(0x20) is not None
    assert len(errors) == 1 and "broken source" in errors[0] and "bad record" in errors[0]


def test_format_location() -> None:
    info = SymbolInfo("main", 0x100, 0x20, "c:\\a.c", 7)
    assert format_location("a.exe", info, 0x112) == "a.exe!main+0x12 [c:\\a.c:7]"
    assert format_location("a.exe", info, 0x100) == "a.exe!main [c:\\a.c:7]"
    assert format_location("a.exe", SymbolInfo("f", 0x10), 0x11) == "a.exe!f+0x1"
    assert format_location("a.exe", None, 0x1234) == "a.exe+0x1234"
    assert format_location(None, None, 0x7FF612340000) == "0x7ff612340000"
    resolver = SymbolResolver([])
    assert resolver.format(0x1234, None) == "0x1234"
    assert resolver.format(0x401234, crash_module()) == "crash.exe+0x1234"
    assert isinstance(ExportSymbolizer, type)


def test_unsafe_names_from_a_dump_are_recorded(tmp_path: Path) -> None:
    module = FakeModule("..", 0x400000, 0x9000, 0x5AB38077, ("C:evil.pdb", CRASH_ID[1], 1))
    found = SymbolResolver([str(tmp_path)]).module_symbols(module)
    assert found.sources == ()
    assert any("PDB search" in e for e in found.errors)
    assert any("image search" in e for e in found.errors)


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[StaticServer]:
    served = tmp_path / "served"
    _store(served, "crash.pdb", "3249D99D0C4049318610F4E4FB0B69361", "crash.sym", WIN / "crash.sym")
    srv = StaticServer(served)
    yield srv
    srv.close()


def test_symbol_server_download(server: StaticServer, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    resolver = SymbolResolver([f"srv*{cache}*{server.url}"], timeout=5)
    module = crash_module()
    found = resolver.module_symbols(module)
    assert found.sources == ("breakpad",)
    assert found.sym_path == str(
        cache / "crash.pdb" / "3249D99D0C4049318610F4E4FB0B69361" / "crash.sym"
    )
    # Asked for: the PDB (404), the .sym (found). Nothing for the image: a .sym was found.
    assert sorted(server.requests) == [
        "/crash.pdb/3249D99D0C4049318610F4E4FB0B69361/crash.pdb",
        "/crash.pdb/3249D99D0C4049318610F4E4FB0B69361/crash.sym",
    ]
    again = SymbolResolver([f"srv*{cache}*{server.url}"], timeout=5).module_symbols(module)
    assert again.sym_path == found.sym_path
    assert len([r for r in server.requests if r.endswith(".sym")]) == 1


def test_image_is_found_on_demand_for_the_unwinder(tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    flat.mkdir()
    shutil.copyfile(WIN / "crash.sym", flat / "crash.sym")
    shutil.copyfile(WIN / "crash.exe", flat / "crash.exe")
    resolver = SymbolResolver([str(flat)])
    module = crash_module()
    found = resolver.module_symbols(module)
    assert found.sources == ("breakpad",)
    assert found.image is None and not found.image_searched
    image = resolver.image(module)
    assert image is not None and found.image_path == str(flat / "crash.exe")
    data = (flat / "crash.exe").read_bytes()
    pe = struct.unpack_from("<I", data, 0x3C)[0]
    assert image.timestamp == struct.unpack_from("<I", data, pe + 8)[0] == module.timestamp
    assert resolver.image(module) is image
    assert resolver.image(FakeModule("other.dll", 0x10000, 0x1000, 1, None)) is None


def _mapped(path: Path) -> bytes:
    """Lay a PE file out as the loader maps it (headers, then sections at their RVAs)."""
    data = path.read_bytes()
    pe = struct.unpack_from("<I", data, 0x3C)[0]
    nsections = struct.unpack_from("<H", data, pe + 6)[0]
    opt_size = struct.unpack_from("<H", data, pe + 20)[0]
    size_of_image = struct.unpack_from("<I", data, pe + 24 + 56)[0]
    size_of_headers = struct.unpack_from("<I", data, pe + 24 + 60)[0]
    image = bytearray(size_of_image)
    image[:size_of_headers] = data[:size_of_headers]
    for i in range(nsections):
        at = pe + 24 + opt_size + 40 * i
        vsize, va, rawsize, rawptr = struct.unpack_from("<IIII", data, at + 8)
        chunk = data[rawptr : rawptr + min(rawsize, vsize or rawsize)]
        image[va : va + len(chunk)] = chunk
    return bytes(image)


def test_exports_from_an_image_in_dump_memory() -> None:
    from dumplib._exc import MemoryNotInDump

    path = WINE / "caseb" / "clr.dll"
    image = _mapped(path)
    base = 0x180000000
    data = path.read_bytes()
    pe = struct.unpack_from("<I", data, 0x3C)[0]
    module = FakeModule(
        "clr.dll", base, len(image), struct.unpack_from("<I", data, pe + 8)[0], None
    )

    def read(address: int, size: int) -> bytes:
        start = address - base
        if start < 0 or start + size > len(image):
            raise MemoryNotInDump("not captured", address=address)
        return image[start : start + size]

    resolver = SymbolResolver([], memory=read)  # no symbol path at all
    found = resolver.module_symbols(module)
    assert found.sources == ("export",)
    assert found.image is not None and found.image_path is None
    assert found.pdb_identity_source == "image"  # CodeView read from memory
    exports = _exports_by_struct(path)
    for rva, name in exports.items():
        info = resolver.lookup(module, base + rva)
        assert info is not None and info.function == name and info.start_rva == rva


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_corrupt_files_never_stop_the_resolver(tmp_path: Path, data: st.DataObject) -> None:
    case = Path(tempfile.mkdtemp(dir=tmp_path))
    pdb = bytearray((WIN / "crash.pdb").read_bytes())
    sym = bytearray((WIN / "crash.sym").read_bytes())
    exe = bytearray((WIN / "crash.exe").read_bytes())
    for blob, hot in ((pdb, 0x3000), (sym, len(sym)), (exe, 0x400)):
        for _ in range(data.draw(st.integers(0, 8))):
            pos = data.draw(st.integers(0, hot - 1))
            blob[pos] = data.draw(st.integers(0, 255))
        if data.draw(st.booleans()):
            del blob[data.draw(st.integers(0, len(blob) - 1)) :]
    (case / "crash.pdb").write_bytes(pdb)
    (case / "crash.sym").write_bytes(sym)
    (case / "crash.exe").write_bytes(exe)
    for module in (crash_module(), crash_module(None)):
        resolver = SymbolResolver([str(case)])
        found = resolver.module_symbols(module)
        for rva in (0x1000, 0x1010, 0x2000, 0x3000, 0x8FFF):
            resolver.lookup(module, module.base + rva)
        resolver.image(module)
        assert not [e for e in found.errors if e.startswith("unexpected")]
        assert not [a for a in found.attempts if a.detail.startswith("unexpected")]
