"""Synthetic AMD64 code with unwind data, and a forward simulator, for tests and benchmarks.

Nothing here is used by the walker. It builds what a walker must be checked
against, independently of :mod:`dumplib.pe` and :mod:`dumplib.unwind.amd64`:

* :class:`SynthFunction` describes a function by its prolog, in execution
  order (``push``, ``alloc``, ``setfp``, ``save``, ``savexmm``, ``machframe``);
  :func:`build_image` assembles real x64 machine code for it (prolog, CALL
  sites, the restores, a legal epilogue), its UNWIND_INFO (every UWOP the
  prolog needs, chained fragments on request) and a mapped PE32+ image with
  ``.text``, ``.pdata``, ``.xdata`` and an export table naming each function.
* :class:`Simulator` *executes* prologs, calls and epilogues forward on a
  stack, the way a CPU would, and records what every frame's registers were.
  A walker that unwinds the resulting stack backwards must find exactly those
  frames: the two directions share no code, so agreement is evidence.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass, field

__all__ = [
    "NONVOLATILE",
    "ExpectedFrame",
    "Simulator",
    "SynthFunction",
    "SynthImage",
    "build_image",
]

#: Non-volatile integer registers of the Windows x64 ABI, by number.
NONVOLATILE = (3, 5, 6, 7, 12, 13, 14, 15)
_NAMES = (
    "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
    "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
)
_Q = struct.Struct("<Q")

Op = tuple[str, int, int]


@dataclass
class SynthFunction:
    """A function to assemble.

    Attributes:
        name: exported name.
        prolog: operations in execution order, each ``(kind, a, b)``:
            ``("push", reg, 0)``, ``("alloc", bytes, form)`` (form 0: the
            smallest UWOP, 1: ALLOC_LARGE with a 32-bit size), ``("setfp", reg,
            offset)``, ``("save", reg, offset)``, ``("savexmm", xmm, offset)``,
            ``("machframe", error_code, 0)`` (first only).
        calls: number of CALL sites in the body.
        lea_epilogue: restore rsp with ``lea rsp, [fp+disp]`` (needs ``setfp``).
        fragment: a chained fragment: ``None`` (none) or a list of extra prolog
            operations (``push`` only) it runs; the CALL sites then live in it.
        in_pdata: False for a leaf function without a RUNTIME_FUNCTION (its
            prolog must be empty).
    """

    name: str
    prolog: list[Op] = field(default_factory=list)
    calls: int = 2
    lea_epilogue: bool = False
    fragment: list[Op] | None = None
    in_pdata: bool = True


@dataclass
class _Placed:
    fn: SynthFunction
    begin: int = 0
    end: int = 0
    prolog_ends: list[int] = field(default_factory=list)
    call_sites: list[int] = field(default_factory=list)
    restores_at: int = 0
    epilogue: list[tuple[int, Op]] = field(default_factory=list)
    fragment_begin: int = 0
    fragment_prolog_ends: list[int] = field(default_factory=list)
    alloc: int = 0
    fp: tuple[int, int] | None = None
    fin: int = 0


@dataclass
class SynthImage:
    """An assembled image mapped at ``base``.

    Attributes:
        base: load address.
        data: the mapped image (SizeOfImage bytes).
        timestamp: TimeDateStamp in its header.
        functions: name -> placement (addresses are absolute).
        runtime_functions: the .pdata entries as (begin, end, unwind) RVAs.
    """

    base: int
    data: bytes
    timestamp: int
    functions: dict[str, _Placed]
    runtime_functions: list[tuple[int, int, int]]

    @property
    def size(self) -> int:
        """SizeOfImage."""
        return len(self.data)


def _rex(w: bool, r: int, b: int) -> int:
    return 0x40 | (8 if w else 0) | (4 if r >= 8 else 0) | (1 if b >= 8 else 0)


def _encode(op: Op) -> bytes:
    kind, a, b = op
    if kind == "push":
        return (b"\x41" if a >= 8 else b"") + bytes([0x50 + (a & 7)])
    if kind == "alloc":
        if a < 0x80:
            return bytes([0x48, 0x83, 0xEC, a])
        return bytes([0x48, 0x81, 0xEC]) + struct.pack("<I", a)
    if kind == "setfp":  # lea reg, [rsp + b]
        return bytes([_rex(True, a, 0), 0x8D, 0x44 | ((a & 7) << 3), 0x24, b])
    if kind == "save":  # mov [rsp + b], reg
        return bytes([_rex(True, a, 0), 0x89, 0x84 | ((a & 7) << 3), 0x24]) + struct.pack("<I", b)
    if kind == "savexmm":  # movaps [rsp + b], xmmA
        pre = b"\x44" if a >= 8 else b""
        return pre + bytes([0x0F, 0x29, 0x84 | ((a & 7) << 3), 0x24]) + struct.pack("<I", b)
    if kind == "machframe":
        return b""
    raise ValueError(f"unknown prolog op {kind}")


def _restore(op: Op) -> bytes:
    kind, a, b = op
    if kind == "save":  # mov reg, [rsp + b]
        return bytes([_rex(True, a, 0), 0x8B, 0x84 | ((a & 7) << 3), 0x24]) + struct.pack("<I", b)
    if kind == "savexmm":  # movaps xmmA, [rsp + b]
        pre = b"\x44" if a >= 8 else b""
        return pre + bytes([0x0F, 0x28, 0x84 | ((a & 7) << 3), 0x24]) + struct.pack("<I", b)
    return b""


def _unwind_codes(ops: list[Op], ends: list[int]) -> tuple[list[int], int, int]:
    """UNWIND_CODE slots (stored order), frame register and scaled frame offset."""
    slots: list[list[int]] = []
    frame_reg = frame_off = 0
    for op, end in zip(ops, ends, strict=True):
        kind, a, b = op
        if kind == "push":
            slots.append([end | (0 << 8) | (a << 12)])
        elif kind == "alloc":
            if b == 0 and 8 <= a <= 128:
                slots.append([end | (2 << 8) | (((a - 8) // 8) << 12)])
            elif b == 0 and a // 8 < 0x10000:
                slots.append([end | (1 << 8), a // 8])
            else:
                slots.append([end | (1 << 8) | (1 << 12), a & 0xFFFF, a >> 16])
        elif kind == "setfp":
            frame_reg, frame_off = a, b // 16
            slots.append([end | (3 << 8)])
        elif kind == "save":
            if b // 8 < 0x10000:
                slots.append([end | (4 << 8) | (a << 12), b // 8])
            else:
                slots.append([end | (5 << 8) | (a << 12), b & 0xFFFF, b >> 16])
        elif kind == "savexmm":
            if b // 16 < 0x10000:
                slots.append([end | (8 << 8) | (a << 12), b // 16])
            else:
                slots.append([end | (9 << 8) | (a << 12), b & 0xFFFF, b >> 16])
        elif kind == "machframe":
            slots.append([end | (10 << 8) | (a << 12)])
    flat: list[int] = []
    for s in reversed(slots):
        flat += s
    return flat, frame_reg, frame_off


def _unwind_info(
    prolog_size: int, codes: list[int], frame_reg: int, frame_off: int,
    chain: tuple[int, int, int] | None = None,
) -> bytes:
    flags = 4 if chain is not None else 0
    out = bytes([1 | (flags << 3), prolog_size, len(codes), frame_reg | (frame_off << 4)])
    padded = codes + ([0] if len(codes) % 2 else [])
    out += b"".join(struct.pack("<H", c) for c in padded)
    if chain is not None:
        out += struct.pack("<III", *chain)
    return out


def build_image(
    functions: list[SynthFunction], base: int, *, timestamp: int = 0x5E000000,
    name: str = "synth.dll",
) -> SynthImage:
    """Assemble ``functions`` into a mapped PE32+ image at ``base``.

    Layout: headers at 0, ``.text`` at 0x1000, ``.rdata`` (UNWIND_INFO, the
    export table) and ``.pdata`` after it.
    """
    text = bytearray()
    placed: dict[str, _Placed] = {}
    text_rva = 0x1000
    for fn in functions:
        p = _Placed(fn)
        while len(text) % 16:
            text.append(0xCC)
        p.begin = text_rva + len(text)
        ends: list[int] = []
        for op in fn.prolog:
            text += _encode(op)
            ends.append(text_rva + len(text) - p.begin)
            if op[0] == "alloc":
                p.alloc += op[1]
            if op[0] == "setfp":
                p.fp = (op[1], op[2])
        p.prolog_ends = ends
        body_ops: list[Op] = []
        if fn.fragment is not None:
            # jump to the fragment (placed after the primary part)
            jmp_at = len(text)
            text += b"\xe9\0\0\0\0"
            primary_end = text_rva + len(text)
            text += b"\xcc" * 3
            p.fragment_begin = text_rva + len(text)
            struct.pack_into("<i", text, jmp_at + 1, p.fragment_begin - primary_end)
            fends = []
            for op in fn.fragment:
                text += _encode(op)
                fends.append(text_rva + len(text) - p.fragment_begin)
            p.fragment_prolog_ends = fends
            body_ops = list(fn.fragment)
            p.end = primary_end  # primary RUNTIME_FUNCTION ends at the jump
        for _ in range(fn.calls):
            text += b"\x90"
            site = text_rva + len(text)
            text += b"\xe8" + struct.pack("<i", -(site + 5 - p.begin))  # call self (any target)
            p.call_sites.append(site)
            text += b"\x48\x89\xc0"  # mov rax, rax: the return address is not an epilogue
        p.restores_at = text_rva + len(text)
        for op in fn.prolog:
            text += _restore(op)
        if fn.prolog and fn.prolog[0][0] == "machframe":
            text += b"\x48\xcf"  # iretq
        else:
            # the epilogue: pops of the fragment first, then the primary's
            for op in reversed(body_ops):
                p.epilogue.append((text_rva + len(text), ("pop", op[1], 0)))
                text += (b"\x41" if op[1] >= 8 else b"") + bytes([0x58 + (op[1] & 7)])
            if p.alloc or p.fp:
                at = text_rva + len(text)
                if fn.lea_epilogue and p.fp is not None:
                    fr, off = p.fp
                    disp = p.alloc - off
                    text += bytes([0x48 | (1 if fr >= 8 else 0), 0x8D, 0xA0 | (fr & 7)])
                    text += struct.pack("<i", disp)
                    p.epilogue.append((at, ("lea", fr, disp)))
                elif p.alloc:
                    if p.alloc < 0x80:
                        text += bytes([0x48, 0x83, 0xC4, p.alloc])
                    else:
                        text += bytes([0x48, 0x81, 0xC4]) + struct.pack("<I", p.alloc)
                    p.epilogue.append((at, ("add", p.alloc, 0)))
            for op in reversed(fn.prolog):
                if op[0] == "push":
                    p.epilogue.append((text_rva + len(text), ("pop", op[1], 0)))
                    text += (b"\x41" if op[1] >= 8 else b"") + bytes([0x58 + (op[1] & 7)])
            p.epilogue.append((text_rva + len(text), ("ret", 0, 0)))
            text += b"\xc3"
        fin = text_rva + len(text)
        if fn.fragment is None:
            p.end = fin
        else:
            p.fragment_prolog_ends = [p.fragment_begin + e for e in p.fragment_prolog_ends]
        p.prolog_ends = [p.begin + e for e in ends]
        placed[fn.name] = p
        p.fin = fin
    while len(text) % 0x1000:
        text.append(0xCC)
    rdata_rva = text_rva + len(text)
    rdata = bytearray()
    pdata: list[tuple[int, int, int]] = []
    for fn in functions:
        p = placed[fn.name]
        if not fn.in_pdata:
            continue
        codes, fr, fo = _unwind_codes(fn.prolog, [e - p.begin for e in p.prolog_ends])
        prolog_size = (p.prolog_ends[-1] - p.begin) if p.prolog_ends else 0
        while len(rdata) % 4:
            rdata.append(0)
        info_rva = rdata_rva + len(rdata)
        rdata += _unwind_info(prolog_size, codes, fr, fo)
        primary = (p.begin, p.end, info_rva)
        pdata.append(primary)
        if fn.fragment is not None:
            fcodes, _, _ = _unwind_codes(
                fn.fragment, [e - p.fragment_begin for e in p.fragment_prolog_ends]
            )
            fsize = (p.fragment_prolog_ends[-1] - p.fragment_begin) if fn.fragment else 0
            while len(rdata) % 4:
                rdata.append(0)
            frag_rva = rdata_rva + len(rdata)
            rdata += _unwind_info(fsize, fcodes, 0, 0, chain=primary)
            pdata.append((p.fragment_begin, p.fin, frag_rva))
    # export table
    while len(rdata) % 4:
        rdata.append(0)
    names = sorted(placed)
    exp_rva = rdata_rva + len(rdata)
    n = len(names)
    funcs_rva = exp_rva + 40
    names_rva = funcs_rva + 4 * n
    ords_rva = names_rva + 4 * n
    strings_rva = ords_rva + 2 * n
    strings = bytearray(name.encode() + b"\0")
    name_ptrs = []
    for nm in names:
        name_ptrs.append(strings_rva + len(strings))
        strings += nm.encode() + b"\0"
    rdata += struct.pack(
        "<IIHHIIIIIII", 0, timestamp, 0, 0, strings_rva, 1, n, n, funcs_rva, names_rva, ords_rva
    )
    rdata += b"".join(struct.pack("<I", placed[nm].begin) for nm in names)
    rdata += b"".join(struct.pack("<I", p) for p in name_ptrs)
    rdata += b"".join(struct.pack("<H", i) for i in range(n))
    rdata += strings
    exp_size = rdata_rva + len(rdata) - exp_rva
    while len(rdata) % 0x1000:
        rdata.append(0)
    pdata_rva = rdata_rva + len(rdata)
    pdata.sort()
    pdata_bytes = b"".join(struct.pack("<III", *e) for e in pdata)
    pdata_size = len(pdata_bytes)
    pdata_blob = pdata_bytes + bytes(-len(pdata_bytes) % 0x1000 or 0x1000)
    size_of_image = pdata_rva + len(pdata_blob)
    # headers
    hdr = bytearray(0x1000)
    hdr[0:2] = b"MZ"
    struct.pack_into("<I", hdr, 0x3C, 0x80)
    hdr[0x80:0x84] = b"PE\0\0"
    struct.pack_into("<HHIIIHH", hdr, 0x84, 0x8664, 3, timestamp, 0, 0, 240, 0x2022)
    opt = 0x98
    struct.pack_into(
        "<HBBIIIIIQIIHHHHHHIIIIHHQQQQII", hdr, opt, 0x20B, 14, 0, len(text), 0, 0, 0, text_rva,
        base, 0x1000, 0x200, 6, 0, 0, 0, 6, 0, 0, size_of_image, 0x1000, 0, 3, 0x160,
        0x100000, 0x1000, 0x100000, 0x1000, 0, 16,
    )
    dirs = opt + 112
    struct.pack_into("<II", hdr, dirs + 0 * 8, exp_rva, exp_size)
    struct.pack_into("<II", hdr, dirs + 3 * 8, pdata_rva, pdata_size)
    sect = opt + 240
    for i, (sname, rva, size, chars) in enumerate((
        (b".text", text_rva, len(text), 0x60000020),
        (b".rdata", rdata_rva, len(rdata), 0x40000040),
        (b".pdata", pdata_rva, len(pdata_blob), 0x40000040),
    )):
        struct.pack_into("<8sIIIIIIHHI", hdr, sect + 40 * i, sname, size, rva, size, rva, 0, 0,
                         0, 0, chars)
    data = bytes(hdr) + bytes(text) + bytes(rdata) + pdata_blob
    assert len(data) == size_of_image
    absolute: dict[str, _Placed] = {}
    for nm, p in placed.items():
        p.begin += base
        p.end += base
        p.call_sites = [base + s for s in p.call_sites]
        p.prolog_ends = [base + e for e in p.prolog_ends]
        p.restores_at += base
        p.epilogue = [(base + a, op) for a, op in p.epilogue]
        if p.fn.fragment is not None:
            p.fragment_begin += base
            p.fragment_prolog_ends = [base + e for e in p.fragment_prolog_ends]
        absolute[nm] = p
    return SynthImage(base, data, timestamp, absolute, pdata)


@dataclass(frozen=True)
class ExpectedFrame:
    """What a frame's registers really were.

    Attributes:
        function: the function's name.
        ip: the frame's ip (the return address for callers).
        sp: rsp in the frame.
        registers: non-volatile registers (and saved xmm registers) in the frame.
        interrupted: True when the frame was entered through a machine frame
            (its ip is the interrupted instruction, not a return address).
    """

    function: str
    ip: int
    sp: int
    registers: dict[str, int]
    interrupted: bool = False


class Simulator:
    """Executes prologs, calls and epilogues forward on a stack.

    Args:
        image: the assembled image whose functions run.
        stack_top: highest stack address (exclusive); the stack is 64 KiB below it.
        seed: seed for the register values.
    """

    def __init__(self, image: SynthImage, stack_top: int, *, seed: int = 0,
                 stack_size: int = 0x10000) -> None:
        self.image = image
        self.top = stack_top
        self.lo = stack_top - stack_size
        self.stack = bytearray(stack_size)
        self.rng = random.Random(seed)
        self.regs: dict[str, int] = {n: self.rng.getrandbits(64) for n in _NAMES}
        for i in range(16):
            self.regs[f"xmm{i}"] = self.rng.getrandbits(128)
        self.regs["rsp"] = stack_top - 0x80
        self.frames: list[ExpectedFrame] = []  # outermost first

    def _write(self, addr: int, data: bytes) -> None:
        off = addr - self.lo
        if not 0 <= off <= len(self.stack) - len(data):
            raise ValueError("simulated stack overflow")
        self.stack[off : off + len(data)] = data

    def _read(self, addr: int, size: int) -> bytes:
        off = addr - self.lo
        return bytes(self.stack[off : off + size])

    def push(self, value: int) -> None:
        """Push a quadword."""
        self.regs["rsp"] -= 8
        self._write(self.regs["rsp"], _Q.pack(value & (1 << 64) - 1))

    def _exec(self, op: Op) -> None:
        kind, a, b = op
        r = self.regs
        if kind == "push":
            self.push(r[_NAMES[a]])
        elif kind == "alloc":
            r["rsp"] -= a
        elif kind == "setfp":
            r[_NAMES[a]] = r["rsp"] + b
        elif kind == "save":
            self._write(r["rsp"] + b, _Q.pack(r[_NAMES[a]]))
        elif kind == "savexmm":
            self._write(r["rsp"] + b, r[f"xmm{a}"].to_bytes(16, "little"))
        elif kind == "pop":
            r[_NAMES[a]] = _Q.unpack(self._read(r["rsp"], 8))[0]
            r["rsp"] += 8
        elif kind == "add":
            r["rsp"] += a
        elif kind == "lea":
            r["rsp"] = r[_NAMES[a]] + b
        elif kind == "ret":
            r["rip"] = _Q.unpack(self._read(r["rsp"], 8))[0]
            r["rsp"] += 8

    def _clobber(self, ops: list[Op]) -> None:
        for kind, a, _b in ops:
            if kind in ("push", "save"):
                self.regs[_NAMES[a]] = self.rng.getrandbits(64)
            elif kind == "savexmm":
                self.regs[f"xmm{a}"] = self.rng.getrandbits(128)
        for kind, a, b in ops:
            if kind == "setfp":
                self.regs[_NAMES[a]] = self.regs["rsp"] + b

    def _snapshot(self, name: str, ip: int, interrupted: bool = False) -> None:
        regs = {_NAMES[n]: self.regs[_NAMES[n]] for n in NONVOLATILE}
        regs.update({f"xmm{i}": self.regs[f"xmm{i}"] for i in range(6, 16)})
        self.frames.append(ExpectedFrame(name, ip, self.regs["rsp"], regs, interrupted))

    def enter(self, name: str) -> None:
        """Start running function ``name`` (as the outermost frame, or called by the current).

        The caller's state must already be recorded with :meth:`call_from`.
        """
        p = self.image.functions[name]
        ops = p.fn.prolog
        if ops and ops[0][0] == "machframe":
            ops = ops[1:]
        for op in ops:
            self._exec(op)
        if p.fn.fragment:
            for op in p.fn.fragment:
                self._exec(op)
        self._clobber(ops + (p.fn.fragment or []))

    def start(self, name: str) -> None:
        """Make ``name`` the outermost function: its return address is 0 (thread start)."""
        self.push(0)
        self.enter(name)

    def call_from(self, name: str, site: int, callee: str) -> None:
        """The current function ``name`` calls ``callee`` from CALL site number ``site``."""
        p = self.image.functions[name]
        ret = p.call_sites[site % len(p.call_sites)] + 5
        self._snapshot(name, ret)
        self.push(ret)
        self.enter(callee)

    def interrupt(self, name: str, site: int, handler: str, *, error_code: bool) -> None:
        """The current function ``name`` is interrupted at CALL site ``site`` (a machine frame)."""
        p = self.image.functions[name]
        ip = p.call_sites[site % len(p.call_sites)]
        self._snapshot(name, ip, interrupted=True)
        old_rsp = self.regs["rsp"]
        for value in (0x2B, old_rsp, 0x246, 0x33, ip):
            self.push(value)
        if error_code:
            self.push(0x1234)
        self.enter(handler)

    def stop_in_body(self, name: str) -> dict[str, int]:
        """Stop in ``name``'s body (at its restores); returns the thread context."""
        p = self.image.functions[name]
        self.regs["rip"] = p.restores_at
        self._snapshot(name, p.restores_at)
        return dict(self.regs)

    def call_partial(self, name: str, site: int, callee: str, executed: int) -> dict[str, int]:
        """``name`` calls ``callee``, which stops after ``executed`` prolog instructions."""
        p = self.image.functions[name]
        ret = p.call_sites[site % len(p.call_sites)] + 5
        self._snapshot(name, ret)
        self.push(ret)
        q = self.image.functions[callee]
        for op in q.fn.prolog[:executed]:
            self._exec(op)
        self.regs["rip"] = q.prolog_ends[executed - 1] if executed else q.begin
        self._snapshot(callee, self.regs["rip"])
        return dict(self.regs)

    def stop_in_epilogue(self, name: str, executed: int) -> dict[str, int]:
        """Run ``name``'s restores and the first ``executed`` epilogue instructions; stop there."""
        p = self.image.functions[name]
        # the restores put the caller's values back (read from the save slots)
        for kind, a, b in p.fn.prolog:
            if kind == "save":
                self.regs[_NAMES[a]] = _Q.unpack(self._read(self.regs["rsp"] + b, 8))[0]
            elif kind == "savexmm":
                self.regs[f"xmm{a}"] = int.from_bytes(self._read(self.regs["rsp"] + b, 16),
                                                       "little")
        for _addr, op in p.epilogue[:executed]:
            self._exec(op)
        self.regs["rip"] = p.epilogue[executed][0]
        self._snapshot(name, self.regs["rip"])
        return dict(self.regs)

    def expected(self) -> list[ExpectedFrame]:
        """The frames, innermost first."""
        return list(reversed(self.frames))

    def stack_bytes(self) -> tuple[int, bytes]:
        """(start, bytes) of the stack from the current rsp to the top."""
        rsp = self.regs["rsp"] & ~0xF
        return rsp, self._read(rsp, self.top - rsp)
