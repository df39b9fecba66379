"""Damaged kernel dumps: whatever the bytes, only DumpError subclasses leave dumplib.

A small builder-made bitmap dump (4 MB of physical memory) is cut and overwritten at
random places -- header fields, the bitmap, page tables, the driver list, images, the
stack -- and then opened and read the way the CLI does: bug check, drivers, the crash
stack and the analysis.
"""

from __future__ import annotations

import functools
import tempfile
import warnings
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dumplib
from dumplib import DumpError
from dumplib.analysis import analyze
from tests.kernel_helpers import FLT_FUNCS, NDIS_FUNCS, NT_FUNCS


@functools.lru_cache(maxsize=2)
def _dump(kind: str) -> bytes:
    from dumplib.builder.kernel import KernelDumpBuilder

    kb = KernelDumpBuilder(physical_pages=0x400)
    kb.add_driver("ntoskrnl.exe", NT_FUNCS)
    kb.add_driver("ndis.sys", NDIS_FUNCS)
    kb.add_driver("vsepflt.sys", FLT_FUNCS, company="Symantec Corporation")
    kb.set_crash_stack([("ntoskrnl.exe", "KeBugCheckEx", 0x40),
                        ("vsepflt.sys", "VsepClassifyPacket", 0x63),
                        ("ndis.sys", "ndisMIndicateNetBufferListsToOpen", 0x81),
                        ("ntoskrnl.exe", "KiStartSystemThread", 0x36)])
    with tempfile.TemporaryDirectory() as tmp:
        built = kb.write(Path(tmp) / "k.dmp", kind=kind)
        return Path(built.path).read_bytes()


def _exercise(data: bytes) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dumplib.DumpWarning)  # damage is expected here
            d = dumplib.open(data)
        with d:
            _ = d.bugcheck, d.system, d.exception
            list(d.modules)
            d.stack(d.threads[0])
            analyze(d)
            d.memory.try_read(0xFFFF_F800_1000_0000, 64)
    except DumpError:
        pass


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(["full", "bitmap", "triage"]), data=st.data())
def test_damaged_kernel_dumps_raise_only_dump_errors(kind: str, data: st.DataObject) -> None:
    raw = bytearray(_dump(kind))
    used = len(raw.rstrip(b"\0")) or len(raw)
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, used - 1))
        chunk = data.draw(st.binary(min_size=1, max_size=8))
        raw[at : at + len(chunk)] = chunk
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    _exercise(bytes(raw))
