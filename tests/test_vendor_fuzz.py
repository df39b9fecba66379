"""The vendor-stream parsers on arbitrary bytes: only DumpError may leave them.

Each parser gets random stream bytes and a file whose other bytes are random
too (what its RVAs point to), so counts, lengths and RVAs take any value.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from dumplib import DumpError
from dumplib._exc import TruncatedError
from dumplib.format.vendor import (
    breakpad_info,
    crashpad_info,
    linux_auxv,
    linux_dso,
    linux_proc,
    mozilla,
)


def _reader(blob: bytes) -> Callable[[int, int], bytes]:
    def read(rva: int, size: int) -> bytes:
        if rva < 0 or size < 0 or rva + size > len(blob):
            raise TruncatedError(f"{size} bytes at 0x{rva:x}")
        return blob[rva : rva + size]

    return read


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.binary(max_size=600), st.sampled_from([4, 8]))
def test_parsers_raise_only_dump_errors(data: bytes, blob: bytes, width: int) -> None:
    read = _reader(data + blob)
    parsers: list[Callable[[], object]] = [
        lambda: breakpad_info.parse_breakpad_info(data),
        lambda: crashpad_info.parse_crashpad_info(data, read),
        lambda: linux_auxv.parse_auxv(data, width),
        lambda: linux_dso.parse_dso_debug(data, read, width),
        lambda: linux_proc.parse_proc_status(data),
        lambda: linux_proc.parse_cpu_info(data),
        lambda: linux_proc.parse_lsb_release(data),
        lambda: linux_proc.parse_maps(data),
        lambda: linux_proc.parse_cmdline(data),
        lambda: linux_proc.parse_environ(data),
        lambda: mozilla.parse_mac_crash_info(data, read),
        lambda: mozilla.parse_mac_bootargs(data, read),
        lambda: mozilla.parse_soft_errors(data),
    ]
    for parse in parsers:
        try:
            parse()
        except DumpError:
            pass


def test_deeply_nested_soft_errors_are_text() -> None:
    text = b"[" * 100_000 + b"]" * 100_000
    assert mozilla.parse_soft_errors(text) == text.decode()
