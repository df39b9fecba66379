"""Symbols: turning module-relative addresses into function names and source lines.

Symbol sources (breakpad ``.sym`` files, PDBs, PE exports) sit behind the
:class:`Symbolizer` protocol and are chained best first.
"""

from __future__ import annotations

from dumplib.symbols.base import (
    ChainSymbolizer,
    InlineFrame,
    SymbolInfo,
    Symbolizer,
    format_location,
)
from dumplib.symbols.breakpad import BreakpadSymbolizer, BreakpadSymbols
from dumplib.symbols.errors import SymbolError

__all__ = [
    "BreakpadSymbolizer",
    "BreakpadSymbols",
    "ChainSymbolizer",
    "InlineFrame",
    "SymbolError",
    "SymbolInfo",
    "Symbolizer",
    "format_location",
]
