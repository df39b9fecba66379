"""Exception decoding, the WER event view and buckets on dumps made with DumpBuilder.

Each dump is described in the test, so the expected answer comes from how it
was built: the exception record's parameters, the module table, the misc info,
and -- for C++ throws -- the ThrowInfo chain laid out in memory from the
documented MSVC ehdata structures. The WER event values are those of the
field event log of case B (../shared/CASES.md).
"""

from __future__ import annotations

import dataclasses
import re
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import pytest

import dumplib
from dumplib.analysis import analyze
from dumplib.analysis.bucket import bucket, meaningful_frames
from dumplib.analysis.exceptions import FAST_FAIL_CODES, summarize_exception, undecorate_type
from dumplib.analysis.model import ExceptionSummary
from dumplib.builder import DumpBuilder, NestedException
from dumplib.model.objects import Module
from dumplib.unwind.frames import Frame, Stack, StackStatus, Trust

APP_BASE = 0x1_4000_0000
MSCORLIB_BASE = 0x7FF8_1000_0000
NTDLL_BASE = 0x7FF8_2000_0000
STACK = 0x50_0000


def _builder(**kw: object) -> DumpBuilder:
    b = DumpBuilder("amd64", time_date_stamp=0x6000_0000, os_version=(6, 3, 9600),
                    product_type=3, **kw)  # type: ignore[arg-type]
    b.add_module(r"C:\Program Files\App\DataMCUSvc.exe", base=APP_BASE, size=0x40000,
                 time_date_stamp=0x5050E3DE, version=(5, 0, 8308, 0))
    b.add_module(r"C:\Windows\Microsoft.NET\Framework64\v4.0.30319\mscorlib.ni.dll",
                 base=MSCORLIB_BASE, size=0x0100_0000, time_date_stamp=0x561E0E38,
                 version=(4, 0, 30319, 36331))
    b.add_module(r"C:\Windows\System32\ntdll.dll", base=NTDLL_BASE, size=0x1F0000,
                 time_date_stamp=0x57899B1C, version=(6, 3, 9600, 18000))
    b.add_thread(0x23D0, context={"rip": MSCORLIB_BASE + 0x5450D4, "rsp": STACK + 0x100},
                 stack=bytes(0x200))
    return b


def _summary(b: DumpBuilder) -> ExceptionSummary:
    with dumplib.open(b.to_bytes()) as dump:
        exc = summarize_exception(dump)
    assert exc is not None
    return exc


# -- the WER event ------------------------------------------------------------------------------


def test_wer_event_in_the_event_logs_own_layout() -> None:
    """Case B's event 1000, as the field event log recorded it."""
    start_filetime = 0x01D1367CD6E190FB  # "application start time" of the event
    start_time_t = start_filetime // 10_000_000 - 11644473600
    b = _builder()
    b.set_exception(0x23D0, 0xC0000005, MSCORLIB_BASE + 0x5450D4, parameters=(0, 0))
    b.set_misc_info(process_id=0x23D8, process_create_time=start_time_t)
    with dumplib.open(b.to_bytes()) as dump:
        report = analyze(dump)
    assert report.wer is not None
    text = report.wer.text().splitlines()
    # The dump keeps whole seconds: the event's FILETIME with its sub-second part cut.
    whole_seconds = start_filetime - start_filetime % 10_000_000
    assert text == [
        "Faulting application name: DataMCUSvc.exe, version: 5.0.8308.0, time stamp: 0x5050e3de",
        "Faulting module name: mscorlib.ni.dll, version: 4.0.30319.36331, time stamp: 0x561e0e38",
        "Exception code: 0xc0000005",
        "Fault offset: 0x00000000005450d4",
        "Faulting process id: 0x23d8",
        f"Faulting application start time: 0x{whole_seconds:016x}",
        r"Faulting application path: C:\Program Files\App\DataMCUSvc.exe",
        r"Faulting module path: C:\Windows\Microsoft.NET\Framework64\v4.0.30319\mscorlib.ni.dll",
    ]
    assert text[5].startswith("Faulting application start time: 0x01d1367cd6")
    doc = report.wer.to_json()
    assert doc["process_id"] == 0x23D8 and doc["fault_offset"] == 0x5450D4


