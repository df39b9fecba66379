"""The stream-level commands: info, threads, modules, memory, streams."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console

from dumplib.cli import render
from dumplib.cli.common import add_dump_args, run_on_dump
from dumplib.dump import Dump

__all__ = ["register"]


def _info(args: argparse.Namespace, dump: Dump, console: Console) -> Any:
    if args.json:
        return render.info_json(dump)
    console.print(render.info_table(dump))
    return None


def _threads(args: argparse.Namespace, dump: Dump, console: Console) -> Any:
    if args.json:
        return render.threads_json(dump)
    console.print(render.threads_table(dump))
    return None


def _modules(args: argparse.Namespace, dump: Dump, console: Console) -> Any:
    if args.json:
        if args.unloaded:
            return {"loaded": render.modules_json(dump), "unloaded": render.unloaded_json(dump)}
        return render.modules_json(dump)
    console.print(render.modules_table(dump))
    return None


def _memory(args: argparse.Namespace, dump: Dump, console: Console) -> Any:
    if args.json:
        return render.memory_json(dump)
    console.print(render.memory_table(dump, None if args.all else 50))
    return None


def _streams(args: argparse.Namespace, dump: Dump, console: Console) -> Any:
    if args.json:
        return render.streams_json(dump)
    console.print(render.streams_table(dump))
    return None


def register(sub: Any) -> None:
    """Add info, threads, modules, memory and streams to the subcommand parsers."""
    table = {
        "info": (_info, "summary: process, system, dump type, exception"),
        "threads": (_threads, "threads with their registers and stacks"),
        "modules": (_modules, "loaded and unloaded modules with versions and PDB ids"),
        "memory": (_memory, "captured memory ranges with protection and type"),
        "streams": (_streams, "the stream directory, vendor streams included"),
    }
    for name, (body, help_text) in table.items():
        p: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text)
        add_dump_args(p)
        if name == "memory":
            p.add_argument("--all", action="store_true", help="list every range, not the first 50")
        if name == "modules":
            p.add_argument(
                "--unloaded",
                action="store_true",
                help="with --json: an object with 'loaded' and 'unloaded' lists",
            )
        p.set_defaults(run=lambda args, body=body: run_on_dump(args, body))
