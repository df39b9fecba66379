"""Byte-level checks of dumplib.builder output against Microsoft's documented layouts.

The expected numbers here are the documented sizes and offsets of
minidumpapiset.h / winnt.h structures (``sizeof(MINIDUMP_THREAD) == 48`` and so
on), read straight from the built bytes with ``struct`` in the test itself,
not through the builder's own Struct definitions.
"""

from __future__ import annotations

import os
import struct
import uuid
from pathlib import Path

import pytest

from dumplib.builder import (
    CONTEXT_SIZES,
    DumpBuilder,
    Sparse,
    StreamType,
    TimeZone,
    XStateConfig,
)
from dumplib.builder._layouts import EXPECTED_SIZES


def u16(b: bytes, o: int) -> int:
    return int.from_bytes(b[o:o + 2], "little")


def u32(b: bytes, o: int) -> int:
    return int.from_bytes(b[o:o + 4], "little")


def u64(b: bytes, o: int) -> int:
    return int.from_bytes(b[o:o + 8], "little")


def directory(data: bytes) -> list[tuple[int, int, int]]:
    count, rva = u32(data, 8), u32(data, 12)
    return [struct.unpack_from("<III", data, rva + 12 * i) for i in range(count)]


def stream(data: bytes, stream_type: int) -> bytes:
    for st, size, rva in directory(data):
        if st == stream_type:
            return data[rva:rva + size]
    raise KeyError(stream_type)


def minidump_string(data: bytes, rva: int) -> str:
    length = u32(data, rva)
    assert data[rva + 4 + length:rva + 6 + length] == b"\0\0"  # NUL terminator follows
    return data[rva + 4:rva + 4 + length].decode("utf-16-le")


@pytest.mark.parametrize("name", sorted(EXPECTED_SIZES))
def test_struct_sizes_match_documented_sizeof(name: str) -> None:
    shape, size = EXPECTED_SIZES[name]
    assert shape.size == size


def test_header_fields_at_documented_offsets() -> None:
    b = DumpBuilder("amd64", time_date_stamp=0x5F5E1000, checksum=0x1234,
                    implementation_version=0x0A6B, flags=0x0000_0001_0000_1826,
                    unused_directory_entries=3)
    data = b.to_bytes()
    assert data[0:4] == b"MDMP"
    assert u16(data, 4) == 0xA793 and u16(data, 6) == 0x0A6B
    assert u32(data, 12) == 32  # directory right after the 32-byte header
    assert u32(data, 16) == 0x1234
    assert u32(data, 20) == 0x5F5E1000
    assert u64(data, 24) == 0x0000_0001_0000_1826
    entries = directory(data)
    assert len(entries) == u32(data, 8)
    assert entries[-3:] == [(0, 0, 0)] * 3  # UnusedStream slots
    for _, size, rva in entries[:-3]:
        assert 32 + 12 * len(entries) <= rva and rva + size <= len(data)


def test_default_flags_follow_the_content() -> None:
    b = DumpBuilder("amd64", full_memory=True)
    assert b.computed_flags() == 0x2
    b.add_handle(4)
    b.add_unloaded_module("x.dll", base=0, size=1)
    b.add_memory_info(0, 0x1000)
    b.add_thread_info(1)
    b.add_token(1, 2)
    assert b.computed_flags() == 0x2 | 0x4 | 0x20 | 0x800 | 0x1000 | 0x40000
    assert u64(b.to_bytes(), 24) == b.computed_flags()


