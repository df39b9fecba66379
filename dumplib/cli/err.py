"""``dumplib err CODE``: what an NTSTATUS, HRESULT, Win32 error or exception code means.

Like ``err.exe``: every match across the tables is listed (a code is often
an NTSTATUS and an exception code at once; ``0x8007xxxx`` wraps a Win32 error).
Codes are read as people type them: ``0xC0000005``, ``C0000005``,
``-1073741819``, ``5``. Text that is not a code is a usage error (exit 2).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dumplib.cli.common import EXIT_OK, EXIT_USAGE, emit_json

__all__ = ["register", "run"]


def run(args: argparse.Namespace) -> int:
    """Look up ``args.code`` and print the matches (text, or JSON with ``--json``)."""
    from dumplib.errors import format_lookup, parse_code, to_json

    try:
        code = parse_code(args.code)
    except ValueError as exc:
        sys.stderr.write(f"dumplib err: error: {exc}\n")
        return EXIT_USAGE
    try:
        from dumplib.codes import bugchecks

        if args.json:
            doc = to_json(code)
            doc["bugcheck"] = bugchecks.to_json(code) if doc["code"] is not None else None
            emit_json(doc)
        else:
            sys.stdout.write(format_lookup(code))
            if 0 <= code <= 0xFFFFFFFF and bugchecks.known(code):
                sys.stdout.write("# as a bug check (stop) code:\n")
                sys.stdout.write(bugchecks.format_bugcheck(code))
    except BrokenPipeError:
        return EXIT_OK
    return EXIT_OK


def register(sub: Any) -> None:
    """Add the ``err`` subcommand."""
    help_text = "names and meanings of an NTSTATUS / HRESULT / Win32 / exception code"
    p: argparse.ArgumentParser = sub.add_parser("err", help=help_text, description=help_text)
    p.add_argument("code", help="the code: 0xC0000005, C0000005, -1073741819 or 5")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.set_defaults(run=run)
