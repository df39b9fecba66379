"""x64 unwinding: one frame from RUNTIME_FUNCTION / UNWIND_INFO, and this CPU's step.

:func:`step` is the x64 rung of the ladder the driver
(:class:`~dumplib.unwind.walker.StackWalker`) climbs for every frame: the
exception dispatcher's pushed CONTEXT, Windows unwind data, breakpad
``STACK CFI``; the driver then tries the frame pointer and validated scanning.

:func:`virtual_unwind` applies the rules of the Windows x64 ABI (what
``RtlVirtualUnwind`` does) to a register set:

1. The *establisher frame* (the base that SAVE_NONVOL/SAVE_XMM128 offsets are
   relative to) is ``rsp``, or ``FrameRegister - FrameOffset*16`` once the
   prolog's SET_FPREG has run.
2. Outside the prolog, when the instructions at the ip form a legal epilogue
   (``add rsp, imm`` or ``lea rsp, [frame+disp]``, then ``pop`` of non-volatile
   registers, then ``ret`` or a tail ``jmp``), the epilogue is emulated
   forward: that is the only correct way to unwind a thread stopped inside one.
3. Otherwise the unwind codes are undone in stored order. In the prolog only
   the codes whose CodeOffset is at or before the ip's offset apply (the rest
   have not executed yet). Chained UNWIND_INFO (CHAININFO) is applied after the
   primary one, entirely.
4. PUSH_MACHFRAME restores ``rip`` and ``rsp`` from the machine frame (with
   or without an error code) and ends the step; otherwise the return address
   is popped from ``[rsp]``.

Memory comes from callables so that the same code unwinds over a dump, an
image on disk or a test's dictionary; a missing stack byte raises
:class:`~dumplib.MemoryNotInDump`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from dumplib._exc import DumpError, MemoryNotInDump
from dumplib.format.constants import Arch
from dumplib.format.context import AMD64_CONTEXT_SIZE, parse_context
from dumplib.pe.unwind import RuntimeFunction, UnwindInfo, UnwindOp
from dumplib.unwind.frames import Trust
from dumplib.unwind.state import (
    CpuRegisters,
    FrameSymbol,
    ModuleUnwind,
    StepResult,
    WalkState,
    root_begin,
)

if TYPE_CHECKING:
    from dumplib.unwind.walker import StackWalker

__all__ = [
    "REGISTERS",
    "REGISTER_NAMES",
    "Epilogue",
    "parse_epilogue",
    "step",
    "virtual_unwind",
]

#: x64 registers for the driver: callee-saved ones per the Windows x64 ABI.
REGISTERS = CpuRegisters(
    "rip", "rsp", "rbp",
    ("rbx", "rbp", "rsi", "rdi", "r12", "r13", "r14", "r15",
     *(f"xmm{i}" for i in range(6, 16))),
    64,
)
_CONTEXT_AMD64 = 0x100000
_DISPATCHER = "KiUserExceptionDispatcher"

#: AMD64 integer registers by their unwind-code number.
REGISTER_NAMES: tuple[str, ...] = (
    "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
    "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
)

#: ``read_u64(address) -> int``; raises MemoryNotInDump for absent bytes.
ReadU64 = Callable[[int], int]
#: ``read(address, size) -> bytes``; raises MemoryNotInDump for absent bytes.
ReadBytes = Callable[[int, int], bytes]
#: ``code(address, size) -> bytes | None``: instruction bytes (dump memory or image file).
ReadCode = Callable[[int, int], "bytes | None"]

_MASK = (1 << 64) - 1
_I8 = struct.Struct("<b")
_I32 = struct.Struct("<i")
_U16 = struct.Struct("<H")

_PUSH_NONVOL = UnwindOp.PUSH_NONVOL
_ALLOC_LARGE = UnwindOp.ALLOC_LARGE
_ALLOC_SMALL = UnwindOp.ALLOC_SMALL
_SET_FPREG = UnwindOp.SET_FPREG
_SAVE_NONVOL = UnwindOp.SAVE_NONVOL
_SAVE_NONVOL_FAR = UnwindOp.SAVE_NONVOL_FAR
_SAVE_XMM128 = UnwindOp.SAVE_XMM128
_SAVE_XMM128_FAR = UnwindOp.SAVE_XMM128_FAR
_PUSH_MACHFRAME = UnwindOp.PUSH_MACHFRAME
#: Bytes that can start a legal epilogue (a fast filter before decoding).
_EPILOGUE_FIRST = frozenset(
    [0x48, 0x49, 0x4C, 0x4D, 0x41, 0xC3, 0xC2, 0xF3, 0xE9, 0xEB, 0xFF, *range(0x58, 0x60)]
)


class Epilogue:
    """A decoded epilogue tail: what is left to execute from the ip.

    Attributes:
        rsp_add: bytes added to rsp by an ``add rsp, imm`` (0 when absent).
        lea: ``(register number, displacement)`` of a ``lea rsp, [reg+disp]``, or None.
        pops: register numbers popped, in order.
        ret_pop: bytes a ``ret imm16`` releases after the return address.
        tail_jump: True when the epilogue ends in a jump (a tail call) rather than ``ret``.
    """

    __slots__ = ("lea", "pops", "ret_pop", "rsp_add", "tail_jump")

    def __init__(self) -> None:
        self.rsp_add = 0
        self.lea: tuple[int, int] | None = None
        self.pops: list[int] = []
        self.ret_pop = 0
        self.tail_jump = False


def parse_epilogue(
    code: bytes,
    frame_register: int,
    address: int,
    function: tuple[int, int] | None,
    own_code: Callable[[int], bool] | None = None,
) -> Epilogue | None:
    """Decide whether ``code`` (the bytes at the ip) is a legal x64 epilogue.

    The accepted forms are the ones the x64 ABI allows (and RtlVirtualUnwind
    recognises): an optional ``add rsp, imm8/imm32`` or ``lea rsp,
    [FrameRegister + disp8/disp32]`` first, then any number of ``pop reg``,
    then ``ret``, ``rep ret``, ``ret imm16``, ``jmp [rip+disp]``, an indirect
    ``rex.w jmp r/m``, or a direct ``jmp`` whose target is outside the function.

    Args:
        code: the instruction bytes at the ip (32 are plenty; fewer when cut).
        frame_register: the function's FrameRegister (0 when none).
        address: the address of ``code[0]``.
        function: absolute ``(begin, end)`` of the function, to tell a tail call
            from a jump inside it; None when unknown (direct jumps then do not count).
        own_code: tells whether a jump target belongs to the same function
            elsewhere (a chained fragment); such a jump is not a tail call.

    Returns:
        The decoded tail, or None when the bytes are not an epilogue.
    """
    n = len(code)
    if not n or code[0] not in _EPILOGUE_FIRST:
        return None
    ep = Epilogue()
    i = 0
    if n >= 4 and code[0] == 0x48 and code[1] == 0x83 and code[2] == 0xC4:
        ep.rsp_add = code[3] if code[3] < 0x80 else -1
        if ep.rsp_add < 0:
            return None
        i = 4
    elif n >= 7 and code[0] == 0x48 and code[1] == 0x81 and code[2] == 0xC4:
        ep.rsp_add = _I32.unpack_from(code, 3)[0]
        if ep.rsp_add < 0:
            return None
        i = 7
    elif n >= 4 and code[0] in (0x48, 0x49) and code[1] == 0x8D and frame_register:
        modrm = code[2]
        mod, reg, rm = modrm >> 6, (modrm >> 3) & 7, (modrm & 7) | ((code[0] & 1) << 3)
        if reg != 4 or rm != frame_register or (rm & 7) == 4:
            return None
        if mod == 1:
            ep.lea = (rm, _I8.unpack_from(code, 3)[0])
            i = 4
        elif mod == 2 and n >= 7:
            ep.lea = (rm, _I32.unpack_from(code, 3)[0])
            i = 7
        else:
            return None
    while i < n:
        b = code[i]
        if 0x58 <= b <= 0x5F:
            ep.pops.append(b - 0x58)
            i += 1
        elif b == 0x41 and i + 1 < n and 0x58 <= code[i + 1] <= 0x5F:
            ep.pops.append(code[i + 1] - 0x58 + 8)
            i += 2
        else:
            break
    if i >= n:
        return None
    b = code[i]
    if b == 0xC3 or (b == 0xF3 and i + 1 < n and code[i + 1] == 0xC3):
        return ep
    if b == 0xC2 and i + 2 < n:
        ep.ret_pop = _U16.unpack_from(code, i + 1)[0]
        return ep
    if b in (0xE9, 0xEB) and function is not None:
        if b == 0xE9 and i + 4 < n:
            target = address + i + 5 + _I32.unpack_from(code, i + 1)[0]
        elif b == 0xEB and i + 1 < n:
            target = address + i + 2 + _I8.unpack_from(code, i + 1)[0]
        else:
            return None
        if function[0] <= target < function[1] or (own_code is not None and own_code(target)):
            return None
        ep.tail_jump = True
        return ep
    if b == 0xFF and i + 1 < n and code[i + 1] == 0x25:
        ep.tail_jump = True
        return ep
    if b in (0x48, 0x49) and i + 2 < n and code[i + 1] == 0xFF and (code[i + 2] & 0x38) == 0x20:
        ep.tail_jump = True
        return ep
    return None


def _emulate_epilogue(ep: Epilogue, regs: dict[str, int], read_u64: ReadU64) -> None:
    rsp = regs["rsp"]
    if ep.lea is not None:
        rsp = (regs.get(REGISTER_NAMES[ep.lea[0]], 0) + ep.lea[1]) & _MASK
    else:
        rsp += ep.rsp_add
    for reg in ep.pops:
        regs[REGISTER_NAMES[reg]] = read_u64(rsp)
        rsp += 8
    regs["rip"] = read_u64(rsp)
    regs["rsp"] = rsp + 8


def virtual_unwind(
    regs: dict[str, int],
    ip: int,
    image_base: int,
    function: RuntimeFunction,
    chain: Sequence[UnwindInfo],
    read_u64: ReadU64,
    read: ReadBytes,
    code: ReadCode | None,
    own_code: Callable[[int], bool] | None = None,
) -> bool:
    """Unwind one frame in place: ``regs`` becomes the caller's register set.

    Args:
        regs: the frame's registers (lower-case names; at least rip, rsp and the
            frame register); updated to the caller's.
        ip: the control address in the frame (the faulting ip, or a return address).
        image_base: base the RVAs of ``function`` and ``chain`` are relative to.
        function: the RUNTIME_FUNCTION covering the frame.
        chain: its UNWIND_INFO followed by every chained one (primary first).
        read_u64: reads the stack.
        read: reads ``size`` bytes (XMM saves).
        code: reads instruction bytes for epilogue detection; None skips it.
        own_code: whether an address is code of the same function (its chained
            fragments), so a jump there is not taken for a tail call.

    Returns:
        True when a machine frame was popped (``rip``/``rsp`` come from it and
        no return address was read), else False.

    Raises:
        MemoryNotInDump: a stack slot the unwind needs was not captured.
    """
    primary = chain[0]
    prolog_offset = ip - (image_base + function.begin)
    in_prolog = 0 <= prolog_offset < primary.size_of_prolog
    fr = primary.frame_register
    rsp = regs["rsp"]
    if fr == 0:
        frame_base = rsp
    elif not in_prolog or primary.has_chain:
        frame_base = (regs.get(REGISTER_NAMES[fr], 0) - primary.frame_offset) & _MASK
    else:
        frame_base = rsp
        for c in primary.codes:
            if c.op is _SET_FPREG and c.offset_in_prolog <= prolog_offset:
                frame_base = (regs.get(REGISTER_NAMES[fr], 0) - primary.frame_offset) & _MASK
                break
    # An ip at the entry's end is a return address after a final (noreturn) CALL: its
    # bytes belong to the next function, so they say nothing about this one's epilogue.
    if not in_prolog and code is not None and ip < image_base + function.end:
        data = code(ip, 32)
        if data and data[0] in _EPILOGUE_FIRST:
            bounds = (image_base + function.begin, image_base + function.end)
            ep = parse_epilogue(data, fr, ip, bounds, own_code)
            if ep is not None:
                _emulate_epilogue(ep, regs, read_u64)
                return False
    first = True
    for info in chain:
        for c in info.codes:
            op = c.op
            if first and in_prolog and c.offset_in_prolog > prolog_offset:
                continue
            if op is _PUSH_NONVOL:
                regs[REGISTER_NAMES[c.op_info]] = read_u64(rsp)
                rsp += 8
            elif op is _ALLOC_SMALL or op is _ALLOC_LARGE:
                rsp += c.operand or 0
            elif op is _SET_FPREG:
                value = regs.get(REGISTER_NAMES[info.frame_register or fr], 0)
                rsp = (value - info.frame_offset) & _MASK
            elif op is _SAVE_NONVOL or op is _SAVE_NONVOL_FAR:
                regs[REGISTER_NAMES[c.op_info]] = read_u64(frame_base + (c.operand or 0))
            elif op is _SAVE_XMM128 or op is _SAVE_XMM128_FAR:
                raw = read(frame_base + (c.operand or 0), 16)
                regs[f"xmm{c.op_info}"] = int.from_bytes(raw, "little")
            elif op is _PUSH_MACHFRAME:
                if c.op_info:
                    rsp += 8  # the error code
                regs["rip"] = read_u64(rsp)
                regs["rsp"] = read_u64(rsp + 24)
                return True
            # EPILOG (version 2) and spare codes describe no prolog action.
        first = False
    regs["rip"] = read_u64(rsp)
    regs["rsp"] = rsp + 8
    return False


# -- this CPU's step ---------------------------------------------------------------


def step(
    walker: StackWalker,
    regs: dict[str, int],
    ip: int,
    sp: int,
    lookup: int,
    sym: FrameSymbol,
    state: WalkState,
    notes: list[str],
) -> StepResult | None:
    """One x64 step from unwind data.

    In order: the CONTEXT ``KiUserExceptionDispatcher`` received (trust
    ``context``); the image's (or a dynamic function table's)
    RUNTIME_FUNCTION / UNWIND_INFO through :func:`virtual_unwind`, a function
    without an entry in an image with ``.pdata`` being a leaf; then breakpad
    ``STACK CFI`` (trust ``cfi``).

    Args:
        walker: the walker (memory, modules, symbols, caches).
        regs, ip, sp: the callee's registers, instruction and stack pointer.
        lookup: the address to look unwind data up for (ip, or ip - 1 for a return address).
        sym: what names ``lookup``.
        state: the walk's bounds.
        notes: where to say why something was not used.

    Returns:
        The caller's registers, their trust and whether the ip is exact; None
        when no unwind data applies.
    """
    module = sym.module
    if sym.function == _DISPATCHER and module is not None:
        pushed = _pushed_context(walker, sp, state)
        if pushed is not None:
            return pushed, Trust.CONTEXT, True
    entry: tuple[int, RuntimeFunction, tuple[UnwindInfo, ...]] | None = None
    mu = walker.module_unwind(module) if module is not None else None
    leaf = False
    if mu is not None and mu.table is not None:
        rf = mu.table.function_for(lookup - module.base)  # type: ignore[union-attr]
        if rf is not None:
            chain = walker._chain(mu, rf)
            if chain:
                entry = (mu.module.base, rf, chain)
        else:
            leaf = True
    if entry is None and not leaf:
        entry = walker._dynamic_entry(lookup)
    new: dict[str, int] | None = None
    machine = False
    if entry is not None:
        base, rf, chain = entry
        new = dict(regs)
        try:
            own = None
            if mu is not None and mu.table is not None:
                own = _own_code(walker, mu, root_begin(rf, chain))
            machine = virtual_unwind(
                new, ip, base, rf, chain, walker.memory.read_u64, walker.memory.read, walker.code,
                own,
            )
        except MemoryNotInDump as exc:
            notes.append(f"unwind of 0x{ip:x} needs memory not in the dump: {exc}")
            new = None
    elif leaf:
        try:
            new = dict(regs)
            new["rip"] = walker.memory.read_u64(sp)
            new["rsp"] = sp + 8
        except MemoryNotInDump:
            new = None
    if new is not None and walker._accept(new, sp, state):
        return new, Trust.CFI, machine
    if mu is not None and mu.breakpad is not None and module is not None:
        cfi = walker._step_cfi(mu.breakpad, lookup - module.base, regs, sp, state)
        if cfi is not None:
            return cfi, Trust.CFI, False
    return None

def _own_code(walker: StackWalker, mu: ModuleUnwind, root: int) -> Callable[[int], bool]:
    """A predicate: is an address code of the function whose primary entry is at ``root``."""
    base = mu.module.base

    def own(address: int) -> bool:
        if mu.table is None:
            return False
        other = mu.table.function_for(address - base)
        if other is None:
            return False
        chain = walker._chain(mu, other)
        return chain is not None and root_begin(other, chain) == root

    return own

def _pushed_context(walker: StackWalker, sp: int, state: WalkState) -> dict[str, int] | None:
    """The CONTEXT KiUserExceptionDispatcher received (at its rsp), when it looks valid."""
    data = walker.memory.try_read(sp, AMD64_CONTEXT_SIZE)
    if data is None:
        return None
    try:
        ctx = parse_context(Arch.AMD64, data)
    except DumpError:
        return None
    if not ctx.flags & _CONTEXT_AMD64:
        return None
    new = ctx.as_dict()
    if not (sp < new["rsp"] <= state.hi + 8) or not walker._is_code(new["rip"]):
        return None
    return new
