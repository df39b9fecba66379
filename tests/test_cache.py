"""The on-disk cache of parsed module data (dumplib.cache; issue #16).

Oracles: the export tables read through the cache are compared with pefile's
reading of the same DLLs (wine's ntdll, kernel32), and with dumplib's own
uncached parse; a corrupted entry or a changed image must never give stale
results.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pefile
import pytest

from dumplib import cache as C
from dumplib.pe import PeImage

SYSTEM = Path(__file__).resolve().parents[1] / "fixtures" / "wine" / "system"


@pytest.fixture
def cache_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("DUMPLIB_CACHE_DIR", str(root))
    monkeypatch.delenv("DUMPLIB_NO_CACHE", raising=False)
    return root


def test_environment_chooses_or_disables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DUMPLIB_NO_CACHE", raising=False)
    monkeypatch.setenv("DUMPLIB_CACHE_DIR", str(tmp_path))
    assert C.cache_dir() == str(tmp_path)
    cache = C.default_cache()
    assert cache is not None and cache.root == str(tmp_path)
    for off in ("", "off", "0"):
        monkeypatch.setenv("DUMPLIB_CACHE_DIR", off)
        assert C.cache_dir() is None and C.default_cache() is None
    monkeypatch.delenv("DUMPLIB_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert C.cache_dir() is not None
    monkeypatch.setenv("DUMPLIB_NO_CACHE", "1")
    assert C.cache_dir() is None and C.default_cache() is None
    monkeypatch.delenv("DUMPLIB_NO_CACHE")
    monkeypatch.setenv("DUMPLIB_CACHE_MAX_MB", "1")
    monkeypatch.setenv("DUMPLIB_CACHE_DIR", str(tmp_path))
    small = C.default_cache()
    assert small is not None and small.max_bytes == 1 << 20


def test_round_trip_and_corrupt_entries_are_misses(tmp_path: Path) -> None:
    cache = C.DiskCache(str(tmp_path))
    key = C.digest("x", b"\x00\x01", 7)
    assert cache.get("exports", key) is None
    cache.put("exports", key, {"a": [1, "two", None]})
    assert cache.get("exports", key) == {"a": [1, "two", None]}
    path = tmp_path / "exports" / f"{key}.json"
    for junk in (b"\xff\xfe not json", b'{"format": 1}', b"[1, 2]",
                 json.dumps({"format": C.FORMAT, "kind": "exports", "key": "other",
                             "value": 1}).encode()):
        path.write_bytes(junk)
        assert cache.get("exports", key) is None
        assert not path.exists()  # dropped, so the next put rebuilds it
    cache.put("exports", key, [3])
    assert cache.get("exports", key) == [3]
    with pytest.raises(ValueError):
        cache.get("exports", "../escape")


def test_keys_differ_by_every_part() -> None:
    base = C.digest("exports", b"ab", 1)
    assert base != C.digest("exports", b"a", b"b", 1)  # lengths are part of the key
    assert base != C.digest("exports", b"ab", 2)
    assert base == C.digest("exports", b"ab", 1)


def test_bounded_least_recently_used_go_first(tmp_path: Path) -> None:
    cache = C.DiskCache(str(tmp_path), max_bytes=20_000)
    keys = [C.digest(i) for i in range(40)]
    cache.put("pdata", keys[0], "x" * 1000)
    for i, key in enumerate(keys[1:], 1):
        os.utime(tmp_path / "pdata" / f"{keys[0]}.json", (1e9 + i, 1e9 + i))
        cache.put("pdata", key, "y" * 1000)
        assert cache.get("pdata", keys[0]) is not None  # kept: used after each write
        os.utime(tmp_path / "pdata" / f"{key}.json", (1e9, 1e9))  # older than keys[0]
    assert sum(size for _, size, _ in cache.entries()) <= 20_000
    assert cache.get("pdata", keys[0]) == "x" * 1000
    assert cache.get("pdata", keys[1]) is None  # among the oldest: evicted


def _pefile_exports(path: Path) -> list[tuple[int, str | None, int]]:
    pe = pefile.PE(str(path), fast_load=True)
    pe.parse_data_directories(directories=[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_EXPORT"]])
    return sorted((s.ordinal, s.name.decode() if s.name else None, s.address)
                  for s in pe.DIRECTORY_ENTRY_EXPORT.symbols if s.address)


@pytest.mark.parametrize("dll", ["ntdll.dll", "kernel32.dll"])
def test_exports_through_the_cache_equal_pefile(cache_root: Path, dll: str) -> None:
    expected = _pefile_exports(SYSTEM / dll)
    first = PeImage.from_file(SYSTEM / dll).exports
    assert first is not None
    entries = list((cache_root / "exports").glob("*.json"))
    assert len(entries) == 1  # written on the miss
    second = PeImage.from_file(SYSTEM / dll).exports  # read back from the cache
    assert second is not None
    for table in (first, second):
        assert sorted((e.ordinal, e.name, e.rva) for e in table) == expected
    assert second.dll_name == first.dll_name and second.timestamp == first.timestamp
    assert [e.name for e in second.sorted_by_rva] == [e.name for e in first.sorted_by_rva]
    entries[0].write_bytes(b"{ truncated")  # corrupt: ignored, rebuilt
    third = PeImage.from_file(SYSTEM / dll).exports
    assert third is not None
    assert sorted((e.ordinal, e.name, e.rva) for e in third) == expected
    assert json.loads(entries[0].read_bytes())["kind"] == "exports"


def test_a_changed_image_is_not_served_stale(cache_root: Path, tmp_path: Path) -> None:
    src = SYSTEM / "kernel32.dll"
    table = PeImage.from_file(src).exports
    assert table is not None
    victim = next(e.name for e in table if e.name and len(e.name) > 8)
    data = bytearray(src.read_bytes())
    at = data.find(victim.encode() + b"\0")
    assert at > 0
    data[at] = ord("Q")  # same size, same timestamp: only the bytes differ
    changed = tmp_path / "kernel32.dll"
    changed.write_bytes(bytes(data))
    got = PeImage.from_file(changed).exports
    assert got is not None
    names = {e.name for e in got}
    assert "Q" + victim[1:] in names and victim not in names
    assert len(list((cache_root / "exports").glob("*.json"))) == 2


def test_disabled_cache_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUMPLIB_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.setenv("DUMPLIB_NO_CACHE", "1")
    assert PeImage.from_file(SYSTEM / "ntdll.dll").exports is not None
    assert not (tmp_path / "c").exists()
    shutil.rmtree(tmp_path / "c", ignore_errors=True)


PDB = Path(__file__).resolve().parents[1] / "fixtures" / "wine" / "cppexc" / "cppexc.pdb"


def _publics(path: Path) -> list[tuple[int, str, str, bool]]:
    from dumplib.pdb import PdbFile

    with PdbFile.open(path) as pdb:
        return [(p.rva, p.name, p.decorated_name, p.is_function) for p in pdb.publics]


def test_pdb_publics_through_the_cache_equal_a_fresh_parse(
        cache_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUMPLIB_NO_CACHE", "1")
    fresh = _publics(PDB)
    monkeypatch.delenv("DUMPLIB_NO_CACHE")
    assert _publics(PDB) == fresh  # miss: parsed and stored
    entries = list((cache_root / "publics").glob("*.json"))
    assert len(entries) == 1
    assert _publics(PDB) == fresh  # hit
    assert any(name != decorated for _, name, decorated, _ in fresh)  # undecorated names kept
    entries[0].write_text("[[1, 2]]")  # well-formed JSON, wrong shape: a miss
    assert _publics(PDB) == fresh
    assert json.loads(entries[0].read_text())["value"][0] == list(fresh[0])


def test_a_changed_pdb_with_the_same_identity_is_not_served_stale(
        cache_root: Path, tmp_path: Path) -> None:
    fresh = _publics(PDB)
    victim = next(d for _, _, d, _ in fresh if len(d) > 8 and d.isidentifier())
    data = bytearray(PDB.read_bytes())
    at = data.find(victim.encode() + b"\0")
    assert at > 0
    data[at] = ord("Q")  # GUID, age and size unchanged
    changed = tmp_path / "changed.pdb"
    changed.write_bytes(bytes(data))
    names = {d for _, _, d, _ in _publics(changed)}
    assert "Q" + victim[1:] in names and victim not in names