def test_wer_event_outside_any_module() -> None:
    b = _builder()
    b.set_exception(0x23D0, 0xC0000005, 0xDEAD0000, parameters=(8, 0xDEAD0000))
    with dumplib.open(b.to_bytes()) as dump:
        wer = analyze(dump).wer
    assert wer is not None
    assert wer.module_name == "unknown" and wer.module_version == "0.0.0.0"
    assert wer.fault_offset == 0xDEAD0000 and wer.start_time is None
    assert "Faulting process id: unknown" in wer.text()


def test_no_exception_no_wer_event() -> None:
    with dumplib.open(_builder().to_bytes()) as dump:
        report = analyze(dump)
    assert report.exception is None and report.wer is None
    assert report.bucket.startswith("HANG/datamcusvc.exe/")


# -- access violations ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "access", "kind"),
    [
        ((0, 0x0), "read", "null_page"),
        ((1, 0x18), "write", "null_page"),
        ((8, 0xFFFF), "execute", "null_page"),
        ((0, 0x10000), "read", "wild"),
        ((1, 0x4141_4141_0000), "write", "wild"),
        ((1, 0xDEAD_BEEF_0000), "write", "non_canonical"),  # bit 47 set, bits 48-63 clear
        ((0, 0x8000_0000_0000), "read", "non_canonical"),
        ((0, 0xFFFF_7FFF_FFFF_FFFF), "read", "non_canonical"),
        ((1, MSCORLIB_BASE + 0x1000), "write", "module"),
        ((0, STACK + 0x10), "read", "stack"),
    ],
)
def test_access_violation_kind(params: tuple[int, int], access: str, kind: str) -> None:
    b = _builder()
    b.set_exception(0x23D0, 0xC0000005, MSCORLIB_BASE + 0x10, parameters=params)
    exc = _summary(b)
    assert exc.kind == "access_violation"
    assert (exc.access, exc.target, exc.target_kind) == (access, params[1], kind)
    assert exc.module == "mscorlib.ni.dll" and exc.module_offset == 0x10
    assert f"0x{params[1]:x}" in exc.description


def test_in_page_error_reports_the_io_status() -> None:
    b = _builder()
    b.set_exception(0x23D0, 0xC0000006, APP_BASE + 0x10, parameters=(0, 0x2000_0000, 0xC000009D))
    exc = _summary(b)
    assert exc.kind == "in_page_error" and exc.access == "read"
    assert exc.subcode == 0xC000009D and exc.subcode_name == "STATUS_DEVICE_NOT_CONNECTED"


# -- fail fast, stack overflow, heap corruption --------------------------------------------------


def test_fast_fail_table_agrees_with_mingw_winnt_h() -> None:
    header = Path("/usr/share/mingw-w64/include/winnt.h")
    if not header.is_file():
        pytest.skip("mingw-w64 headers are not installed")  # the table itself is tested below
    found = dict(
        (int(v, 0), n)
        for n, v in re.findall(r"#define (FAST_FAIL_\w+) (0x[0-9a-fA-F]+|\d+)", header.read_text())
    )
    assert len(found) >= 10
    for code, name in found.items():
        assert FAST_FAIL_CODES[code] == name


@pytest.mark.parametrize(("subcode", "name"), [(2, "FAST_FAIL_STACK_COOKIE_CHECK_FAILURE"),
                                               (7, "FAST_FAIL_FATAL_APP_EXIT"),
                                               (1000, None)])
def test_fail_fast_subcode(subcode: int, name: str | None) -> None:
    b = _builder()
    b.set_exception(0x23D0, 0xC0000409, APP_BASE + 0x20, parameters=(subcode,), flags=1)
    exc = _summary(b)
    assert exc.kind == "fail_fast" and exc.subcode == subcode and exc.subcode_name == name
    # EXCEPTION_NONCONTINUABLE is no evidence of a second chance (issue 12)
    assert exc.noncontinuable and exc.chance == "unknown"


@pytest.mark.parametrize(("code", "kind"), [(0xC00000FD, "stack_overflow"),
                                            (0xC0000374, "heap_corruption"),
                                            (0x80000003, "breakpoint"),
                                            (0xE0001234, "other")])
def test_exception_kinds(code: int, kind: str) -> None:
    b = _builder()
    b.set_exception(0x23D0, code, APP_BASE + 0x20)
    exc = _summary(b)
    assert exc.kind == kind and exc.code == code


# -- C++ and CLR exceptions ------------------------------------------------------------------------

THROW_IMAGE = APP_BASE  # x64: the ThrowInfo links are RVAs from the throwing image


