"""Kernel crash dumps: header, physical and virtual memory, drivers, crash stack.

Oracles: kdmp-parser (header fields, physical pages, virtual-to-physical translation),
volatility3's crash-dump layers (physical reads), and the builder's own record of what it
put where (mappings, drivers, frames), which is known by construction.
"""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest

import dumplib
from dumplib import DumpError, MemoryNotInDump
from dumplib.analysis import analyze
from dumplib.builder.kernel import BuiltKernelDump, KernelDumpBuilder
from tests.kernel_helpers import (
    HOLE,
    HUGE_PA,
    HUGE_VA,
    LARGE_PA,
    LARGE_VA,
    TRANSITION_VA,
    build,
    machine,
    oracle,
)

KINDS = ("full", "bitmap", "bitmap-kernel", "rdmp-kernel", "rdmp-active", "rdmp-complete")
#: dump.kind for each kind the builder writes (DumpType 1, 5 FDMP/SDMP, 8, 9, 10).
KIND_NAMES = {"full": "kernel-full", "bitmap": "kernel-bitmap", "bitmap-kernel": "kernel-bitmap",
              "rdmp-kernel": "kernel-memory", "rdmp-active": "kernel-active",
              "rdmp-complete": "kernel-complete"}
kdmp = oracle("kdmp_parser")
vol = oracle("volatility3")


