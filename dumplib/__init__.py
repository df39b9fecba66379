"""dumplib: offline Windows minidump analysis in pure Python.

Open a dump with :func:`open`; everything else hangs off the returned
:class:`Dump`. Every error caused by the input is a :class:`DumpError`.
"""

from __future__ import annotations

from dumplib._exc import (
    CorruptDumpError,
    DumpError,
    MemoryNotInDump,
    NotADumpError,
    SourceError,
    TruncatedError,
)
from dumplib.dump import Dump, open
from dumplib.format.constants import Arch, DumpType, ExceptionCode, StreamType
from dumplib.format.context import Context
from dumplib.model.dump import DumpFile, DumpWarning
from dumplib.model.memory import Memory, MemoryRegion
from dumplib.model.objects import (
    ExceptionInfo,
    Module,
    ModuleList,
    System,
    Thread,
    ThreadList,
    UnloadedModule,
)

__version__ = "0.1.0"

__all__ = [
    "Arch",
    "Context",
    "CorruptDumpError",
    "Dump",
    "DumpError",
    "DumpFile",
    "DumpType",
    "DumpWarning",
    "ExceptionCode",
    "ExceptionInfo",
    "Memory",
    "MemoryNotInDump",
    "MemoryRegion",
    "Module",
    "ModuleList",
    "NotADumpError",
    "SourceError",
    "StreamType",
    "System",
    "Thread",
    "ThreadList",
    "TruncatedError",
    "UnloadedModule",
    "__version__",
    "open",
]
