"""Plumbing shared by the ``dumplib`` subcommands.

A command module exposes ``register(subparsers)``, which adds its parsers and
sets ``run=<callable(args) -> int>`` as a default. Commands that read one dump
use :func:`add_dump_args` and :func:`run_on_dump`, which give them the common
``FILE | --sample`` and ``--json`` options, error handling (one line, exit 1)
and warning reporting.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Callable

from dumplib._exc import TYPE_CHECKING, DumpError
from dumplib.samples import DEFAULT_SAMPLE, SAMPLES, sample_path, sample_symbols

if TYPE_CHECKING:  # rich and the dump model are imported when a command runs (issue #16)
    from typing import Any

    from rich.console import Console

    from dumplib.dump import Dump

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_OK",
    "EXIT_USAGE",
    "UsageError",
    "add_dump_args",
    "console",
    "dump_source",
    "emit_json",
    "fail",
    "run_on_dump",
]

EXIT_OK = 0
EXIT_BAD_INPUT = 1
EXIT_USAGE = 2

#: A command body: gets the parsed arguments, the open dump and a console;
#: returns the JSON document when ``--json`` was given (else prints and returns None).
DumpCommand = Callable[[argparse.Namespace, "Dump", "Console"], "Any"]


class UsageError(Exception):
    """Raised by a command body for a usage error found only once the dump is open
    (an unknown thread id, say): one line on stderr, exit status 2, nothing on stdout."""


#: Width of human output when stdout is not a terminal and COLUMNS is not set.
PIPE_WIDTH = 160


def console() -> Console:
    """A console for human output.

    Its width is ``COLUMNS`` when set, else the terminal's, else (output piped)
    :data:`PIPE_WIDTH`. Lines are never cropped: a table whose addresses and ids
    do not fit even after dropping columns runs past the edge rather than cut them.
    """
    import os

    from rich.console import Console

    class _Console(Console):
        def print(self, *objects: Any, **kwargs: Any) -> None:
            kwargs.setdefault("crop", False)
            super().print(*objects, **kwargs)

    # emoji=False: no ":name:" code is ever meant as an emoji here, and rich's table of
    # them costs ~2 ms of every table command's start-up (issue #16)
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return _Console(highlight=False, emoji=False, width=int(columns))
    c = _Console(highlight=False, emoji=False)
    return c if c.is_terminal else _Console(highlight=False, emoji=False, width=PIPE_WIDTH)


class _LazyConsole:
    """What a command body gets as its console: rich is imported, and the console
    made, only when the body first uses it, so ``--json`` runs never load rich."""

    def __init__(self) -> None:
        self._real: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._real is None:
            self._real = console()
        return getattr(self._real, name)


def emit_json(doc: Any) -> None:
    """Print one JSON document on stdout (indented when stdout is a terminal)."""
    # Indented for a person at a terminal; one line for a pipe, which lets json
    # use its C encoder (the pure-Python indenting one took 0.4 s of a 10,000-frame
    # ``stack --all --json``, more than the walk: issue #16).
    if sys.stdout.isatty():
        json.dump(doc, sys.stdout, indent=2, default=str)
    else:
        sys.stdout.write(json.dumps(doc, default=str))
    sys.stdout.write("\n")


def fail(message: str) -> int:
    """Print a one-line error on stderr (control characters shown as escapes) and
    return the bad-input exit status."""
    from dumplib.views.textsafe import shown

    sys.stderr.write(f"dumplib: error: {shown(message)}\n")
    return EXIT_BAD_INPUT


def add_dump_args(p: argparse.ArgumentParser) -> None:
    """Add ``FILE | --sample [NAME]`` and ``--json`` to a subcommand parser."""
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("file", nargs="?", help="the minidump (.dmp) to read")
    src.add_argument(
        "--sample",
        nargs="?",
        const=DEFAULT_SAMPLE,
        metavar="NAME",
        help=f"use a sample dump bundled with dumplib: {', '.join(SAMPLES)} "
        f"(default {DEFAULT_SAMPLE}); its symbols are added to --symbols",
    )
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def dump_source(args: argparse.Namespace) -> str:
    """The dump path named by ``FILE`` or ``--sample``. For a command with
    ``--symbols``, ``args.symbols`` becomes the symbol path to use: the option's
    entries, else ``_NT_ALT_SYMBOL_PATH``/``_NT_SYMBOL_PATH`` (said on stderr), with
    the per-user download cache for server entries that name none
    (:mod:`dumplib.symbols.defaults`), then a sample's symbol directories.

    Raises:
        FileNotFoundError: ``--sample`` names no bundled sample.
    """
    if hasattr(args, "symbols"):
        # --symbols, else _NT_ALT_SYMBOL_PATH/_NT_SYMBOL_PATH; srv*URL gets the user cache
        from dumplib.symbols.defaults import cli_symbol_path

        args.symbols, from_env = cli_symbol_path(args.symbols)
        if from_env:
            sys.stderr.write(f"dumplib: symbol path from {from_env}\n")
        from dumplib.unwind.coverage import symbol_path_problems
        from dumplib.views.textsafe import shown

        for problem in symbol_path_problems(args.symbols):  # a missing directory, say
            sys.stderr.write(f"dumplib: warning: {shown(problem)}\n")
    if not args.sample:
        return str(args.file)
    path = str(sample_path(args.sample))
    if hasattr(args, "symbols"):
        args.symbols = list(args.symbols or []) + sample_symbols(args.sample)
    return path


def run_on_dump(args: argparse.Namespace, body: DumpCommand) -> int:
    """Open the dump named by ``args`` and run ``body`` on it.

    Returns the exit status: 0, 1 with a one-line message when the input is
    not usable, or 2 when ``body`` raises :class:`UsageError` or ``--sample``
    names no bundled sample. Notes in
    ``dump.warnings`` are printed on stderr.
    """
    try:
        path = dump_source(args)
    except FileNotFoundError as exc:  # --sample NAME names no bundled sample
        sys.stderr.write(f"dumplib: error: {exc}\n")
        return EXIT_USAGE
    from dumplib.dump import open as open_dump
    from dumplib.model.dump import DumpWarning

    notes: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DumpWarning)  # reported below from dump.warnings
        try:
            with open_dump(path) as dump:
                lazy: Any = _LazyConsole()  # stands in for the Console
                doc = body(args, dump, lazy)
                notes = list(dump.warnings)
        except UsageError as exc:
            from dumplib.views.textsafe import shown

            sys.stderr.write(f"dumplib: error: {shown(exc)}\n")
            return EXIT_USAGE
        except DumpError as exc:
            return fail(str(exc))
        except BrokenPipeError:
            return EXIT_OK
    if notes:
        from dumplib.views.textsafe import shown

        for note in notes:
            sys.stderr.write(f"dumplib: warning: {shown(note)}\n")
    if getattr(args, "json", False):
        try:
            emit_json(doc)
        except BrokenPipeError:
            return EXIT_OK
    return EXIT_OK
