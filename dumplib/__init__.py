"""dumplib: offline Windows minidump analysis in pure Python.

Open a dump with :func:`open`; everything else hangs off the returned
:class:`Dump`. Every error caused by the input is a :class:`DumpError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
from dumplib.triage.rows import TriageRow
from dumplib.triage.run import TriageResult, triage

if TYPE_CHECKING:
    from dumplib.analysis import Finding, Report, analyze
    from dumplib.stackwalk import stackwalk_json

__version__ = "0.1.0"

#: Names imported on first use, so ``import dumplib`` stays cheap.
_LAZY = {"analyze": "dumplib.analysis", "Finding": "dumplib.analysis", "Report": "dumplib.analysis"}
_LAZY["stackwalk_json"] = "dumplib.stackwalk"


def __getattr__(name: str) -> object:
    """Import the analysis layer on first use of ``dumplib.analyze``/``Finding``/``Report``."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dumplib' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value

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
    "Finding",
    "Memory",
    "MemoryNotInDump",
    "MemoryRegion",
    "Module",
    "ModuleList",
    "NotADumpError",
    "Report",
    "SourceError",
    "StreamType",
    "System",
    "Thread",
    "ThreadList",
    "TriageResult",
    "TriageRow",
    "TruncatedError",
    "UnloadedModule",
    "__version__",
    "analyze",
    "open",
    "stackwalk_json",
    "triage",
]


def _register_with_ipython() -> None:
    """Give IPython HTML views of dumplib's objects when dumplib is imported inside it.

    (Imported before IPython? Call ``dumplib.views.register_ipython()`` or
    ``%load_ext dumplib.views``.)
    """
    import sys

    if "IPython" not in sys.modules:
        return
    try:
        from dumplib.views import register_ipython

        register_ipython()
    except Exception:  # an unusual shell must never break ``import dumplib``
        return


_register_with_ipython()

# ``dumplib.shell.run(dump, "kv")`` without importing the subpackage first; cheap:
# the shell's commands load on their first run.
from dumplib import shell as shell  # noqa: E402
