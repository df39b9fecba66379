"""Hostile and damaged input across the whole library (issue 9).

- Every real fixture dump cut at 1,000 points opens or fails with a DumpError,
  and every stream that lies wholly before the cut reads back as in the full dump.
- Stacks and analysis on cut fixtures end in a result or a DumpError.
- Absurd counts are refused before anything is allocated; loops in nested
  exception records are detected.
"""

from __future__ import annotations

import struct
import tracemalloc
import warnings
from pathlib import Path

import pytest

import dumplib
from dumplib.builder import DumpBuilder
from dumplib.format.constants import StreamType
from tests._exercise import open_or_error
from tests.conftest import CORPUS_DUMPS, RUST_MINIDUMP

ROOT = Path(__file__).resolve().parent.parent
WINE = sorted((ROOT / "fixtures" / "wine").glob("*/*.dmp"))
ALL_DUMPS = WINE + [RUST_MINIDUMP / n for n in CORPUS_DUMPS]
CUTS = 1000


def _facts(d: dumplib.Dump, whole_before: int) -> dict[str, object]:
    """Facts of the streams that lie wholly (with what they point at) before ``whole_before``."""
    out: dict[str, object] = {}
    for entry in d.streams:
        if entry.rva + entry.data_size > whole_before:
            continue
        if entry.stream_type == StreamType.ThreadListStream:
            out["threads"] = d.threads.ids
        elif entry.stream_type == StreamType.SystemInfoStream:
            out["os"] = d.system.os_version
        elif entry.stream_type == StreamType.MiscInfoStream:
            out["pid"] = d.process_id
        elif entry.stream_type == StreamType.ExceptionStream:
            e = d.exception
            out["exception"] = (e.thread_id, e.code, e.address) if e else None
    return out


@pytest.mark.parametrize("path", ALL_DUMPS, ids=[f"{p.parent.name}/{p.name}" for p in ALL_DUMPS])
def test_cut_at_1000_points(path: Path) -> None:
    data = path.read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = dumplib.open(data)
    step = max(1, len(data) // CUTS)
    opened = 0
    for cut in range(0, len(data), step):
        d = open_or_error(data[:cut])
        if d is None:
            continue
        opened += 1
        got = _facts(d, cut)
        want = _facts(full, cut)
        assert got == {k: want[k] for k in got}, cut
        assert got.keys() == want.keys()
    # every cut that keeps the header and the whole directory opens
    dir_end = full.header.stream_directory_rva + 12 * len(full.streams)
    assert opened >= len([c for c in range(0, len(data), step) if c >= max(dir_end, 32)])


@pytest.mark.parametrize("path", WINE, ids=[p.parent.name for p in WINE])
def test_stacks_and_analysis_on_cut_dumps(path: Path) -> None:
    data = path.read_bytes()
    symbols = [str(path.parent), str(ROOT / "fixtures" / "wine" / "system")]
    for i in range(1, 13):
        d = open_or_error(data[: len(data) * i // 13])
        if d is None:
            continue
        try:
            threads = list(d.threads)
        except dumplib.DumpError:
            threads = []
        for t in threads:
            try:
                stack = d.stack(t, symbols=symbols, max_frames=5000)
            except dumplib.DumpError:
                continue
            sps = [f.sp for f in stack.frames]
            assert sps == sorted(sps)
        try:
            dumplib.analyze(d, symbols=symbols)
        except dumplib.DumpError:
            pass


def _patched_count(stream: StreamType, offset_in_stream: int, value: int) -> bytes:
    b = DumpBuilder("amd64")
    b.add_thread(1, context={"rip": 0x1000, "rsp": 0x2000}, stack=b"x" * 16, stack_start=0x2000)
    b.add_module("C:\\a.exe", base=0x400000, size=0x1000)
    b.add_unloaded_module("C:\\b.dll", base=0x500000, size=0x1000)
    b.add_memory_info(0x2000, 0x1000)
    b.add_thread_info(1)
    b.add_handle(4, type_name="File")
    b.add_handle_operation(4)
    b.add_token(1, 2, b"t")
    b.add_function_table(0x400000, 0x401000, 0x400000, entries=[(0, 4, 8)])
    data = bytearray(b.to_bytes())
    d = dumplib.open(bytes(data))
    entry = d.stream(stream)
    assert entry is not None
    fmt = "<Q" if stream == StreamType.Memory64ListStream else "<I"
    struct.pack_into(fmt, data, entry.rva + offset_in_stream, value)
    return bytes(data)


@pytest.mark.parametrize(
    "stream, offset, prop",
    [
        (StreamType.ThreadListStream, 0, "threads"),
        (StreamType.ModuleListStream, 0, "modules"),
        (StreamType.MemoryListStream, 0, "memory"),
        (StreamType.UnloadedModuleListStream, 8, "unloaded_modules"),
        (StreamType.MemoryInfoListStream, 8, "memory_info"),
        (StreamType.ThreadInfoListStream, 8, "thread_infos"),
        (StreamType.HandleDataStream, 8, "handles"),
        (StreamType.HandleOperationListStream, 8, "handle_operations"),
        (StreamType.TokenStream, 4, "tokens"),
        (StreamType.FunctionTableStream, 16, "function_tables"),
    ],
)
def test_absurd_counts_refused_before_allocation(stream: StreamType, offset: int,
                                                 prop: str) -> None:
    data = _patched_count(stream, offset, 0xFFFF_FFFF)
    d = dumplib.open(data)
    tracemalloc.start()
    try:
        with pytest.raises(dumplib.DumpError) as info:
            value = getattr(d, prop)
            if prop == "memory":
                value.read(0, 1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, f"{prop}: {peak} bytes allocated for a bogus count"
    assert "offset" in str(info.value)


def test_nested_exception_record_loop_is_detected() -> None:
    # an EXCEPTION_RECORD in memory whose ExceptionRecord field points at itself
    loop_at = 0x7000_0000
    record = struct.pack("<IIQQII15Q", 0xC0000005, 0, loop_at, 0x1234, 0, 0, *([0] * 15))
    b = DumpBuilder("amd64")
    b.add_thread(1, context={"rip": 0x1000, "rsp": 0x2000})
    b.add_memory(loop_at, record)
    b.set_exception(1, 0xE06D7363, 0x1000, exception_record=loop_at)
    d = dumplib.open(b.to_bytes())
    e = d.exception
    assert e is not None
    assert [r.exception_address for r in e.chained] == [0x1234]
    assert any("loop" in w for w in d.warnings)