def test_stream_sizes() -> None:
    b = DumpBuilder("amd64", thread_ex_list=True)
    for tid in (1, 2, 3):
        b.add_thread(tid, context={"rsp": 0x10000 * tid}, stack=b"s" * 16, name=f"t{tid}")
    b.add_module("a.dll", base=0x1000_0000, size=0x1000)
    b.add_module("b.dll", base=0x2000_0000, size=0x1000)
    b.add_unloaded_module("c.dll", base=0x3000_0000, size=0x1000)
    b.set_exception(1, 0xC0000005, 0x10)
    b.add_memory_info(0x10000, 0x1000)
    b.add_thread_info(1)
    b.add_handle(4, type_name="Event")
    b.add_handle_operation(4, back_trace=[1, 2, 3])
    b.set_system_memory_info(basic_info_page_size=4096)
    b.set_process_vm_counters(working_set_size=1 << 20)
    b.add_token(4242, 0x1C, b"\x01" * 20)
    b.add_token(4243, 0x20, b"")
    data = b.to_bytes()
    sizes = {st: size for st, size, _ in directory(data)}
    assert sizes[StreamType.THREAD_LIST] == 4 + 3 * 48
    assert sizes[StreamType.THREAD_EX_LIST] == 4 + 3 * 64
    assert sizes[StreamType.THREAD_NAMES] == 4 + 3 * 12
    assert sizes[StreamType.MODULE_LIST] == 4 + 2 * 108
    assert sizes[StreamType.UNLOADED_MODULE_LIST] == 12 + 24
    assert sizes[StreamType.MEMORY_LIST] == 4 + 3 * 16
    assert sizes[StreamType.EXCEPTION] == 168
    assert sizes[StreamType.SYSTEM_INFO] == 56
    assert sizes[StreamType.MEMORY_INFO_LIST] == 16 + 48
    assert sizes[StreamType.THREAD_INFO_LIST] == 12 + 64
    assert sizes[StreamType.HANDLE_DATA] == 16 + 40
    assert sizes[StreamType.HANDLE_OPERATION_LIST] == 16 + 288
    assert sizes[StreamType.SYSTEM_MEMORY_INFO] == 492
    assert sizes[StreamType.PROCESS_VM_COUNTERS] == 152
    assert sizes[StreamType.TOKEN] == 16 + (16 + 20) + 16
    tok = stream(data, StreamType.TOKEN)
    assert struct.unpack_from("<IIII", tok) == (len(tok), 2, 16, 16)
    assert struct.unpack_from("<IIQ", tok, 16) == (36, 4242, 0x1C)
    ops = stream(data, StreamType.HANDLE_OPERATION_LIST)
    # AVRF_HANDLE_OPERATION: Handle, ProcessId, ThreadId, OperationType, Spare0, Depth, Index.
    assert u64(ops, 16) == 4 and u32(ops, 16 + 24) == 3
    assert [u64(ops, 16 + 32 + 8 * i) for i in range(4)] == [1, 2, 3, 0]


def test_thread_names_stream() -> None:
    b = DumpBuilder("amd64")
    b.add_thread(7, name="render thread")
    b.add_thread(8)
    b.add_thread(9, name="")
    data = b.to_bytes()
    names = stream(data, StreamType.THREAD_NAMES)
    assert u32(names, 0) == 2
    got = {}
    for i in range(2):
        tid, rva = struct.unpack_from("<IQ", names, 4 + 12 * i)
        got[tid] = minidump_string(data, rva)
    assert got == {7: "render thread", 9: ""}


@pytest.mark.parametrize("arch,size,flags", [("amd64", 1232, 0x10001F), ("x86", 716, 0x1003F),
                                             ("arm64", 912, 0x400007)])
def test_context_sizes_and_default_flags(arch: str, size: int, flags: int) -> None:
    b = DumpBuilder(arch)  # type: ignore[arg-type]
    b.add_thread(1)
    data = b.to_bytes()
    threads = stream(data, StreamType.THREAD_LIST)
    ctx_size, ctx_rva = struct.unpack_from("<II", threads, 4 + 40)
    assert ctx_size == size == CONTEXT_SIZES[arch]
    flags_offset = 0x30 if arch == "amd64" else 0
    assert u32(data, ctx_rva + flags_offset) == flags


def test_arm64_context_offsets() -> None:
    # winnt.h ARM64 CONTEXT: ContextFlags 0x0, Cpsr 0x4, X[29] 0x8, Fp 0xF0, Lr 0xF8, Sp 0x100,
    # Pc 0x108, V[32] 0x110, Fpcr 0x310, Fpsr 0x314.
    regs = {"x0": 0x1000, "x28": 0x2828, "fp": 0xF0F0, "lr": 0x1111, "sp": 0x2222,
            "pc": 0x3333, "cpsr": 0x60000000, "v31": (5 << 64) | 6, "fpcr": 7, "fpsr": 8}
    b = DumpBuilder("arm64")
    b.add_thread(1, context=regs)
    data = b.to_bytes()
    threads = stream(data, StreamType.THREAD_LIST)
    rva = u32(threads, 4 + 44)
    assert u32(data, rva + 0x4) == 0x60000000
    assert u64(data, rva + 0x8) == 0x1000
    assert u64(data, rva + 0x8 + 28 * 8) == 0x2828
    assert [u64(data, rva + o) for o in (0xF0, 0xF8, 0x100, 0x108)] == [0xF0F0, 0x1111, 0x2222,
                                                                       0x3333]
    assert (u64(data, rva + 0x110 + 31 * 16), u64(data, rva + 0x118 + 31 * 16)) == (6, 5)
    assert (u32(data, rva + 0x310), u32(data, rva + 0x314)) == (7, 8)
    si = stream(data, StreamType.SYSTEM_INFO)
    assert u16(si, 0) == 12  # PROCESSOR_ARCHITECTURE_ARM64