def _cxx_memory(b: DumpBuilder, types: list[str]) -> int:
    """Lay out ThrowInfo -> CatchableTypeArray -> CatchableType -> TypeDescriptor (ehdata.h).

    Returns the ThrowInfo address. Everything lives in one block of the image at RVA 0x3000.
    """
    rva = 0x3000
    blob = bytearray(0x400)
    throw_info, cta, cts, tds = 0x0, 0x20, 0x80, 0x200
    # ThrowInfo: attributes, pmfnUnwind, pForwardCompat, pCatchableTypeArray (RVAs).
    struct.pack_into("<IiiI", blob, throw_info, 0, 0, 0, rva + cta)
    struct.pack_into("<i", blob, cta, len(types))
    for i, name in enumerate(types):
        ct = cts + i * 0x1C
        td = tds + i * 0x40
        struct.pack_into("<I", blob, cta + 4 + 4 * i, rva + ct)
        # CatchableType: properties, pType, PMD(mdisp, pdisp, vdisp), sizeOrOffset, copyFunction.
        struct.pack_into("<IIiiiiI", blob, ct, 0, rva + td, 0, -1, 0, 8, 0)
        # TypeDescriptor: pVFTable, spare, name.
        struct.pack_into("<QQ", blob, td, 0x1_4000_5000, 0)
        blob[td + 16 : td + 16 + len(name) + 1] = name.encode() + b"\0"
    b.add_memory(THROW_IMAGE + rva, bytes(blob))
    return THROW_IMAGE + rva + throw_info


def test_cxx_exception_thrown_types_from_throwinfo() -> None:
    b = _builder()
    throw_info = _cxx_memory(b, [".?AVbad_alloc@std@@", ".?AVexception@std@@"])
    b.set_exception(0x23D0, 0xE06D7363, NTDLL_BASE + 0x100, flags=1,
                    parameters=(0x19930520, 0x60_0000, throw_info, THROW_IMAGE))
    exc = _summary(b)
    assert exc.kind == "cxx"
    assert exc.thrown_types == ("std::bad_alloc", "std::exception")
    with dumplib.open(b.to_bytes()) as dump:
        report = analyze(dump)
    # Bucketed at the frame that raised it (the thread's own frame), not at ntdll.
    assert report.bucket.startswith("CXX_std::bad_alloc/")
    assert "/ntdll.dll/" not in report.bucket
    assert report.finding("out-of-memory") is not None


def test_cxx_exception_without_memory_or_magic() -> None:
    b = _builder()
    b.set_exception(0x23D0, 0xE06D7363, NTDLL_BASE + 0x100,
                    parameters=(0x19930520, 0x60_0000, APP_BASE + 0x3000, THROW_IMAGE))
    assert _summary(b).thrown_types == ()  # ThrowInfo not captured
    b2 = _builder()
    throw_info = _cxx_memory(b2, [".?AVbad_alloc@std@@"])
    b2.set_exception(0x23D0, 0xE06D7363, NTDLL_BASE + 0x100,
                     parameters=(0x12345678, 0x60_0000, throw_info, THROW_IMAGE))
    assert _summary(b2).thrown_types == ()  # not an MSVC magic number


@pytest.mark.parametrize(("decorated", "plain"), [
    (".?AVbad_alloc@std@@", "std::bad_alloc"),
    (".?AUMyStruct@@", "MyStruct"),
    (".?AVInner@Outer@ns@@", "ns::Outer::Inner"),
    (".H", "int"),
    # templates are left decorated (only the prefix goes)
    (".?AV?$vector@H@std@@", "?$vector@H@std@@"),
])
def test_undecorate_type(decorated: str, plain: str) -> None:
    assert undecorate_type(decorated) == plain


@pytest.mark.parametrize(
    ("comments", "managed", "chance"),
    [
        (["*** procdump -ma -e 1 -f NullReferenceException DataMCUSvc.exe\r\n"
          "*** First chance exception: E0434F4D.System.NullReferenceException"],
         "System.NullReferenceException", "first"),
        (["*** procdump -ma -e DataMCUSvc.exe\r\n*** Unhandled exception: E0434352.CLR"],
         None, "second"),
        (["procdump -ma -e 1 -f OutOfMemoryException w3wp.exe"],
         "System.OutOfMemoryException", "first"),
        ([], None, "unknown"),
    ],
)
def test_clr_exception_type_and_chance_from_procdump_comments(
    comments: list[str], managed: str | None, chance: str
) -> None:
    b = _builder()
    for c in comments:
        b.add_comment(c)
    b.set_exception(0x23D0, 0xE0434F4D, NTDLL_BASE + 0x100, parameters=(0x80131506,))
    exc = _summary(b)
    assert exc.kind == "clr" and exc.managed_type == managed and exc.chance == chance


