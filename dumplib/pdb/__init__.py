"""A hand-written reader for PDB 7 (MSF 7.00) symbol files.

``PdbFile.open(path_or_bytes)`` reads the identity (GUID and age) at once and
everything else on first use: publics (MSVC and Itanium names made readable),
procedures from the module symbol streams, the C13 line table and inlined
call sites, all sorted once and bisected::

    from dumplib.pdb import PdbFile
    pdb = PdbFile.open("crash.pdb")
    pdb.identity                # ("crash.pdb", "3249D99D...", 1)
    sym = pdb.lookup(0x1234)    # function (or public) + file:line for an RVA
    sym.inlines                 # calls inlined there, outermost first

Every malformed or truncated file raises :class:`PdbError`, a
:class:`~dumplib.DumpError`, naming the stream index and offset.
"""

from __future__ import annotations

from dumplib.pdb._errors import PdbError
from dumplib.pdb.inlines import InlineFrame
from dumplib.pdb.itanium import demangle
from dumplib.pdb.lines import LineRecord
from dumplib.pdb.msf import MsfFile, MsfStream
from dumplib.pdb.pdbfile import PdbFile, Symbol
from dumplib.pdb.streams import ModuleInfo, PdbInfo, SectionHeader
from dumplib.pdb.symbols import Function, Public
from dumplib.pdb.undname import undecorate

__all__ = [
    "Function",
    "InlineFrame",
    "LineRecord",
    "ModuleInfo",
    "MsfFile",
    "MsfStream",
    "PdbError",
    "PdbFile",
    "PdbInfo",
    "Public",
    "SectionHeader",
    "Symbol",
    "demangle",
    "undecorate",
]
