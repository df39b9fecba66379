"""Real dumps from the rust-minidump corpus, checked against independently known values.

Expected values are the ones rust-minidump's own test-suite asserts for the same
files (minidump/tests/test_minidump.rs), plus a differential comparison with the
skelsec ``minidump`` package wherever it parses a file.
"""

from __future__ import annotations

import warnings

import pytest
from minidump.minidumpfile import MinidumpFile

import dumplib
from tests.conftest import CORPUS_DUMPS, RUST_MINIDUMP


def _open(name: str) -> dumplib.Dump:
    return dumplib.open(RUST_MINIDUMP / name)


def test_test_dmp_modules_match_rust_minidump() -> None:
    with _open("test.dmp") as d:
        mods = d.modules
        assert len(mods) == 13
        assert mods[0].base == 0x400000 and mods[0].size == 0x2D000
        assert mods[0].path == "c:\\test_app.exe"
        assert f"{mods[0].timestamp:08X}{mods[0].size:x}" == "45D35F6C2d000"
        assert mods[0].pdb == ("c:\\test_app.pdb", "5A9832E5287241C1838ED98914E9B7FF", 1)
        assert mods[0].version is None
        assert mods[12].base == 0x76BF0000 and mods[12].size == 0xB000
        assert mods[12].path == "C:\\WINDOWS\\system32\\psapi.dll"
        assert mods[12].image_key == "411096CAb000"
        assert mods[12].pdb is not None
        assert mods[12].pdb[0] == "psapi.pdb"
        assert f"{mods[12].pdb[1]}{mods[12].pdb[2]:X}" == "A5C3A1F9689F43D8AD228A09293889702"
        assert mods[12].version == (5, 1, 2600, 2180)
        assert mods.find(0x400000) is mods[0]
        assert mods.find(0x400000 + 0x2D000) is None or mods.find(0x42D000) is not mods[0]
        by_addr = sorted(mods, key=lambda m: m.base)
        assert [m.name for m in by_addr][:3] == ["test_app.exe", "dbghelp.dll", "imm32.dll"]
        assert by_addr[-1].name == "ntdll.dll"


def test_test_dmp_system_misc_exception_threads() -> None:
    with _open("test.dmp") as d:
        s = d.system
        assert s.arch is dumplib.Arch.X86
        assert s.csd_version == "Service Pack 2"
        assert s.cpu_vendor == "GenuineIntel"
        # "GenuineIntel family 6 model 13 stepping 8": level 6, revision 0x0d08
        assert s.processor_level == 6 and s.processor_revision == 0x0D08
        assert s.os_version == (5, 1, 2600)
        assert d.process_id == 3932
        assert d.misc_info is not None and d.misc_info.process_create_time == 0x45D35F73
        assert d.process_create_time is not None
        assert int(d.process_create_time.timestamp()) == 1171480435
        e = d.exception
        assert e is not None
        assert e.thread_id == 0xBF4 and e.code == 0xC0000005
        assert e.name == "EXCEPTION_ACCESS_VIOLATION"
        assert e.context is not None
        assert e.context.ip == 0x40429E and e.context.sp == 0x12FE84
        assert e.context["eip"] == 0x40429E
        assert d.threads.ids == [0xBF4, 0x11C0]
        t0 = d.threads[0]
        assert t0.context.ip == 0x7C90EB94 and t0.context.sp == 0x12F320
        assert d.threads.get(0x11C0) is d.threads[1]


def test_test_dmp_stack_memory_reads() -> None:
    with _open("test.dmp") as d:
        m = d.memory
        assert m.read_u8(0x12F31C) == 0
        assert m.read_u16(0x12F31C) == 0
        assert m.read_u32(0x12F31C) == 0
        assert m.read_u64(0x12F31C) == 0x7C90E9C000000000
        assert m.read_u8(0x12FFFF) == 0
        assert m.read_u16(0x12FFFE) == 0
        assert m.read_u32(0x12FFFC) == 0
        assert m.read_u64(0x12FFF8) == 0x405443
        assert m.read_pointer(0x12FFF8) == 0x405443  # x86: 4-byte pointer
        with pytest.raises(dumplib.MemoryNotInDump):
            m.read(0x12FFFC, 8)  # runs past the end of the stack range
        stack = d.thread_stack_bytes(d.threads[0])
        assert d.threads[0].stack_range == (0x12F31C, len(stack))


def test_breakpad_info_stream_is_kept_raw() -> None:
    with _open("test.dmp") as d:
        raw = d.raw_stream(0x47670001)
        assert raw is not None
        # MDRawBreakpadInfo: validity, dump_thread_id, requesting_thread_id
        assert int.from_bytes(raw[4:8], "little") == 0x11C0
        assert int.from_bytes(raw[8:12], "little") == 0xBF4
        assert "BreakpadInfo" in [s.name for s in d.streams]


