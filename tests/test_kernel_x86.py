"""32-bit kernel dumps (``PAGEDUMP``): the DUMP_HEADER32 fields and x86 translation.

The files are laid out here by hand from Microsoft's DUMP_HEADER32 (as volatility3's
``crash.json`` declares it) and the Intel SDM's paging structures: PAE (a 4-entry PDPT,
64-bit entries, 2 MB pages) and classic 2-level paging (4 MB pages). Expected bytes and
translations follow from where this file put them; volatility3's 32-bit crash layer is
the second reader of the physical pages.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest

import dumplib
from dumplib import MemoryNotInDump
from dumplib.builder._context import encode_context

PAGE = 0x1000
NPAGES = 0x800  # 8 MB of physical memory, one run from page 0


def _header32(*, pae: bool, dtb: int, dump_type: int = 1) -> bytearray:
    h = bytearray(b"PAGE" * (PAGE // 4))
    h[0:8] = b"PAGEDUMP"
    struct.pack_into("<9I", h, 8, 0xF, 7601, dtb, 0x8400_0000, 0x8055_A420, 0x8056_0A58,
                     0x14C, 2, 0xD1)
    struct.pack_into("<4I", h, 0x2C, 0x1C, 2, 1, 0x8BAD_0010)
    h[0x5C] = 1 if pae else 0
    struct.pack_into("<I", h, 0x60, 0x8054_0000)
    struct.pack_into("<IIII", h, 0x64, 1, NPAGES, 0, NPAGES)
    ctx = encode_context("x86", {"eip": 0x8BAD_0010, "esp": 0x8000_1FF0})
    h[0x320 : 0x320 + len(ctx)] = ctx
    struct.pack_into("<IIIII", h, 0x7D0, 0xC0000005, 0, 0, 0x8BAD_0010, 2)
    struct.pack_into("<I", h, 0xF88, dump_type)
    struct.pack_into("<q", h, 0xFA0, PAGE + NPAGES * PAGE)
    struct.pack_into("<qq", h, 0xFB8, 12_345_678, 0x01D0_0000_0000_0000)
    return h


def _write(path: Path, header: bytearray, pages: dict[int, bytes]) -> Path:
    with path.open("wb") as fh:
        fh.write(header)
        fh.truncate(PAGE + NPAGES * PAGE)
        for pfn, data in pages.items():
            fh.seek(PAGE + pfn * PAGE)
            fh.write(data)
    return path


def _pae_dump(tmp: Path) -> Path:
    # PDPT at 0x1020 (32-byte aligned inside page 1), PD at page 2, PT at page 3.
    pdpt, pd, pt = bytearray(PAGE), bytearray(PAGE), bytearray(PAGE)
    struct.pack_into("<Q", pdpt, 0x20 + 8 * 2, (2 << 12) | 1)  # 0x80000000-0xBFFFFFFF
    struct.pack_into("<Q", pd, 8 * 0, (3 << 12) | 3)  # 0x80000000: a page table
    struct.pack_into("<Q", pt, 8 * 1, (0x10 << 12) | 3)  # 0x80001000 -> frame 0x10
    struct.pack_into("<Q", pt, 8 * 2, (0x11 << 12) | 0x800)  # transition PTE -> frame 0x11
    struct.pack_into("<Q", pd, 8 * 1, 0x0040_0000 | 0x83)  # 0x80200000: 2 MB page at 4 MB
    pages = {1: bytes(pdpt), 2: bytes(pd), 3: bytes(pt), 0x10: b"pae-4k-page".ljust(PAGE, b"\0"),
             0x11: b"pae-transition".ljust(PAGE, b"\0"),
             0x400 + 0x23: b"pae-2m-page".ljust(PAGE, b"\0")}
    return _write(tmp / "pae.dmp", _header32(pae=True, dtb=0x1020), pages)


def _classic_dump(tmp: Path) -> Path:
    pd, pt = bytearray(PAGE), bytearray(PAGE)
    struct.pack_into("<I", pd, 4 * (0x8000_0000 >> 22), (3 << 12) | 3)
    struct.pack_into("<I", pt, 4 * 1, (0x10 << 12) | 3)
    struct.pack_into("<I", pd, 4 * (0x8040_0000 >> 22), 0x0040_0000 | 0x83)  # 4 MB page
    pages = {2: bytes(pd), 3: bytes(pt), 0x10: b"x86-4k-page".ljust(PAGE, b"\0"),
             0x400 + 0x23: b"x86-4m-page".ljust(PAGE, b"\0")}
    return _write(tmp / "x86.dmp", _header32(pae=False, dtb=2 << 12), pages)


def test_header32_fields(tmp_path: Path) -> None:
    with dumplib.open(_pae_dump(tmp_path)) as d:
        kh = d.kernel_header  # type: ignore[attr-defined]
        assert (kh.signature, kh.is64, kh.pae_enabled) == ("PAGEDUMP", False, True)
        assert kh.ps_loaded_module_list == 0x8055_A420 and kh.ps_active_process_head == 0x8056_0A58
        assert kh.kd_debugger_data_block == 0x8054_0000
        assert kh.physical_runs == ((0, NPAGES),) and kh.system_uptime == 12_345_678
        assert d.kind == "kernel-full" and d.system.arch == dumplib.Arch.X86
        assert d.system.os_version == (6, 1, 7601) and d.system.number_of_processors == 2
        bc = d.bugcheck
        assert bc is not None and bc.code == 0xD1 and bc.parameters == (0x1C, 2, 1, 0x8BAD_0010)
        assert d.threads[0].context["eip"] == 0x8BAD_0010
        exc = d.exception
        assert exc is not None and exc.code == 0xC0000005 and exc.address == 0x8BAD_0010


def test_pae_translation(tmp_path: Path) -> None:
    with dumplib.open(_pae_dump(tmp_path)) as d:
        mem = d.memory
        assert mem.translate(0x8000_1234) == 0x10_234  # type: ignore[attr-defined]
        assert mem.read(0x8000_1000, 11) == b"pae-4k-page"
        assert mem.read(0x8000_2000, 14) == b"pae-transition"
        assert mem.translate(0x8022_3000) == 0x42_3000  # type: ignore[attr-defined]
        assert mem.read(0x8022_3000, 11) == b"pae-2m-page"
        for va in (0x4000_0000, 0x8000_3000, 0xC000_0000):
            with pytest.raises(MemoryNotInDump):
                mem.read(va, 4)


def test_classic_x86_translation(tmp_path: Path) -> None:
    with dumplib.open(_classic_dump(tmp_path)) as d:
        mem = d.memory
        assert mem.read(0x8000_1000, 11) == b"x86-4k-page"
        assert mem.translate(0x8042_3010) == 0x42_3010  # type: ignore[attr-defined]
        assert mem.read(0x8042_3000, 11) == b"x86-4m-page"
        with pytest.raises(MemoryNotInDump):
            mem.read(0x8000_2000, 4)


def test_physical_pages_match_volatility3_32bit_layer(tmp_path: Path) -> None:
    try:
        from volatility3.framework import contexts
        from volatility3.framework.layers import crash, physical
    except ImportError:
        print("ORACLE MISSING: volatility3 not installed", file=sys.stderr)
        pytest.skip("ORACLE MISSING: volatility3")
    path = _pae_dump(tmp_path)
    ctx = contexts.Context()
    ctx.config["base.location"] = path.as_uri()
    ctx.add_layer(physical.FileLayer(ctx, "base", "base"))
    ctx.config["crash.base_layer"] = "base"
    layer = crash.WindowsCrashDump32Layer(ctx, "crash", "crash")
    with dumplib.open(path) as d:
        phys = d.physical  # type: ignore[attr-defined]
        for pfn in (1, 2, 3, 0x10, 0x11, 0x423, 0x7FF):
            assert phys.read(pfn * PAGE, PAGE) == layer.read(pfn * PAGE, PAGE)


def _pae_bitmap_dump(tmp: Path) -> tuple[Path, dict[int, bytes]]:
    """The PAE machine as a 32-bit bitmap dump: the SDMP header (shared by both
    architectures: FirstPage at 0x20, present pages 0x28, bitmap bits 0x30, bitmap 0x38)
    after the 0x1000-byte header; pages 1-3, 0x10, 0x11 and 0x423 present."""
    src = _pae_dump(tmp)
    raw = src.read_bytes()
    present = [1, 2, 3, 0x10, 0x11, 0x423]
    nbytes = NPAGES // 8
    first = (PAGE + 0x38 + nbytes + PAGE - 1) & ~(PAGE - 1)
    head = bytearray(raw[:PAGE])
    struct.pack_into("<I", head, 0xF88, 5)
    bits = sum(1 << p for p in present).to_bytes(nbytes, "little")
    sdmp = b"SDMP" + b"DUMP" + bytes(0x18) + struct.pack("<QQQ", first, len(present), NPAGES)
    body = bytearray(head + sdmp + bits)
    body += bytes(first - len(body))
    pages = {}
    for pfn in present:
        page = raw[PAGE + pfn * PAGE : PAGE + (pfn + 1) * PAGE]
        pages[pfn] = page
        body += page
    path = tmp / "pae-bitmap.dmp"
    path.write_bytes(bytes(body))
    return path, pages


def test_x86_bitmap_dump_reads_as_the_full_one(tmp_path: Path) -> None:
    path, pages = _pae_bitmap_dump(tmp_path)
    with dumplib.open(path) as d:
        assert d.kind == "kernel-bitmap" and not d.kernel_header.is64  # type: ignore[attr-defined]
        for pfn, page in pages.items():
            assert d.physical.read(pfn * PAGE, PAGE) == page  # type: ignore[attr-defined]
        assert d.memory.read(0x8000_1000, 11) == b"pae-4k-page"
        assert d.memory.read(0x8022_3000, 11) == b"pae-2m-page"
        with pytest.raises(MemoryNotInDump):
            d.physical.read(0x12 * PAGE, 4)  # type: ignore[attr-defined]


def test_x86_bitmap_pages_match_volatility3(tmp_path: Path) -> None:
    try:
        from volatility3.framework import contexts
        from volatility3.framework.layers import crash, physical
    except ImportError:
        print("ORACLE MISSING: volatility3 not installed", file=sys.stderr)
        pytest.skip("ORACLE MISSING: volatility3")
    path, pages = _pae_bitmap_dump(tmp_path)
    ctx = contexts.Context()
    ctx.config["base.location"] = path.as_uri()
    ctx.add_layer(physical.FileLayer(ctx, "base", "base"))
    ctx.config["crash.base_layer"] = "base"
    layer = crash.WindowsCrashDump32Layer(ctx, "crash", "crash")
    with dumplib.open(path) as d:
        phys = d.physical  # type: ignore[attr-defined]
        for pfn in pages:
            assert phys.read(pfn * PAGE, PAGE) == layer.read(pfn * PAGE, PAGE)
        for pfn in (0, 4, 0x12, 0x422, 0x424):
            assert not layer.is_valid(pfn * PAGE) and (pfn * PAGE) not in phys
