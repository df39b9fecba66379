"""ARM64 (AArch64) unwinding: this CPU's step and its return-address check.

:func:`step` is the ARM64 rung of the ladder the driver
(:class:`~dumplib.unwind.walker.StackWalker`) climbs for every frame:
the image's ``.pdata``/``.xdata`` (Windows, :mod:`dumplib.unwind.arm64_xdata`),
then breakpad ``STACK CFI`` (whose register names ``x29``/``x30`` are the
context's ``fp``/``lr``). The driver then follows the frame-record chain
(``[fp]`` = the caller's ``fp``, ``[fp + 8]`` = the return address, as the
AAPCS64 lays frame records out) and finally scans the stack, accepting a
value only when the instruction before it is a ``BL``/``BLR`` (:func:`follows_call`).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from dumplib._exc import DumpError
from dumplib.pe.structs import DirectoryEntry, Machine
from dumplib.unwind.arm64_xdata import Arm64Table, unwind
from dumplib.unwind.frames import Trust
from dumplib.unwind.state import CpuRegisters, FrameSymbol, ModuleUnwind, StepResult, WalkState

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
    """One ARM64 step from unwind data: Windows ``.pdata``/``.xdata``, then ``STACK CFI``.

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
    table = _table(mu)
    if table is not None:
        rva = lookup - module.base
        function = table.function_for(rva)
        if function is not None:
            try:
                new = unwind(regs, rva, function, table, walker.memory.read_u64,
                             exact=lookup == ip)
            except DumpError as exc:
                notes.append(f"ARM64 unwind of 0x{ip:x}: {exc}")
            else:
                new["pc"] = walker.strip_code_pointer(new["pc"])
                if walker._accept(new, sp, state):
                    return new, Trust.CFI, False
        else:
            # the faulting frame in no entry of an image with .pdata: a leaf, which
            # returns through lr (a return address cannot lie in a leaf: it calls nothing)
            leaf = {**regs, "pc": walker.strip_code_pointer(regs.get("lr", 0))}
            if lookup == ip and walker._accept(leaf, sp, state):
                return leaf, Trust.CFI, False
    if mu.breakpad is None:
        return None
    cfi = walker._step_cfi(mu.breakpad, lookup - module.base, regs, sp, state)
    if cfi is None:
        return None
    return cfi, Trust.CFI, False


def _table(mu: ModuleUnwind) -> Arm64Table | None:
    """The ARM64 ``.pdata`` of the module's image (parsed once), or None."""
    if "arm64" not in mu.cpu_tables:
        table: Arm64Table | None = None
        image = mu.image
        if image is not None and image.machine == Machine.ARM64:
            entry = image.directory(DirectoryEntry.EXCEPTION)
            if entry is not None and entry.size:
                try:
                    table = Arm64Table.from_pdata(image.read(entry.rva, min(entry.size, 1 << 24)),
                                                  image.read)
                except DumpError:
                    table = None
        mu.cpu_tables["arm64"] = table
    found = mu.cpu_tables["arm64"]
    return found if isinstance(found, Arm64Table) else None
