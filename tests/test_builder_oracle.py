"""dumplib.builder output checked by an independent parser: skelsec's ``minidump`` package.

Every stream skelsec understands is built here and read back through
``MinidumpFile.parse_bytes``: threads (with AMD64 and x86 contexts), ThreadExList,
modules, unloaded modules, memory (MemoryList and Memory64List), exception,
system info, misc info, handles, memory info, thread info and comments. The
values compared are the ones given to the builder, never the builder's output.

Known skelsec quirks the tests step around (each is asserted, so a change shows):
its header parser reads TimeDateStamp from the Reserved slot and splits the
64-bit Flags into two 32-bit fields; it cannot open dumps with ProcessorArchitecture
12 (ARM64) or with unknown stream types below 0xFFFF (wine's 0xFFF0).
"""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from minidump.minidumpfile import MinidumpFile

from dumplib.builder import DumpBuilder, Sparse

AV = 0xC0000005


def parse(data: bytes) -> MinidumpFile:
    return MinidumpFile.parse_bytes(data)


def test_header_as_skelsec_reads_it() -> None:
    b = DumpBuilder("amd64", time_date_stamp=0x5F001234, checksum=0xABCD, flags=0x1_0000_0806)
    m = parse(b.to_bytes())
    assert m.header.Signature == "PMDM"  # skelsec reverses the 4 signature bytes
    assert m.header.Version == 0xA793
    assert m.header.CheckSum == 0xABCD
    # skelsec: Reserved is the real TimeDateStamp; its "TimeDateStamp" and "Flags" are the low
    # and high halves of the 64-bit Flags.
    assert m.header.Reserved == 0x5F001234
    assert m.header.TimeDateStamp == 0x0806
    assert int(m.header.Flags) == 0x1


def test_system_info_amd64() -> None:
    b = DumpBuilder("amd64", os_version=(10, 0, 14393), csd_version="Service Pack 1",
                    product_type=3, suite_mask=0x110, processor_level=6,
                    processor_revision=0x5504, number_of_processors=12,
                    processor_features=(0x1122334455667788, 0x99))
    si = parse(b.to_bytes()).sysinfo
    assert si.ProcessorArchitecture.value == 9
    assert (si.MajorVersion, si.MinorVersion, si.BuildNumber) == (10, 0, 14393)
    assert si.CSDVersion == "Service Pack 1"
    assert si.ProductType.value == 3
    assert int(si.SuiteMask) == 0x110
    assert (si.ProcessorLevel, si.ProcessorRevision, si.NumberOfProcessors) == (6, 0x5504, 12)
    assert si.PlatformId.value == 2
    assert si.ProcessorFeatures == [0x1122334455667788, 0x99]


def test_system_info_x86_cpu_information() -> None:
    b = DumpBuilder("x86", vendor_id="AuthenticAMD", version_information=0x00A20F10,
                    feature_information=0x178BFBFF, amd_extended_cpu_features=0x2FD3FBFF,
                    os_version=(6, 1, 7601))
    si = parse(b.to_bytes()).sysinfo
    assert si.ProcessorArchitecture.value == 0
    vendor = b"".join(v.to_bytes(4, "little") for v in si.VendorId)
    assert vendor == b"AuthenticAMD"
    assert si.VersionInformation == 0x00A20F10
    assert si.FeatureInformation == 0x178BFBFF
    assert si.AMDExtendedCpuFeatures == 0x2FD3FBFF