def test_nested_exception_records() -> None:
    b = _builder()
    b.set_exception(
        0x23D0, 0xC0000409, APP_BASE + 0x10, parameters=(7,),
        nested=[NestedException(0xC0000005, APP_BASE + 0x44, 0, (1, 0x10)),
                NestedException(0xE06D7363, NTDLL_BASE + 0x8, 1, ())],
        nested_address=0x70_0000,
    )
    exc = _summary(b)
    assert [(n.code, n.address, n.flags) for n in exc.nested] == [
        (0xC0000005, APP_BASE + 0x44, 0), (0xE06D7363, NTDLL_BASE + 0x8, 1)]
    assert exc.nested[0].name == "EXCEPTION_ACCESS_VIOLATION"


# -- buckets ---------------------------------------------------------------------------------


def _mod(dump: dumplib.Dump, name: str) -> Module:
    m = dump.modules.by_name(name)
    assert m is not None
    return m


def _stack(dump: dumplib.Dump, tid: int, frames: Sequence[tuple[str, str | None]]) -> Stack:
    out = []
    for i, (module, function) in enumerate(frames):
        m = _mod(dump, module)
        # One address per function, wherever it sits on the stack (as in a real dump).
        ip = m.base + 0x1000 + (zlib.crc32(str(function).encode()) & 0xFFF0)
        out.append(Frame(i, ip, STACK + 0x100 + 0x40 * i, Trust.CONTEXT if i == 0 else Trust.CFI,
                         m, function, 0x40 * i if function else ip - m.base))
    return Stack(tid, tuple(out), StackStatus.COMPLETE)


CRASH = [("mscorlib.ni.dll", "System.Threading._IOCompletionCallback.PerformIOCompletionCallback"),
         ("DataMCUSvc.exe", "Caller"), ("DataMCUSvc.exe", "Outer"), ("DataMCUSvc.exe", "Root"),
         ("ntdll.dll", "RtlUserThreadStart")]
FIRST_CHANCE = [("ntdll.dll", "ZwWaitForSingleObject"), ("ntdll.dll", "WaitForSingleObjectEx"),
                ("mscorlib.ni.dll", "Debugger::FirstChanceManagedException"),
                ("ntdll.dll", "RtlDispatchException"), ("ntdll.dll", "KiUserExceptionDispatcher"),
                ("ntdll.dll", "RaiseException"), ("mscorlib.ni.dll", "NakedThrowHelper")]


def test_bucket_equal_for_first_and_second_chance_of_one_crash() -> None:
    b = _builder()
    b.set_exception(0x23D0, 0xC0000005, MSCORLIB_BASE + 0x1000, parameters=(0, 0))
    with dumplib.open(b.to_bytes()) as dump:
        second = analyze(dump, stacks={0x23D0: _stack(dump, 0x23D0, CRASH)})
        first = analyze(dump, stacks={0x23D0: _stack(dump, 0x23D0, FIRST_CHANCE + CRASH)})
    assert first.bucket == second.bucket
    assert first.bucket_label == second.bucket_label == (
        "NULL_DEREFERENCE/mscorlib.ni.dll/mscorlib.ni!System.Threading._IOCompletionCallback."
        "PerformIOCompletionCallback|datamcusvc!Caller|datamcusvc!Outer")
    # Without images the keys are the frames' RVAs, never their names.
    assert "!" not in first.bucket


def test_bucket_equal_for_managed_first_chance_and_av_second_chance() -> None:
    """Issue 12: the first-chance E0434F4D NullReferenceException and the second-chance
    C0000005 of the same crash (CASES.md) share a bucket."""
    b1 = _builder()
    b1.set_exception(0x23D0, 0xE0434F4D, NTDLL_BASE + 0x100)
    b1.add_comment("*** First chance exception: E0434F4D.System.NullReferenceException")
    b2 = _builder()
    b2.set_exception(0x23D0, 0xC0000005, MSCORLIB_BASE + 0x1000, parameters=(0, 0))
    with dumplib.open(b1.to_bytes()) as d1, dumplib.open(b2.to_bytes()) as d2:
        first = analyze(d1, stacks={0x23D0: _stack(d1, 0x23D0, FIRST_CHANCE + CRASH)})
        second = analyze(d2, stacks={0x23D0: _stack(d2, 0x23D0, CRASH)})
    assert first.exception is not None and first.exception.chance == "first"
    assert second.exception is not None and second.exception.chance == "unknown"
    assert first.bucket == second.bucket


