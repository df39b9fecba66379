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

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing; mypy reads it as true
if TYPE_CHECKING:
    from typing import Any

__all__ = ["COMMAND_MODULES", "COMMAND_OWNERS", "build_parser", "main"]

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

#: The module that registers each subcommand. When the command line names one,
#: only that module is imported and registered (``info`` need not import the
#: shell, triage or analysis commands: issue #16); ``tests/test_startup.py``
#: checks this table against what every module registers.
COMMAND_OWNERS = {
    "info": "dumplib.cli.basic",
    "threads": "dumplib.cli.basic",
    "modules": "dumplib.cli.basic",
    "memory": "dumplib.cli.basic",
    "streams": "dumplib.cli.basic",
    "stack": "dumplib.cli.stack",
    "disasm": "dumplib.cli.stack",
    "analyze": "dumplib.cli.analyze",
    "err": "dumplib.cli.err",
    "triage": "dumplib.cli.triage",
    "map": "dumplib.cli.map",
    "registers": "dumplib.cli.registers",
    "mem": "dumplib.cli.mem",
    "handles": "dumplib.cli.handles",
    "shell": "dumplib.cli.shell",
}


def _terminal_columns() -> int:
    """``shutil.get_terminal_size().columns`` without importing shutil (with bz2, lzma
    and fnmatch, about 2 ms of every start: issue #16)."""
    import os
    import sys

    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, sized as argparse sizes it (terminal columns - 2)."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        if width is None:
            width = _terminal_columns() - 2
        super().__init__(prog, indent_increment, max_help_position, width)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose subcommand parsers default to :class:`_HelpFormatter`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of the ``dumplib`` command.

    Args:
        command: a subcommand name from :data:`COMMAND_OWNERS`: only the module
            that owns it is registered (what :func:`main` does when the first
            argument names a command). None (the default) registers every command.
    """
    parser = _Parser(
        prog="dumplib",
        description="Offline Windows minidump analysis.",
        epilog="Exit status: 0 success, 1 unusable dump, 2 usage error.",
    )
    parser.add_argument("--version", action="version", version=f"dumplib {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    owner = COMMAND_OWNERS.get(command) if command is not None else None
    for name in [owner] if owner is not None else COMMAND_MODULES:
        module = importlib.import_module(name)
        one = getattr(module, "register_command", None) if owner is not None else None
        if one is not None:  # a module of several commands: only the named one
            one(sub, command)
        else:
            module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Args:
        argv: arguments without the program name (defaults to ``sys.argv[1:]``).
    """
    if argv is None:
        import sys

        argv = sys.argv[1:]
    # ``dumplib info FILE``: build only the named command's parser; anything else
    # (``--help``, ``--version``, no or an unknown command) gets every command.
    first = argv[0] if argv else None
    args = build_parser(first if first in COMMAND_OWNERS else None).parse_args(argv)
    code: int = args.run(args)
    return code
