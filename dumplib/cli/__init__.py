"""The ``dumplib`` command line.

Every command prints a table for people by default and exactly one JSON
document on stdout with ``--json``. Exit status: 0 success, 1 the input is not
a usable dump (one line on stderr, no traceback), 2 usage error.

Commands live in modules listed in :data:`COMMAND_MODULES`; each has a
``register(subparsers)`` function (see :mod:`dumplib.cli.common`).
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

from dumplib import __version__

__all__ = ["COMMAND_MODULES", "build_parser", "main"]

#: Modules whose ``register`` adds subcommands, in the order shown by ``--help``.
COMMAND_MODULES = [
    "dumplib.cli.basic",
    "dumplib.cli.stack",
    "dumplib.cli.analyze",
    "dumplib.cli.err",
    "dumplib.cli.triage",
    "dumplib.cli.map",
    "dumplib.cli.registers",
    "dumplib.cli.mem",
    "dumplib.cli.handles",
    "dumplib.cli.shell",
]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``dumplib`` command."""
    parser = argparse.ArgumentParser(
        prog="dumplib",
        description="Offline Windows minidump analysis.",
        epilog="Exit status: 0 success, 1 unusable dump, 2 usage error.",
    )
    parser.add_argument("--version", action="version", version=f"dumplib {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Args:
        argv: arguments without the program name (defaults to ``sys.argv[1:]``).
    """
    args = build_parser().parse_args(argv)
    code: int = args.run(args)
    return code