def test_amd64_thread_context_and_stack() -> None:
    regs = {"rax": 1, "rbx": 2, "rcx": 3, "rdx": 4, "rsi": 5, "rdi": 6, "rbp": 0x9F100,
            "rsp": 0x9F000, "r8": 8, "r9": 9, "r10": 10, "r11": 11, "r12": 12, "r13": 13,
            "r14": 14, "r15": 0xFFFF_FFFF_FFFF_FFFF, "rip": 0x7FF6_0000_1234, "eflags": 0x246,
            "seg_cs": 0x33, "seg_ss": 0x2B, "seg_fs": 0x53, "mx_csr": 0x1F80, "dr7": 0x400,
            "xmm3": (0x0123_4567_89AB_CDEF << 64) | 0x1111_2222_3333_4444}
    stack = bytes(range(256)) * 8
    b = DumpBuilder("amd64")
    b.add_thread(0x1A2C, context=regs, stack=stack, teb=0x7FF_FFFD_E000, suspend_count=1,
                 priority_class=0x20, priority=2)
    m = parse(b.to_bytes())
    (t,) = m.threads.threads
    assert (t.ThreadId, t.SuspendCount, t.PriorityClass, t.Priority, t.Teb) == (
        0x1A2C, 1, 0x20, 2, 0x7FF_FFFD_E000)
    assert (t.Stack.StartOfMemoryRange, t.Stack.DataSize) == (0x9F000, len(stack))
    assert t.ThreadContext.DataSize == 1232
    c = t.ContextObject
    assert c.ContextFlags == 0x10001F
    for name, value in regs.items():
        if name.startswith("xmm") or name.startswith("seg_") or name in ("eflags", "mx_csr"):
            continue
        assert getattr(c, name.capitalize()) == value, name
    assert (c.SegCs, c.SegSs, c.SegFs, c.EFlags, c.MxCsr) == (0x33, 0x2B, 0x53, 0x246, 0x1F80)
    xmm3 = c.DUMMYUNIONNAME.FltSave.XmmRegisters[3]
    assert xmm3.Low == 0x1111_2222_3333_4444
    assert xmm3.High == 0x0123_4567_89AB_CDEF
    assert m.get_reader().read(0x9F000, len(stack)) == stack


def test_x86_thread_context() -> None:
    regs = {"eax": 0xA, "ebx": 0xB, "ecx": 0xC, "edx": 0xD, "esi": 0x51, "edi": 0xD1,
            "ebp": 0x0018FF80, "esp": 0x0018FF00, "eip": 0x00401000, "eflags": 0x202,
            "seg_cs": 0x23, "seg_ds": 0x2B, "seg_es": 0x2B, "seg_fs": 0x53, "seg_gs": 0x2B,
            "seg_ss": 0x2B, "dr0": 0x1000, "dr7": 0x1}
    b = DumpBuilder("x86")
    b.add_thread(77, context=regs, stack=b"\xAA" * 0x100)
    m = parse(b.to_bytes())
    (t,) = m.threads.threads
    assert t.ThreadContext.DataSize == 716
    c = t.ContextObject
    assert c.ContextFlags == 0x1003F
    skelsec_names = {"eflags": "EFlags", "seg_cs": "SegCs", "seg_ds": "SegDs",
                     "seg_es": "SegEs", "seg_fs": "SegFs", "seg_gs": "SegGs",
                     "seg_ss": "SegSs"}
    for name, value in regs.items():
        assert getattr(c, skelsec_names.get(name, name.capitalize())) == value, name
    assert m.get_reader().read(0x0018FF00, 0x100) == b"\xAA" * 0x100


def test_thread_ex_list() -> None:
    b = DumpBuilder("amd64", thread_list=False, thread_ex_list=True)
    b.add_thread(5, context={"rsp": 0x5000}, stack=b"\1" * 64, teb=0x123)
    m = parse(b.to_bytes())
    assert m.threads is None
    (t,) = m.threads_ex.threads
    assert (t.ThreadId, t.Teb, t.Stack.StartOfMemoryRange, t.Stack.DataSize) == (5, 0x123,
                                                                                  0x5000, 64)
    assert (t.BackingStore.StartOfMemoryRange, t.BackingStore.DataSize) == (0, 0)


