"""The one-pass cold paths of issue #16 give what the general paths give.

Oracles: the bytes of the file at each range's offset (memory index), pefile's
reading of wine's ntdll/kernelbase exception directories (.pdata), and a
linear search of those entries (function_for).
"""

from __future__ import annotations

import random
from pathlib import Path

import pefile
import pytest

from dumplib.model.memory import Memory
from dumplib.pe import PeImage
from dumplib.source import Source

SYSTEM = Path(__file__).resolve().parents[1] / "fixtures" / "wine" / "system"


def _ranges(rng: random.Random, n: int) -> tuple[bytes, list[tuple[int, int, int]]]:
    data = bytearray()
    out = []
    addr = 0x10000
    for _ in range(n):
        size = rng.randrange(1, 300)
        addr += rng.choice((0, rng.randrange(1, 5000)))  # adjacent or with a gap
        out.append((addr, size, len(data)))
        data += rng.randbytes(size)
        addr += size
    rng.shuffle(out)
    return bytes(data), out


@pytest.mark.parametrize("seed", range(5))
def test_memory_index_from_shuffled_clean_ranges(seed: int) -> None:
    rng = random.Random(seed)
    data, ranges = _ranges(rng, 500)
    mem = Memory.from_ranges(Source.open(data), ranges)
    assert not mem.warnings and len(mem) == len(ranges)
    starts = [r.start for r in mem.regions()]
    assert starts == sorted(starts)
    for start, size, off in ranges:
        assert mem.read(start, size) == data[off : off + size]
        assert start in mem and (start + size - 1) in mem


def test_memory_index_repairs_still_take_the_general_path() -> None:
    data = bytes(range(256)) * 4
    ranges = [(0x1000, 100, 0), (0x1050, 100, 200), (0x2000, 0, 10), (0x3000, 50, 1000)]
    mem = Memory.from_ranges(Source.open(data), ranges)
    assert any("overlapping" in w for w in mem.warnings)
    assert any("cut by the end of the file" in w for w in mem.warnings)
    assert mem.read(0x1000, 100) == data[:100]
    assert mem.read(0x1064, 60) == data[220:280]  # the overlap trimmed from the second range
    assert mem.read(0x3000, 24) == data[1000:1024]


@pytest.mark.parametrize("dll", ["ntdll.dll", "kernelbase.dll"])
def test_pdata_columns_equal_pefile(dll: str) -> None:
    pe = pefile.PE(str(SYSTEM / dll), fast_load=True)
    pe.parse_data_directories(
        directories=[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_EXCEPTION"]])
    expected = sorted((e.struct.BeginAddress, e.struct.EndAddress, e.struct.UnwindData)
                      for e in pe.DIRECTORY_ENTRY_EXCEPTION)
    table = PeImage.from_file(SYSTEM / dll).runtime_functions
    assert len(table) == len(expected)
    assert table[0] == table[0]  # made once, then the same
    assert [(f.begin, f.end, f.unwind_rva) for f in table] == expected
    assert (table[-1].begin, table[-1].end, table[-1].unwind_rva) == expected[-1]
    rng = random.Random(dll)
    for _ in range(300):
        rva = rng.randrange(expected[0][0] - 16, expected[-1][1] + 16)
        want = next(((b, e, u) for b, e, u in expected if b <= rva < e), None)
        got = table.function_for(rva)
        assert (None if got is None else (got.begin, got.end, got.unwind_rva)) == want
    with pytest.raises(IndexError):
        table[len(table)]
