"""ARM64 (AArch64) unwinding: this CPU's step and its return-address check.

:func:`step` is the ARM64 rung of the ladder the driver
(:class:`~dumplib.unwind.walker.StackWalker`) climbs for every frame:
breakpad ``STACK CFI`` (whose register names ``x29``/``x30`` are the
context's ``fp``/``lr``). The driver then follows the frame-record chain
(``[fp]`` = the caller's ``fp``, ``[fp + 8]`` = the return address, as the
AAPCS64 lays frame records out) and finally scans the stack, accepting a
value only when the instruction before it is a ``BL``/``BLR`` (:func:`follows_call`).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from dumplib.unwind.frames import Trust
from dumplib.unwind.state import CpuRegisters, FrameSymbol, StepResult, WalkState

if TYPE_CHECKING:
    from dumplib.unwind.walker import StackWalker

__all__ = ["REGISTERS", "follows_call", "step"]

#: ARM64 registers for the driver: x19-x28 and the frame pointer are callee-saved (AAPCS64).
REGISTERS = CpuRegisters(
    "pc", "sp", "fp", (*(f"x{i}" for i in range(19, 29)), "fp"), 64,
    cfi_aliases=(("x29", "fp"), ("x30", "lr"), ("x31", "sp")),
)


def follows_call(before: bytes) -> bool:
    """Whether the 4 bytes before a candidate return address are a call.

    ``BL imm26`` (``100101`` in bits 26-31), ``BLR Xn`` and the pointer-
    authenticating ``BLRAA``/``BLRAB``/``BLRAAZ``/``BLRABZ``.

    Args:
        before: the code bytes just before the candidate (at least 4).
    """
    if len(before) < 4:
        return False
    word: int = struct.unpack_from("<I", before, len(before) - 4)[0]
    if word & 0xFC000000 == 0x94000000:  # BL
        return True
    if word & 0xFFFFFC1F == 0xD63F0000:  # BLR
        return True
    return word & 0xFEFFF800 == 0xD63F0800  # BLRAA, BLRAAZ, BLRAB, BLRABZ


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
    """One ARM64 step from unwind data: breakpad ``STACK CFI``.

    Args:
        walker: the walker (memory, modules, symbols, caches).
        regs, ip, sp: the callee's registers, instruction and stack pointer.
        lookup: the address to look unwind data up for (ip, or ip - 4's
            neighbourhood for a return address: the driver passes ip - 1).
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
