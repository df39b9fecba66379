"""The memory layer against a naive model of the same address space."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dumplib
from dumplib.model.memory import Memory
from dumplib.source import Source


def _layout(
    draw: st.DrawFn,
) -> tuple[bytes, list[tuple[int, int, int]], dict[int, int]]:
    """Random disjoint ranges laid out in a file: (file bytes, ranges, address->byte map)."""
    n = draw(st.integers(1, 12))
    addr = draw(st.integers(0, 1 << 20))
    blob = bytearray(draw(st.binary(min_size=0, max_size=16)))  # junk before the data
    ranges = []
    model: dict[int, int] = {}
    for _ in range(n):
        addr += draw(st.sampled_from([0, 0, 1, 7, 4096]))  # 0: adjacent ranges
        size = draw(st.integers(1, 64))
        data = draw(st.binary(min_size=size, max_size=size))
        if draw(st.booleans()):
            blob += draw(st.binary(max_size=8))  # a gap in the file
        ranges.append((addr, size, len(blob)))
        for i, b in enumerate(data):
            model[addr + i] = b
        blob += data
        addr += size
    order = draw(st.permutations(ranges))
    return bytes(blob), list(order), model


layouts = st.composite(_layout)


@settings(max_examples=300, deadline=None)
@given(layouts(), st.data())
def test_reads_match_the_model(layout: tuple[bytes, list[tuple[int, int, int]], dict[int, int]],
                               data: st.DataObject) -> None:
    blob, ranges, model = layout
    for src in (Source.open(blob), Source.open(io.BytesIO(blob))):
        mem = Memory.from_ranges(src, ranges)
        lo, hi = min(model), max(model) + 1
        for _ in range(20):
            a = data.draw(st.integers(lo - 4, hi + 4))
            n = data.draw(st.integers(0, 80))
            want = [model.get(x) for x in range(a, a + n)]
            if None in want:
                with pytest.raises(dumplib.MemoryNotInDump):
                    mem.read(a, n)
                assert mem.try_read(a, n) is None
                avail = mem.read_available(a, n)
                assert list(avail) == want[: want.index(None)]
            else:
                assert list(mem.read(a, n)) == want
            if all(model.get(x) is not None for x in range(a, a + 8)):
                assert mem.read_u64(a) == int.from_bytes(bytes(want[:8]) if n >= 8 else
                                                         bytes(model[x] for x in range(a, a + 8)),
                                                         "little")
            assert (a in mem) == (a in model)


@settings(max_examples=300, deadline=None)
@given(layouts(), st.binary(min_size=1, max_size=3))
def test_find_matches_the_model(
    layout: tuple[bytes, list[tuple[int, int, int]], dict[int, int]], pattern: bytes
) -> None:
    blob, ranges, model = layout
    expected = [
        a for a in sorted(model)
        if all(model.get(a + i) == pattern[i] for i in range(len(pattern)))
    ]
    # a match is only reported where the bytes are contiguous in the file too
    mem = Memory.from_ranges(Source.open(blob), ranges)
    found = list(mem.find(pattern))
    assert set(found) <= set(expected)
    in_one_range = [
        a for a in expected
        if any(s <= a and a + len(pattern) <= s + n for s, n, _ in ranges)
    ]
    assert set(in_one_range) <= set(found)
    assert found == sorted(found)
    # the file-object path (chunked reads) agrees with the mmap/bytes path
    assert list(Memory.from_ranges(Source.open(io.BytesIO(blob)), ranges).find(pattern)) == found


def test_parallel_find_equals_serial(tmp_path: Path) -> None:
    # 3 ranges, 24 MiB each, patterns planted across range and worker boundaries
    size = 24 << 20
    needle = b"dumplib-needle!!"
    blob = bytearray(os.urandom(64))
    ranges = []
    plants = []
    for i in range(3):
        off = len(blob)
        chunk = bytearray(size)
        spots = [12345, size // 2 - 7]
        spots += [0] if i == 0 else []
        spots += [size - len(needle)] if i == 2 else []
        for at in spots:
            chunk[at : at + len(needle)] = needle
            plants.append(0x10000000 + i * size + at)
        blob += chunk
        ranges.append((0x10000000 + i * size, size, off))
    # a match straddling the boundary between range 0 and range 1 (contiguous in both)
    straddle = 0x10000000 + size - 5
    blob[64 + size - 5 : 64 + size + 11] = needle
    plants.append(straddle)
    path = tmp_path / "mem.bin"
    path.write_bytes(bytes(blob))
    src = Source.open(path)
    mem = Memory.from_ranges(src, ranges)
    serial = list(mem.find(needle))
    assert serial == sorted(set(plants))
    assert list(mem.find(needle, workers=2)) == serial
    assert list(mem.find(needle, workers=3)) == serial
    assert list(mem.find(needle, start=0x10000000 + size, end=0x10000000 + 2 * size)) == [
        p for p in serial if 0x10000000 + size <= p < 0x10000000 + 2 * size
    ]
    src.close()


def test_overlapping_and_cut_ranges_are_reported() -> None:
    blob = bytes(range(256))
    mem = Memory.from_ranges(
        Source.open(blob), [(0x1000, 32, 0), (0x1010, 32, 100), (0x2000, 64, 240)]
    )
    assert mem.ranges == [(0x1000, 32), (0x1020, 16), (0x2000, 16)]
    assert mem.read(0x1000, 48) == blob[0:32] + blob[116:132]
    assert any("cut" in w for w in mem.warnings)
    assert any("overlapping" in w for w in mem.warnings)
