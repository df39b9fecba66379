"""Shell commands on builder-made dumps: the streams wine does not write.

Handles, thread times, memory-region info, TEBs/PEBs and CONTEXT records in
memory are placed by :class:`dumplib.builder.DumpBuilder` (written from
minidumpapiset.h independently of dumplib's parser) at Microsoft's documented
offsets; the expected output is what was put there.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

import dumplib
import dumplib.shell
from dumplib.builder import DumpBuilder, Sparse

TID = 0x1A38
OTHER = 0x2B00
TEB = 0x7FFD_E000
PEB = 0x7FFD_0000
PARAMS = 0x0050_0000
CMDLINE = 0x0050_1000
STACK = 0x0010_0000
RIP = 0x1_4000_1010
CTX_AT = 0x0060_0000
STRINGS = 0x0070_0000


def _teb() -> bytes:
    teb = bytearray(0x1800)
    struct.pack_into("<QQQ", teb, 0x0, 0, STACK + 0x10000, STACK)   # NT_TIB: list, base, limit
    struct.pack_into("<Q", teb, 0x30, TEB)                           # NtTib.Self
    struct.pack_into("<QQ", teb, 0x40, 0x4242, TID)                  # ClientId
    struct.pack_into("<Q", teb, 0x60, PEB)                           # ProcessEnvironmentBlock
    struct.pack_into("<I", teb, 0x68, 2)                             # LastErrorValue
    struct.pack_into("<I", teb, 0x1250, 0xC0000034)                  # LastStatusValue
    return bytes(teb)


def _peb() -> bytes:
    peb = bytearray(0x100)
    peb[2] = 1                                                       # BeingDebugged
    struct.pack_into("<QQQ", peb, 0x10, 0x1_4000_0000, 0x7FF8_0000_1000, PARAMS)
    struct.pack_into("<Q", peb, 0x30, 0x0040_0000)                   # ProcessHeap
    struct.pack_into("<II", peb, 0xB8, 4, 0x70)                      # processors, NtGlobalFlag
    return bytes(peb)


def _params() -> bytes:
    params = bytearray(0x80)
    image = "C:\\app\\app.exe".encode("utf-16-le")
    cmd = '"C:\\app\\app.exe" -x'.encode("utf-16-le")
    struct.pack_into("<HH4xQ", params, 0x60, len(image), len(image), CMDLINE)
    struct.pack_into("<HH4xQ", params, 0x70, len(cmd), len(cmd), CMDLINE + 0x100)
    return bytes(params)


def _context_record(rip: int, rsp: int) -> bytes:
    ctx = bytearray(1232)
    struct.pack_into("<I", ctx, 0x30, 0x10000B)                      # CONTEXT_FULL (AMD64)
    struct.pack_into("<Q", ctx, 0x98, rsp)                           # Rsp
    struct.pack_into("<Q", ctx, 0xF8, rip)                           # Rip
    struct.pack_into("<Q", ctx, 0x78, 0xAAAA)                        # Rax
    return bytes(ctx)


@pytest.fixture(scope="module")
def dump_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    b = DumpBuilder("amd64", os_version=(10, 0, 19045))
    b.add_thread(TID, context={"rip": RIP, "rsp": STACK + 0x100, "rax": 0x11}, stack=bytes(0x200),
                 stack_start=STACK, teb=TEB)
    b.add_thread(OTHER, context={"rip": RIP + 4, "rsp": STACK + 0x8100}, teb=TEB + 0x2000)
    b.add_module(r"C:\app\app.exe", base=0x1_4000_0000, size=0x10000, time_date_stamp=0x5F000000)
    b.add_memory(TEB, _teb())
    b.add_memory(PEB, _peb())
    b.add_memory(PARAMS, _params())
    b.add_memory(CMDLINE, Sparse(0x200, {0: "C:\\app\\app.exe".encode("utf-16-le"),
                                          0x100: '"C:\\app\\app.exe" -x'.encode("utf-16-le")}))
    b.add_memory(CTX_AT, _context_record(0x1_4000_2020, 0x9000))
    b.add_memory(STRINGS, Sparse(0x100, {0: b"needle in the hay\0", 0x40: "wide one".encode(
        "utf-16-le"), 0x80: struct.pack("<II", 0xDEADBEEF, 0xDEADBEEF)}))
    b.add_memory_info(STACK, 0x10000, allocation_base=STACK - 0xF0000, protect=0x04,
                      state=0x1000, type=0x20000)
    b.add_memory_info(0x1_4000_0000, 0x10000, protect=0x20, type=0x1000000)
    b.add_thread_info(TID, user_time=15_000_000, kernel_time=2_500_000, create_time=0)
    b.add_thread_info(OTHER, user_time=5_000_000, kernel_time=7_000_000, create_time=0)
    b.add_handle(0x4, type_name="Event", object_name=r"\BaseNamedObjects\Ready",
                 granted_access=0x1F0003, handle_count=2, pointer_count=65537,
                 object_info=[(6, struct.pack("<Ii", 1, 1))])
    b.add_handle(0x8, type_name="Mutant", granted_access=0x1F0001, handle_count=1,
                 pointer_count=3, object_info=[(2, struct.pack("<iBB", 0, 1, 0))])
    b.add_handle(0xC, type_name="Event", handle_count=1, pointer_count=1)
    b.add_handle(0x10, type_name="Semaphore", object_info=[(8, struct.pack("<ii", 3, 10))])
    path = tmp_path_factory.mktemp("shell") / "built.dmp"
    b.write(path)
    return path


def _out(path: Path, commands: str) -> dict[str, str]:
    with dumplib.open(path) as dump:
        text = dumplib.shell.run(dump, commands)
    out: dict[str, str] = {}
    for block in text.split("\n0:")[0:]:
        head, _, body = block.partition("\n")
        out[head.split("> ", 1)[1]] = body
    return out


def test_handle_table(dump_path: Path) -> None:
    """The layout of the user-mode examples in the !handle documentation, with the
    handles the builder wrote."""
    out = _out(dump_path, "!handle; !handle 4 f; !handle 8 f; !handle 10 f; !handle 99; "
                          "!handle 0 1 Event")
    assert out["!handle"].splitlines() == [
        "Handle 4", "  Type          Event",
        "Handle 8", "  Type          Mutant",
        "Handle c", "  Type          Event",
        "Handle 10", "  Type          Semaphore",
        "4 Handles",
        "Type            Count",
        "Event           2",
        "Mutant          1",
        "Semaphore       1",
    ]
    assert out["!handle 4 f"].splitlines() == [
        "Handle 4",
        "  Type          Event",
        "  Attributes    0",
        "  GrantedAccess 0x1f0003:",
        "         Delete,ReadControl,WriteDac,WriteOwner,Synch",
        "         QueryState,ModifyState",
        "  HandleCount   2",
        "  PointerCount  65537",
        "  Name          \\BaseNamedObjects\\Ready",
        "  Object Specific Information",
        "    Event Type Auto Reset",
        "    Event is Set",
    ]
    assert "    Mutex is Owned" in out["!handle 8 f"].splitlines()
    assert "    Semaphore Count 3" in out["!handle 10 f"].splitlines()
    assert "    Semaphore Limit 10" in out["!handle 10 f"].splitlines()
    assert out["!handle 99"].startswith("^ ")
    assert out["!handle 0 1 Event"].splitlines()[-2:] == ["Type            Count",
                                                          "Event           2"]


def test_runaway_orders_by_time(dump_path: Path) -> None:
    out = _out(dump_path, "!runaway; !runaway 3")
    lines = out["!runaway"].splitlines()
    # the layout of the example in the !runaway documentation
    assert lines == [" User Mode Time", " Thread       Time",
                     f" 0:{TID:x}       0:00:01.5000", f" 1:{OTHER:x}       0:00:00.5000"]
    both = out["!runaway 3"].splitlines()
    at = both.index(" Kernel Mode Time")
    assert both[at - 1] == "" and both[at + 2] == f" 1:{OTHER:x}       0:00:00.7000"


def test_teb_peb_and_gle(dump_path: Path) -> None:
    out = _out(dump_path, "!teb; !peb; !gle; ? @$peb; ? @$teb")
    # the layout of the example in the !teb documentation, with the values the builder wrote
    assert out["!teb"].splitlines() == [
        f"TEB at {TEB:X}",
        "    ExceptionList:    0",
        f"    Stack Base:       {STACK + 0x10000:x}",
        f"    Stack Limit:      {STACK:x}",
        "    SubSystemTib:     0",
        "    FiberData:        0",
        "    ArbitraryUser:    0",
        f"    Self:             {TEB:x}",
        "    EnvironmentPtr:   0",
        f"    ClientId:         4242.{TID:x}",
        "    RpcHandle:        0",
        "    Tls Storage:      0",
        f"    PEB Address:      {PEB:x}",
        "    LastErrorValue:   2",
        "    LastStatusValue:  c0000034",
        "    Count Owned Locks:0",
        "    HardErrorsMode:   0",
    ]
    # the layout of the example in the !peb documentation
    assert out["!peb"].splitlines() == [
        f"PEB at {PEB:x}",
        "    InheritedAddressSpace:    No",
        "    ReadImageFileExecOptions: No",
        "    BeingDebugged:            Yes",
        "    ImageBaseAddress:         140000000",
        "    Ldr                       7ff800001000",
        "    SubSystemData:     0000000000000000",
        "    ProcessHeap:       0000000000400000",
        f"    ProcessParameters: {PARAMS:016x}",
        "    ImageFile:    'C:\\app\\app.exe'",
        "    CommandLine:  '\"C:\\app\\app.exe\" -x'",
    ]
    gle = out["!gle"]
    # the texts [MS-ERREF] gives ERROR_FILE_NOT_FOUND and STATUS_OBJECT_NAME_NOT_FOUND
    assert gle.splitlines() == [
        "LastErrorValue: (Win32) 0x2 (2) - The system cannot find the file specified.",
        "LastStatusValue: (NTSTATUS) 0xc0000034 - The object name is not found."]
    assert out["? @$peb"].endswith(f"{PEB:08x}")


def test_address_with_memory_info(dump_path: Path) -> None:
    out = _out(dump_path, f"!address {STACK + 0x80:x}; !address 140000010; !address")
    one = out[f"!address {STACK + 0x80:x}"].splitlines()
    assert one[0] == "Usage:                  Stack"
    assert one[1] == "Base Address:           00000000`00100000"
    assert one[2] == "End Address:            00000000`00110000"
    assert "State:                  00001000          MEM_COMMIT" in one
    assert "Protect:                00000004          PAGE_READWRITE" in one
    assert "Type:                   00020000          MEM_PRIVATE" in one
    assert "Allocation Base:        00000000`00010000" in one
    assert one[-1] == "More info:              ~0k"
    image = out["!address 140000010"]
    assert image.startswith("Usage:                  Image")
    assert "PAGE_EXECUTE_READ" in image and "MEM_IMAGE" in image
    assert image.splitlines()[-3:] == ["Image Path:             C:\\app\\app.exe",
                                       "Module Name:            app",
                                       "More info:              lmv m app"]
    listing = out["!address"].splitlines()
    assert len(listing) == 2 + 2


def test_cxr_switches_to_a_context_record(dump_path: Path) -> None:
    out = _out(dump_path, f"r rip; .cxr {CTX_AT:x}; r rip, rax; .cxr; r rip")
    assert out["r rip"] == f"rip={RIP:016x}"
    assert out["r rip, rax"] == "rip=0000000140002020 rax=000000000000aaaa"
    assert out[".cxr"] == "Resetting default scope"


def test_search_and_strings(dump_path: Path) -> None:
    out = _out(dump_path, f's -a {STRINGS:x} L100 "in the"; s -d {STRINGS:x} L40 deadbeef; '
                          f"da {STRINGS:x}; du {STRINGS + 0x40:x}; s -u {STRINGS:x} L80 \"one\"")
    hit = out[f's -a {STRINGS:x} L100 "in the"'].splitlines()
    assert len(hit) == 1 and hit[0].startswith(f"00000000`{STRINGS + 7:08x}  69 6e 20 74 68 65")
    dwords = out[f"s -d {STRINGS:x} L40 deadbeef"].splitlines()
    assert [ln.split()[0] for ln in dwords] == [f"00000000`{STRINGS + 0x80:08x}",
                                                f"00000000`{STRINGS + 0x84:08x}"]
    assert out[f"da {STRINGS:x}"] == f'00000000`{STRINGS:08x}  "needle in the hay"'
    assert out[f"du {STRINGS + 0x40:x}"] == f'00000000`{STRINGS + 0x40:08x}  "wide one"'
    assert out[f's -u {STRINGS:x} L80 "one"'].startswith(f"00000000`{STRINGS + 0x4A:08x}")


def test_threads_and_k_on_a_dump_without_an_exception(dump_path: Path) -> None:
    out = _out(dump_path, "~; ~1s; .lastevent")
    lines = out["~"].splitlines()
    assert lines[0] == f".  0  Id: 0.{TID:x} Suspend: 0 Teb: 00000000`{TEB:08x} Unfrozen"
    assert lines[1].startswith(f"   1  Id: 0.{OTHER:x} ")
    assert out["~1s"].splitlines()[2].startswith(f"rip={RIP + 4:016x}")
    assert out[".lastevent"].startswith("Last event: none")
