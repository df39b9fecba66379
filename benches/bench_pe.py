"""Benchmark: dumplib.pe against pefile parsing headers, exceptions (.pdata + UNWIND_INFO)
and exports of the same images.

Images: the x64 corpus executable (41 functions), distlib's t64.exe launcher
(240 functions) and a DLL built here with 4,000 named exports and 4,000
RUNTIME_FUNCTIONs. Both parsers do the same work: headers and sections, every
RUNTIME_FUNCTION with its UNWIND_INFO decoded, every export with its name.

Run: ``.venv/bin/pytest benches/bench_pe.py --benchmark-only``
"""

from __future__ import annotations

import importlib.util
import struct
from collections.abc import Callable
from pathlib import Path

import pefile  # type: ignore[import-untyped, unused-ignore]
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from dumplib.pe import PeImage

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.find_spec("pip")
assert _spec is not None and _spec.origin is not None


def _big_dll(count: int = 4000) -> bytes:
    """A PE32+ DLL with ``count`` named exports and ``count`` RUNTIME_FUNCTIONs."""
    text, rdata, pdata = 0x1000, 0x20000, 0x60000
    # .rdata: one shared UNWIND_INFO (push rbx; sub rsp, 0x20), then the export directory
    unwind = bytes([1, 6, 2, 0, 6, 0x32, 1, 0x30])
    exp_at = rdata + len(unwind)
    eat_at = exp_at + 40
    names_at = eat_at + 4 * count
    ords_at = names_at + 4 * count
    str_at = ords_at + 2 * count
    names = [f"Function{i:05d}".encode() + b"\0" for i in range(count)]
    dll_name = b"big.dll\0"
    name_ptrs, pos = [], str_at + len(dll_name)
    for n in names:
        name_ptrs.append(pos)
        pos += len(n)
    exports = (
        struct.pack("<IIHHIIIIIII", 0, 0, 0, 0, str_at, 1, count, count, eat_at, names_at,
                    ords_at)
        + struct.pack(f"<{count}I", *(text + 16 * i for i in range(count)))
        + struct.pack(f"<{count}I", *name_ptrs)
        + struct.pack(f"<{count}H", *range(count))
        + dll_name + b"".join(names)
    )
    rdata_bytes = unwind + exports
    pdata_bytes = b"".join(
        struct.pack("<III", text + 16 * i, text + 16 * i + 12, rdata) for i in range(count)
    )
    sections = [
        (b".text", text, b"\xc3" * (16 * count), 0x60000020),
        (b".rdata", rdata, rdata_bytes, 0x40000040),
        (b".pdata", pdata, pdata_bytes, 0x40000040),
    ]
    align = 0x200
    headers = 0x400
    size_of_image = (pdata + len(pdata_bytes) + 0xFFF) & ~0xFFF
    opt = struct.pack("<HBBIIIIIQ", 0x20B, 14, 0, 0, 0, 0, 0, text, 0x1_8000_0000)
    opt += struct.pack("<IIHHHHHHIIIIHH", 0x1000, align, 6, 0, 0, 0, 6, 0, 0, size_of_image,
                       headers, 0, 3, 0x160)
    opt += struct.pack("<QQQQII", 0, 0, 0, 0, 0, 16)
    dirs = {0: (exp_at, len(exports)), 3: (pdata, len(pdata_bytes))}
    opt += b"".join(struct.pack("<II", *dirs.get(i, (0, 0))) for i in range(16))
    fh = struct.pack("<HHIIIHH", 0x8664, len(sections), 0x5F000000, 0, 0, len(opt), 0x2022)
    table, body, ptr = b"", b"", headers
    for name, va, data, flags in sections:
        raw = (len(data) + align - 1) & ~(align - 1)
        table += struct.pack("<8sIIIIIIHHI", name, len(data), va, raw, ptr, 0, 0, 0, 0, flags)
        body += data.ljust(raw, b"\0")
        ptr += raw
    dos = bytearray(0x40)
    dos[:2] = b"MZ"
    dos[0x3C:0x40] = struct.pack("<I", 0x40)
    head = bytes(dos) + b"PE\0\0" + fh + opt + table
    return head.ljust(headers, b"\0") + body


IMAGES = {
    "CrashWithException.exe": (
        ROOT / "fixtures/external/symbolic/windows/CrashWithException.exe"
    ).read_bytes(),
    "t64.exe": (Path(_spec.origin).parent / "_vendor/distlib/t64.exe").read_bytes(),
    "big.dll": _big_dll(),
}


def parse_dumplib(data: bytes) -> tuple[int, int]:
    """Headers, every RUNTIME_FUNCTION with its UNWIND_INFO, every export."""
    pe = PeImage.from_file(data)
    table = pe.runtime_functions
    for rf in table:
        pe.unwind_info(rf)
    exports = pe.exports
    return len(table), len(exports) if exports else 0


def parse_pefile(data: bytes) -> tuple[int, int]:
    """The same with pefile: headers, then the exception and export directories."""
    pe = pefile.PE(data=data, fast_load=True)
    pe.parse_data_directories(
        directories=[
            pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_EXCEPTION"],
            pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_EXPORT"],
        ]
    )
    functions = len(getattr(pe, "DIRECTORY_ENTRY_EXCEPTION", []))
    exports = getattr(pe, "DIRECTORY_ENTRY_EXPORT", None)
    return functions, len(exports.symbols) if exports else 0


PARSERS: dict[str, Callable[[bytes], tuple[int, int]]] = {
    "dumplib": parse_dumplib,
    "pefile": parse_pefile,
}


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_parsers_agree(image: str) -> None:
    assert parse_dumplib(IMAGES[image]) == parse_pefile(IMAGES[image])


@pytest.mark.parametrize("parser", sorted(PARSERS))
@pytest.mark.parametrize("image", sorted(IMAGES))
def test_bench_headers_pdata_exports(
    benchmark: BenchmarkFixture, image: str, parser: str
) -> None:
    benchmark.group = f"pe headers+pdata+exports: {image}"
    counts = benchmark(PARSERS[parser], IMAGES[image])
    assert counts == parse_pefile(IMAGES[image])
