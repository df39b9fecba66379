"""The ``shell`` command: WinDbg's commands on a dump, interactive or scripted.

``dumplib shell FILE [--symbols S]... [-c "cmd; cmd; ..."] [--json]``: without
``-c`` an interactive ``0:000>`` prompt (prompt_toolkit, when installed);
with ``-c`` the commands run in order, each printed after its prompt as
``cdb -c`` does, and the command exits. ``--json`` prints one JSON array
with one document per command.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["register"]


def _body(args: argparse.Namespace, dump: Any, console: Any) -> Any:
    from dumplib.shell.commands import run_script
    from dumplib.shell.repl import interact
    from dumplib.shell.session import Session

    session = Session(dump, list(args.symbols or []))
    try:
        if args.commands is None:
            interact(session, as_json=getattr(args, "json_interactive", False))
            return None
        results = run_script(session, args.commands)
        if args.json:
            return [r.to_json() for r in results]
        for r in results:
            sys.stdout.write(r.text() + "\n")
            sys.stdout.flush()
        return None
    finally:
        session.close()


def _run(args: argparse.Namespace) -> int:
    from dumplib.cli.common import run_on_dump

    if args.commands is None and args.json:
        args.json = False  # interactive --json prints per command; nothing at the end
        args.json_interactive = True
    return run_on_dump(args, _body)


def register(sub: Any) -> None:
    """Add the ``shell`` subcommand."""
    from dumplib.cli.common import add_dump_args
    from dumplib.shell.table import help_text

    p: argparse.ArgumentParser = sub.add_parser(
        "shell",
        help="WinDbg-style shell: ~*k, kv, r, lm, dq, u, !analyze -v ...",
        description="A debugger's shell on the dump: WinDbg's commands and output layout. "
                    "Interactive without -c; with -c runs the commands and exits.",
        epilog="commands:\n" + help_text(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_dump_args(p)
    p.add_argument("--symbols", action="append", default=[], metavar="S",
                   help="symbol directory, file or _NT_SYMBOL_PATH string (repeatable)")
    p.add_argument("-c", dest="commands", metavar="CMDS",
                   help='commands separated by ";" (e.g. ".ecxr; kv; q"), run in order')
    p.set_defaults(run=_run)