def test_modules_and_unloaded_modules() -> None:
    b = DumpBuilder("amd64")
    b.add_module(r"C:\Windows\System32\ntdll.dll", base=0x7FF8_1000_0000, size=0x1F0000,
                 time_date_stamp=0x57899B1C, checksum=0x1F7C1E, version=(10, 0, 14393, 1770),
                 pdb70=("ntdll.pdb", uuid.UUID("0c6ab5e1-2a3b-4c5d-8e9f-a0b1c2d3e4f5"), 2))
    b.add_module("C:\\app\\crash.exe", base=0x1_4000_0000, size=0x9000,
                 pdb20=("crash.pdb", 0x3C5A7B11, 1))
    b.add_unloaded_module("gone.dll", base=0x6000_0000, size=0x3000, time_date_stamp=7,
                          checksum=9)
    m = parse(b.to_bytes())
    ntdll, app = m.modules.modules
    assert ntdll.name == r"C:\Windows\System32\ntdll.dll"
    assert (ntdll.baseaddress, ntdll.size, ntdll.endaddress) == (0x7FF8_1000_0000, 0x1F0000,
                                                                 0x7FF8_1000_0000 + 0x1F0000)
    assert (ntdll.timestamp, ntdll.checksum) == (0x57899B1C, 0x1F7C1E)
    vi = ntdll.versioninfo
    assert vi.dwSignature == 0xFEEF04BD
    assert (vi.dwFileVersionMS, vi.dwFileVersionLS) == ((10 << 16) | 0, (14393 << 16) | 1770)
    assert app.name == "C:\\app\\crash.exe"
    assert app.versioninfo.dwSignature == 0  # no version resource
    (gone,) = m.unloaded_modules.modules
    assert (gone.name, gone.baseaddress, gone.size, gone.timestamp, gone.checksum) == (
        "gone.dll", 0x6000_0000, 0x3000, 7, 9)


def test_exception_stream() -> None:
    b = DumpBuilder("amd64")
    b.add_thread(0x66, context={"rip": 0x401000, "rsp": 0x8000})
    b.set_exception(0x66, AV, 0x401000, parameters=(1, 0xDEAD), flags=1,
                    exception_record=0x1234_5678)
    (rec,) = parse(b.to_bytes()).exception.exception_records
    assert rec.ThreadId == 0x66
    er = rec.ExceptionRecord
    assert er.ExceptionCode_raw == AV
    assert (er.ExceptionFlags, er.ExceptionRecord, er.ExceptionAddress) == (1, 0x12345678,
                                                                            0x401000)
    assert er.NumberParameters == 2
    assert er.ExceptionInformation == [1, 0xDEAD]
    assert rec.ThreadContext.DataSize == 1232


def test_misc_info_levels() -> None:
    for level in (1, 2, 3, 4, 5):
        b = DumpBuilder("amd64")
        power = level >= 2
        b.set_misc_info(level=level, process_id=4242, process_create_time=0x5F000000,
                        process_user_time=3, process_kernel_time=4,
                        processor_max_mhz=3400 if power else None,
                        processor_current_mhz=3100 if power else None,
                        processor_mhz_limit=3400 if power else None,
                        processor_max_idle_state=1 if power else None,
                        processor_current_idle_state=0 if power else None)
        mi = parse(b.to_bytes()).misc_info
        assert (mi.ProcessId, mi.ProcessCreateTime, mi.ProcessUserTime,
                mi.ProcessKernelTime) == (4242, 0x5F000000, 3, 4), level
        if level >= 2:
            assert (mi.ProcessorMaxMhz, mi.ProcessorCurrentMhz, mi.ProcessorMhzLimit) == (
                3400, 3100, 3400)
        else:
            assert mi.ProcessorMaxMhz is None


def test_misc_info_flags_hide_absent_fields() -> None:
    b = DumpBuilder("amd64")
    b.set_misc_info(process_id=9)
    mi = parse(b.to_bytes()).misc_info
    assert mi.ProcessId == 9
    assert mi.ProcessCreateTime is None  # PROCESS_TIMES flag not set


def test_handles_v1_and_v2() -> None:
    for version in (1, 2):
        b = DumpBuilder("amd64", handle_descriptor_version=version)
        b.add_handle(0x4, type_name="Event", object_name=r"\BaseNamedObjects\ready",
                     attributes=2, granted_access=0x1F0003, handle_count=3, pointer_count=65)
        b.add_handle(0x8, type_name="File")
        h1, h2 = parse(b.to_bytes()).handles.handles
        assert (h1.Handle, h1.TypeName, h1.ObjectName) == (4, "Event",
                                                           r"\BaseNamedObjects\ready")
        assert (h1.Attributes, h1.GrantedAccess, h1.HandleCount, h1.PointerCount) == (
            2, 0x1F0003, 3, 65)
        assert (h2.Handle, h2.TypeName, h2.ObjectName) == (8, "File", None)