def test_raw_context_bytes_pass_through() -> None:
    raw = bytes(range(256)) * 3
    b = DumpBuilder("amd64")
    b.add_thread(1, context=raw)
    data = b.to_bytes()
    size, rva = struct.unpack_from("<II", stream(data, StreamType.THREAD_LIST), 4 + 40)
    assert data[rva:rva + size] == raw


def test_module_record_codeview_and_version() -> None:
    guid = uuid.UUID("1b2c3d4e-5f60-4718-899a-abbccddeeff0")
    b = DumpBuilder("amd64")
    b.add_module(r"C:\x\a.dll", base=0x7FF8_0000_0000, size=0x5000, version=(1, 2, 3, 4),
                 product_version=(5, 6, 7, 8), pdb70=("a.pdb", guid, 3), misc=b"MISC")
    b.add_module(r"C:\x\b.dll", base=0x1000_0000, size=0x5000, pdb20=("b.pdb", 0x3C5A7B11, 9))
    data = b.to_bytes()
    mods = stream(data, StreamType.MODULE_LIST)
    assert u32(mods, 0) == 2
    m0, m1 = mods[4:112], mods[112:220]
    assert u64(m0, 0) == 0x7FF8_0000_0000 and u32(m0, 8) == 0x5000
    assert minidump_string(data, u32(m0, 20)) == r"C:\x\a.dll"
    # VS_FIXEDFILEINFO at +24: signature, struc version, file MS/LS, product MS/LS.
    assert struct.unpack_from("<6I", m0, 24) == (0xFEEF04BD, 0x10000, 0x10002, 0x30004,
                                                 0x50006, 0x70008)
    cv_size, cv_rva = struct.unpack_from("<II", m0, 76)
    cv = data[cv_rva:cv_rva + cv_size]
    assert cv[:4] == b"RSDS"
    d1, d2, d3, d4 = struct.unpack_from("<IHH8s", cv, 4)
    # The identifier symbol servers use: GUID fields as hex, then the age.
    assert f"{d1:08X}{d2:04X}{d3:04X}{d4.hex().upper()}" == guid.hex.upper()
    assert u32(cv, 20) == 3 and cv[24:] == b"a.pdb\0"
    misc_size, misc_rva = struct.unpack_from("<II", m0, 84)
    assert data[misc_rva:misc_rva + misc_size] == b"MISC"
    cv_size, cv_rva = struct.unpack_from("<II", m1, 76)
    cv = data[cv_rva:cv_rva + cv_size]
    assert struct.unpack_from("<4sIII", cv) == (b"NB10", 0, 0x3C5A7B11, 9)
    assert cv[16:] == b"b.pdb\0"


def test_misc_info_5_fields() -> None:
    tz = TimeZone(bias=-60, standard_name="W. Europe Standard Time",
                  standard_date=(0, 10, 0, 5, 3, 0, 0, 0), daylight_name="W. Europe Daylight",
                  daylight_date=(0, 3, 0, 5, 2, 0, 0, 0), daylight_bias=-60)
    b = DumpBuilder("amd64")
    b.set_misc_info(process_id=1, process_integrity_level=0x2000, protected_process=0,
                    time_zone_id=2, time_zone=tz, build_string="19041.1.amd64fre.vb_release",
                    dbg_bld_str="dbghelp.dll", process_cookie=0xC00C1E,
                    xstate_data=XStateConfig(context_size=0x3C0, enabled_features=7,
                                             features=((0, 160), (160, 256))))
    misc = stream(b.to_bytes(), StreamType.MISC_INFO)
    assert len(misc) == u32(misc, 0) == 1364
    # PROCESS_ID | PROCESS_INTEGRITY | PROTECTED_PROCESS | TIMEZONE | BUILDSTRING | COOKIE
    assert u32(misc, 4) == 0x1 | 0x10 | 0x80 | 0x40 | 0x100 | 0x200
    assert u32(misc, 44) == 0x2000 and u32(misc, 56) == 2
    assert struct.unpack_from("<i", misc, 60)[0] == -60
    assert misc[64:64 + 46].decode("utf-16-le") == "W. Europe Standard Time"
    assert struct.unpack_from("<8H", misc, 128) == (0, 10, 0, 5, 3, 0, 0, 0)
    assert struct.unpack_from("<i", misc, 228)[0] == -60  # DaylightBias ends TimeZone at 232
    assert misc[232:232 + 54].decode("utf-16-le") == "19041.1.amd64fre.vb_release"
    assert misc[752:752 + 22].decode("utf-16-le") == "dbghelp.dll"
    assert struct.unpack_from("<IIQ", misc, 832) == (528, 0x3C0, 7)
    assert struct.unpack_from("<4I", misc, 848) == (0, 160, 160, 256)
    assert u32(misc, 1360) == 0xC00C1E


