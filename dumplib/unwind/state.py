"""What every CPU's step function and the driver share.

* :class:`ModuleUnwind`: a module's image, unwind table and breakpad file,
  found once per walker;
* :class:`FrameSymbol`: what names one lookup address;
* :class:`WalkState`: the bounds of one walk;
* :data:`StepResult`: what a step function returns: the caller's registers,
  how they were found, and whether its ip is exact (not a return address);
* :func:`root_begin`: the primary entry of a chained x64 function entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from dumplib.model.objects import Module
from dumplib.pe.image import PeImage
from dumplib.pe.unwind import FunctionTable, RuntimeFunction, UnwindInfo
from dumplib.symbols.base import InlineFrame
from dumplib.symbols.breakpad import BreakpadSymbols
from dumplib.unwind.frames import Trust

__all__ = [
    "CpuRegisters", "FrameSymbol", "ModuleUnwind", "StepResult", "WalkState", "root_begin",
]

#: A step's answer: the caller's registers, their trust, and whether the ip is exact.
StepResult = tuple[dict[str, int], Trust, bool]


@dataclass(frozen=True, slots=True)
class CpuRegisters:
    """What the CPU-agnostic driver needs to know of a CPU's registers.

    Attributes:
        ip, sp, fp: the names of the instruction, stack and frame pointers in a
            :class:`~dumplib.format.context.Context`.
        nonvolatile: registers a callee preserves, carried into the caller's frame.
        bits: the pointer size in bits.
        cfi_aliases: breakpad ``STACK CFI`` register names that the context
            calls otherwise (ARM64's ``x29`` is ``fp``).
    """

    ip: str
    sp: str
    fp: str
    nonvolatile: tuple[str, ...]
    bits: int
    cfi_aliases: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class ModuleUnwind:
    """What the walker knows about one module (found once per walker).

    Attributes:
        module: the module.
        image: its PE image (from the dump's memory, else the symbol path), or None.
        table: the image's RUNTIME_FUNCTIONs (AMD64 with .pdata), or None.
        breakpad: the module's breakpad .sym (STACK CFI / STACK WIN), or None.
        code_ranges: absolute ranges of its executable sections, or None when unknown.
        chains: UNWIND_INFO chains decoded so far, by RUNTIME_FUNCTION begin RVA.
        cpu_tables: unwind tables a CPU module parsed for itself (ARM64 ``.pdata``).
    """

    module: Module
    image: PeImage | None = None
    table: FunctionTable | None = None
    breakpad: BreakpadSymbols | None = None
    code_ranges: list[tuple[int, int]] | None = None
    chains: dict[int, tuple[UnwindInfo, ...] | None] = field(default_factory=dict)
    cpu_tables: dict[str, object] = field(default_factory=dict)


@dataclass(slots=True)
class FrameSymbol:
    """What names one lookup address.

    Attributes:
        module: the module holding it, or None.
        function: the function (PDB, .sym or export), or None.
        offset: from the function start, else from the module base, else the address.
        file, line: source position when line records exist.
        inlines: calls inlined at the address, outermost first.
    """

    module: Module | None
    function: str | None
    offset: int
    file: str | None
    line: int | None
    inlines: tuple[InlineFrame, ...] = ()


def root_begin(rf: RuntimeFunction, chain: Sequence[UnwindInfo]) -> int:
    """The begin RVA of the primary entry a (possibly chained) function entry belongs to."""
    begin = rf.begin
    for info in chain:
        if info.chained is not None:
            begin = info.chained.begin
    return begin


@dataclass(slots=True)
class WalkState:
    """The bounds of one walk and what carries from frame to frame.

    Attributes:
        lo, hi: the stack range the walk may read.
        callee_params: x86 STACK WIN: parameter bytes the callee popped.
    """

    lo: int
    hi: int
    callee_params: int = 0
