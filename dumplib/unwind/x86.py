"""x86 (32-bit) unwinding from unwind data: breakpad ``STACK WIN`` and ``STACK CFI``.

:func:`step` is this CPU's rung of the ladder the driver
(:class:`~dumplib.unwind.walker.StackWalker`) climbs for every frame: unwind
data first (here), then the frame-pointer chain and validated scanning, which
the driver does for every CPU.

``STACK WIN`` frame data (type 4) runs its program string; FPO data (type 0)
and frame data without a program get the standard programs breakpad's x86
walker uses. When the program's return-address slot does not hold a return
address, the return address is searched from ``.raSearchStart``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dumplib._exc import DumpError, MemoryNotInDump
from dumplib.symbols.breakpad import StackWinRecord, StackWinType
from dumplib.unwind.frames import Trust
from dumplib.unwind.postfix import PostfixError, run_program
from dumplib.unwind.state import CpuRegisters, FrameSymbol, StepResult, WalkState

if TYPE_CHECKING:
    from dumplib.unwind.walker import StackWalker

__all__ = ["MAX_FRAME_GAP", "REGISTERS", "frame_pointer_after_scan", "step"]

#: Largest distance between a saved ebp and the frame it belongs to that the
#: scan's ebp recovery accepts (99.5 % of x86 frames are smaller, as breakpad measured).
MAX_FRAME_GAP = 128 * 1024

#: x86 registers for the driver: the callee-saved ones of the cdecl/stdcall ABIs.
REGISTERS = CpuRegisters("eip", "esp", "ebp", ("ebx", "ebp", "esi", "edi"), 32)


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
    """One x86 step from unwind data: breakpad ``STACK WIN``, then ``STACK CFI``.

    Args:
        walker: the walker (memory, modules, symbols, caches).
        regs, ip, sp: the callee's registers, instruction and stack pointer.
        lookup: the address to look unwind data up for (ip, or ip - 1 for a return address).
        sym: what names ``lookup``.
        state: the walk's bounds; carries STACK WIN parameter sizes between frames.
        notes: where to say why something was not used.

    Returns:
        The caller's registers, trust ``cfi``, not exact; None when no unwind data applies.
    """
    module = sym.module
    callee_params = state.callee_params
    state.callee_params = 0
    if module is None:
        return None
    mu = walker.module_unwind(module)
    bp = mu.breakpad
    if bp is None:
        return None
    rva = lookup - module.base
    try:
        record = bp.stack_win_at(rva)
    except DumpError:
        record = None
    if record is not None:
        new = _stack_win(walker, record, regs, sp, callee_params, state)
        if new is not None:
            state.callee_params = record.parameter_size
            return new, Trust.CFI, False
    cfi = walker._step_cfi(bp, rva, regs, sp, state)
    if cfi is not None:
        return cfi, Trust.CFI, False
    return None

def _stack_win(
    walker: StackWalker, record: object, regs: dict[str, int], sp: int, callee_params: int,
    state: WalkState,
) -> dict[str, int] | None:
    assert isinstance(record, StackWinRecord)
    ra_search = sp + callee_params + record.local_size + record.saved_register_size
    variables: dict[str, int] = {f"${k}": v for k, v in regs.items() if k[0] == "e"}
    variables.update({
        ".cbCalleeParams": callee_params,
        ".cbSavedRegs": record.saved_register_size,
        ".cbLocals": record.local_size,
        ".cbParams": record.parameter_size,
        ".raSearchStart": ra_search,
        ".raSearch": ra_search,
    })
    program = record.program_string
    if program is None or int(record.type) == StackWinType.FPO:
        if record.allocates_base_pointer:
            program = (
                "$eip .raSearchStart ^ = $esp .raSearchStart 4 + = "
                "$ebp $esp .cbCalleeParams + .cbSavedRegs + 8 - ^ ="
            )
        else:
            program = "$eip .raSearchStart ^ = $esp .raSearchStart 4 + = $ebp $ebp ="
    try:
        run_program(program, variables, walker.memory.read_u32, bits=32)
    except PostfixError:
        return None
    if "$eip" not in variables or "$esp" not in variables:
        return None
    new = dict(regs)
    for name in ("eip", "esp", "ebp", "ebx", "esi", "edi"):
        if f"${name}" in variables:
            new[name] = variables[f"${name}"]
    if not walker._is_return_address(new["eip"]) and new["eip"] != 0:
        # the program's return-address slot was wrong: search from .raSearchStart
        found = walker._scan_from(ra_search + 4, state, 64)
        if found is None:
            return None
        new["eip"], slot = found
        new["esp"] = slot + 4
    return new if walker._accept(new, sp, state, check_ip=False) else None


def frame_pointer_after_scan(
    walker: StackWalker,
    new: dict[str, int],
    regs: dict[str, int],
    sp: int,
    slot: int,
    state: WalkState,
) -> None:
    """Give a frame found by scanning the ebp its caller most likely has.

    A callee with the standard prolog (``push ebp; mov ebp, esp``) saved the
    caller's ebp right below the return address: a value there that points
    further up the stack, within :data:`MAX_FRAME_GAP`, is taken. Otherwise a
    callee that did not touch ebp kept the caller's: the callee's ebp is kept
    when it lies above the new stack pointer. Without either, ebp is dropped,
    so that the next frame is not chained through a stale one. This lets the
    walk return to the frame-pointer chain and STACK WIN after a scanned frame.

    Args:
        walker: the walker.
        new: the caller's registers found by the scan (updated in place).
        regs: the callee's registers.
        sp: the callee's stack pointer.
        slot: where the return address was found.
        state: the walk's bounds.
    """
    caller_sp = slot + 4
    new.pop("ebp", None)
    if slot > sp:
        try:
            saved = walker.memory.read_u32(slot - 4)
        except MemoryNotInDump:
            saved = 0
        if slot < saved < state.hi and saved - (slot - 4) <= MAX_FRAME_GAP:
            new["ebp"] = saved
            return
    last = regs.get("ebp")
    if last is not None and caller_sp <= last < state.hi:
        new["ebp"] = last