def test_linux_dump_os_string() -> None:
    with _open("linux-mini.dmp") as d:
        assert d.system.csd_version.startswith("Linux 4.9.60-linuxkit-aufs #1 SMP Mon Nov 6")
        assert d.system.os_name == "Linux"
        names = [s.name for s in d.streams]
        assert "LinuxMaps" in names and "LinuxCpuInfo" in names


def test_assertion_stream_raw_text() -> None:
    # rust-minidump decodes MDRawAssertionInfo: expression "format != nullptr",
    # function "common_vfprintf", line 32, type 1 (invalid parameter).
    with _open("invalid-parameter.dmp") as d:
        raw = d.raw_stream(0x47670002)
        assert raw is not None
        # expression, function and file are WCHAR[128] each, then line and type
        def text(i: int) -> str:
            return raw[256 * i : 256 * (i + 1)].decode("utf-16-le").split("\0")[0]

        line = int.from_bytes(raw[768:772], "little")
        kind = int.from_bytes(raw[772:776], "little")
        assert (text(0), text(1), line, kind) == ("format != nullptr", "common_vfprintf", 32, 1)
        assert text(2) == "minkernel\\crts\\ucrt\\src\\appcrt\\stdio\\output.cpp"


@pytest.mark.parametrize("name", CORPUS_DUMPS)
def test_differential_against_skelsec_minidump(name: str) -> None:
    path = RUST_MINIDUMP / name
    ref = MinidumpFile.parse(str(path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = dumplib.open(path)
    with d:
        assert d.check() == []
        if ref.threads is not None:
            assert d.threads.ids == [t.ThreadId for t in ref.threads.threads]
            for ours, theirs in zip(d.threads, ref.threads.threads, strict=True):
                assert ours.teb == theirs.Teb
                assert ours.suspend_count == theirs.SuspendCount
        if ref.modules is not None:
            assert [(m.path, m.base, m.size, m.timestamp, m.checksum) for m in d.modules] == [
                (m.name, m.baseaddress, m.size, m.timestamp, m.checksum)
                for m in ref.modules.modules
            ]
        if ref.exception is not None and ref.exception.exception_records:
            rec = ref.exception.exception_records[0]
            assert d.exception is not None
            assert d.exception.thread_id == rec.ThreadId
            assert d.exception.code == rec.ExceptionRecord.ExceptionCode_raw
            assert d.exception.address == rec.ExceptionRecord.ExceptionAddress
        if ref.sysinfo is not None:
            assert d.system.os_version == (
                ref.sysinfo.MajorVersion, ref.sysinfo.MinorVersion, ref.sysinfo.BuildNumber
            )
            assert d.system.number_of_processors == ref.sysinfo.NumberOfProcessors
        if ref.misc_info is not None:
            assert d.process_id == ref.misc_info.ProcessId
        if ref.memory_segments is not None:
            segs = ref.memory_segments.memory_segments
            assert sorted((s.start_virtual_address, s.size) for s in segs) == d.memory.ranges
            for s in segs:
                n = min(s.size, 64)
                with open(path, "rb") as fh:
                    fh.seek(s.start_file_address)
                    expected = fh.read(n)
                assert d.memory.read(s.start_virtual_address, n) == expected


@pytest.mark.parametrize("name", CORPUS_DUMPS)
def test_same_results_from_path_bytes_and_file_object(name: str) -> None:
    path = RUST_MINIDUMP / name
    data = path.read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        views = [dumplib.open(path), dumplib.open(data), dumplib.open(open(path, "rb"))]
    facts = []
    for d in views:
        with d:
            facts.append(
                (
                    d.threads.ids,
                    [(m.name, m.base) for m in d.modules],
                    d.exception.code if d.exception else None,
                    d.memory.ranges,
                    [d.memory.read(a, min(s, 32)) for a, s in d.memory.ranges],
                )
            )
    assert facts[0] == facts[1] == facts[2]


def test_open_reads_only_header_and_directory() -> None:
    import io

    data = (RUST_MINIDUMP / "test.dmp").read_bytes()

    class Counting(io.BytesIO):
        """Records every (offset, size) read."""

        def __init__(self, raw: bytes) -> None:
            super().__init__(raw)
            self.reads: list[tuple[int, int]] = []

        def read(self, n: int | None = -1) -> bytes:
            pos = self.tell()
            out = super().read(n)
            self.reads.append((pos, len(out)))
            return out

    f = Counting(data)
    d = dumplib.open(f)
    n = len(d.streams)
    # the 32-byte header (``open`` first peeks at its 8-byte signature to tell a
    # kernel dump from a minidump) and the directory, nothing else
    assert (0, 32) in f.reads and (d.header.stream_directory_rva, 12 * n) in f.reads
    assert set(f.reads) <= {(0, 8), (0, 32), (d.header.stream_directory_rva, 12 * n)}
    f.reads.clear()
    assert d.exception is not None  # first use of a stream reads that stream only
    entry = d.stream(dumplib.StreamType.ExceptionStream)
    assert entry is not None and f.reads == [(entry.rva, entry.data_size)]
