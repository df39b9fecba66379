"""The ``dumplib`` command line.

Every command prints a table for people by default and exactly one JSON
document on stdout with ``--json``. Exit status: 0 success, 1 the input is not
a usable dump (one line on stderr, no traceback), 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console

from dumplib import __version__
from dumplib._exc import DumpError
from dumplib.cli import render
from dumplib.model.dump import Dump, DumpWarning
from dumplib.samples import DEFAULT_SAMPLE, sample_path

__all__ = ["build_parser", "main"]

Handler = Callable[[argparse.Namespace, Dump, Console], Any]


def _emit_json(doc: Any) -> None:
    json.dump(doc, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def _cmd_info(args: argparse.Namespace, dump: Dump, console: Console) -> Any:
    if args.json:
        return render.info_json(dump)
    console.print(render.info_table(dump))
    return None


def _cmd_threads(args: argparse.Namespace, dump: Dump, console: Console) -> Any:
    if args.json:
        return render.threads_json(dump)
    console.print(render.threads_table(dump))
    return None


def _cmd_modules(args: argparse.Namespace, dump: Dump, console: Console) -> Any:
    if args.json:
        if args.unloaded:
            return {"loaded": render.modules_json(dump), "unloaded": render.unloaded_json(dump)}
        return render.modules_json(dump)
    console.print(render.modules_table(dump))
    return None


def _cmd_memory(args: argparse.Namespace, dump: Dump, console: Console) -> Any:
    if args.json:
        return render.memory_json(dump)
    console.print(render.memory_table(dump, None if args.all else 50))
    return None


def _cmd_streams(args: argparse.Namespace, dump: Dump, console: Console) -> Any:
    if args.json:
        return render.streams_json(dump)
    console.print(render.streams_table(dump))
    return None


_DUMP_COMMANDS: dict[str, tuple[Handler, str]] = {
    "info": (_cmd_info, "summary: process, system, dump type, exception"),
    "threads": (_cmd_threads, "threads with their registers and stacks"),
    "modules": (_cmd_modules, "loaded and unloaded modules with versions and PDB ids"),
    "memory": (_cmd_memory, "captured memory ranges with protection and type"),
    "streams": (_cmd_streams, "the stream directory, vendor streams included"),
}


def _add_dump_args(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("file", nargs="?", help="the minidump (.dmp) to read")
    src.add_argument(
        "--sample",
        nargs="?",
        const=DEFAULT_SAMPLE,
        metavar="NAME",
        help=f"use a sample dump bundled with dumplib (default {DEFAULT_SAMPLE})",
    )
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``dumplib`` command."""
    parser = argparse.ArgumentParser(
        prog="dumplib",
        description="Offline Windows minidump analysis.",
        epilog="Exit status: 0 success, 1 unusable dump, 2 usage error.",
    )
    parser.add_argument("--version", action="version", version=f"dumplib {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (_, help_text) in _DUMP_COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        _add_dump_args(p)
        if name == "memory":
            p.add_argument("--all", action="store_true", help="list every range, not the first 50")
        if name == "modules":
            p.add_argument(
                "--unloaded", action="store_true",
                help="with --json: an object with 'loaded' and 'unloaded' lists",
            )
    return parser


def _fail(message: str) -> int:
    sys.stderr.write(f"dumplib: error: {message}\n")
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Args:
        argv: arguments without the program name (defaults to ``sys.argv[1:]``).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    handler, _ = _DUMP_COMMANDS[args.command]
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=160)
    try:
        path = str(sample_path(args.sample)) if args.sample else args.file
    except FileNotFoundError as exc:
        return _fail(str(exc))
    notes: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DumpWarning)  # reported below from dump.warnings
        try:
            with Dump(path) as dump:
                doc = handler(args, dump, console)
                notes = list(dump.warnings)
        except DumpError as exc:
            return _fail(str(exc))
        except BrokenPipeError:
            return 0
    for note in notes:
        sys.stderr.write(f"dumplib: warning: {note}\n")
    if args.json:
        try:
            _emit_json(doc)
        except BrokenPipeError:
            return 0
    return 0
