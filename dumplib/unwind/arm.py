"""32-bit ARM unwinding: this CPU's step and its return-address check.

:func:`step` is the ARM rung of the ladder the driver
(:class:`~dumplib.unwind.walker.StackWalker`) climbs for every frame:
breakpad ``STACK CFI`` (whose register names ``r13``/``r14``/``r15`` are the
context's ``sp``/``lr``/``pc``). The driver then follows the frame chain
through ``r11`` (``[fp]`` = the caller's fp, ``[fp + 4]`` = the return
address, as GCC's APCS frames without the full APCS frame record lay them
out) and scans the stack, accepting a value only when the instruction before
it is a ``BL``/``BLX`` (:func:`follows_call`, ARM or Thumb by bit 0).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

from dumplib.unwind.frames import Trust
from dumplib.unwind.state import CpuRegisters, FrameSymbol, StepResult, WalkState

if TYPE_CHECKING:
    from dumplib.unwind.walker import StackWalker

__all__ = ["REGISTERS", "follows_call", "step"]

#: ARM registers for the driver: r4-r11 are callee-saved (AAPCS).
REGISTERS = CpuRegisters(
    "pc", "sp", "r11", tuple(f"r{i}" for i in range(4, 12)), 32,
    cfi_aliases=(("r13", "sp"), ("r14", "lr"), ("r15", "pc")),
)


def follows_call(code: Callable[[int, int], bytes | None], address: int) -> bool:
    """Whether the instruction before a candidate return address is a call.

    An odd address returns to Thumb code: a 16-bit ``BLX Rm`` or a 32-bit
    ``BL``/``BLX imm`` ends just below it. An even one returns to ARM code: the
    word below is ``BL imm24`` (any condition) or ``BLX Rm``.

    Args:
        code: reads code bytes (address, size), None when absent.
        address: the candidate.
    """
    if address & 1:
        target = address & ~1
        before = code(target - 4, 4)
        if before is None or len(before) < 4:
            return False
        hw1, hw2 = (int(v) for v in struct.unpack("<HH", before))
        if hw2 & 0xFF87 == 0x4780:  # BLX Rm (16-bit)
            return True
        return hw1 & 0xF800 == 0xF000 and hw2 & 0xC000 == 0xC000  # BL / BLX imm (32-bit)
    if address & 3:
        return False
    before = code(address - 4, 4)
    if before is None or len(before) < 4:
        return False
    word = int(struct.unpack("<I", before)[0])
    if word & 0x0F000000 == 0x0B000000 and word >> 28 != 0xF:  # BL imm24
        return True
    if word >> 25 == 0x7D:  # BLX imm24 (unconditional, H bit in 24)
        return True
    return word & 0x0FFFFFF0 == 0x012FFF30  # BLX Rm


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
    """One ARM step from unwind data: breakpad ``STACK CFI``.

    Args:
        walker: the walker (memory, modules, symbols, caches).
        regs, ip, sp: the callee's registers, instruction and stack pointer.
        lookup: the address to look unwind data up for.
        sym: what names ``lookup``.
        state: the walk's bounds.
        notes: where to say why something was not used.

    Returns:
        The caller's registers, trust ``cfi``, not exact; None when no unwind data applies.
    """
    module = sym.module
    if module is None:
        return None
    mu = walker.module_unwind(module)
    if mu.breakpad is None:
        return None
    new = walker._step_cfi(mu.breakpad, lookup - module.base, regs, sp, state)
    if new is None:
        return None
    return new, Trust.CFI, False
