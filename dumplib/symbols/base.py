"""The symbolizer interface shared by every symbol source.

A :class:`Symbolizer` turns a module-relative address (an RVA) into a
:class:`SymbolInfo`: the function (or public/export name) that covers it, where
that function starts, its size when known, and a source file and line when the
source has line information. Exports, PDBs and breakpad ``.sym`` files all
implement it; :class:`ChainSymbolizer` asks several in priority order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["ChainSymbolizer", "InlineFrame", "SymbolInfo", "Symbolizer", "format_location"]


@dataclass(frozen=True, slots=True)
class InlineFrame:
    """One inlined call active at an address (outermost first in a sequence).

    Attributes:
        function: name of the inlined function.
        depth: nesting depth, 0 for a call inlined directly into the function.
        call_file: source file of the call site, or None.
        call_line: source line of the call site, or None.
    """

    function: str
    depth: int
    call_file: str | None
    call_line: int | None


@dataclass(frozen=True, slots=True)
class SymbolInfo:
    """What a symbol source knows about one address.

    Attributes:
        function: function, public or export name.
        start_rva: RVA where that function (or public symbol) starts.
        size: size in bytes, or None when the source does not say (publics, exports).
        file: source file of the address, or None without line information.
        line: source line of the address, or None.
        source: which kind of source answered: ``"pdb"``, ``"breakpad"`` or ``"export"``.
        inlines: inlined calls active at the address, outermost first.
    """

    function: str
    start_rva: int
    size: int | None = None
    file: str | None = None
    line: int | None = None
    source: str = ""
    inlines: tuple[InlineFrame, ...] = ()


@runtime_checkable
class Symbolizer(Protocol):
    """Anything that names module-relative addresses."""

    def lookup(self, rva: int) -> SymbolInfo | None:
        """Return what is known about ``rva`` (relative to the module base), or None."""
        ...


class ChainSymbolizer:
    """Asks symbolizers in order and returns the first answer.

    Args:
        symbolizers: the sources, best first (PDB, then ``.sym``, then exports).
    """

    __slots__ = ("symbolizers",)

    def __init__(self, symbolizers: Sequence[Symbolizer]) -> None:
        self.symbolizers: tuple[Symbolizer, ...] = tuple(symbolizers)

    def lookup(self, rva: int) -> SymbolInfo | None:
        """Return the first non-None answer of the chained symbolizers, or None."""
        for symbolizer in self.symbolizers:
            info = symbolizer.lookup(rva)
            if info is not None:
                return info
        return None


def format_location(module: str | None, info: SymbolInfo | None, rva: int) -> str:
    """Format an address the way debuggers print it.

    Args:
        module: module name (``"crash.exe"``), or None when no module covers the address.
        info: the symbol found for ``rva``, or None.
        rva: the address relative to the module base (an absolute address when
            ``module`` is None).

    Returns:
        ``module!function+0x12 [file:line]``, ``module+0x1234`` without a symbol,
        or ``0x...`` without a module.
    """
    if module is None:
        return f"0x{rva:x}"
    if info is None:
        return f"{module}+0x{rva:x}"
    text = f"{module}!{info.function}"
    offset = rva - info.start_rva
    if offset:
        text += f"+0x{offset:x}"
    if info.file is not None and info.line is not None:
        text += f" [{info.file}:{info.line}]"
    return text
