"""dumplib.builder reproduces records written by real minidump writers, byte for byte.

Ground truth: ``test.dmp`` (Windows dbghelp, x86) and ``simple-crashpad.dmp``
(crashpad, AMD64) from rust-minidump's test corpus (fixtures/external). Their
field values are read with skelsec's ``minidump`` parser, handed to the
builder, and the builder's records are compared with the original bytes; only
the RVA fields (which depend on where things land in each file) are masked.
A field the builder put at the wrong offset, or a wrong record size, shows up
as a byte difference against a file no part of dumplib wrote.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest
from minidump.common_structs import MINIDUMP_STRING
from minidump.minidumpfile import MinidumpFile
from minidump.streams.ModuleListStream import MINIDUMP_MODULE_LIST

from dumplib.builder import DumpBuilder, Sparse, StreamType

EXTERNAL = Path(__file__).resolve().parent.parent / "fixtures" / "external" / "rust-minidump"
DUMPS = {"dbghelp-x86": ("test.dmp", "x86"), "crashpad-amd64": ("simple-crashpad.dmp", "amd64")}


def _streams(data: bytes) -> dict[int, bytes]:
    count, rva = struct.unpack_from("<II", data, 8)
    out: dict[int, bytes] = {}
    for i in range(count):
        st, size, srva = struct.unpack_from("<III", data, rva + 12 * i)
        out.setdefault(st, data[srva:srva + size])
    return out


def _mask(record: bytes, *ranges: tuple[int, int]) -> bytes:
    buf = bytearray(record)
    for start, end in ranges:
        buf[start:end] = bytes(end - start)
    return bytes(buf)


@pytest.fixture(scope="module", params=sorted(DUMPS))
def real(request: pytest.FixtureRequest) -> tuple[bytes, MinidumpFile, str]:
    name, arch = DUMPS[request.param]
    data = (EXTERNAL / name).read_bytes()
    return data, MinidumpFile.parse_bytes(data), arch


def _builder_like(data: bytes, m: MinidumpFile, arch: str) -> DumpBuilder:
    si = m.sysinfo
    version = struct.unpack_from("<I", data, 4)[0]
    kwargs: dict[str, object] = {}
    if arch == "x86":
        vendor = b"".join(v.to_bytes(4, "little") for v in si.VendorId).decode("ascii")
        kwargs.update(vendor_id=vendor, version_information=si.VersionInformation,
                      feature_information=si.FeatureInformation,
                      amd_extended_cpu_features=si.AMDExtendedCpuFeatures)
    else:
        kwargs.update(processor_features=tuple(si.ProcessorFeatures))
    return DumpBuilder(
        arch,  # type: ignore[arg-type]
        time_date_stamp=m.header.Reserved,  # skelsec reads TimeDateStamp as "Reserved"
        checksum=m.header.CheckSum,
        implementation_version=version >> 16,
        flags=struct.unpack_from("<Q", data, 24)[0],
        os_version=(si.MajorVersion, si.MinorVersion, si.BuildNumber),
        csd_version=si.CSDVersion, platform_id=si.PlatformId.value,
        product_type=si.ProductType.value, suite_mask=int(si.SuiteMask),
        processor_architecture=si.ProcessorArchitecture.value,
        processor_level=si.ProcessorLevel, processor_revision=si.ProcessorRevision,
        number_of_processors=si.NumberOfProcessors,
        **kwargs,  # type: ignore[arg-type]
    )


def test_header_and_system_info(real: tuple[bytes, MinidumpFile, str]) -> None:
    data, m, arch = real
    built = _builder_like(data, m, arch).to_bytes()
    # Header: everything but NumberOfStreams and StreamDirectoryRva.
    assert _mask(built[:32], (8, 16)) == _mask(data[:32], (8, 16))
    mine = _streams(built)[StreamType.SYSTEM_INFO]
    theirs = _streams(data)[StreamType.SYSTEM_INFO]
    assert len(mine) == len(theirs) == 56
    assert _mask(mine, (24, 28)) == _mask(theirs, (24, 28))  # CSDVersionRva masked


def _context_registers(m: MinidumpFile, arch: str, ctx: object) -> dict[str, int]:
    if arch == "x86":
        names = ["context_flags", "dr0", "dr1", "dr2", "dr3", "dr6", "dr7", "seg_gs", "seg_fs",
                 "seg_es", "seg_ds", "edi", "esi", "ebx", "edx", "ecx", "eax", "ebp", "eip",
                 "seg_cs", "eflags", "esp", "seg_ss"]
    else:
        names = ["p1_home", "p2_home", "p3_home", "p4_home", "p5_home", "p6_home",
                 "context_flags", "mx_csr", "seg_cs", "seg_ds", "seg_es", "seg_fs", "seg_gs",
                 "seg_ss", "eflags", "dr0", "dr1", "dr2", "dr3", "dr6", "dr7", "rax", "rcx",
                 "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", *(f"r{i}" for i in range(8, 16)),
                 "rip"]
    special = {"context_flags": "ContextFlags", "mx_csr": "MxCsr", "eflags": "EFlags"}
    regs = {}
    for name in names:
        attr = special.get(name) or "".join(p.capitalize() for p in name.split("_"))
        regs[name] = getattr(ctx, attr)
    return regs


def test_threads_and_contexts(real: tuple[bytes, MinidumpFile, str]) -> None:
    data, m, arch = real
    b = _builder_like(data, m, arch)
    for t in m.threads.threads:
        b.add_thread(t.ThreadId, context=_context_registers(m, arch, t.ContextObject),
                     stack=Sparse(t.Stack.DataSize), stack_start=t.Stack.StartOfMemoryRange,
                     teb=t.Teb, suspend_count=t.SuspendCount, priority_class=t.PriorityClass,
                     priority=t.Priority)
    built = b.to_bytes()
    mine = _streams(built)[StreamType.THREAD_LIST]
    theirs = _streams(data)[StreamType.THREAD_LIST]
    assert len(mine) == len(theirs)
    for i in range(len(m.threads.threads)):
        rec_mine, rec_theirs = mine[4 + 48 * i:52 + 48 * i], theirs[4 + 48 * i:52 + 48 * i]
        # Stack.Memory.Rva and ThreadContext.Rva masked.
        assert _mask(rec_mine, (36, 40), (44, 48)) == _mask(rec_theirs, (36, 40), (44, 48))
        ctx_mine = built[struct.unpack_from("<I", rec_mine, 44)[0]:][:1232]
        ctx_theirs = data[struct.unpack_from("<I", rec_theirs, 44)[0]:][:1232]
        if arch == "x86":  # ContextFlags + debug registers, then segments .. SegSs
            regions = [(0x00, 0x1C), (0x8C, 0xCC)]
        else:  # home slots, flags, MxCsr, segments, EFlags, debug registers, GPRs, Rip
            regions = [(0x00, 0x100)]
        for start, end in regions:
            assert ctx_mine[start:end] == ctx_theirs[start:end], (i, hex(start))


def test_modules(real: tuple[bytes, MinidumpFile, str]) -> None:
    data, m, arch = real
    theirs = _streams(data)[StreamType.MODULE_LIST]
    raw = MINIDUMP_MODULE_LIST.parse(io.BytesIO(theirs))
    b = _builder_like(data, m, arch)
    handle = io.BytesIO(data)
    for mod in raw.Modules:
        cv = mod.CvRecord
        misc = mod.MiscRecord
        b.add_module(
            MINIDUMP_STRING.get_from_rva(mod.ModuleNameRva, handle), base=mod.BaseOfImage,
            size=mod.SizeOfImage, checksum=mod.CheckSum, time_date_stamp=mod.TimeDateStamp,
            fixed_file_info=mod.VersionInfo.to_bytes(),
            cv_record=data[cv.Rva:cv.Rva + cv.DataSize] if cv.DataSize else None,
            misc=data[misc.Rva:misc.Rva + misc.DataSize] if misc.DataSize else None,
        )
    built = b.to_bytes()
    mine = _streams(built)[StreamType.MODULE_LIST]
    assert len(mine) == len(theirs) == 4 + 108 * len(raw.Modules)
    for i in range(len(raw.Modules)):
        rec_mine, rec_theirs = mine[4 + 108 * i:112 + 108 * i], theirs[4 + 108 * i:112 + 108 * i]
        masked = ((20, 24), (80, 84), (88, 92))  # ModuleNameRva, CvRecord.Rva, MiscRecord.Rva
        assert _mask(rec_mine, *masked) == _mask(rec_theirs, *masked), i
        for rva_at in (80, 88):
            size_mine, rva_mine = struct.unpack_from("<II", rec_mine, rva_at - 4)
            size_theirs, rva_theirs = struct.unpack_from("<II", rec_theirs, rva_at - 4)
            assert built[rva_mine:rva_mine + size_mine] == data[rva_theirs:rva_theirs
                                                                  + size_theirs]


def test_exception_from_dbghelp() -> None:
    # (crashpad's exception code is 0, which skelsec takes as "no record", so only dbghelp's.)
    data = (EXTERNAL / "test.dmp").read_bytes()
    m, arch = MinidumpFile.parse_bytes(data), "x86"
    (rec,) = m.exception.exception_records
    er = rec.ExceptionRecord
    b = _builder_like(data, m, arch)
    b.set_exception(rec.ThreadId, er.ExceptionCode_raw, er.ExceptionAddress,
                    parameters=er.ExceptionInformation, flags=er.ExceptionFlags,
                    exception_record=er.ExceptionRecord, context=bytes(rec.ThreadContext.DataSize))
    mine = _streams(b.to_bytes())[StreamType.EXCEPTION]
    theirs = _streams(data)[StreamType.EXCEPTION]
    assert len(mine) == len(theirs) == 168
    # dbghelp leaves stale values in ExceptionInformation past NumberParameters; compare up to
    # the last used parameter, then ThreadContext.DataSize (its Rva differs).
    used = 40 + 8 * er.NumberParameters
    assert mine[:used] == theirs[:used]
    assert mine[160:164] == theirs[160:164]


def test_misc_info_level_1_from_dbghelp() -> None:
    data = (EXTERNAL / "test.dmp").read_bytes()
    mi = MinidumpFile.parse_bytes(data).misc_info
    b = DumpBuilder("x86")
    b.set_misc_info(process_id=mi.ProcessId, process_create_time=mi.ProcessCreateTime,
                    process_user_time=mi.ProcessUserTime,
                    process_kernel_time=mi.ProcessKernelTime)
    assert _streams(b.to_bytes())[StreamType.MISC_INFO] == _streams(data)[StreamType.MISC_INFO]


def test_misc_info_level_4_size_matches_crashpad() -> None:
    theirs = _streams((EXTERNAL / "simple-crashpad.dmp").read_bytes())[StreamType.MISC_INFO]
    b = DumpBuilder("amd64")
    b.set_misc_info(process_id=1, build_string="x")
    mine = _streams(b.to_bytes())[StreamType.MISC_INFO]
    assert len(mine) == len(theirs) == struct.unpack_from("<I", theirs)[0] == 832
