"""Views for people: Jupyter HTML, rich console output, data frames and pictures.

This is a front end (layer 7): it reads the model, stack and analysis objects
and never the other way round. Use it three ways:

- In Jupyter, dumplib's objects render themselves: ``import dumplib`` after
  IPython registers HTML formatters for dumps, thread and module lists,
  memory, hex views, stacks and reports (or call :func:`register_ipython`,
  or ``%load_ext dumplib.views``). :class:`dumplib.Dump` also has
  ``_repr_html_`` and ``__rich__`` of its own.
- Explicitly: :func:`html`, :func:`renderable` (rich), :func:`text`, and the
  view objects of :func:`summary`, :func:`threads`, :func:`modules`,
  :func:`memory` and :func:`hexdump`, which add what a bare list cannot know
  (the faulting thread, the module of each ip, vendors and symbol status).
- Pictures (the ``plot`` extra, matplotlib): :func:`address_map` and
  :func:`bucket_chart` return figures; :func:`save_map` writes SVG or PNG
  (``dumplib map FILE --out map.svg``).

Data frames (the ``dataframe`` extra, pandas): :func:`to_dataframe` for stacks
(one row per frame) and triage rows, and for anything with a
``to_dataframe()`` method (threads, modules, memory).
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the model loads when a view is made, not with dumplib.views.textsafe
    import pandas
    from matplotlib.figure import Figure
    from rich.console import RenderableType

    from dumplib.model.dump import DumpFile
    from dumplib.model.hexdump import HexDump
    from dumplib.model.memory import Memory
    from dumplib.model.objects import Module


def _htmlmod() -> Any:
    """:mod:`dumplib.views.html`, imported on first use: the command line reaches this
    package for :mod:`dumplib.views.textsafe` and must not pay for the HTML views."""
    import importlib

    return importlib.import_module("dumplib.views.html")


class _ViewsPackage(types.ModuleType):
    """This package's module type: importing the submodule ``dumplib.views.html``
    must not replace the public function ``dumplib.views.html`` (the import system
    sets a parent's attribute to each submodule it loads)."""

    def __setattr__(self, name: str, value: object) -> None:
        if name == "html" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _ViewsPackage


def html(obj: object) -> str:
    """An HTML fragment for any object dumplib returns (:func:`dumplib.views.html.html`).

    Raises:
        TypeError: nothing renders this object.
    """
    result: str = _htmlmod().html(obj)
    return result


def _console() -> Any:
    """:mod:`dumplib.views.console`, imported on first use: rich loads only when a
    console view is made (``dumplib map --json`` reaches this package and must not
    load it; issue #16)."""
    from dumplib.views import console

    return console


def renderable(obj: object) -> RenderableType:
    """A rich renderable for any object :func:`html` supports
    (:func:`dumplib.views.console.renderable`).

    Raises:
        TypeError: nothing renders this object.
    """
    from dumplib.views.console import renderable as make

    return make(obj)


def text(obj: object, width: int = 120) -> str:
    """The console view of ``obj`` as plain text (:func:`dumplib.views.console.text`)."""
    from dumplib.views.console import text as render

    return render(obj, width)


__all__ = [
    "View",
    "address_map",
    "bucket_chart",
    "hexdump",
    "html",
    "load_ipython_extension",
    "memory",
    "modules",
    "register_ipython",
    "renderable",
    "save_map",
    "show",
    "summary",
    "text",
    "threads",
    "to_dataframe",
]


class View:
    """A rendered view: HTML in Jupyter, a rich renderable in a terminal, text in ``repr``.

    Built by :func:`summary`, :func:`threads`, :func:`modules`, :func:`memory`
    and :func:`hexdump`; rendering happens when the view is shown.
    """

    __slots__ = ("_html", "_rich")

    def __init__(
        self, html_fn: Callable[[], str], rich_fn: Callable[[], RenderableType]
    ) -> None:
        self._html = html_fn
        self._rich = rich_fn

    def _repr_html_(self) -> str:
        return self._html()

    def _dumplib_html_(self) -> str:
        return self._html()

    def _dumplib_rich_(self) -> RenderableType:
        return self._rich()

    def __rich__(self) -> RenderableType:
        return self._rich()

    def __str__(self) -> str:
        return text(self)

    def __repr__(self) -> str:
        return text(self).rstrip("\n")


def summary(dump: DumpFile) -> View:
    """The summary card of a dump (what ``dump`` itself shows in Jupyter)."""
    return View(lambda: _htmlmod().dump_html(dump), lambda: _console().dump_renderable(dump))


def threads(dump: DumpFile) -> View:
    """The dump's threads with the module of each ip and the faulting thread marked."""
    exc = dump.exception
    faulting = exc.thread_id if exc is not None else None
    return View(
        lambda: _htmlmod().threads_html(dump.threads, modules=dump.modules, faulting=faulting),
        lambda: _console().threads_renderable(dump.threads, modules=dump.modules,
                                            faulting=faulting),
    )


def modules(dump: DumpFile, symbols: Sequence[str | os.PathLike[str]] | None = None) -> View:
    """The dump's modules with vendor and description from each image's version
    resource and, with ``symbols``, which symbol sources were found for each.

    Args:
        dump: the dump.
        symbols: symbol path entries (as for ``dump.stack``); None or empty to
            skip the symbol search.
    """
    from dumplib.cli.basic import module_details

    details = module_details(dump, [os.fspath(s) for s in symbols or ()])  # type: ignore[arg-type]
    mods: list[Module] = list(dump.modules)
    return View(lambda: _htmlmod().modules_html(mods, details),
                lambda: _console().modules_renderable(mods, details))


def memory(dump: DumpFile, limit: int | None = 200) -> View:
    """The dump's captured memory ranges with protection, state, type and module.

    Args:
        dump: the dump.
        limit: most rows shown (None for all).
    """
    regions = list(dump.memory.regions())
    return View(
        lambda: _htmlmod().memory_html(regions, modules=dump.modules, limit=limit),
        lambda: _console().memory_renderable(regions, modules=dump.modules, limit=limit),
    )


def hexdump(
    source: DumpFile | Memory | HexDump,
    address: int | None = None,
    size: int = 256,
    *,
    highlight: Iterable[tuple[int, int]] = (),
) -> View:
    """A hex view with some byte ranges shaded (e.g. the fields of a structure).

    Args:
        source: a dump, its memory, or an existing :class:`HexDump`.
        address: the first address to show (not used with a HexDump).
        size: how many bytes to show (not used with a HexDump).
        highlight: ``(address, size)`` ranges to shade.

    Raises:
        ValueError: no address was given for a dump or memory.
    """
    from dumplib.model.dump import DumpFile
    from dumplib.model.hexdump import HexDump

    if isinstance(source, HexDump):
        view = source
    else:
        if address is None:
            raise ValueError("an address is needed to read memory")
        mem = source.memory if isinstance(source, DumpFile) else source
        view = mem.hexdump(address, size)
    marks = list(highlight)
    return View(lambda: _htmlmod().hexdump_html(view, highlight=marks),
                lambda: _console().hexdump_renderable(view))


def show(obj: object) -> None:
    """Print ``obj``'s console view on the terminal (rich)."""
    from rich.console import Console

    Console().print(renderable(obj))


def to_dataframe(obj: object) -> pandas.DataFrame:
    """A pandas DataFrame of a Stack (one row per frame), triage rows, or anything
    with a ``to_dataframe()`` method (threads, modules, memory).

    Raises:
        ImportError: pandas is not installed (``pip install 'dumplib[dataframe]'``).
        TypeError: the object has no tabular form.
    """
    from dumplib.unwind.frames import Stack
    from dumplib.views.frames import frames_dataframe, triage_dataframe

    if isinstance(obj, Stack):
        return frames_dataframe(obj)
    method = getattr(obj, "to_dataframe", None)
    if callable(method):
        result: pandas.DataFrame = method()
        return result
    if isinstance(obj, (list, tuple)) and obj and type(obj[0]).__name__ == "TriageRow":
        return triage_dataframe(obj)
    raise TypeError(f"no data frame for {type(obj).__name__}")


def address_map(dump: DumpFile, **options: Any) -> Figure:
    """A picture of the process's address space (see :func:`dumplib.views.plot.address_map`).

    Raises:
        ImportError: matplotlib is not installed (``pip install 'dumplib[plot]'``).
    """
    from dumplib.views.plot import address_map as _address_map

    return _address_map(dump, **options)


def save_map(dump: DumpFile, path: str | os.PathLike[str], **options: Any) -> None:
    """Write the address-space map as SVG or PNG (chosen by the file's suffix).

    Raises:
        ImportError: matplotlib is not installed.
        ValueError: the suffix is not .svg or .png.
    """
    from dumplib.views.plot import save_map as _save_map

    _save_map(dump, path, **options)


def bucket_chart(rows: Any, **options: Any) -> Figure:
    """Triage results as crash buckets over time (see :func:`dumplib.views.plot.bucket_chart`).

    Raises:
        ImportError: matplotlib is not installed.
    """
    from dumplib.views.plot import bucket_chart as _bucket_chart

    return _bucket_chart(rows, **options)


# -- IPython ---------------------------------------------------------------------------

#: (module, class name) pairs given an HTML formatter; registered by name so
#: that registering imports none of them.
_IPYTHON_TYPES = [
    ("dumplib.model.dump", "DumpFile"),
    ("dumplib.model.objects", "ThreadList"),
    ("dumplib.model.objects", "ModuleList"),
    ("dumplib.model.objects", "ExceptionInfo"),
    ("dumplib.model.memory", "Memory"),
    ("dumplib.model.hexdump", "HexDump"),
    ("dumplib.unwind.frames", "Stack"),
    ("dumplib.analysis.model", "Report"),
    ("dumplib.triage.run", "TriageResult"),
]


def _format_html(obj: object) -> str | None:
    try:
        return html(obj)
    except TypeError:
        return None


def register_ipython(shell: Any = None) -> bool:
    """Tell IPython's HTML formatter about dumplib's types.

    Called by ``import dumplib`` when IPython is already running; call it
    yourself if dumplib was imported first.

    Args:
        shell: the InteractiveShell (default: the running one).

    Returns:
        Whether a shell was found and the formatters registered.
    """
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:
            return False
        shell = get_ipython()
    if shell is None:
        return False
    formatter = shell.display_formatter.formatters["text/html"]
    for module, name in _IPYTHON_TYPES:
        formatter.for_type_by_name(module, name, _format_html)
    return True


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext dumplib.views``: register the HTML formatters."""
    register_ipython(ipython)
