"""Malformed input: every failure is a DumpError, nothing else escapes, nothing hangs."""

from __future__ import annotations

import io
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dumplib
from tests._exercise import exercise, open_or_error
from tests.conftest import CORPUS_DUMPS, MALFORMED_DUMPS, RUST_MINIDUMP


@pytest.mark.parametrize("name", MALFORMED_DUMPS)
def test_rust_minidump_invalid_samples(name: str) -> None:
    data = (RUST_MINIDUMP / name).read_bytes()
    d = open_or_error(data)
    assert d is not None  # their headers are valid: the directory must be readable
    exercise(d)
    # every bogus directory entry points past the end: the dump says so
    assert any("cut" in w for w in d.warnings)


def test_invalid_range_linux_maps_stream_is_listed_raw() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = dumplib.open(RUST_MINIDUMP / "invalid-range.dmp")
    entry = next(s for s in d.streams if s.name == "LinuxMaps")
    assert (entry.rva, entry.data_size) == (0, 258)
    whole = (RUST_MINIDUMP / "invalid-range.dmp").read_bytes()
    assert d.raw_stream(entry.stream_type) == whole[:258]


@pytest.mark.parametrize(
    "data, error",
    [
        (b"", dumplib.NotADumpError),
        (b"MDMP", dumplib.NotADumpError),
        (b"XXXX" + bytes(28), dumplib.NotADumpError),
        (b"MDMP\x93\xa7\x00\x00" + bytes(24), None),  # empty directory: opens
        (b"MDMP\x00\x00\x00\x00" + bytes(24), dumplib.NotADumpError),
        (b"MDMP\x93\xa7\x00\x00\x01\x00\x00\x00\xff\xff\xff\x7f" + bytes(16),
         dumplib.CorruptDumpError),
    ],
)
def test_headers(data: bytes, error: type[dumplib.DumpError] | None) -> None:
    if error is None:
        d = dumplib.open(data)
        assert d.streams == [] and len(d.threads) == 0 and d.exception is None
    else:
        with pytest.raises(error) as info:
            dumplib.open(data)
        assert "offset" in str(info.value) or "short" in str(info.value)


def test_unreadable_source_types() -> None:
    with pytest.raises(dumplib.SourceError):
        dumplib.open("/nonexistent/file.dmp")
    with pytest.raises(dumplib.SourceError):
        dumplib.open(12345)  # type: ignore[arg-type]


def test_huge_counts_are_refused_before_allocation() -> None:
    # a ThreadListStream claiming 2**32-1 threads in a 4-byte stream
    header = b"MDMP\x93\xa7\x00\x00" + (1).to_bytes(4, "little") + (32).to_bytes(4, "little")
    header += bytes(16)
    directory = (3).to_bytes(4, "little") + (4).to_bytes(4, "little") + (44).to_bytes(4, "little")
    d = dumplib.open(header + directory + b"\xff\xff\xff\xff")
    with pytest.raises(dumplib.CorruptDumpError) as info:
        d.threads  # noqa: B018
    assert "ThreadListStream" in str(info.value) and "0x2c" in str(info.value)


def test_file_object_short_reads_are_truncation_errors() -> None:
    data = (RUST_MINIDUMP / "test.dmp").read_bytes()

    class Shrinking(io.BytesIO):
        """A file whose reads come back short, as a network or a dying disk does."""

        def read(self, n: int | None = -1) -> bytes:
            out = super().read(n)
            return out[: max(0, len(out) - 1)] if n and n > 64 else out

    with pytest.raises(dumplib.TruncatedError) as info:
        dumplib.open(Shrinking(data)).modules  # noqa: B018 - reads longer than 64 bytes
    assert "short read" in str(info.value)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(CORPUS_DUMPS),
    flips=st.lists(
        st.tuples(st.integers(min_value=0, max_value=1 << 20), st.integers(0, 255)),
        min_size=1,
        max_size=16,
    ),
)
def test_corrupted_corpus_dumps_raise_only_dump_errors(
    name: str, flips: list[tuple[int, int]]
) -> None:
    data = bytearray((RUST_MINIDUMP / name).read_bytes())
    for pos, value in flips:
        data[pos % len(data)] = value
    d = open_or_error(bytes(data))
    if d is not None:
        exercise(d)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=512))
def test_any_bytes_open_or_dump_error(data: bytes) -> None:
    d = open_or_error(b"MDMP\x93\xa7\x00\x00" + data)
    if d is not None:
        exercise(d)


def _rich_built_dump() -> bytes:
    """A builder-made dump with every stream type, for corruption tests."""
    from dumplib.builder import DumpBuilder, NestedException

    b = DumpBuilder("amd64", thread_ex_list=True)
    b.add_thread(1, context={"rip": 0x401000, "rsp": 0x9000}, stack=b"s" * 64,
                 stack_start=0x9000, name="main")
    b.add_module("C:\\a\\app.exe", base=0x400000, size=0x10000, version=(1, 2, 3, 4))
    b.add_unloaded_module("C:\\a\\old.dll", base=0x500000, size=0x1000)
    b.add_memory_info(0x9000, 0x1000)
    b.add_thread_info(1, start_address=0x401000)
    b.add_handle(4, type_name="File", object_name="\\Device\\Afd", object_info=[(1, b"xx")])
    b.add_handle_operation(4, back_trace=[1, 2, 3])
    b.add_comment("procdump -ma 1")
    b.add_comment("ansi", wide=False)
    b.add_function_table(0x400000, 0x401000, 0x400000, entries=[(0x10, 0x20, 0x30)])
    b.set_system_memory_info(basic_info_page_size=4096)
    b.set_process_vm_counters(page_fault_count=1)
    b.add_token(1, 2, b"tok")
    b.add_raw_stream(0xFFF0, b"wine")
    b.set_misc_info(level=5, process_id=42)
    b.set_exception(1, 0xC0000005, 0x401000, parameters=(1, 0),
                    nested=[NestedException(0xC0000005, 1)], nested_address=0x9100)
    return b.to_bytes()


_BUILT = _rich_built_dump()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    flips=st.lists(
        st.tuples(st.integers(min_value=0, max_value=len(_BUILT) - 1), st.integers(0, 255)),
        min_size=1,
        max_size=8,
    ),
    cut=st.integers(min_value=0, max_value=len(_BUILT)),
)
def test_corrupted_built_dumps_raise_only_dump_errors(
    flips: list[tuple[int, int]], cut: int
) -> None:
    data = bytearray(_BUILT)
    for pos, value in flips:
        data[pos] = value
    d = open_or_error(bytes(data[:cut]) if cut > 32 else bytes(data))
    if d is not None:
        exercise(d)


def test_rich_built_dump_is_clean() -> None:
    d = dumplib.open(_BUILT)
    assert d.check() == [] and d.warnings == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        exercise(d)
