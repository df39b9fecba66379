"""dumplib: offline Windows minidump analysis in pure Python.

Open a dump with :func:`open`; everything else hangs off the returned
:class:`Dump`. Every error caused by the input is a :class:`DumpError`.
"""

from __future__ import annotations

import sys
import types

from dumplib._exc import (
    CorruptDumpError,
    DumpError,
    MemoryNotInDump,
    NotADumpError,
    SourceError,
    TruncatedError,
)

#: ``typing.TYPE_CHECKING`` without importing typing (~9 ms at start-up); mypy
#: treats any name ``TYPE_CHECKING`` as true.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from dumplib import shell
    from dumplib.analysis import Finding, Report, analyze
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
    from dumplib.stackwalk import stackwalk_json
    from dumplib.triage.rows import TriageRow
    from dumplib.triage.run import TriageResult, triage

__version__ = "0.1.0"

#: Public names imported on first use, so ``import dumplib`` costs next to
#: nothing: ``dumplib.open`` loads the format and model layers, ``dumplib.triage``
#: the triage layer, ``dumplib.analyze`` the analysis layer (issue #16).
_LAZY = {
    "Dump": "dumplib.dump",
    "open": "dumplib.dump",
    "Arch": "dumplib.format.constants",
    "DumpType": "dumplib.format.constants",
    "ExceptionCode": "dumplib.format.constants",
    "StreamType": "dumplib.format.constants",
    "Context": "dumplib.format.context",
    "DumpFile": "dumplib.model.dump",
    "DumpWarning": "dumplib.model.dump",
    "Memory": "dumplib.model.memory",
    "MemoryRegion": "dumplib.model.memory",
    "ExceptionInfo": "dumplib.model.objects",
    "Module": "dumplib.model.objects",
    "ModuleList": "dumplib.model.objects",
    "System": "dumplib.model.objects",
    "Thread": "dumplib.model.objects",
    "ThreadList": "dumplib.model.objects",
    "UnloadedModule": "dumplib.model.objects",
    "TriageRow": "dumplib.triage.rows",
    "TriageResult": "dumplib.triage.run",
    "triage": "dumplib.triage.run",
    "analyze": "dumplib.analysis",
    "Finding": "dumplib.analysis",
    "Report": "dumplib.analysis",
    "stackwalk_json": "dumplib.stackwalk",
}
#: Subpackages reachable as attributes after a plain ``import dumplib``
#: (``dumplib.shell.run(dump, "kv")``), imported on first use.
_SUBPACKAGES = {"shell": "dumplib.shell"}


def __getattr__(name: str) -> object:
    """Import a public name (``dumplib.open``, ``dumplib.Dump`` ...) on first use."""
    import importlib

    if name in _SUBPACKAGES:
        return importlib.import_module(_SUBPACKAGES[name])
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dumplib' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    # Cached in the module dict directly (not through _PackageModule.__setattr__,
    # which keeps the subpackage ``dumplib.triage`` from replacing the function).
    globals()[name] = value
    return value


class _PackageModule(types.ModuleType):
    """``dumplib``'s module type: the subpackage ``dumplib.triage``, once imported,
    must not shadow the public function ``dumplib.triage`` (the import system sets
    a parent's attribute to each subpackage it loads)."""

    def __setattr__(self, name: str, value: object) -> None:
        if name == "triage" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _PackageModule


def __dir__() -> list[str]:
    """The public names, lazy ones included (for tab completion)."""
    return sorted(set(globals()) | set(_LAZY) | set(_SUBPACKAGES))

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
    "shell",
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
