"""Tests of symbol path parsing, store layouts, sanitising and HTTP downloads.

Stores are built in tmp_path from the corpus files; a file's identity is checked
by callbacks written here from the file formats' definitions (the breakpad
MODULE line, the PE header fields), not by dumplib's own readers.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dumplib.symbols.errors import SymbolError
from dumplib.symbols.path import (
    EntryKind,
    Outcome,
    SymbolLocator,
    SymbolPathEntry,
    image_key,
    parse_symbol_path,
    pdb_key,
    safe_join,
    safe_name,
    symbol_path_from_environment,
)
from tests._http import StaticServer

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "external"
TEST_APP_TREE = FIXTURES / "rust-minidump/symbols"
TEST_APP_ID = "5A9832E5287241C1838ED98914E9B7FF1"
CWE_SYM = FIXTURES / "symbolic/windows/CrashWithException.pdb.sym"
CWE_ID = "F535C5FB2AE84BB8AA206C30BE566C5A1"
CRASH_SYM = FIXTURES / "symbolic/windows/crash.sym"
CRASH_EXE = FIXTURES / "symbolic/windows/crash.exe"
CWE_EXE = FIXTURES / "symbolic/windows/CrashWithException.exe"


def sym_verifier(expected_id: str):  # type: ignore[no-untyped-def]
    def verify(path: str) -> str | None:
        with open(path, "rb") as fh:
            first = fh.readline().decode("utf-8", "replace").split()
        if len(first) < 5 or first[0] != "MODULE":
            raise SymbolError("not a .sym file", stream=path)
        return None if first[3].upper() == expected_id.upper() else f"id {first[3]}"

    return verify


def pe_identity(path: str | Path) -> tuple[int, int]:
    data = Path(path).read_bytes()
    pe = struct.unpack_from("<I", data, 0x3C)[0]
    assert data[pe : pe + 4] == b"PE\0\0"
    timestamp = struct.unpack_from("<I", data, pe + 8)[0]
    size_of_image = struct.unpack_from("<I", data, pe + 24 + 56)[0]
    return timestamp, size_of_image


def image_verifier(timestamp: int, size: int):  # type: ignore[no-untyped-def]
    def verify(path: str) -> str | None:
        found = pe_identity(path)
        return None if found == (timestamp, size) else f"identity {found}"

    return verify


def test_pe_identity_matches_breakpad_code_id() -> None:
    # dump_syms wrote INFO CODE_ID = TIMESTAMP%08X + SIZE%x from the same exe.
    for exe, sym in ((CRASH_EXE, CRASH_SYM), (CWE_EXE, CWE_SYM)):
        code_id = next(
            line.split()[2] for line in sym.read_text().splitlines() if line.startswith("INFO ")
        )
        assert image_key(*pe_identity(exe)) == code_id


def test_keys() -> None:
    assert pdb_key("3249d99d0c4049318610f4e4fb0b6936", 1) == "3249D99D0C4049318610F4E4FB0B69361"
    assert pdb_key("3249D99D0C4049318610F4E4FB0B6936", 0x2A).endswith("2A")
    assert image_key(0x5AB38077, 0x9000) == "5AB380779000"
    assert image_key(0x1234, 0x10) == "0000123410"


def test_parse_symbol_path(tmp_path: Path) -> None:
    file = tmp_path / "x.sym"
    file.write_text("MODULE windows x86 00 x.pdb\n")
    entries = parse_symbol_path(
        [
            str(tmp_path),
            file,
            str(file),
            r"srv*C:\cache*https://msdl.microsoft.com/download/symbols;D:\flat",
            "srv*https://example.invalid/symbols",
            "cache*/tmp/c;srv*http://a.invalid/s;symsrv*symsrv.dll*/s1*/s2*http://b.invalid",
            "SRV*/local/store",
            ";;",
        ]
    )
    assert entries == [
        SymbolPathEntry(EntryKind.DIRECTORY, str(tmp_path)),
        SymbolPathEntry(EntryKind.FILE, str(file)),
        SymbolPathEntry(EntryKind.FILE, str(file)),
        SymbolPathEntry(
            EntryKind.SERVER, None, ("C:\\cache",), "https://msdl.microsoft.com/download/symbols"
        ),
        SymbolPathEntry(EntryKind.DIRECTORY, "D:\\flat"),
        SymbolPathEntry(EntryKind.SERVER, None, (), "https://example.invalid/symbols"),
        SymbolPathEntry(EntryKind.SERVER, None, ("/tmp/c",), "http://a.invalid/s"),
        SymbolPathEntry(EntryKind.SERVER, None, ("/s1", "/s2"), "http://b.invalid"),
        SymbolPathEntry(EntryKind.SERVER, None, ("/local/store",), None),
    ]
    with pytest.raises(SymbolError):
        parse_symbol_path(["srv*"])
    with pytest.raises(SymbolError):
        parse_symbol_path(["srv*/c*ftp://example.invalid/s"])


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("crash.pdb", "crash.pdb"),
        (r"C:\build\out\crash.pdb", "crash.pdb"),
        ("/home/u/build/crash.pdb", "crash.pdb"),
        (r"..\..\..\windows\system32\evil.dll", "evil.dll"),
        ("../../etc/passwd", "passwd"),
        (r"\\server\share\x.pdb", "x.pdb"),
    ],
)
def test_safe_name_takes_base_names(raw: str, expected: str) -> None:
    assert safe_name(raw) == expected


@pytest.mark.parametrize(
    "raw", ["", "..", "dir/..", r"x\..", ".", "a\0b.pdb", "C:evil.pdb", "x.pdb:stream", "a\nb"]
)
def test_safe_name_refuses(raw: str) -> None:
    with pytest.raises(SymbolError):
        safe_name(raw)


def test_safe_join(tmp_path: Path) -> None:
    root = tmp_path / "store"
    root.mkdir()
    assert safe_join(str(root), "a.pdb", "KEY", "a.pdb") == str(root / "a.pdb" / "KEY" / "a.pdb")
    for bad in ("..", "/etc", "a/b", "a\\b", "C:x", ""):
        with pytest.raises(SymbolError):
            safe_join(str(root), bad)
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "link.pdb").symlink_to(outside)
    with pytest.raises(SymbolError):
        safe_join(str(root), "link.pdb", "x")


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=0, max_size=40))
def test_sanitised_names_stay_inside(tmp_path_factory: pytest.TempPathFactory, raw: str) -> None:
    root = str(tmp_path_factory.getbasetemp())
    try:
        name = safe_name(raw)
    except SymbolError:
        return
    assert "/" not in name and "\\" not in name and name not in ("", ".", "..")
    joined = safe_join(root, name, "ABC1", name)
    real = os.path.realpath(joined)
    assert os.path.commonpath([os.path.realpath(root), real]) == os.path.realpath(root)


def _store(root: Path, folder: str, key: str, name: str, source: Path) -> Path:
    target = root / folder / key / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target


def test_breakpad_tree_from_the_corpus() -> None:
    locator = SymbolLocator([str(TEST_APP_TREE)])
    result = locator.find(
        ["test_app.sym"], TEST_APP_ID, sym_verifier(TEST_APP_ID), folder="test_app.pdb"
    )
    assert result.path is not None
    assert Path(result.path) == TEST_APP_TREE / "test_app.pdb" / TEST_APP_ID / "test_app.sym"
    assert [a.outcome for a in result.attempts] == [Outcome.FOUND]


def test_layouts(tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    flat.mkdir()
    shutil.copyfile(CWE_SYM, flat / "CrashWithException.pdb.sym")
    store = tmp_path / "store"
    _store(store, "crash.exe", image_key(*pe_identity(CRASH_EXE)), "crash.exe", CRASH_EXE)
    two = tmp_path / "two"
    two.mkdir()
    (two / "index2.txt").write_text("")
    # Two-tier stores file under the first two characters of the name.
    cwe_key = image_key(*pe_identity(CWE_EXE))
    _store(two / "cr", "CrashWithException.exe", cwe_key, "CrashWithException.exe", CWE_EXE)
    locator = SymbolLocator([str(flat), str(store), str(two)])

    found = locator.find(
        ["CrashWithException.sym", "CrashWithException.pdb.sym"],
        CWE_ID,
        sym_verifier(CWE_ID),
        folder="CrashWithException.pdb",
    )
    assert found.path == str(flat / "CrashWithException.pdb.sym")

    ts, size = pe_identity(CRASH_EXE)
    found = locator.find(["crash.exe"], image_key(ts, size), image_verifier(ts, size))
    assert found.path == str(store / "crash.exe" / image_key(ts, size) / "crash.exe")

    ts, size = pe_identity(CWE_EXE)
    found = locator.find(["CrashWithException.exe"], image_key(ts, size), image_verifier(ts, size))
    assert found.path is not None and found.path.startswith(str(two / "cr"))

    missing = locator.find(["nothere.exe"], image_key(1, 2), image_verifier(1, 2))
    assert missing.path is None and missing.attempts == []


def test_case_insensitive_store_and_compressed(tmp_path: Path) -> None:
    store = tmp_path / "store"
    key = TEST_APP_ID.lower()
    _store(
        store,
        "TEST_APP.PDB",
        key,
        "Test_App.sym",
        TEST_APP_TREE / "test_app.pdb" / TEST_APP_ID / "test_app.sym",
    )
    (store / "TEST_APP.PDB" / key / "test_app.pd_").write_bytes(b"MSCF")
    locator = SymbolLocator([str(store)])
    found = locator.find(
        ["test_app.sym"], TEST_APP_ID, sym_verifier(TEST_APP_ID), folder="test_app.pdb"
    )
    assert found.path is not None and found.path.endswith("Test_App.sym")
    pdb = locator.find(["test_app.pdb"], TEST_APP_ID, lambda p: None)
    assert pdb.path is None
    assert [a.outcome for a in pdb.attempts] == [Outcome.UNSUPPORTED]


def test_mismatch_is_reported_and_search_continues(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    # A .sym with another identity filed under the key asked for.
    _store(wrong, "CrashWithException.pdb", CWE_ID, "CrashWithException.sym", CRASH_SYM)
    corrupt = tmp_path / "corrupt"
    (_store(corrupt, "CrashWithException.pdb", CWE_ID, "CrashWithException.sym", CRASH_EXE))
    right = tmp_path / "right"
    _store(right, "CrashWithException.pdb", CWE_ID, "CrashWithException.sym", CWE_SYM)
    locator = SymbolLocator([f"{wrong};{corrupt}", str(right)])
    found = locator.find(
        ["CrashWithException.sym"], CWE_ID, sym_verifier(CWE_ID), folder="CrashWithException.pdb"
    )
    assert found.path is not None and found.path.startswith(str(right))
    outcomes = [a.outcome for a in found.attempts]
    assert outcomes == [Outcome.MISMATCH, Outcome.ERROR, Outcome.FOUND]
    assert "3249D99D0C4049318610F4E4FB0B69361" in found.attempts[0].detail


def test_symlink_escape_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    _store(outside, "x", CWE_ID, "CrashWithException.sym", CWE_SYM)
    store = tmp_path / "store"
    store.mkdir()
    (store / "CrashWithException.pdb").symlink_to(outside / "x")
    locator = SymbolLocator([str(store)])
    found = locator.find(
        ["CrashWithException.sym"], CWE_ID, sym_verifier(CWE_ID), folder="CrashWithException.pdb"
    )
    assert found.path is None
    assert found.attempts and {a.outcome for a in found.attempts} == {Outcome.REFUSED}


def test_unsafe_names_from_a_dump_raise(tmp_path: Path) -> None:
    locator = SymbolLocator([str(tmp_path)])
    with pytest.raises(SymbolError):
        locator.find([".."], "ABC", lambda p: None)
    with pytest.raises(SymbolError):
        locator.find(["x.pdb"], "../../etc", lambda p: None)
    with pytest.raises(SymbolError):
        locator.find(["x.pdb"], "ABC", lambda p: None, folder="C:x")


# -- HTTP symbol server ---------------------------------------------------------------


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[StaticServer]:
    served = tmp_path / "served"
    store = served / "symbols"
    _store(store, "CrashWithException.pdb", CWE_ID, "CrashWithException.sym", CWE_SYM)
    _store(
        store,
        "test_app.pdb",
        TEST_APP_ID,
        "test_app.sym",
        TEST_APP_TREE / "test_app.pdb" / TEST_APP_ID / "test_app.sym",
    )
    ts, size = pe_identity(CRASH_EXE)
    _store(store, "crash.exe", image_key(ts, size), "crash.exe", CRASH_EXE)
    # A file served under a key it does not have.
    _store(store, "crash.pdb", "3249D99D0C4049318610F4E4FB0B69361", "crash.sym", CWE_SYM)
    srv = StaticServer(served, "/symbols")
    yield srv
    srv.close()


def test_download_into_cache(server: StaticServer, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    locator = SymbolLocator([f"srv*{cache}*{server.url}"], timeout=5)
    found = locator.find(
        ["CrashWithException.sym"], CWE_ID, sym_verifier(CWE_ID), folder="CrashWithException.pdb"
    )
    target = cache / "CrashWithException.pdb" / CWE_ID / "CrashWithException.sym"
    assert found.path == str(target)
    assert target.read_bytes() == CWE_SYM.read_bytes()
    assert server.requests == [f"/symbols/CrashWithException.pdb/{CWE_ID}/CrashWithException.sym"]
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".download")]
    # A second locator (a new run) finds it in the cache without asking the server.
    again = SymbolLocator([f"srv*{cache}*{server.url}"]).find(
        ["CrashWithException.sym"], CWE_ID, sym_verifier(CWE_ID), folder="CrashWithException.pdb"
    )
    assert again.path == str(target)
    assert len(server.requests) == 1

    ts, size = pe_identity(CRASH_EXE)
    image = locator.find(["crash.exe"], image_key(ts, size), image_verifier(ts, size))
    assert image.path is not None
    assert Path(image.path).read_bytes() == CRASH_EXE.read_bytes()


def test_missing_file_is_remembered(server: StaticServer, tmp_path: Path) -> None:
    locator = SymbolLocator([f"cache*{tmp_path / 'c'};srv*{server.url}"], timeout=5)
    for _ in range(3):
        result = locator.find(["nothere.sym"], "00", sym_verifier("00"), folder="nothere.pdb")
        assert result.path is None
        assert result.attempts[0].outcome is Outcome.NOT_FOUND
    assert server.requests == ["/symbols/nothere.pdb/00/nothere.sym"]


def test_downloaded_mismatch_is_not_used(server: StaticServer, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    locator = SymbolLocator([f"srv*{cache}*{server.url}"], timeout=5)
    key = "3249D99D0C4049318610F4E4FB0B69361"
    result = locator.find(["crash.sym"], key, sym_verifier(key), folder="crash.pdb")
    assert result.path is None
    assert [a.outcome for a in result.attempts] == [Outcome.MISMATCH]
    assert not (cache / "crash.pdb" / key / "crash.sym").exists()


def test_size_limit(server: StaticServer, tmp_path: Path) -> None:
    locator = SymbolLocator([f"srv*{tmp_path / 'c'}*{server.url}"], timeout=5, max_download=1000)
    result = locator.find(
        ["CrashWithException.sym"], CWE_ID, sym_verifier(CWE_ID), folder="CrashWithException.pdb"
    )
    assert result.path is None
    assert result.attempts[0].outcome is Outcome.ERROR
    assert "limit" in result.attempts[0].detail
    leftovers = list((tmp_path / "c").rglob("*.sym")) + list((tmp_path / "c").rglob(".download*"))
    assert leftovers == []


def test_server_error_and_unreachable_server(server: StaticServer, tmp_path: Path) -> None:
    server.fail_with = 500
    locator = SymbolLocator([f"srv*{tmp_path / 'c'}*{server.url}"], timeout=5)
    result = locator.find(
        ["CrashWithException.sym"], CWE_ID, sym_verifier(CWE_ID), folder="CrashWithException.pdb"
    )
    assert result.path is None
    assert result.attempts[0].outcome is Outcome.ERROR and "500" in result.attempts[0].detail

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on that port now: connection refused, remembered for the run.
    locator = SymbolLocator([f"srv*{tmp_path / 'd'}*http://127.0.0.1:{port}/s"], timeout=2)
    for name in ("a.sym", "b.sym"):
        result = locator.find([name], "01", sym_verifier("01"), folder="a.pdb")
        assert result.path is None
        assert result.attempts[0].outcome is Outcome.ERROR
        assert "unreachable" in result.attempts[0].detail


def test_default_cache_is_temporary(server: StaticServer) -> None:
    locator = SymbolLocator([f"srv*{server.url}"], timeout=5)
    result = locator.find(
        ["test_app.sym"], TEST_APP_ID, sym_verifier(TEST_APP_ID), folder="test_app.pdb"
    )
    assert result.path is not None and os.path.isfile(result.path)
    locator.close()
    assert not os.path.exists(result.path)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="srvcache*;:/\\.hptx ", max_size=30), max_size=4))
def test_any_symbol_path_parses_or_raises_symbol_error(entries: list[str]) -> None:
    try:
        parsed = parse_symbol_path(entries)
    except SymbolError:
        return
    for entry in parsed:
        if entry.kind is EntryKind.SERVER:
            assert entry.stores or entry.url
            assert entry.url is None or entry.url.lower().startswith(("http://", "https://"))
        else:
            assert entry.path


def test_silent_server_times_out(tmp_path: Path) -> None:
    # A socket that accepts connections (the kernel completes the handshake) but
    # never answers: the read must time out, and the server is then skipped.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        port = sock.getsockname()[1]
        locator = SymbolLocator([f"srv*{tmp_path / 'c'}*http://127.0.0.1:{port}/s"], timeout=0.3)
        first = locator.find(["a.sym"], "01", sym_verifier("01"), folder="a.pdb")
        second = locator.find(["b.sym"], "01", sym_verifier("01"), folder="b.pdb")
    assert first.path is None and first.attempts[0].outcome is Outcome.ERROR
    assert "timed out" in first.attempts[0].detail
    assert second.attempts[0].outcome is Outcome.ERROR
    assert "unreachable" in second.attempts[0].detail


def test_symbol_path_from_environment() -> None:
    env = {"_NT_SYMBOL_PATH": "srv*c:\\sym*https://x.invalid/s", "_NT_ALT_SYMBOL_PATH": "d:\\alt"}
    assert symbol_path_from_environment(env) == ["d:\\alt", "srv*c:\\sym*https://x.invalid/s"]
    assert symbol_path_from_environment({"_NT_SYMBOL_PATH": "  "}) == []
    assert symbol_path_from_environment({}) == []
