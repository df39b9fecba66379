"""``dumplib registers FILE [--thread TID] [--all]``: a thread's registers.

By default the registers at the fault, from the exception's saved context
(the state when the exception was raised, even when another thread wrote the
dump); with ``--thread`` that thread's context from the thread list; for a
dump without an exception, the first thread's. Values that point into a
module are followed by ``module!function+0x..`` (symbols from ``--symbols``).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from dumplib._exc import DumpError
from dumplib.cli.common import UsageError, add_dump_args, run_on_dump
from dumplib.dump import Dump
from dumplib.format.context import Context

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["GENERAL_REGISTERS", "register", "registers_json"]

#: The registers shown without ``--all``, per architecture, in WinDbg's ``r`` order.
GENERAL_REGISTERS: dict[str, tuple[str, ...]] = {
    "amd64": ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rip", "rsp", "rbp", "r8", "r9",
              "r10", "r11", "r12", "r13", "r14", "r15", "eflags", "seg_cs", "seg_ss",
              "seg_ds", "seg_es", "seg_fs", "seg_gs"),
    "x86": ("eax", "ebx", "ecx", "edx", "esi", "edi", "eip", "esp", "ebp", "eflags",
            "seg_cs", "seg_ss", "seg_ds", "seg_es", "seg_fs", "seg_gs"),
    "arm64": (*(f"x{i}" for i in range(29)), "fp", "lr", "sp", "pc", "cpsr"),
}


def _pick_context(dump: Dump, thread: int | None) -> tuple[str, int | None, Context]:
    if thread is not None:
        t = dump.threads.get(thread)
        if t is None:
            raise UsageError(f"no thread {thread} (0x{thread:x}) in the dump; "
                             f"threads: {', '.join(str(i) for i in dump.threads.ids)}")
        return "thread context", thread, t.context
    exc = dump.exception
    if exc is not None and exc.context is not None:
        return "exception context", exc.thread_id, exc.context
    if not len(dump.threads):
        raise DumpError("the dump has no threads and no exception context")
    t = dump.threads[0]
    return "thread context (no exception in the dump)", t.id, t.context


def registers_json(dump: Dump, thread: int | None = None, *, everything: bool = False,
                   symbols: list[str] | None = None) -> dict[str, Any]:
    """The registers of the fault (or of ``thread``) with what each value points into.

    Returns ``{"source", "thread_id", "arch", "registers": [{"name", "value",
    "points_to"}]}``; ``points_to`` is ``module!function+0x..`` or None.

    Raises:
        UsageError: ``thread`` is not in the dump.
        DumpError: no context can be read.
    """
    source, tid, ctx = _pick_context(dump, thread)
    arch = ctx.arch.value
    names = list(ctx) if everything or arch not in GENERAL_REGISTERS else [
        n for n in GENERAL_REGISTERS[arch] if n in ctx]
    walker = dump.stack_walker(symbols) if symbols is not None else None
    out = []
    for name in names:
        value = ctx[name]
        where = None
        mod = dump.modules.find(value) if value > 0xFFFF else None
        if mod is not None:
            if walker is not None:
                sym = walker.symbolize(value)
                stem = mod.name
                where = (f"{stem}!{sym.function}+0x{sym.offset:x}" if sym.function
                         else f"{stem}+0x{value - mod.base:x}")
            else:
                where = f"{mod.name}+0x{value - mod.base:x}"
        out.append({"name": name, "value": value, "points_to": where})
    return {"source": source, "thread_id": tid, "arch": arch, "registers": out}


def _run(args: argparse.Namespace, dump: Dump, console: Console) -> Any:
    from dumplib.views.fit import Col, FittedTable

    doc = registers_json(dump, args.thread, everything=args.all, symbols=args.symbols)
    if args.json:
        return doc
    digits = 16 if doc["arch"] in ("amd64", "arm64") else 8
    rows = [[r["name"], f"{r['value']:0{digits}x}", r["points_to"] or ""]
            for r in doc["registers"]]
    tid = doc["thread_id"]
    title = f"{doc['source']}, thread {tid} (0x{tid:x})" if tid is not None else doc["source"]
    console.print(FittedTable([Col("register"), Col("value"),
                               Col("points into", keep=False, min_width=16)],
                              rows, title=title))
    return None


def _int(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def register(sub: Any) -> None:
    """Add the ``registers`` subcommand."""
    help_text = "registers at the fault (exception context) or of a thread"
    p: argparse.ArgumentParser = sub.add_parser("registers", help=help_text,
                                                description=help_text)
    add_dump_args(p)
    p.add_argument("--thread", type=_int, metavar="TID", help="this thread's context instead")
    p.add_argument("--all", action="store_true",
                   help="every register of the context (debug, FPU, vector), not just the "
                        "general ones")
    p.add_argument("--symbols", action="append", metavar="S",
                   help="symbol path entry, to name the functions values point into")
    p.set_defaults(run=lambda args: run_on_dump(args, _run))
