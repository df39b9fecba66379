"""``dumplib handles FILE``: the process's open handles (HandleDataStream).

Handle value, object type, object name, granted access and the object's
handle and pointer counts, as WinDbg's ``!handle 0 f`` lists them. A dump
written without handle data (no ``MiniDumpWithHandleData``) says so.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from dumplib.cli.common import add_dump_args, run_on_dump
from dumplib.dump import Dump

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["handles_json", "register"]


def handles_json(dump: Dump) -> dict[str, Any]:
    """The handle list as JSON: ``{"present", "handles": [{"handle", "type", "name",
    "granted_access", "attributes", "handle_count", "pointer_count"}]}``."""
    present = any(e.name == "HandleDataStream" for e in dump.streams)
    return {
        "present": present,
        "handles": [
            {"handle": h.handle, "type": h.type_name, "name": h.object_name,
             "granted_access": h.granted_access, "attributes": h.attributes,
             "handle_count": h.handle_count, "pointer_count": h.pointer_count}
            for h in dump.handles
        ],
    }


def _run(args: argparse.Namespace, dump: Dump, console: Console) -> Any:
    doc = handles_json(dump)
    if args.json:
        return doc
    if not doc["present"]:
        console.print("no handle data in this dump (it was written without "
                      "MiniDumpWithHandleData; procdump writes it with -ma or -mp)",
                      markup=False)
        return None
    from dumplib.views.tables import handles_table

    console.print(handles_table(dump.handles))
    return None


def register(sub: Any) -> None:
    """Add the ``handles`` subcommand."""
    help_text = "open handles: type, object name, access and counts"
    p: argparse.ArgumentParser = sub.add_parser("handles", help=help_text, description=help_text)
    add_dump_args(p)
    p.set_defaults(run=lambda args: run_on_dump(args, _run))