@pytest.mark.parametrize("level,size", [(1, 24), (2, 44), (3, 232), (4, 832), (5, 1364)])
def test_misc_info_sizes(level: int, size: int) -> None:
    b = DumpBuilder("amd64")
    b.set_misc_info(level=level, process_id=5)
    misc = stream(b.to_bytes(), StreamType.MISC_INFO)
    assert len(misc) == u32(misc, 0) == size
    assert u32(misc, 4) == 1 and u32(misc, 8) == 5


def test_memory64_data_is_contiguous_at_base_rva() -> None:
    b = DumpBuilder("amd64", full_memory=True)
    b.add_memory(0x2000, b"B" * 0x30)
    b.add_memory(0x1000, b"A" * 0x10)
    b.add_memory(0x9000, Sparse(0x100, {0xF0: b"Z" * 16}))
    data = b.to_bytes()
    m64 = stream(data, StreamType.MEMORY64_LIST)
    count, base = struct.unpack_from("<QQ", m64)
    assert count == 3 and len(m64) == 16 + 16 * 3
    assert base + 0x10 + 0x30 + 0x100 == len(data)  # full-memory data ends the file
    descs = [struct.unpack_from("<QQ", m64, 16 + 16 * i) for i in range(3)]
    assert descs == [(0x1000, 0x10), (0x2000, 0x30), (0x9000, 0x100)]
    assert data[base:base + 0x40] == b"A" * 0x10 + b"B" * 0x30
    assert data[base + 0x40:base + 0x140] == bytes(0xF0) + b"Z" * 16


def test_function_table_stream() -> None:
    b = DumpBuilder("amd64")
    b.add_function_table(0x7FF6_0000_0000, 0x7FF6_0001_0000, 0x7FF6_0000_0000,
                         entries=[(0x1000, 0x1050, 0x2000), (0x1050, 0x10A0, 0x2010)])
    ft = stream(b.to_bytes(), StreamType.FUNCTION_TABLE)
    assert struct.unpack_from("<6I", ft) == (24, 32, 88, 12, 1, 0)
    lo, hi, base, count, pad = struct.unpack_from("<QQQII", ft, 24)
    assert (lo, hi, base, count) == (0x7FF6_0000_0000, 0x7FF6_0001_0000, 0x7FF6_0000_0000, 2)
    entries = ft[24 + 32 + 88:24 + 32 + 88 + 24]
    assert struct.unpack("<6I", entries) == (0x1000, 0x1050, 0x2000, 0x1050, 0x10A0, 0x2010)
    assert (32 + 88 + 24 + pad) % 8 == 0 and len(ft) == 24 + 32 + 88 + 24 + pad


def test_process_vm_counters_revision_1() -> None:
    b = DumpBuilder("amd64", process_vm_counters_revision=1)
    b.set_process_vm_counters(page_fault_count=77, private_usage=1 << 33)
    vm = stream(b.to_bytes(), StreamType.PROCESS_VM_COUNTERS)
    assert len(vm) == 80 and u16(vm, 0) == 1 and u32(vm, 4) == 77
    assert u64(vm, 8 + 8 * 8) == 1 << 33  # PrivateUsage is the ninth ULONG64


def test_system_memory_info_offsets() -> None:
    b = DumpBuilder("amd64")
    b.set_system_memory_info(flags=2, basic_info_page_size=4096,
                             basic_info_number_of_processors=16,
                             file_cache_info_flags=9, perf_info_system_calls=123456,
                             perf_info_shared_committed_pages=42)
    smi = stream(b.to_bytes(), StreamType.SYSTEM_MEMORY_INFO)
    assert (u16(smi, 0), u16(smi, 2)) == (1, 2)
    assert u32(smi, 4 + 4) == 4096  # BasicInfo.PageSize
    assert u32(smi, 4 + 48) == 16  # BasicInfo.NumberOfProcessors ends the 52-byte BasicInfo
    assert u32(smi, 56 + 56) == 9  # FileCacheInfo.Flags, last of its 60 bytes
    perf = 56 + 60 + 32
    assert u32(smi, perf + 32 + 69 * 4) == 123456  # SystemCalls, the 70th ULONG
    assert u64(smi, 492 - 8) == 42