def test_handle_object_information() -> None:
    b = DumpBuilder("amd64")
    b.add_handle(0x10, type_name="Thread", object_info=[(1, b"\x01\x02\x03\x04")])
    (h,) = parse(b.to_bytes()).handles.handles
    (info,) = h.ObjectInfos
    assert (info.InfoType, info.SizeOfInfo, info.info_bytes) == (1, 4, b"\x01\x02\x03\x04")


def test_memory_info_and_thread_info() -> None:
    b = DumpBuilder("amd64")
    b.add_memory_info(0x10000, 0x2000, allocation_base=0xF000, allocation_protect=0x40,
                      state=0x1000, protect=0x20, type=0x1000000)
    b.add_memory_info(0x20000, 0x1000, state=0x2000, protect=0x01, type=0x40000)
    b.add_thread_info(0x66, dump_flags=0x2, dump_error=5, exit_status=0x103,
                      create_time=1 << 60, exit_time=2, kernel_time=3, user_time=4,
                      start_address=0x7FF6_0000_1000, affinity=0xFF)
    m = parse(b.to_bytes())
    a, c = m.memory_info.infos
    assert (a.BaseAddress, a.AllocationBase, a.AllocationProtect, a.RegionSize) == (
        0x10000, 0xF000, 0x40, 0x2000)
    assert (a.State.value, a.Protect.value, a.Type.value) == (0x1000, 0x20, 0x1000000)
    assert (c.BaseAddress, c.AllocationBase, c.RegionSize) == (0x20000, 0x20000, 0x1000)
    assert (c.State.value, c.Protect.value, c.Type.value) == (0x2000, 0x01, 0x40000)
    (ti,) = m.thread_info.infos
    assert (ti.ThreadId, ti.DumpFlags.value, ti.DumpError, ti.ExitStatus) == (0x66, 2, 5, 0x103)
    assert (ti.CreateTime, ti.ExitTime, ti.KernelTime, ti.UserTime) == (1 << 60, 2, 3, 4)
    assert (ti.StartAddress, ti.Affinity) == (0x7FF6_0000_1000, 0xFF)


def test_comments() -> None:
    b = DumpBuilder("amd64")
    b.add_comment("procdump -ma 4242 — über", wide=True)
    b.add_comment("ansi comment", wide=False)
    m = parse(b.to_bytes())
    assert m.comment_w.data.rstrip("\0") == "procdump -ma 4242 — über"
    assert m.comment_a.data.rstrip("\0") == "ansi comment"


def test_memory_list_and_memory64_list_contents() -> None:
    blob = bytes(range(251)) * 40
    for full in (False, True):
        b = DumpBuilder("amd64", full_memory=full)
        b.add_memory(0x30000, blob)
        b.add_memory(0x10000, Sparse(0x8000, patches={0x10: b"needle", 0x7FF0: b"tail"}))
        b.add_thread(1, context={"rsp": 0x50000}, stack=b"\x77" * 0x200)
        m = parse(b.to_bytes())
        segs = (m.memory_segments_64 if full else m.memory_segments).memory_segments
        assert [(s.start_virtual_address, s.size) for s in segs] == [
            (0x10000, 0x8000), (0x30000, len(blob)), (0x50000, 0x200)]
        r = m.get_reader()
        assert r.read(0x30000, len(blob)) == blob
        assert r.read(0x10010, 6) == b"needle"
        assert r.read(0x17FF0, 4) == b"tail"
        assert r.read(0x10100, 16) == bytes(16)
        assert r.read(0x50000, 0x200) == b"\x77" * 0x200
        (t,) = m.threads.threads
        # dbghelp style: the stack descriptor points at the captured bytes in both modes.
        seg = next(s for s in segs if s.start_virtual_address == 0x50000)
        assert t.Stack.Rva == seg.start_file_address