def test_bucket_leaves_scanned_frames_out_and_says_weak() -> None:
    with dumplib.open(_builder().to_bytes()) as dump:
        cfi = _stack(dump, 0x23D0, CRASH)
        frames = list(cfi.frames)
        frames[1] = dataclasses.replace(frames[1], trust=Trust.SCAN)
        scanned = Stack(0x23D0, tuple(frames), StackStatus.COMPLETE)
    exc = ExceptionSummary(0x23D0, 0xC0000005, "EXCEPTION_ACCESS_VIOLATION", "",
                           "access_violation", MSCORLIB_BASE + 0x1000, "mscorlib.ni.dll",
                           0x1000, 0, False, (0, 0), access="read", target=0,
                           target_kind="null_page")
    assert "datamcusvc!Caller" in bucket(exc, cfi, None)
    weak = bucket(exc, scanned, None)
    assert "datamcusvc!Caller" not in weak and weak.endswith("~weak")


def test_bucket_keys_on_function_start_when_the_image_tells() -> None:
    """With .pdata, a frame is module + function start RVA whether or not a PDB named it."""
    with dumplib.open(_builder().to_bytes()) as dump:
        named = _stack(dump, 0x23D0, CRASH)
        bare = Stack(0x23D0, tuple(dataclasses.replace(f, function=None) for f in named.frames),
                     StackStatus.COMPLETE)
    exc = ExceptionSummary(0x23D0, 0xC0000005, "EXCEPTION_ACCESS_VIOLATION", "",
                           "access_violation", MSCORLIB_BASE + 0x1000, "mscorlib.ni.dll",
                           0x1000, 0, False, (0, 0), access="read", target=0,
                           target_kind="null_page")

    def start_of(f: Frame) -> int | None:  # an image whose .pdata has 0x100-byte functions
        return None if f.module is None else (f.ip - f.module.base) & ~0xFF

    assert bucket(exc, named, None, start_of) == bucket(exc, bare, None, start_of)
    assert bucket(exc, named, None) != bucket(exc, bare, None)  # names differ without it


def test_bucket_differs_for_different_crashes() -> None:
    buckets = set()
    for params, frames in [((0, 0), CRASH), ((1, 0), CRASH), ((0, 0x4141_0000), CRASH),
                           ((0, 0), [CRASH[0], ("DataMCUSvc.exe", "Other"), *CRASH[2:]])]:
        b = _builder()
        b.set_exception(0x23D0, 0xC0000005, MSCORLIB_BASE + 0x1000, parameters=params)
        with dumplib.open(b.to_bytes()) as dump:
            buckets.add(analyze(dump, stacks={0x23D0: _stack(dump, 0x23D0, frames)}).bucket)
    # A NULL read and a NULL write at the same frames are one bucket (NULL_DEREFERENCE:
    # a managed NullReferenceException does not say which, issue 12); the wild pointer
    # and the other call path are their own.
    assert len(buckets) == 3


def test_bucket_without_stacks_uses_the_module_offset() -> None:
    exc = ExceptionSummary(1, 0xC00000FD, "EXCEPTION_STACK_OVERFLOW", "", "stack_overflow",
                           APP_BASE + 0x1234, "app.exe", 0x1234, 0, False, ())
    assert bucket(exc, None, None) == "STACK_OVERFLOW/app.exe/app+0x1234"


def test_meaningful_frames_drop_unnamed_system_offsets() -> None:
    with dumplib.open(_builder().to_bytes()) as dump:
        stack = _stack(dump, 0x23D0, [("ntdll.dll", None), ("DataMCUSvc.exe", None),
                                      ("DataMCUSvc.exe", "main")])
    assert meaningful_frames(stack) == [f"datamcusvc+0x{stack.frames[1].offset:x}",
                                        "datamcusvc!main"]


def test_a_single_symbols_or_signatures_string_is_one_entry(tmp_path: Path) -> None:
    (tmp_path / "mine.toml").write_text(
        'id = "mine"\ntitle = "t"\nconfidence = 0.5\nadvice = "a"\n'
        '[match]\nprocess = ["DataMCUSvc.exe"]\n'
    )
    with dumplib.open(_builder().to_bytes()) as dump:
        report = analyze(dump, symbols=str(tmp_path), signatures=str(tmp_path))
    assert report.finding("mine") is not None