def test_comment_streams_are_nul_terminated() -> None:
    b = DumpBuilder("amd64")
    b.add_comment("wide", wide=True)
    b.add_comment("narrow", wide=False)
    data = b.to_bytes()
    assert stream(data, StreamType.COMMENT_W) == "wide\0".encode("utf-16-le")
    assert stream(data, StreamType.COMMENT_A) == b"narrow\0"


def test_raw_vendor_streams_and_omit() -> None:
    b = DumpBuilder("amd64", omit=[StreamType.SYSTEM_INFO])
    b.add_raw_stream(0xFFF0, b"wine")
    b.add_raw_stream(0x47670001, Sparse(64, {0: b"crashpad"}))
    data = b.to_bytes()
    types = [st for st, _, _ in directory(data)]
    assert StreamType.SYSTEM_INFO not in types
    assert stream(data, 0xFFF0) == b"wine"
    assert stream(data, 0x47670001) == b"crashpad" + bytes(56)


def test_built_map_matches_bytes() -> None:
    b = DumpBuilder("amd64")
    b.add_thread(3, context={"rip": 0x1234, "rsp": 0x8000}, stack=b"\x01" * 32)
    b.add_memory(0x100, b"xyz")
    built = b.build()
    data = built.to_bytes()
    assert len(data) == built.size
    for p in built.streams:
        assert directory(data)[p.index] == (p.stream_type, p.size, p.rva)
    for m in built.memory:
        assert len(data[m.rva:m.rva + m.size]) == m.size
    assert data[built.memory[0].rva:built.memory[0].rva + 3] == b"xyz"
    rva, size = built.thread_contexts[3]
    assert size == 1232 and u64(data, rva + 0xF8) == 0x1234


def test_write_makes_holes(tmp_path: Path) -> None:
    b = DumpBuilder("amd64", full_memory=True)
    b.add_memory(0x1_0000_0000, Sparse(256 << 20, {(256 << 20) - 4: b"END!"}))
    path = tmp_path / "sparse.dmp"
    built = b.write(path)
    st = os.stat(path)
    assert st.st_size == built.size > 256 << 20
    assert st.st_blocks * 512 < 4 << 20  # a hole, not 256 MiB of zeros
    with open(path, "rb") as f:
        f.seek(built.size - 4)
        assert f.read() == b"END!"
    assert b.to_bytes() == path.read_bytes()


def test_x86_nested_exception_records_are_32_bit() -> None:
    from dumplib.builder import NestedException

    b = DumpBuilder("x86")
    b.set_exception(1, 0xE06D7363, 0x401000,
                    nested=[NestedException(0xC0000005, 0x402000, flags=1, parameters=(1, 8)),
                            NestedException(0xC0000094, 0x403000)],
                    nested_address=0x10000)
    built = b.build()
    data = built.to_bytes()
    exc = stream(data, StreamType.EXCEPTION)
    assert u64(exc, 16) == 0x10000  # ExceptionRecord points at the chain
    (chain,) = [m for m in built.memory if m.address == 0x10000]
    assert chain.size == 2 * 80  # EXCEPTION_RECORD32 is 80 bytes
    rec = data[chain.rva:chain.rva + 80]
    # ExceptionCode, ExceptionFlags, ExceptionRecord, ExceptionAddress, NumberParameters, info
    assert struct.unpack_from("<5I2I", rec) == (0xC0000005, 1, 0x10000 + 80, 0x402000, 2, 1, 8)
    rec2 = data[chain.rva + 80:chain.rva + 160]
    assert struct.unpack_from("<5I", rec2) == (0xC0000094, 0, 0, 0x403000, 0)


def test_arm64_function_table_entries() -> None:
    b = DumpBuilder("arm64")
    b.add_function_table(0x1000, 0x2000, 0x1000, entries=[(0x10, 0x400001), (0x40, 0x500001)])
    ft = stream(b.to_bytes(), StreamType.FUNCTION_TABLE)
    # no native descriptor by default on arm64; 8-byte IMAGE_ARM64_RUNTIME_FUNCTION_ENTRY
    assert struct.unpack_from("<6I", ft) == (24, 32, 0, 8, 1, 0)
    assert struct.unpack_from("<4I", ft, 24 + 32) == (0x10, 0x400001, 0x40, 0x500001)


def test_thread_without_stack_has_empty_descriptor() -> None:
    b = DumpBuilder("amd64")
    b.add_thread(1, context={"rsp": 0x5000})
    threads = stream(b.to_bytes(), StreamType.THREAD_LIST)
    # Stack: StartOfMemoryRange, DataSize, Rva all zero-sized / zero
    assert struct.unpack_from("<QII", threads, 4 + 24)[1:] == (0, 0)
