"""Builder round trips: describe a dump in code, write it, read it back, same values.

The builder declares its layouts independently of dumplib.format (from
Microsoft's headers), so agreement here is evidence both sides follow the
documented layout, not that they share a mistake.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dumplib
from dumplib.builder import DumpBuilder, NestedException, Sparse, TimeZone
from dumplib.format.constants import StreamType

u32 = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**64 - 1)
names = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xD7FF, blacklist_characters="\0"),
    max_size=40,
)

AMD64_REGS = ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11",
              "r12", "r13", "r14", "r15", "rip", "eflags", "xmm0", "xmm15", "mx_csr", "dr7"]
X86_REGS = ["eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp", "eip", "eflags", "dr0"]
ARM64_REGS = ["x0", "x1", "x28", "fp", "lr", "sp", "pc", "cpsr", "v0", "v31", "fpsr"]


def _width(reg: str) -> int:
    if reg.startswith(("xmm", "v")):
        return 128
    if reg in ("eflags", "mx_csr", "cpsr", "fpsr") or reg.startswith("e") or reg == "dr0":
        return 32
    return 64


@st.composite
def contexts(draw: st.DrawFn, arch: str) -> dict[str, int]:
    regs = {"amd64": AMD64_REGS, "x86": X86_REGS, "arm64": ARM64_REGS}[arch]
    chosen = draw(st.lists(st.sampled_from(regs), unique=True, max_size=len(regs)))
    return {r: draw(st.integers(0, 2 ** _width(r) - 1)) for r in chosen}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_threads_modules_exception_roundtrip(data: st.DataObject) -> None:
    arch = data.draw(st.sampled_from(["amd64", "x86", "arm64"]))
    full = data.draw(st.booleans())
    b = DumpBuilder(
        arch, full_memory=full, os_version=(10, 0, data.draw(st.integers(0, 30000))),
        csd_version=data.draw(names), number_of_processors=data.draw(st.integers(1, 255)),
    )
    tids = data.draw(st.lists(u32, unique=True, max_size=6))
    ctxs = {}
    stacks = {}
    for i, tid in enumerate(tids):
        ctx = data.draw(contexts(arch))
        ctxs[tid] = ctx
        stack = data.draw(st.binary(max_size=256))
        start = 0x10_0000 * (i + 1)
        stacks[tid] = (start, stack)
        b.add_thread(tid, context=ctx, stack=stack or None, stack_start=start,
                     teb=data.draw(u64 if arch != "x86" else u32),
                     suspend_count=data.draw(st.integers(0, 3)),
                     priority=data.draw(st.integers(-15, 15)) & 0xFFFFFFFF)
    mods = []
    for i in range(data.draw(st.integers(0, 5))):
        path = "C:\\m\\" + data.draw(names) + f"{i}.dll"
        base, size = 0x7FF0_0000_0000 + i * 0x100000, data.draw(st.integers(1, 0xFFFFF))
        version = data.draw(st.none() | st.tuples(*[st.integers(0, 0xFFFF)] * 4))
        guid = uuid.UUID(int=data.draw(st.integers(0, 2**128 - 1)))
        age = data.draw(u32)
        kind = data.draw(st.sampled_from(["pdb70", "pdb20", "none"]))
        kw: dict[str, object] = {}
        if kind == "pdb70":
            kw["pdb70"] = (f"m{i}.pdb", guid, age)
        elif kind == "pdb20":
            kw["pdb20"] = (f"m{i}.pdb", age, 3)
        ts, cs = data.draw(u32), data.draw(u32)
        b.add_module(path, base=base, size=size, time_date_stamp=ts, checksum=cs,
                     version=version, **kw)  # type: ignore[arg-type]
        mods.append((path, base, size, ts, cs, version, kind, guid, age))
    exc = None
    if tids and data.draw(st.booleans()):
        params = tuple(data.draw(st.lists(u64 if arch != "x86" else u32, max_size=15)))
        exc = (tids[0], data.draw(u32), data.draw(u64 if arch != "x86" else u32), params)
        b.set_exception(exc[0], exc[1], exc[2], parameters=params,
                        context=ctxs[tids[0]] | {"rip" if arch == "amd64" else
                                                 ("eip" if arch == "x86" else "pc"): 0x1234})
    d = dumplib.open(b.to_bytes())
    assert d.check() == []
    assert d.system.arch.value == arch
    assert d.threads.ids == tids
    for t in d.threads:
        want = ctxs[t.id]
        for reg, value in want.items():
            assert t.context[reg] == value, reg
        start, stack = stacks[t.id]
        if stack:
            assert t.stack_range == (start, len(stack))
            assert d.thread_stack_bytes(t) == stack
            assert d.memory.read(start, len(stack)) == stack
    assert len(d.modules) == len(mods)
    for i, (m, spec) in enumerate(zip(d.modules, mods, strict=True)):
        path, base, size, ts, cs, version, kind, guid, age = spec
        assert (m.path, m.base, m.size, m.end, m.timestamp, m.checksum) == (
            path, base, size, base + size, ts, cs)
        assert m.version == (version if version and any(version) else None)
        if kind == "pdb70":
            assert m.pdb == (f"m{i}.pdb", guid.hex.upper(), age)
        elif kind == "pdb20":
            assert m.pdb == (f"m{i}.pdb", f"{age:08X}", 3)
        else:
            assert m.pdb is None
        assert d.modules.find(base) == m
    if exc is None:
        assert d.exception is None
    else:
        e = d.exception
        assert e is not None
        assert (e.thread_id, e.code, e.address, e.parameters) == exc
        assert e.context is not None and e.context.ip == 0x1234


@settings(max_examples=40, deadline=None)
@given(
    level=st.integers(1, 5),
    pid=u32,
    times=st.tuples(u32, u32, u32),
    mhz=st.tuples(u32, u32, u32, u32, u32),
    build=names,
)
def test_misc_info_levels(level: int, pid: int, times: tuple[int, int, int],
                          mhz: tuple[int, ...], build: str) -> None:
    b = DumpBuilder("amd64")
    tz = TimeZone(bias=-60, standard_name="W. Europe Standard Time",
                  standard_date=(0, 10, 0, 5, 3, 0, 0, 0), standard_bias=0,
                  daylight_name="W. Europe Daylight Time",
                  daylight_date=(0, 3, 0, 5, 2, 0, 0, 0), daylight_bias=-60)
    fields: dict[str, object] = dict(
        process_id=pid, process_create_time=times[0], process_user_time=times[1],
        process_kernel_time=times[2],
    )
    if level >= 2:
        fields.update(processor_max_mhz=mhz[0], processor_current_mhz=mhz[1],
                      processor_mhz_limit=mhz[2], processor_max_idle_state=mhz[3],
                      processor_current_idle_state=mhz[4])
    if level >= 3:
        fields.update(time_zone_id=2, time_zone=tz)
    if level >= 4:
        fields.update(build_string=build[:259], dbg_bld_str="dbg")
    if level >= 5:
        fields.update(process_cookie=0xC00C1E)
    b.set_misc_info(level=level, **fields)  # type: ignore[arg-type]
    d = dumplib.open(b.to_bytes())
    mi = d.misc_info
    assert mi is not None and mi.level == level
    assert (mi.process_id, mi.process_create_time, mi.process_user_time,
            mi.process_kernel_time) == (pid, *times)
    assert d.process_id == pid
    if level >= 2:
        assert (mi.processor_max_mhz, mi.processor_current_mhz, mi.processor_mhz_limit,
                mi.processor_max_idle_state, mi.processor_current_idle_state) == mhz
    else:
        assert mi.processor_max_mhz is None
    if level >= 3:
        assert mi.time_zone is not None and mi.time_zone.bias == -60
        assert mi.time_zone.standard_name == "W. Europe Standard Time"
        assert mi.time_zone.daylight_date.month == 3 and mi.time_zone_id == 2
    if level >= 4:
        assert mi.build_string == build[:259] and mi.dbg_bld_str == "dbg"
    if level >= 5:
        assert mi.process_cookie == 0xC00C1E and mi.xstate_data is not None


def test_every_other_stream_roundtrips() -> None:
    b = DumpBuilder("amd64", thread_ex_list=True, thread_list=False)
    b.add_thread(0x44, context={"rip": 0x401000, "rsp": 0x9000}, stack=b"S" * 64,
                 stack_start=0x9000, name="io completion worker",
                 backing_store=(0x7000, 16, 0))
    b.add_unloaded_module("C:\\x\\gone.dll", base=0x6000_0000, size=0x5000,
                          time_date_stamp=0x5F5E100, checksum=0xABC)
    b.add_memory_info(0x9000, 0x1000, allocation_base=0x8000, allocation_protect=0x04,
                      state=0x1000, protect=0x04, type=0x20000)
    b.add_memory_info(0x40_0000, 0x1000, protect=0x20, type=0x1000000)
    b.add_thread_info(0x44, dump_flags=1, create_time=132_000_000_000_000_000,
                      kernel_time=5, user_time=7, start_address=0x401000, affinity=3)
    b.add_handle(0x4, type_name="File", object_name="\\Device\\Afd", attributes=2,
                 granted_access=0x1F01FF, handle_count=1, pointer_count=3,
                 object_info=[(2, b"\x01\x02\x03\x04")])
    b.add_handle(0x8, type_name="Event")
    b.add_handle_operation(0x4, process_id=9, thread_id=0x44, operation_type=2,
                           back_trace=[0x401000, 0x402000])
    b.add_comment("procdump -ma -e 1 -f NullReferenceException DataMCUSvc.exe")
    b.add_comment("ansi comment", wide=False)
    b.add_function_table(0x5000_0000, 0x5000_1000, 0x5000_0000,
                         entries=[(0x10, 0x40, 0x800), (0x40, 0x90, 0x810)])
    b.set_system_memory_info(basic_info_page_size=4096, basic_info_number_of_processors=8,
                             file_cache_info_current_size=12345,
                             basic_perf_info_commit_limit=999, perf_info_system_calls=42)
    b.set_process_vm_counters(page_fault_count=17, working_set_size=1 << 20,
                              peak_virtual_size=1 << 40, virtual_size=1 << 39,
                              private_usage=1 << 22, job_total_commit_limit=5)
    b.add_token(0x44, 0x120, b"token-bytes")
    b.add_raw_stream(0xFFF0, b"wine host libraries")
    b.add_raw_stream(0x47670001, bytes(12))
    b.set_exception(0x44, 0xE0434352, 0x401010,
                    nested=[NestedException(0xC0000005, 0x401020, parameters=(1, 0))],
                    nested_address=0x0020_0000)
    b.add_memory(0x0010_0000, Sparse(0x1000, patches={0x10: b"marker"}))
    d = dumplib.open(b.to_bytes())
    assert d.check() == []
    t = d.threads[0]
    assert t.id == 0x44 and t.name == "io completion worker"
    assert t.raw.backing_store is not None and t.raw.backing_store.start_of_memory_range == 0x7000
    assert t.info is not None and t.info.start_address == 0x401000 and t.info.affinity == 3
    assert t.create_time is not None and t.create_time.year == 2019
    [u] = d.unloaded_modules
    assert (u.name, u.base, u.size, u.timestamp, u.checksum) == (
        "gone.dll", 0x6000_0000, 0x5000, 0x5F5E100, 0xABC)
    assert [(m.base_address, m.region_size, m.protect, m.type) for m in d.memory_info] == [
        (0x9000, 0x1000, 0x04, 0x20000), (0x40_0000, 0x1000, 0x20, 0x1000000)]
    assert d.memory.info(0x9800) is not None and d.memory.info(0x9800).allocation_base == 0x8000
    h1, h2 = d.handles
    assert (h1.handle, h1.type_name, h1.object_name, h1.granted_access, h1.pointer_count) == (
        4, "File", "\\Device\\Afd", 0x1F01FF, 3)
    assert [(o.info_type, o.data) for o in h1.object_info] == [(2, b"\x01\x02\x03\x04")]
    assert (h2.type_name, h2.object_name) == ("Event", None)
    [op] = d.handle_operations
    assert (op.handle, op.thread_id, op.operation_type, op.back_trace) == (
        4, 0x44, 2, (0x401000, 0x402000))
    assert d.comments == ["procdump -ma -e 1 -f NullReferenceException DataMCUSvc.exe",
                          "ansi comment"]
    [ft] = d.function_tables
    assert (ft.minimum_address, ft.maximum_address, ft.entry_count) == (
        0x5000_0000, 0x5000_1000, 2)
    assert ft.runtime_functions() == [(0x10, 0x40, 0x800), (0x40, 0x90, 0x810)]
    smi = d.system_memory_info
    assert smi is not None
    assert (smi.page_size, smi.number_of_processors, smi.file_cache_current_size,
            smi.commit_limit) == (4096, 8, 12345, 999)
    vm = d.process_vm_counters
    assert vm is not None and vm.revision == 2
    assert (vm.page_fault_count, vm.working_set_size, vm.peak_virtual_size, vm.virtual_size,
            vm.private_usage, vm.job_total_commit_limit) == (
        17, 1 << 20, 1 << 40, 1 << 39, 1 << 22, 5)
    [tok] = d.tokens
    assert (tok.token_id, tok.token_handle, tok.data) == (0x44, 0x120, b"token-bytes")
    assert d.raw_stream(0xFFF0) == b"wine host libraries"
    names_ = [s.name for s in d.streams]
    assert "WineHostLibraries" in names_ and "BreakpadInfo" in names_
    assert d.stream(StreamType.ThreadListStream) is None
    e = d.exception
    assert e is not None and e.name == "CLR_EXCEPTION"
    assert [(r.exception_code, r.exception_address, r.parameters) for r in e.chained] == [
        (0xC0000005, 0x401020, (1, 0))]
    assert d.memory.read(0x0010_0010, 6) == b"marker"
    assert "MiniDumpWithHandleData" in d.dump_type_names


def test_vm_counters_revision_1_and_wine_stack_quirk() -> None:
    b = DumpBuilder("amd64", process_vm_counters_revision=1, full_memory=True,
                    stack_rva_mode="wine")
    b.set_process_vm_counters(page_fault_count=3, private_usage=99)
    b.add_thread(1, context={"rsp": 0x2000}, stack=b"\xaa" * 32, stack_start=0x2000)
    d = dumplib.open(b.to_bytes())
    vm = d.process_vm_counters
    assert vm is not None and vm.revision == 1
    assert (vm.page_fault_count, vm.private_usage, vm.virtual_size) == (3, 99, None)
    t = d.threads[0]
    assert t.raw.stack.rva == 0  # wine's full-memory quirk: only reachable through Memory64
    assert d.thread_stack_bytes(t) == b"\xaa" * 32


def test_dump_without_system_info_guesses_arch_from_contexts() -> None:
    b = DumpBuilder("x86", omit=[StreamType.SystemInfoStream])
    b.add_thread(7, context={"eip": 0x401000, "esp": 0x12FF00})
    d = dumplib.open(b.to_bytes())
    assert not d.system.present and d.system.arch is dumplib.Arch.X86
    assert d.threads[0].context.ip == 0x401000


def test_sparse_multi_gb_dump(tmp_path: Path) -> None:
    path = tmp_path / "big.dmp"
    b = DumpBuilder("amd64", full_memory=True)
    b.add_thread(1, context={"rip": 0x1000, "rsp": 0x2000}, stack=b"\x01" * 64,
                 stack_start=0x2000)
    needle = b"0123456789abcdef"
    b.add_memory(0x1_0000_0000, Sparse(3 << 30, patches={(3 << 30) - 100: needle}))
    b.write(path)
    st_ = path.stat()
    assert st_.st_size > 3 << 30
    assert st_.st_blocks * 512 < 64 << 20  # holes: the file takes almost no disk
    with dumplib.open(path) as d:
        assert d.memory.read(0x1_0000_0000 + (3 << 30) - 100, 16) == needle
        assert list(d.memory.find(needle, start=0x1_0000_0000 + (3 << 30) - (1 << 20))) == [
            0x1_0000_0000 + (3 << 30) - 100]


@pytest.mark.parametrize("arch", ["amd64", "x86", "arm64"])
def test_cpu_information(arch: str) -> None:
    b = DumpBuilder(arch, vendor_id="AuthenticAMD", version_information=0x00A20F12,
                    feature_information=0x178BFBFF, processor_features=(0x1234, 0x5678))
    d = dumplib.open(b.to_bytes())
    cpu = d.system.cpu
    assert cpu is not None
    if arch == "x86":
        assert cpu.vendor_id == "AuthenticAMD"
        assert (cpu.version_information, cpu.feature_information) == (0x00A20F12, 0x178BFBFF)
    else:
        assert cpu.vendor_id is None and cpu.processor_features == (0x1234, 0x5678)