@pytest.fixture(scope="module", params=KINDS)
def built(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> BuiltKernelDump:
    return build(tmp_path_factory.mktemp("kdump"), request.param)


def test_open_kind_and_header(built: BuiltKernelDump) -> None:
    with dumplib.open(built.path) as d:
        assert d.kind == KIND_NAMES[built.kind]
        kh = d.kernel_header  # type: ignore[attr-defined]
        assert kh.signature == "PAGEDU64"
        assert kh.directory_table_base == built.dtb
        assert kh.ps_loaded_module_list == built.module_list
        assert d.system.arch == dumplib.Arch.AMD64
        assert d.system.os_version == (10, 0, 19041)
        assert d.system.number_of_processors == 4
        bc = d.bugcheck
        assert bc is not None and bc.code == 0xD1
        assert bc.name == "DRIVER_IRQL_NOT_LESS_OR_EQUAL"
        assert bc.parameters[0] == 0x18 and bc.parameters[3] == built.frames[2][0] - 5
        assert "IRQL" in bc.parameter_meanings[1]


@pytest.mark.skipif(kdmp is None, reason="kdmp-parser not installed (ORACLE MISSING)")
def test_header_fields_match_kdmp_parser(built: BuiltKernelDump) -> None:
    k = kdmp.KernelDumpParser(built.path)  # type: ignore[union-attr]
    h = k.header
    with dumplib.open(built.path) as d:
        kh = d.kernel_header  # type: ignore[attr-defined]
        assert kh.bugcheck_code == h.BugCheckCode
        assert list(kh.bugcheck_parameters) == list(h.BugCheckCodeParameter)
        assert kh.directory_table_base == h.DirectoryTableBase
        assert kh.ps_loaded_module_list == h.PsLoadedModuleList
        assert kh.number_processors == h.NumberProcessors
        assert kh.machine_image_type == h.MachineImageType
        assert kh.minor_version == h.MinorVersion
        assert kh.system_time == h.SystemTime and kh.system_uptime == h.SystemUpTime
        assert kh.dump_type == int(k.type)
        ctx = d.threads[0].context
        assert ctx["rip"] == k.context.Rip and ctx["rsp"] == k.context.Rsp


@pytest.mark.skipif(kdmp is None, reason="kdmp-parser not installed (ORACLE MISSING)")
def test_physical_pages_match_kdmp_parser(built: BuiltKernelDump) -> None:
    k = kdmp.KernelDumpParser(built.path)  # type: ignore[union-attr]
    with dumplib.open(built.path) as d:
        phys = d.physical  # type: ignore[attr-defined]
        for pa in built.pages:
            theirs = k.read_physical_page(pa)
            assert theirs is not None
            assert phys.read(pa, 0x1000) == bytes(theirs)
        # pages of the hole are in neither
        hole_pa = (HOLE[0] + 5) << 12
        assert k.read_physical_page(hole_pa) is None
        with pytest.raises(MemoryNotInDump):
            phys.read(hole_pa, 8)
        rng = random.Random(18)
        for _ in range(300):
            pa = rng.randrange(0, 0x40400) << 12
            theirs = k.read_physical_page(pa)
            ours = phys.try_read(pa, 0x1000)
            assert (None if theirs is None else bytes(theirs)) == ours


@pytest.mark.skipif(kdmp is None, reason="kdmp-parser not installed (ORACLE MISSING)")
def test_virtual_translation_matches_kdmp_parser(built: BuiltKernelDump) -> None:
    k = kdmp.KernelDumpParser(built.path)  # type: ignore[union-attr]
    with dumplib.open(built.path) as d:
        mem = d.memory
        for va, pfn in built.mapped.items():
            if va == TRANSITION_VA:
                continue
            assert mem.translate(va + 0x18) == k.translate_virtual(va + 0x18) == (pfn << 12) + 0x18  # type: ignore[attr-defined]
        big = (LARGE_VA + 0x1234, LARGE_VA + 0x1F_FFF8, HUGE_VA + 0x12_3456, HUGE_VA + 0x3FFF_FFF8)
        for va in big:
            assert mem.translate(va) == k.translate_virtual(va)  # type: ignore[attr-defined]
        assert mem.read(LARGE_VA + 0x1234, 15) == b"large-page-data"
        assert mem.read(HUGE_VA + 0x12_3456, 14) == b"huge-page-data"
        for va in (0xFFFF_F800_0000_0000, 0x7FF0_0000_0000, HUGE_VA + (1 << 30)):
            assert mem.translate(va) is None  # type: ignore[attr-defined]
            assert not k.translate_virtual(va)
            with pytest.raises(MemoryNotInDump):
                mem.read(va, 8)


def test_transition_pte_reads_the_standby_page(built: BuiltKernelDump) -> None:
    # kdmp-parser follows valid PTEs only; the builder wrote a transition PTE (bit 11,
    # not valid, not prototype) to this frame, and the page's bytes are in the file.
    with dumplib.open(built.path) as d:
        pfn = built.mapped[TRANSITION_VA]
        assert d.memory.translate(TRANSITION_VA) == pfn << 12  # type: ignore[attr-defined]
        assert d.memory.read(TRANSITION_VA, 17) == b"standby-list-page"


@pytest.mark.skipif(vol is None, reason="volatility3 not installed (ORACLE MISSING)")
def test_physical_reads_match_volatility3(built: BuiltKernelDump) -> None:
    if built.kind.startswith("rdmp"):
        pytest.skip("volatility3's crash layers read dump types 1 and 5 only")
    from volatility3.framework import contexts
    from volatility3.framework.layers import crash, physical

    ctx = contexts.Context()
    ctx.config["base.location"] = Path(built.path).as_uri()
    ctx.add_layer(physical.FileLayer(ctx, "base", "base"))
    ctx.config["crash.base_layer"] = "base"
    layer = crash.WindowsCrashDump64Layer(ctx, "crash", "crash")
    with dumplib.open(built.path) as d:
        phys = d.physical  # type: ignore[attr-defined]
        for pa in list(built.pages)[:200]:
            assert phys.read(pa, 0x1000) == layer.read(pa, 0x1000)
        assert phys.read(HUGE_PA + 0x12_3450, 32) == layer.read(HUGE_PA + 0x12_3450, 32)
        assert layer.is_valid(LARGE_PA) and LARGE_PA in phys
        assert not layer.is_valid((HOLE[0] + 1) << 12) and ((HOLE[0] + 1) << 12) not in phys


def test_drivers_from_ps_loaded_module_list(built: BuiltKernelDump) -> None:
    with dumplib.open(built.path) as d:
        mods = d.modules
        assert [m.name for m in mods] == list(built.drivers)
        for m in mods:
            assert (m.base, m.size) == built.drivers[m.name]
        flt = mods.by_name("vsepflt.sys")
        assert flt is not None and flt.version == (14, 3, 3580, 1100)
        assert flt.path == "\\SystemRoot\\system32\\drivers\\vsepflt.sys"
        assert flt.timestamp == 0x5F5E1000
        assert flt.pdb is not None and flt.pdb[0] == "vsepflt.pdb"
        assert mods.find(built.frames[2][0]) == flt


def test_crash_stack_unwinds_through_drivers(built: BuiltKernelDump) -> None:
    with dumplib.open(built.path) as d:
        st = d.stack(d.threads[0])
        got = [(f.ip, f.sp, f.module.name if f.module else None, f.function) for f in st.frames]
        assert got == [(ip, sp, drv, fn) for ip, sp, drv, fn in built.frames]
        assert [f.trust for f in st.frames[1:]] == ["cfi"] * (len(built.frames) - 1)


def test_virtual_find_and_random_reads(built: BuiltKernelDump) -> None:
    with dumplib.open(built.path) as d:
        hits = list(d.memory.find(b"large-page-data"))
        assert hits == [LARGE_VA + 0x1234]
        phys = d.physical  # type: ignore[attr-defined]
        # (bounded searches: the physical space is 1 GB of mostly zero pages)
        low = list(phys.find(b"large-page-data", start=0, end=LARGE_PA + 0x20_0000))
        assert low == [LARGE_PA + 0x1234]
        high = phys.find(b"huge-page-data", start=HUGE_PA, end=HUGE_PA + 0x20_0000)
        assert list(high) == [HUGE_PA + 0x12_3456]
        rng = random.Random(7)
        vas = list(built.mapped)
        for _ in range(500):
            va = rng.choice(vas) + rng.randrange(0, 0x1000 - 8)
            pfn = built.mapped[va & ~0xFFF]
            page = built.pages.get(pfn << 12, bytes(0x1000))
            assert d.memory.read_u64(va) == struct.unpack_from("<Q", page, va & 0xFFF)[0]


def test_user_dumps_say_user() -> None:
    with dumplib.open(Path(dumplib.__file__).parent / "samples" / "test.dmp") as d:
        assert d.kind == "user" and d.bugcheck is None


def test_cut_and_corrupt_kernel_dumps_raise_dump_errors(built: BuiltKernelDump) -> None:
    with open(built.path, "rb") as fh:
        data = fh.read(0x3000)
    with pytest.raises(DumpError):
        dumplib.open(data[:0x1000])
    bad = bytearray(data)
    if built.kind == "full":
        struct.pack_into("<I", bad, 0x88, 200)  # runs that cannot fit the 700-byte buffer
    else:
        bad[0x2000:0x2004] = b"XDMP"
    with pytest.raises(DumpError):
        dumplib.open(bytes(bad))
    # a file cut inside the pages still opens; missing pages read as absent
    with pytest.warns(dumplib.DumpWarning), dumplib.open(data) as d:
        assert d.bugcheck is not None and d.bugcheck.code == 0xD1
        assert d.warnings


def _triage(tmp: Path, *, images: bool) -> tuple[BuiltKernelDump, KernelDumpBuilder]:
    kb = machine(huge=False)
    kb.add_unloaded("oldflt.sys", 0xFFFF_F800_3000_0000, 0xFFFF_F800_3001_0000)
    return kb.write(tmp / "Mini120426-01.dmp", kind="triage", images_in_dump=images), kb


def test_triage_dump_drivers_unloaded_and_stack(tmp_path: Path) -> None:
    built, _ = _triage(tmp_path, images=True)
    with dumplib.open(built.path) as d:
        assert d.kind == "kernel-triage" and d.physical is None  # type: ignore[attr-defined]
        assert d.bugcheck is not None and d.bugcheck.code == 0xD1
        assert [(m.name, m.base, m.size) for m in d.modules] == [
            (n, b, s) for n, (b, s) in built.drivers.items()
        ]
        assert all(m.timestamp == 0x5F5E1000 for m in d.modules)
        assert [(u.name, u.base, u.size) for u in d.unloaded_modules] == [
            ("oldflt.sys", 0xFFFF_F800_3000_0000, 0x10000)
        ]
        st = d.stack(d.threads[0])
        assert [(f.ip, f.sp, f.function) for f in st.frames] == [
            (ip, sp, fn) for ip, sp, _, fn in built.frames
        ]
        assert analyze(d).bucket == "AV_vsepflt!VsepClassifyPacket"


def test_triage_dump_unwinds_with_images_from_the_symbol_path(tmp_path: Path) -> None:
    built, kb = _triage(tmp_path, images=False)
    store = tmp_path / "sym"
    for name in built.drivers:
        _base, image = kb.driver(name)
        key = f"{0x5F5E1000:08X}{len(image.data):x}"
        (store / name / key).mkdir(parents=True)
        (store / name / key / name).write_bytes(bytes(image.data))
    with dumplib.open(built.path) as d:
        bare = d.stack(d.threads[0])
        assert [f.trust for f in bare.frames[1:]] != ["cfi"] * (len(built.frames) - 1)
        st = d.stack(d.threads[0], symbols=[str(store)])
        assert [(f.ip, f.sp, f.function) for f in st.frames] == [
            (ip, sp, fn) for ip, sp, _, fn in built.frames
        ]
        assert [f.trust for f in st.frames[1:]] == ["cfi"] * (len(built.frames) - 1)


# _EPROCESS as fixtures/kernel/eprocess/eprocess.c declares it, offsets by C's layout rules
# (every member naturally aligned): Pcb is a 0x28-byte header, a u64 and 0x400 bytes, so
# ProcessLock is at 0x430, UniqueProcessId 0x438, ActiveProcessLinks 0x440, Pad 0x450
# (0x100 bytes), ImageFileName 0x550, PriorityClass 0x55F, ThreadListHead 0x560 (size
# 0x570); KPROCESS.DirectoryTableBase 0x28. _ETHREAD: Tcb (KTHREAD: a 0x18-byte header,
# three pointers, 0x40 bytes, KernelStack 0x70, State 0x78, 0x100 bytes: 0x180), Cid 0x180
# (UniqueThread 0x188), ThreadListEntry 0x190 (size 0x1A0).
EPROCESS_PDB = Path(__file__).resolve().parent.parent / "fixtures/kernel/eprocess/ntkrnlmp.pdb"
EPROCESS = {"ActiveProcessLinks": 0x440, "UniqueProcessId": 0x438, "ImageFileName": 0x550,
            "DirectoryTableBase": 0x28, "ThreadListHead": 0x560}
ETHREAD = {"ThreadListEntry": 0x190, "UniqueThread": 0x188, "State": 0x78, "KernelStack": 0x70}


def test_eprocess_offsets_from_the_pdb_type_records() -> None:
    from dumplib.pdb.pdbfile import PdbFile
    from dumplib.pdb.types import struct_layout

    with PdbFile.open(str(EPROCESS_PDB)) as pf:
        ep = struct_layout(pf, "_EPROCESS")
        kp = struct_layout(pf, "_KPROCESS")
    assert ep is not None and kp is not None
    assert ep.size == 0x570
    for name in ("ActiveProcessLinks", "UniqueProcessId", "ImageFileName"):
        assert ep.members[name] == EPROCESS[name]
    assert ep.members["Pcb"] == 0 and kp.members["DirectoryTableBase"] == 0x28


def test_processes_need_the_kernel_pdb_and_read_with_it(tmp_path: Path) -> None:
    from dumplib.model.kernel_processes import KernelTypesMissing

    kb = machine(huge=False)
    procs = [(4, "System", 0x1AA000), (812, "svchost.exe", 0x2BB000),
             (4242, "RTCSrv.exe-with-a-long-name", 0x3CC000)]
    addrs = kb.add_processes(procs, EPROCESS, 0x570)
    threads = [(0x1A2C, 5, 0xFFFF_D000_3000_1F00), (0x1A30, 2, 0xFFFF_D000_3001_1F00)]
    eth = kb.add_threads(addrs[2], threads, ETHREAD, 0x1A0, thread_list_head=0x560)
    built = kb.write(tmp_path / "p.dmp", kind="bitmap")
    with dumplib.open(built.path) as d:
        with pytest.raises(KernelTypesMissing, match="PDB"):
            d.processes()  # type: ignore[attr-defined]
        got = d.processes(EPROCESS_PDB)  # type: ignore[attr-defined]
    assert [(p.address, p.pid, p.name, p.directory_table_base) for p in got] == [
        (a, pid, name[:15], dtb) for a, (pid, name, dtb) in zip(addrs, procs, strict=True)
    ]
    assert [t for p in got[:2] for t in p.threads] == []
    assert [(t.address, t.pid, t.tid, t.state, t.kernel_stack) for t in got[2].threads] == [
        (a, 4242, tid, state, ks) for a, (tid, state, ks) in zip(eth, threads, strict=True)
    ]


@pytest.mark.parametrize("tagged", [True, False])
def test_unloaded_drivers_from_mm_unloaded_drivers(tmp_path: Path, tagged: bool) -> None:
    kb = machine(huge=False)
    kb.kdbg_tag = tagged
    gone = [("oldflt.sys", 0xFFFF_F800_3000_0000, 0xFFFF_F800_3001_0000),
            ("tdiguard.sys", 0xFFFF_F800_3010_0000, 0xFFFF_F800_3013_0000)]
    for name, start, end in gone:
        kb.add_unloaded(name, start, end)
    built = kb.write(tmp_path / "u.dmp", kind="full")
    with dumplib.open(built.path) as d:
        got = [(u.name, u.base, u.end) for u in d.unloaded_modules]
        if tagged:
            assert got == gone
        else:  # an encoded block is not guessed at
            assert got == [] and any("KDBG" in w for w in d.warnings)


def test_virtual_regions_and_hexdump(built: BuiltKernelDump) -> None:
    with dumplib.open(built.path) as d:
        regions = [(r.start, r.size) for r in d.memory.regions()]
        for base, size in built.drivers.values():
            assert (base, size) in regions
        base = built.drivers["vsepflt.sys"][0]
        text = str(d.memory.hexdump(base - 0x10, 0x20))
        assert "?? ??" in text.splitlines()[0] and "4d 5a" in text.splitlines()[1]
