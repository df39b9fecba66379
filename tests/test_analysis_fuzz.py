"""Analysis on damaged input: only DumpError (or a report), never another exception.

The case B replica (a crash with an exception stream, stacks, PDBs) and a
builder-made dump full of the structures the detectors read (critical
sections, TEB/PEB, an OVERLAPPED) are mutated and truncated by hypothesis.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dumplib
from dumplib.analysis import analyze
from dumplib.builder import DumpBuilder

# Damaged dumps warn about what they lack; that is expected here.
pytestmark = pytest.mark.filterwarnings("ignore::dumplib.DumpWarning")

WINE = Path(__file__).resolve().parent.parent / "fixtures" / "wine"
CASEB = (WINE / "caseb" / "caseb.dmp").read_bytes()
SYMBOLS = [str(WINE / "caseb"), str(WINE / "system")]


def _structures_dump() -> bytes:
    b = DumpBuilder("amd64", os_version=(6, 3, 9600))
    b.add_module(r"C:\App\App.exe", base=0x1_4000_0000, size=0x10000, version=(1, 0, 0, 0))
    b.add_module(r"C:\Windows\System32\ntdll.dll", base=0x7FF8_0000_0000, size=0x100000)
    heap = 0x60_0000
    b.add_memory(heap, struct.pack("<QiiQQQ", heap + 0x100, -2, 1, 0x200, 0, 0) + bytes(0xD8)
                 + struct.pack("<HHIQ", 0, 0, 0, heap) + bytes(0x100))
    b.add_memory(0x7000_0000, bytes(0x60) + struct.pack("<Q", 0x7100_0000))
    b.add_memory(0x7100_0000, bytes(0x110) + struct.pack("<Q", heap))
    b.add_thread(0x100, context={"rip": 0x7FF8_0000_1000, "rsp": 0x50_0000, "rcx": heap,
                                 "r8": heap}, stack=struct.pack("<Q", heap) * 32, teb=0x7000_0000)
    b.add_thread(0x200, context={"rip": 0x1_4000_1000, "rsp": 0x51_0000}, stack=bytes(0x100))
    b.add_thread_info(0x100, create_time=1 << 60, user_time=5)
    b.add_handle(0x40, type_name="File", object_name=r"\Device\Afd")
    b.add_comment("*** procdump -ma -e 1 App.exe\r\n*** First chance exception: C0000005")
    b.set_exception(0x100, 0xE06D7363, 0x1_4000_1000,
                    parameters=(0x19930520, heap, heap + 0x10, 0x1_4000_0000))
    return b.to_bytes()


STRUCTURES = _structures_dump()


def _check(data: bytes, symbols: list[str]) -> None:
    try:
        with dumplib.open(data) as dump:
            report = analyze(dump, symbols=symbols)
            report.to_json()
    except dumplib.DumpError:
        pass


@st.composite
def _mutated(draw: st.DrawFn, base: bytes) -> bytes:
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 12))):
        # Half the hits land in the first 4 KiB: header, directory and small streams.
        limit = min(4096, len(data)) if draw(st.booleans()) else len(data)
        at = draw(st.integers(0, limit - 8))
        data[at : at + 8] = draw(st.binary(min_size=8, max_size=8))
    if draw(st.booleans()):
        del data[draw(st.integers(32, len(data))):]
    return bytes(data)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated(CASEB))
def test_mutated_case_b_dump(data: bytes) -> None:
    _check(data, SYMBOLS)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated(STRUCTURES))
def test_mutated_structures_dump(data: bytes) -> None:
    _check(data, [])


def test_unmutated_structures_dump_decodes() -> None:
    with dumplib.open(STRUCTURES) as dump:
        report = analyze(dump)
    assert report.exception is not None and report.exception.chance == "first"
