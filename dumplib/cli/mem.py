"""``dumplib mem FILE ADDR [--as bytes|dwords|qwords|pointers] [--count N]``: show memory.

Like WinDbg's ``db``/``dd``/``dq``/``dps``: ``ADDR`` is a number (``0x7ff6...``)
or a register of the exception context (``rsp``, ``@rsp``). Bytes the dump did
not capture are shown as ``??``. ``pointers`` names what each pointer-sized
value points into (``module!function+0x..``, with ``--symbols``).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from dumplib.cli.common import UsageError, add_dump_args, run_on_dump
from dumplib.dump import Dump

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["FORMATS", "memory_json", "register", "resolve_address"]

#: ``--as`` choices and their unit size (0 = pointer size of the dump).
FORMATS = {"bytes": 1, "dwords": 4, "qwords": 8, "pointers": 0}

#: Most bytes one invocation shows (1 MiB).
MAX_BYTES = 1 << 20


def resolve_address(dump: Dump, text: str) -> int:
    """``ADDR`` as typed: a number, or a register name of the exception (else first
    thread's) context, with or without ``@`` (``ip``, ``sp`` and ``fp`` on any CPU).

    Raises:
        UsageError: neither a number nor a known register.
    """
    try:
        return int(text, 0)
    except ValueError:
        pass
    try:
        return int(text, 16)
    except ValueError:
        pass
    name = text.lstrip("@").lower()
    exc = dump.exception
    ctx = exc.context if exc is not None else None
    if ctx is None and len(dump.threads):
        ctx = dump.threads[0].context
    if ctx is not None:
        generic = {"ip": lambda: ctx.ip, "sp": lambda: ctx.sp, "fp": lambda: ctx.fp}
        try:
            return int(generic[name]() if name in generic else ctx[name])
        except KeyError:
            pass
        raise UsageError(f"not an address or register of this {ctx.arch.value} context: "
                         f"{text!r} (ip, sp and fp name its instruction, stack and frame "
                         "pointers)")
    raise UsageError(f"not an address or register: {text!r}")


def memory_json(dump: Dump, address: int, unit: str = "bytes", count: int = 16, *,
                symbols: list[str] | None = None) -> dict[str, Any]:
    """``count`` units at ``address`` as JSON: ``{"address", "unit", "size", "values":
    [{"address", "value" (None when not captured), "points_to"}]}``.

    Raises:
        UsageError: an unknown unit or a count outside 1..MAX_BYTES/size.
    """
    size = FORMATS.get(unit)
    if size is None:
        raise UsageError(f"--as must be one of {', '.join(FORMATS)}")
    size = size or dump.memory.pointer_size
    if count < 1 or count * size > MAX_BYTES:
        raise UsageError(f"--count must be between 1 and {MAX_BYTES // size}")
    walker = dump.stack_walker(symbols) if unit == "pointers" else None
    values = []
    for i in range(count):
        at = address + i * size
        raw = dump.memory.try_read(at, size)
        value = int.from_bytes(raw, "little") if raw is not None else None
        where = None
        if walker is not None and value is not None:
            mod = dump.modules.find(value)
            if mod is not None:
                sym = walker.symbolize(value)
                where = (f"{mod.name}!{sym.function}+0x{sym.offset:x}" if sym.function
                         else f"{mod.name}+0x{value - mod.base:x}")
        values.append({"address": at, "value": value, "points_to": where})
    return {"address": address, "unit": unit, "size": size, "values": values}


def _text(doc: dict[str, Any], digits: int) -> list[str]:
    size: int = doc["size"]
    vals = doc["values"]
    lines: list[str] = []
    if doc["unit"] == "pointers":
        for v in vals:
            shown = "?" * (2 * size) if v["value"] is None else f"{v['value']:0{2 * size}x}"
            lines.append(f"{v['address']:0{digits}x}  {shown}  {v['points_to'] or ''}".rstrip())
        return lines
    per_line = 16 // size
    for i in range(0, len(vals), per_line):
        chunk = vals[i:i + per_line]
        cells = ["?" * (2 * size) if v["value"] is None else f"{v['value']:0{2 * size}x}"
                 for v in chunk]
        line = f"{chunk[0]['address']:0{digits}x}  {' '.join(cells)}"
        if size == 1:
            text = "".join(" " if v["value"] is None else
                           (chr(v["value"]) if 0x20 <= v["value"] < 0x7F else ".")
                           for v in chunk)
            line += f"  |{text}|"
        lines.append(line)
    return lines


def _run(args: argparse.Namespace, dump: Dump, console: Console) -> Any:
    from dumplib.views.textsafe import data

    address = resolve_address(dump, args.address)
    doc = memory_json(dump, address, args.unit, args.count, symbols=args.symbols)
    if args.json:
        return doc
    digits = 16 if dump.memory.pointer_size == 8 else 8
    for line in _text(doc, digits):
        console.print(data(line))
    missing = sum(1 for v in doc["values"] if v["value"] is None)
    if missing:
        console.print(data(f"?? = not captured in the dump ({missing} of {len(doc['values'])} "
                           f"{args.unit})"), style="dim")
    return None


def register(sub: Any) -> None:
    """Add the ``mem`` subcommand."""
    help_text = "show memory at an address as bytes, dwords, qwords or pointers with symbols"
    p: argparse.ArgumentParser = sub.add_parser("mem", help=help_text, description=help_text)
    add_dump_args(p)
    p.add_argument("address", metavar="ADDR",
                   help="address (0x..., hex) or register of the exception context (rsp, @rsp)")
    p.add_argument("--as", dest="unit", choices=list(FORMATS), default="bytes",
                   help="how to show it (default bytes)")
    p.add_argument("--count", type=int, default=None, metavar="N",
                   help="how many units (default: 128 bytes' worth, 16 pointers)")
    p.add_argument("--symbols", action="append", metavar="S",
                   help="symbol path entry, to name what pointers point into")

    def run(args: argparse.Namespace) -> int:
        if args.count is None:
            args.count = 16 if args.unit == "pointers" else 128 // FORMATS[args.unit]
        return run_on_dump(args, _run)

    p.set_defaults(run=run)
