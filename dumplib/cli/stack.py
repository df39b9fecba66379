"""The ``stack`` and ``disasm`` commands.

``dumplib stack FILE [--thread TID | --all] [--symbols S]... [--physical-only] [--json]``
walks stacks: by default the faulting thread of a crash dump (from the exception's
context), or every thread of a dump without an exception. Inlined calls show as
frames of their own, tied to their physical frame; ``--physical-only`` leaves them out.

``dumplib disasm FILE [--address A] [--count N] [--symbols S]... [--json]``
disassembles around an address, by default the faulting instruction, with a
sentence saying what it did ("write to [rdx] with rdx = 0x0 -> address 0x0").
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from dumplib.cli.common import UsageError, add_dump_args, run_on_dump
from dumplib.views.textsafe import data, shown

if TYPE_CHECKING:  # imported when a command runs: rich for tables only (issue #16)
    from rich.console import Console, RenderableType

    from dumplib.dump import Dump
    from dumplib.unwind.disasm import FaultExplanation, Instruction
    from dumplib.unwind.frames import Frame, Stack

__all__ = ["frame_json", "register", "stack_json", "stack_table"]


def frame_json(frame: Frame, *, physical_only: bool = False) -> dict[str, Any]:
    """One frame as JSON (the fields of API.md plus index, source and status fields).

    ``offset`` is API.md's (from the function start, or from the module base when
    no function is known); ``module_offset`` is always ``ip`` minus the module
    base (None without a module), ``function_offset`` the offset from the function
    start (None without a function). ``source_file``/``source_line`` are the
    address's own line, as before inline frames were reported.

    ``inlines``: the calls inlined at the frame's address, innermost first (empty
    with ``physical_only``). Each has ``function``, ``source_file`` and
    ``source_line`` (where execution is in that function: the address's line for
    the innermost, else the call of the next inner one) and ``call_file`` and
    ``call_line`` (where it is called from its caller, the next entry or, for the
    last one, the physical frame's function).
    """
    mod = frame.module
    chain = () if physical_only else frame.inlines
    inlines: list[dict[str, Any]] = []
    for k in range(len(chain) - 1, -1, -1):
        inner = chain[k + 1] if k + 1 < len(chain) else None
        inlines.append({
            "function": chain[k].function,
            "source_file": inner.call_file if inner else frame.source_file,
            "source_line": inner.call_line if inner else frame.source_line,
            "call_file": chain[k].call_file,
            "call_line": chain[k].call_line,
        })
    return {
        "index": frame.index,
        "ip": frame.ip,
        "sp": frame.sp,
        "module": mod.name if mod else None,
        "function": frame.function,
        "offset": frame.offset,
        "function_offset": frame.offset if frame.function else None,
        "module_offset": frame.ip - mod.base if mod else None,
        "trust": frame.trust.value,
        "source_file": frame.source_file,
        "source_line": frame.source_line,
        "inlines": inlines,
    }


def stack_json(stack: Stack, *, physical_only: bool = False) -> dict[str, Any]:
    """One thread's stack as JSON: id, status (and what it means), notes and frames
    (physical frames, each with its inlined calls unless ``physical_only``)."""
    return {
        "id": stack.thread_id,
        "status": stack.status.value,
        "status_meaning": stack.status.meaning,
        "notes": list(stack.notes),
        "frames": [frame_json(f, physical_only=physical_only) for f in stack.frames],
    }


def stack_table(stack: Stack, title: str, *, physical_only: bool = False) -> RenderableType:
    """A table of one stack for people (:func:`dumplib.views.tables.stack_table`):
    direct recursion folded into one ``xN`` row, inlined calls as rows of their own
    unless ``physical_only``."""
    from dumplib.views.tables import stack_table as table

    return table(stack, title=title, physical_only=physical_only)


def _select(dump: Dump, args: argparse.Namespace) -> list[int]:
    if args.thread is not None:
        if dump.threads.get(args.thread) is None:
            raise UsageError(f"no thread {args.thread} (0x{args.thread:x}) in the dump; "
                              f"threads: {', '.join(str(i) for i in dump.threads.ids)}")
        return [args.thread]
    exc = dump.exception
    if not args.all and exc is not None and dump.threads.get(exc.thread_id) is not None:
        return [exc.thread_id]
    return list(dump.threads.ids)


def _stack(args: argparse.Namespace, dump: Dump, console: Console) -> Any:
    if args.max_frames < 1:
        raise UsageError("--max-frames must be at least 1")
    if getattr(args, "format", None) == "minidump-stackwalk":
        from dumplib.stackwalk import stackwalk_json

        args.json = True  # one JSON document, minidump-stackwalk's --json schema
        return stackwalk_json(dump, args.symbols)
    ids = _select(dump, args)
    stacks = [dump.stack(tid, args.symbols, max_frames=args.max_frames) for tid in ids]
    from dumplib.unwind.coverage import symbol_coverage

    coverage = symbol_coverage(stacks, dump.stack_walker(args.symbols).resolver, args.symbols)
    if args.json:
        return {"threads": [stack_json(s, physical_only=args.physical_only) for s in stacks],
                "symbols": coverage.to_json()}
    exc = dump.exception
    for s in stacks:
        thread = dump.threads.get(s.thread_id)
        name = f" {shown(repr(thread.name))}" if thread is not None and thread.name else ""
        faulting = " (faulting, from the exception context)" if (
            exc is not None and exc.thread_id == s.thread_id) else ""
        inlined = 0 if args.physical_only else sum(len(f.inlines) for f in s.frames)
        with_inlines = f" ({len(s.frames) + inlined} with inlines)" if inlined else ""
        console.print(stack_table(s, f"thread {s.thread_id} (0x{s.thread_id:x}){name}{faulting}"
                                     f" -- {s.status.value}, {len(s.frames)} frames"
                                     f"{with_inlines}", physical_only=args.physical_only))
        if s.status.value != "complete":
            console.print(data(f"  walk {s.status.meaning}"))
        for note in s.notes:
            console.print(data(f"  note: {note}"))
    for note in coverage.notes():
        console.print(data(f"note: {note}"))
    return None


def _instruction_json(i: Instruction, fault_ip: int | None) -> dict[str, Any]:
    return {
        "address": i.address,
        "size": i.size,
        "bytes": i.raw.hex(),
        "text": i.text,
        "fault": i.address == fault_ip,
    }


def _explanation_json(why: FaultExplanation | None) -> dict[str, Any] | None:
    if why is None:
        return None
    return {
        "instruction": why.instruction.text,
        "access": why.access,
        "operand": why.operand,
        "registers": dict(why.registers),
        "address": why.address,
        "fault_address": why.fault_address,
        "matches": why.matches,
        "text": why.text,
    }


def _disasm(args: argparse.Namespace, dump: Dump, console: Console) -> Any:
    from dumplib.unwind.disasm import disassemble_around

    walker = dump.stack_walker(args.symbols)
    fault_ip: int | None = None
    why: FaultExplanation | None = None
    exc = dump.exception
    if exc is not None:
        ctx = exc.context
        fault_ip = ctx.ip if ctx is not None else exc.address
    if fault_ip is None and dump.kind != "user":
        fault_ip = getattr(dump, "fault_address", None)  # kernel dumps: from the bug check
    if args.count < 1:
        raise UsageError("--count must be at least 1")
    address = args.address if args.address is not None else fault_ip
    if address is None:
        raise UsageError("the dump has no exception: give --address")
    if args.address is None:
        why = dump.explain_fault(args.symbols)
        listing = disassemble_around(walker.code, address, before=args.count // 2,
                                     after=args.count - args.count // 2 - 1, bits=walker.bits)
    else:
        listing = dump.disassemble(address, args.count, symbols=args.symbols)
    if args.json:
        return {
            "address": address,
            "instructions": [_instruction_json(i, fault_ip) for i in listing],
            "explanation": _explanation_json(why),
        }
    if not listing:
        console.print(f"no code bytes at 0x{address:x} (not in the dump; try --symbols)")
    for i in listing:
        frame = walker.symbolize(i.address)
        where = f"{frame.module.name}+0x{i.address - frame.module.base:x}" if frame.module else ""
        mark = "=>" if i.address == fault_ip else "  "
        console.print(data(f"{mark} 0x{i.address:x} {where:<24} {i.raw.hex():<20} {i.text}"))
    if why is not None:
        console.print()
        console.print(data(why.text))
    return None


def _int(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def register(sub: Any) -> None:
    """Add the ``stack`` and ``disasm`` subcommands."""
    p: argparse.ArgumentParser = sub.add_parser(
        "stack", help="walk thread stacks (unwind data, frame pointers, validated scanning)",
        description="Walk thread stacks. Default: the faulting thread of a crash dump, "
                    "else every thread.")
    add_dump_args(p)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--thread", type=_int, metavar="TID", help="only this thread (id)")
    which.add_argument("--all", action="store_true", help="every thread")
    p.add_argument("--symbols", action="append", default=[], metavar="S",
                   help="symbol directory, file or _NT_SYMBOL_PATH string (repeatable)")
    p.add_argument("--max-frames", type=int, default=100_000, metavar="N",
                   help="most frames per thread (default 100000)")
    p.add_argument("--physical-only", action="store_true",
                   help="leave out inlined calls (by default each is a frame of its own, "
                        "numbered as the physical frame it is inlined into)")
    p.add_argument("--format", choices=["dumplib", "minidump-stackwalk"], default="dumplib",
                   help="minidump-stackwalk: every thread as rust-minidump's "
                        "`minidump-stackwalk --json` prints it")
    p.set_defaults(run=lambda args: run_on_dump(args, _stack))

    d: argparse.ArgumentParser = sub.add_parser(
        "disasm", help="disassemble around the faulting instruction (or an address)",
        description="Disassemble with capstone; by default around the faulting instruction, "
                    "with an explanation of what it accessed.")
    add_dump_args(d)
    d.add_argument("--address", type=_int, metavar="A", help="start here instead")
    d.add_argument("--count", type=int, default=10, metavar="N",
                   help="instructions to show (default 10)")
    d.add_argument("--symbols", action="append", default=[], metavar="S",
                   help="where to find images when the dump lacks the code bytes")
    d.set_defaults(run=lambda args: run_on_dump(args, _disasm))
