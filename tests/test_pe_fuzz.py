"""Corrupted and truncated images: the PE reader may only raise DumpError subclasses.

Hypothesis mutates real images (the x64 and x86 corpus executables and a
launcher with a version resource), cuts them short, punches holes in a
memory-mapped copy, and feeds random bytes to the UNWIND_INFO and
VS_VERSIONINFO decoders. Every accessor is exercised; anything but a
``DumpError`` (an IndexError, struct.error, KeyError, a hang) fails.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dumplib._exc import DumpError, MemoryNotInDump
from dumplib.pe import PeImage, parse_codeview, parse_unwind_info, parse_version_info
from dumplib.pe.layout import MemoryLayout

ROOT = Path(__file__).resolve().parent.parent
X64 = (ROOT / "fixtures/external/symbolic/windows/CrashWithException.exe").read_bytes()
X86 = (ROOT / "fixtures/external/symbolic/windows/crash.exe").read_bytes()
_spec = importlib.util.find_spec("pip")
assert _spec is not None and _spec.origin is not None
T64 = (Path(_spec.origin).parent / "_vendor/distlib/t64.exe").read_bytes()
IMAGES = {"x64": X64, "x86": X86, "t64": T64}

FUZZ = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def exercise(pe: PeImage) -> int:
    """Touch every accessor, tolerating DumpError from each; returns how many succeeded."""
    ok = 0
    steps: list[Callable[[], object]] = [
        lambda: pe.image_key,
        lambda: [pe.section_for(s.virtual_address) for s in pe.sections],
        lambda: pe.exports and (list(pe.exports), pe.exports.nearest(0x1010)),
        lambda: pe.runtime_functions,
        lambda: pe.debug_entries,
        lambda: pe.codeview,
        lambda: pe.pdb_key,
        lambda: pe.version_info and pe.version_info.strings,
        lambda: pe.file_version,
    ]
    for step in steps:
        try:
            step()
            ok += 1
        except DumpError:
            pass
    try:
        functions = list(pe.runtime_functions)
    except DumpError:
        functions = []
    for rf in functions[:48]:
        try:
            pe.unwind_chain(rf)
            ok += 1
        except DumpError:
            pass
    return ok


def _open(data: bytes) -> PeImage | None:
    try:
        return PeImage.from_file(data)
    except DumpError:
        return None


def test_unmodified_images_exercise_cleanly() -> None:
    for data in IMAGES.values():
        pe = PeImage.from_file(data)
        assert exercise(pe) >= 9
        assert pe.warnings == []


_edits = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=len(T64) - 1),
        st.sampled_from([0x00, 0x01, 0x7F, 0x80, 0xFF]) | st.integers(0, 255),
    ),
    min_size=1,
    max_size=12,
)


def _mutate(data: bytes, edits: list[tuple[int, int]], header_bias: bool) -> bytes:
    out = bytearray(data)
    for pos, value in edits:
        at = pos % (0x400 if header_bias else len(out))
        out[at] = value
    return bytes(out)


@FUZZ
@given(name=st.sampled_from(sorted(IMAGES)), edits=_edits, header_bias=st.booleans())
def test_mutated_images_raise_only_dump_errors(
    name: str, edits: list[tuple[int, int]], header_bias: bool
) -> None:
    pe = _open(_mutate(IMAGES[name], edits, header_bias))
    if pe is not None:
        exercise(pe)


@FUZZ
@given(name=st.sampled_from(sorted(IMAGES)), edits=_edits, section=st.integers(0, 7))
def test_mutated_directories_raise_only_dump_errors(
    name: str, edits: list[tuple[int, int]], section: int
) -> None:
    # aim the edits at one section's raw bytes, where the directories live
    data = IMAGES[name]
    pe = PeImage.from_file(data)
    sec = pe.sections[section % len(pe.sections)]
    out = bytearray(data)
    for pos, value in edits:
        out[sec.raw_pointer + pos % max(1, sec.raw_size)] = value
    mutated = _open(bytes(out))
    if mutated is not None:
        exercise(mutated)


@FUZZ
@given(name=st.sampled_from(sorted(IMAGES)), cut=st.integers(min_value=0, max_value=len(T64)))
def test_truncated_images_raise_only_dump_errors(name: str, cut: int) -> None:
    data = IMAGES[name]
    pe = _open(data[: cut % (len(data) + 1)])
    if pe is not None:
        exercise(pe)


@FUZZ
@given(
    name=st.sampled_from(sorted(IMAGES)),
    holes=st.lists(st.integers(min_value=0, max_value=0x30), max_size=8),
)
def test_memory_images_with_missing_pages(name: str, holes: list[int]) -> None:
    data = IMAGES[name]
    disk = PeImage.from_file(data)
    size = disk.size_of_image
    image = bytearray(size)
    image[: disk.headers.size_of_headers] = data[: disk.headers.size_of_headers]
    for sec in disk.sections:
        raw = data[sec.raw_pointer : sec.raw_pointer + min(sec.raw_size, sec.mapped_size)]
        image[sec.virtual_address : sec.virtual_address + len(raw)] = raw
    base = 0x7FF7_0000_0000
    missing = {h for h in holes if h}  # the header page (0) stays present

    def read(address: int, count: int) -> bytes:
        off = address - base
        if off < 0 or off + count > size:
            raise MemoryNotInDump("outside", address=address)
        if any(p in missing for p in range(off >> 12, ((off + max(count, 1) - 1) >> 12) + 1)):
            raise MemoryNotInDump("page not captured", address=address)
        return bytes(image[off : off + count])

    pe = PeImage.from_memory(read, base, size)
    exercise(pe)
    if not missing:
        assert pe.warnings == []


@FUZZ
@given(blob=st.binary(min_size=0, max_size=96), at=st.integers(0, 64))
def test_random_unwind_info_raises_only_dump_errors(blob: bytes, at: int) -> None:
    image = bytes(at) + blob

    def read(address: int, count: int) -> bytes:
        if address + count > len(image):
            raise MemoryNotInDump("short", address=address)
        return image[address : address + count]

    layout = MemoryLayout(read, 0, 0x10000)
    try:
        info = parse_unwind_info(layout, at)
    except DumpError:
        return
    assert sum(c.slots for c in info.codes) == info.count_of_codes
    assert info.stack_size >= 0


@FUZZ
@given(blob=st.binary(max_size=512))
def test_random_version_and_codeview_bytes(blob: bytes) -> None:
    try:
        parse_version_info(blob)
    except DumpError:
        pass
    for prefix in (b"RSDS", b"NB10", b""):
        cv = parse_codeview(prefix + blob)
        assert cv is None or isinstance(cv.age, int)


@FUZZ
@given(edits=st.lists(st.tuples(st.integers(0, 0x7FF), st.integers(0, 255)), max_size=24))
def test_mutated_version_resource(edits: list[tuple[int, int]]) -> None:
    pe = PeImage.from_file(T64)
    entry = pe.directory(2)
    assert entry is not None and pe.version_info is not None
    found = pe.find_resource(16)  # RT_VERSION
    assert found is not None
    payload = bytearray(pe.read(found[0], found[1]))
    for pos, value in edits:
        payload[pos % len(payload)] = value
    try:
        info = parse_version_info(bytes(payload))
    except DumpError:
        return
    assert isinstance(info.strings, dict)
