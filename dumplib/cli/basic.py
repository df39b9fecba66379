"""The stream-level commands: info, threads, modules, memory, streams."""

from __future__ import annotations

import argparse

from dumplib._exc import TYPE_CHECKING
from dumplib.cli.common import add_dump_args, run_on_dump

if TYPE_CHECKING:  # imported when a command runs, so that register() stays cheap
    from typing import Any

    from rich.console import Console

    from dumplib.dump import Dump

__all__ = ["register", "register_command"]


def _info(args: argparse.Namespace, dump: Dump, console: Console) -> Any:
    from dumplib.cli import render

    if args.json:
        return render.info_json(dump)
    console.print(render.info_table(dump))
    return None


def _threads(args: argparse.Namespace, dump: Dump, console: Console) -> Any:
    from dumplib.cli import render

    if args.json:
        return render.threads_json(dump)
    console.print(render.threads_table(dump))
    return None


def module_details(dump: Dump, symbols: list[str]) -> dict[int, dict[str, Any]]:
    """Vendor, description and version strings (from each image's version resource, read
    from the dump or found through ``symbols``) and, with ``symbols``, which symbol
    sources were found; keyed by module base."""
    from dumplib.symbols import SymbolResolver

    out: dict[int, dict[str, Any]] = {}
    with SymbolResolver(symbols, memory=dump.memory.read) as resolver:
        for m in dump.modules:
            info: dict[str, Any] = {"vendor": None, "description": None, "file_version": None}
            image = resolver.image(m)
            vi = image.version_info if image is not None else None
            if vi is not None:
                info["vendor"] = vi.strings.get("CompanyName")
                info["description"] = vi.strings.get("FileDescription")
                info["file_version"] = vi.strings.get("FileVersion")
            if symbols:
                found = resolver.module_symbols(m)
                info["symbols"] = list(found.sources)
                identity = found.pdb_identity
                info["pdb_identity"] = list(identity) if identity else None
                info["pdb_path"] = found.pdb_path
                info["sym_path"] = found.sym_path
            out[m.base] = info
    return out


def _modules(args: argparse.Namespace, dump: Dump, console: Console) -> Any:
    from dumplib.cli import render

    details = module_details(dump, args.symbols or [])
    if args.json:
        if args.unloaded:
            return {
                "loaded": render.modules_json(dump, details),
                "unloaded": render.unloaded_json(dump),
            }
        return render.modules_json(dump, details)
    console.print(render.modules_table(dump, details))
    return None


def _memory(args: argparse.Namespace, dump: Dump, console: Console) -> Any:
    from dumplib.cli import render

    if args.json:
        return render.memory_json(dump)
    console.print(render.memory_table(dump, None if args.all else 50))
    return None


def _streams(args: argparse.Namespace, dump: Dump, console: Console) -> Any:
    from dumplib.cli import render

    if args.json:
        return render.streams_json(dump)
    console.print(render.streams_table(dump))
    return None


#: The commands of this module: name -> (body, help text).
_COMMANDS = {
    "info": (_info, "summary: process, system, dump type, exception"),
    "threads": (_threads, "threads with their registers and stacks"),
    "modules": (_modules, "loaded and unloaded modules with versions and PDB ids"),
    "memory": (_memory, "captured memory ranges with protection and type"),
    "streams": (_streams, "the stream directory, vendor streams included"),
}


def register(sub: Any) -> None:
    """Add info, threads, modules, memory and streams to the subcommand parsers."""
    for name in _COMMANDS:
        register_command(sub, name)


def register_command(sub: Any, name: str) -> None:
    """Add one of this module's commands (``dumplib info FILE`` builds only its own
    parser: each argparse parser costs about 0.4 ms of start-up, issue #16)."""
    body, help_text = _COMMANDS[name]
    p: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text)
    add_dump_args(p)
    if name == "memory":
        p.add_argument("--all", action="store_true", help="list every range, not the first 50")
    if name == "modules":
        p.add_argument(
            "--symbols", action="append", metavar="S",
            help="symbol path entry (directory, file, srv*CACHE*URL); repeatable",
        )
        p.add_argument(
            "--unloaded",
            action="store_true",
            help="with --json: an object with 'loaded' and 'unloaded' lists",
        )
    p.set_defaults(run=lambda args, body=body: run_on_dump(args, body))
