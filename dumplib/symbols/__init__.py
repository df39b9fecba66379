"""Symbols: turning module-relative addresses into function names and source lines.

Symbol sources -- PDBs (:mod:`dumplib.pdb`), breakpad ``.sym`` files
(:mod:`dumplib.symbols.breakpad`) and PE exports (:mod:`dumplib.pe`) -- sit
behind the :class:`Symbolizer` protocol and are chained best first.
:class:`SymbolResolver` takes ``symbols=`` entries (directories, files,
``_NT_SYMBOL_PATH`` strings with ``srv*CACHE*URL`` downloads), finds each
module's image and symbols once, and formats ``module!function+0x12 [file:line]``::

    from dumplib.symbols import SymbolResolver

    with SymbolResolver(["srv*C:/symcache*https://msdl.microsoft.com/download/symbols"],
                        memory=dump.memory.read) as resolver:
        resolver.format(frame_ip, dump.modules.find(frame_ip))
"""

from __future__ import annotations

from dumplib.symbols.base import (
    ChainSymbolizer,
    InlineFrame,
    SymbolInfo,
    Symbolizer,
    format_location,
)
from dumplib.symbols.breakpad import BreakpadSymbolizer, BreakpadSymbols, CfiRules, StackWinRecord
from dumplib.symbols.errors import SymbolError
from dumplib.symbols.path import (
    Attempt,
    Outcome,
    SymbolLocator,
    SymbolPathEntry,
    parse_symbol_path,
    safe_name,
    symbol_path_from_environment,
)
from dumplib.symbols.resolver import (
    ExportSymbolizer,
    ModuleLike,
    ModuleSymbols,
    PdbSymbolizer,
    SymbolResolver,
    identify_file,
)

__all__ = [
    "Attempt",
    "BreakpadSymbolizer",
    "BreakpadSymbols",
    "CfiRules",
    "ChainSymbolizer",
    "ExportSymbolizer",
    "InlineFrame",
    "ModuleLike",
    "ModuleSymbols",
    "Outcome",
    "PdbSymbolizer",
    "StackWinRecord",
    "SymbolError",
    "SymbolInfo",
    "SymbolLocator",
    "SymbolPathEntry",
    "SymbolResolver",
    "Symbolizer",
    "format_location",
    "identify_file",
    "parse_symbol_path",
    "safe_name",
    "symbol_path_from_environment",
]
