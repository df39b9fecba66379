"""Truncated dumps still open and serve every stream that is whole."""

from __future__ import annotations

import warnings

import pytest

import dumplib
from tests._exercise import exercise, open_or_error
from tests.conftest import CORPUS_DUMPS, RUST_MINIDUMP


@pytest.mark.parametrize("name", CORPUS_DUMPS)
def test_every_cut_point_opens_or_fails_cleanly(name: str) -> None:
    data = (RUST_MINIDUMP / name).read_bytes()
    step = max(1, len(data) // 400)
    for cut in range(0, len(data), step):
        d = open_or_error(data[:cut])
        if d is not None:
            exercise(d)


@pytest.mark.parametrize("name", CORPUS_DUMPS)
def test_whole_streams_survive_a_cut(name: str) -> None:
    data = (RUST_MINIDUMP / name).read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = dumplib.open(data)
    # cut right after the last byte the module list uses (its entries, names, CodeView)
    mod = full.stream(dumplib.StreamType.ModuleListStream)
    assert mod is not None
    names = [m.path for m in full.modules]
    module_bytes_end = mod.rva + mod.data_size
    truncated = data[: max(module_bytes_end, _last_module_reference(full) + 1)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        d = dumplib.open(truncated)
        assert [m.path for m in d.modules] == names
    if len(truncated) < len(data) and any(
        e.rva + e.data_size > len(truncated) for e in full.streams if e.data_size
    ):
        assert caught, "a cut dump must warn"
        assert any("cut" in w for w in d.warnings)


def _last_module_reference(d: dumplib.Dump) -> int:
    """Highest file offset used by the module list's names and debug records."""
    import struct

    entry = d.stream(dumplib.StreamType.ModuleListStream)
    assert entry is not None
    raw = d.raw_stream(dumplib.StreamType.ModuleListStream)
    assert raw is not None
    count = struct.unpack_from("<I", raw)[0]
    header = 8 if entry.data_size == 8 + count * 108 else 4
    last = 0
    src = d.source
    for i in range(count):
        f = struct.unpack_from("<QIIII13IIIIIQQ", raw, header + i * 108)
        name_rva = f[4]
        name_len = struct.unpack("<I", src.read(name_rva, 4))[0]
        last = max(last, name_rva + 4 + name_len + 1, f[19] + f[18], f[21] + f[20])
    return last


def test_cut_memory_gives_the_bytes_that_exist() -> None:
    data = (RUST_MINIDUMP / "test.dmp").read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = dumplib.open(data)
        regions = list(full.memory.regions())
        last = max(regions, key=lambda r: r.file_offset + r.size)
        keep = last.file_offset + last.size // 2
        d = dumplib.open(data[:keep])
        assert d.memory.read(last.start, 16) == full.memory.read(last.start, 16)
        with pytest.raises(dumplib.MemoryNotInDump):
            d.memory.read(last.start, last.size)
        assert any("cut" in w for w in d.warnings)
