"""Expressions: ``?`` and ``.formats`` (see :mod:`dumplib.shell.expr` for the syntax)."""

from __future__ import annotations

import datetime as _dt
import re
import struct

from dumplib.shell.expr import evaluate
from dumplib.shell.session import Output, Session

__all__ = ["formats", "question"]


def question(session: Session, args: str) -> Output:
    """``? EXPRESSION``: evaluate and print in decimal and hexadecimal
    (``Evaluate expression: 4096 = 00000000`00001000``)."""
    value = evaluate(session, args)
    return Output(f"Evaluate expression: {_signed(session, value)} = {session.addr(value)}",
                  {"value": value})


def _signed(session: Session, value: int) -> int:
    bits = 8 * session.pointer_size
    return value - (1 << bits) if value >> (bits - 1) else value


def _g(value: float) -> str:
    """``%g`` as the Microsoft C runtime prints it: three exponent digits (``1e-044``)."""
    return re.sub(r"e([+-])(\d\d)$", r"e\g<1>0\2", f"{value:g}")


def formats(session: Session, args: str) -> Output:
    """``.formats EXPRESSION``: the value as hex, decimal, octal, binary, characters,
    a time_t, and as float and double bit patterns."""
    value = evaluate(session, args)
    bits = 8 * session.pointer_size
    raw = value.to_bytes(session.pointer_size, "little")
    binary = f"{value:0{bits}b}"
    chars = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in reversed(raw))
    low = value & 0xFFFFFFFF
    try:
        t = _dt.datetime.fromtimestamp(low, _dt.timezone.utc)
        when = f"{t:%a %b} {t.day:2d} {t:%H:%M:%S %Y}"
    except (OverflowError, OSError, ValueError):
        when = "***** Invalid"
    f_low = struct.unpack("<f", struct.pack("<I", low))[0]
    f_high = struct.unpack("<f", struct.pack("<I", value >> 32 & 0xFFFFFFFF))[0]
    dbl = struct.unpack("<d", struct.pack("<Q", value & (1 << 64) - 1))[0]
    lines = [
        "Evaluate expression:",
        f"  Hex:     {session.addr(value)}",
        f"  Decimal: {_signed(session, value)}",
        f"  Decimal (unsigned) : {value}",
        f"  Octal:   {value:0{(bits + 2) // 3}o}",
        "  Binary:  " + " ".join(binary[i:i + 8] for i in range(0, bits, 8)),
        f"  Chars:   {chars}",
        f"  Time:    {when}",
        f"  Float:   low {_g(f_low)} high {_g(f_high)}",
        f"  Double:  {_g(dbl)}",
    ]
    return Output("\n".join(lines), {"value": value, "signed": _signed(session, value)})
