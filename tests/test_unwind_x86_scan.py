"""x86 walking after a scanned frame, and scan candidates that symbols rule out.

Builder-made dumps whose call chains are known by construction: CALL rel32 is
``E8 xx xx xx xx``, NOP is ``90``; frame chains follow the standard prolog
``push ebp; mov ebp, esp`` ([ebp] = the caller's ebp, [ebp + 4] = the return
address).
"""

from __future__ import annotations

import struct
from pathlib import Path

import dumplib
from dumplib.builder import DumpBuilder
from dumplib.unwind.frames import Trust

BASE = 0x40_0000
ESP = 0x12_0000


def _code(calls: list[int]) -> bytes:
    code = bytearray(b"\x90" * 0x3000)
    for c in calls:
        code[c : c + 5] = b"\xe8\0\0\0\0"
    return bytes(code)


def _dump(mem: bytes, regs: dict[str, int], calls: list[int]) -> dumplib.Dump:
    b = DumpBuilder("x86")
    b.add_thread(1, context=regs, stack=mem, stack_start=ESP)
    code = _code(calls)
    b.add_module(r"C:\x\app.exe", base=BASE, size=len(code),
                 pdb70=("app.pdb", bytes(range(16)), 1))
    b.add_memory(BASE, code)
    return dumplib.open(b.to_bytes())


def test_walk_returns_to_the_frame_pointer_chain_after_a_scan() -> None:
    """Frame 0 has a garbage ebp, so its caller is found by scanning; the caller's
    prolog saved its caller's ebp right below the return address, and from there
    the ebp chain leads on. Stale return addresses left deeper on the stack (which
    a walk that kept scanning would take) must not appear."""
    calls = [0x1100, 0x1200, 0x1300, 0x1400, 0x1500]
    ret = {c: BASE + c + 5 for c in calls}
    mem = bytearray(0x200)
    ebp1, ebp2 = ESP + 0x80, ESP + 0x100
    # scanned slot at ESP+0x10: [ESP+0x0c] = ebp1 (pushed by the callee's prolog)
    struct.pack_into("<II", mem, 0x0C, ebp1, ret[0x1100])
    # stale return addresses between the frames
    struct.pack_into("<I", mem, 0x30, ret[0x1400])
    struct.pack_into("<I", mem, 0x90, ret[0x1500])
    struct.pack_into("<II", mem, ebp1 - ESP, ebp2, ret[0x1200])
    struct.pack_into("<II", mem, ebp2 - ESP, 0, ret[0x1300])
    with _dump(bytes(mem), {"eip": BASE + 0x1010, "esp": ESP, "ebp": 0x7777}, calls) as d:
        stack = d.stack(1)
    assert [f.ip for f in stack.frames] == [BASE + 0x1010, ret[0x1100], ret[0x1200],
                                           ret[0x1300]]
    assert [f.trust for f in stack.frames] == [Trust.CONTEXT, Trust.SCAN,
                                               Trust.FRAME_POINTER, Trust.FRAME_POINTER]


def _sym(funcs: list[tuple[int, int, str]]) -> str:
    # the GUID of bytes 0..15 as a CodeView record stores it (first three fields
    # little-endian), then the age 1
    lines = ["MODULE windows x86 030201000504070608090A0B0C0D0E0F1 app.pdb"]
    lines += [f"FUNC {start:x} {size:x} 0 {name}" for start, size, name in funcs]
    return "\n".join(lines) + "\n"


def test_scan_rejects_addresses_in_no_function(tmp_path: Path) -> None:
    """A value after a CALL, but at an address the .sym places in no function
    (between two FUNC records), is not a return address; without the .sym it is."""
    calls = [0x1100, 0x2100]
    decoy, real = BASE + 0x1105, BASE + 0x2105
    mem = bytearray(0x100)
    struct.pack_into("<II", mem, 0x10, decoy, real)
    path = tmp_path / "app.sym"
    path.write_text(_sym([(0x1000, 0x50, "crash_here"), (0x2000, 0x200, "caller")]))
    regs = {"eip": BASE + 0x1010, "esp": ESP, "ebp": 0}
    with _dump(bytes(mem), regs, calls) as d:
        bare = d.stack(1)
        with_symbols = d.stack(1, [str(path)])
    assert bare.frames[1].ip == decoy  # negative control: only symbols rule it out
    assert with_symbols.frames[1].ip == real
    assert with_symbols.frames[1].function == "caller"
    assert with_symbols.frames[1].trust is Trust.SCAN


def test_x64_scan_rejects_return_addresses_outside_pdata() -> None:
    """In an x64 image with .pdata, a function without a RUNTIME_FUNCTION is a leaf
    and calls nothing, so a value after a CALL inside it is no return address. The
    synthetic image (dumplib.unwind.synth) puts a CALL in such a function anyway."""
    capstone = __import__("pytest").importorskip("capstone")
    from dumplib.unwind.synth import SynthFunction, build_image

    image = build_image([SynthFunction("noent", [], calls=1, in_pdata=False),
                         SynthFunction("outer", [("alloc", 0x28, 0)], calls=1)],
                        0x7FF6_1000_0000)
    # call_sites are the CALL instructions (5 bytes, call rel32); return addresses follow
    decoy = image.functions["noent"].call_sites[0] + 5
    real = image.functions["outer"].call_sites[0] + 5
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    for ret in (decoy, real):  # both follow a CALL (checked with capstone)
        code = image.data[ret - image.base - 5 : ret - image.base]
        assert next(md.disasm(code, ret - 5)).mnemonic == "call"
    rsp = 0x50_0000
    words = [0, decoy, 0x1234, real, 0]
    b = DumpBuilder("amd64")
    b.add_thread(1, context={"rip": 0x9999_0000, "rsp": rsp, "rbp": 0},
                 stack=b"".join(struct.pack("<Q", w) for w in words), stack_start=rsp)
    b.add_module(r"C:\synth\synth.dll", base=image.base, size=image.size,
                 time_date_stamp=image.timestamp)
    b.add_memory(image.base, image.data)
    with dumplib.open(b.to_bytes()) as d:
        stack = d.stack(1)
    assert stack.frames[1].ip == real and stack.frames[1].trust is Trust.SCAN