def test_wine_stack_quirk() -> None:
    b = DumpBuilder("amd64", full_memory=True, stack_rva_mode="wine")
    b.add_thread(1, context={"rsp": 0x50000}, stack=b"\x77" * 0x200)
    m = parse(b.to_bytes())
    (t,) = m.threads.threads
    assert (t.Stack.StartOfMemoryRange, t.Stack.DataSize, t.Stack.Rva) == (0x50000, 0x200, 0)
    assert m.get_reader().read(0x50000, 4) == b"\x77" * 4


def test_nested_exception_chain_in_memory() -> None:
    from dumplib.builder import NestedException

    b = DumpBuilder("amd64")
    b.add_thread(1, context={"rip": 0x401000})
    b.set_exception(1, 0xE06D7363, 0x7FF8_0000_1000, parameters=(0x19930520, 1, 2),
                    nested=[NestedException(AV, 0x401000, parameters=(0, 8)),
                            NestedException(0xC00000FD, 0x402000)],
                    nested_address=0x9000)
    m = parse(b.to_bytes())
    (rec,) = m.exception.exception_records
    assert rec.ExceptionRecord.ExceptionRecord == 0x9000
    reader = m.get_reader()
    first = reader.read(0x9000, 152)
    assert int.from_bytes(first[0:4], "little") == AV
    nxt = int.from_bytes(first[8:16], "little")
    assert int.from_bytes(first[16:24], "little") == 0x401000
    assert int.from_bytes(first[24:28], "little") == 2
    second = reader.read(nxt, 152)
    assert int.from_bytes(second[0:4], "little") == 0xC00000FD
    assert int.from_bytes(second[8:16], "little") == 0  # end of chain


# --- hypothesis round trips ---------------------------------------------------------------

_u32 = st.integers(0, 0xFFFF_FFFF)
_u64 = st.integers(0, 0xFFFF_FFFF_FFFF_FFFF)
_name = st.text(st.characters(codec="utf-8", exclude_characters="\0"), max_size=40)


@st.composite
def _memory_layout(draw: st.DrawFn) -> list[tuple[int, bytes]]:
    """Non-overlapping ranges, in random order, with random contents."""
    count = draw(st.integers(0, 6))
    address = draw(st.integers(0, 1 << 40))
    out = []
    for _ in range(count):
        data = draw(st.binary(min_size=1, max_size=300))
        out.append((address, data))
        address += len(data) + draw(st.integers(0, 0x10000))
    return draw(st.permutations(out))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    threads=st.lists(st.tuples(_u32, _u64, _u64, _u32, _u32), max_size=5,
                     unique_by=lambda t: t[0]),
    modules=st.lists(st.tuples(_name, _u64, _u32, _u32, _u32), max_size=4),
    memory=_memory_layout(),
    full=st.booleans(),
)
def test_round_trip_through_skelsec(
    threads: list[tuple[int, int, int, int, int]],
    modules: list[tuple[str, int, int, int, int]],
    memory: list[tuple[int, bytes]],
    full: bool,
) -> None:
    b = DumpBuilder("amd64", full_memory=full)
    for tid, rip, rsp, suspend, priority in threads:
        b.add_thread(tid, context={"rip": rip, "rsp": rsp}, suspend_count=suspend,
                     priority=priority)
    for name, base, size, stamp, checksum in modules:
        b.add_module(name, base=base, size=size, time_date_stamp=stamp, checksum=checksum)
    for address, data in memory:
        b.add_memory(address, data)
    m = parse(b.to_bytes())
    got = [(t.ThreadId, t.ContextObject.Rip, t.ContextObject.Rsp, t.SuspendCount, t.Priority)
           for t in m.threads.threads]
    assert got == threads
    assert [(x.name, x.baseaddress, x.size, x.timestamp, x.checksum)
            for x in m.modules.modules] == modules
    segs = (m.memory_segments_64 if full else m.memory_segments).memory_segments
    assert [(s.start_virtual_address, s.size) for s in segs] == sorted(
        (a, len(d)) for a, d in memory)
    if memory:
        reader = m.get_reader()
        for address, data in memory:
            assert reader.read(address, len(data)) == data
