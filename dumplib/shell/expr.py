"""WinDbg's MASM expression evaluator, for ``?``, ``.formats`` and every address argument.

What it understands (the subset people type at a dump):

- numbers: hexadecimal by default (``1000``, ``00007ff6`12345678``), ``0x1f``,
  ``0n42`` decimal, ``0y101`` binary, ``0t17`` octal;
- registers: ``@rsp`` or plain ``rsp``; pseudo-registers ``$ip``, ``$csp``,
  ``$ra``, ``$teb``, ``$peb``, ``$tid``, ``$tpid`` (with or without ``@``);
- ``module`` (its base address) and ``module!symbol``;
- ``poi(x)`` (a pointer), ``qwo(x)``, ``dwo(x)``, ``wo(x)``, ``by(x)`` (memory reads);
- ``+ - * /``, ``%`` (or ``mod``), unary minus and parentheses.

Arithmetic wraps to the target's pointer width, as in the debugger.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from dumplib._exc import MemoryNotInDump
from dumplib.shell.session import Session, ShellError

__all__ = ["evaluate", "parse_number", "split_args"]

_TOKEN = re.compile(
    r"\s*(?:"
    r"(?P<num>0[xX][0-9a-fA-F`]+|0[nN][0-9]+|0[yY][01]+|0[tT][0-7]+|[0-9a-fA-F][0-9a-fA-F`]*)"
    r"(?![\w!$])"
    r"|(?P<name>[@$]*[A-Za-z_$][\w$.]*(?:![\w$@?<>:~.]+)?)"
    r"|(?P<op>[-+*/%()]))"
)

_FUNCS = {"poi": 0, "qwo": 8, "dwo": 4, "wo": 2, "by": 1}


def parse_number(text: str) -> int:
    """A MASM number: hex by default, ``0x``, ``0n`` (decimal), ``0y`` (binary), ``0t`` (octal);
    backticks inside are ignored.

    Raises:
        ShellError: ``text`` is not a number.
    """
    t = text.replace("`", "").strip()
    try:
        low = t.lower()
        if low.startswith("0x"):
            return int(t[2:], 16)
        if low.startswith("0n"):
            return int(t[2:], 10)
        if low.startswith("0y"):
            return int(t[2:], 2)
        if low.startswith("0t"):
            return int(t[2:], 8)
        return int(t, 16)
    except ValueError:
        raise ShellError(f"Couldn't resolve error at '{text}'") from None


class _Parser:
    def __init__(self, session: Session, text: str,
                 symbol: Callable[[str], int | None]) -> None:
        self.s = session
        self.text = text
        self.symbol = symbol
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                raise ShellError(f"Syntax error at '{text[pos:]}'")
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
        self.i = 0
        self.mask = (1 << (8 * session.pointer_size)) - 1

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise ShellError(f"Syntax error in '{self.text}': the expression ends early")
        self.i += 1
        return tok

    def parse(self) -> int:
        value = self.expr()
        extra = self.peek()
        if extra is not None:
            raise ShellError(f"Syntax error at '{extra[1]}' in '{self.text}'")
        return value & self.mask

    def expr(self) -> int:
        value = self.term()
        while (tok := self.peek()) is not None and tok[1] in ("+", "-"):
            self.take()
            rhs = self.term()
            value = value + rhs if tok[1] == "+" else value - rhs
        return value

    def term(self) -> int:
        value = self.unary()
        while (tok := self.peek()) is not None and (
            tok[1] in ("*", "/", "%") or tok == ("name", "mod")
        ):
            self.take()
            rhs = self.unary()
            if tok[1] == "*":
                value *= rhs
            else:
                if rhs == 0:
                    raise ShellError(f"Divide by zero in '{self.text}'")
                value = value // rhs if tok[1] == "/" else value % rhs
        return value

    def unary(self) -> int:
        tok = self.peek()
        if tok is not None and tok[1] in ("-", "+"):
            self.take()
            v = self.unary()
            return -v if tok[1] == "-" else v
        return self.primary()

    def primary(self) -> int:
        kind, text = self.take()
        if text == "(":
            v = self.expr()
            if self.take()[1] != ")":
                raise ShellError(f"Syntax error in '{self.text}': ')' expected")
            return v
        if kind == "num":
            return parse_number(text)
        if kind == "name":
            low = text.lower()
            if low in _FUNCS and self.peek() == ("op", "("):
                self.take()
                addr = self.expr() & self.mask
                if self.take()[1] != ")":
                    raise ShellError(f"Syntax error in '{self.text}': ')' expected")
                return self.read(addr, _FUNCS[low] or self.s.pointer_size)
            return self.name(text)
        raise ShellError(f"Syntax error at '{text}' in '{self.text}'")

    def read(self, address: int, size: int) -> int:
        try:
            data = self.s.dump.memory.read(address, size)
        except MemoryNotInDump:
            raise ShellError(f"Memory access error at '{self.text}' "
                             f"({self.s.addr(address)} is not in the dump)") from None
        return int.from_bytes(data, "little")

    def name(self, text: str) -> int:
        bare = text.lstrip("@")
        if bare.startswith("$"):
            return pseudo_register(self.s, bare[1:].lower(), self.text)
        regs = self.s.registers()
        low = bare.lower()
        if "!" not in low and low in regs:
            return regs[low]
        found = self.symbol(bare)
        if found is not None:
            return found
        if text.startswith("@"):
            raise ShellError(f"Bad register error at '{text}'")
        raise ShellError(f"Couldn't resolve error at '{text}'")


def pseudo_register(session: Session, name: str, text: str) -> int:
    """The value of ``$name`` (``$ip``, ``$csp``, ``$ra``, ``$teb``, ``$peb``, ``$tid``, ``$tpid``).

    Raises:
        ShellError: the pseudo-register is unknown or its value is not in the dump.
    """
    thread = session.thread
    if name == "ip":
        return _ip(session)
    if name == "csp":
        f = session.frame()
        return f.sp if f is not None and session.frame_index else _sp(session)
    if name == "ra":
        frames = session.stack().frames
        nxt = session.frame_index + 1
        if nxt < len(frames):
            return frames[nxt].ip
        raise ShellError(f"no return address known for frame {session.frame_index}")
    if name == "teb":
        return thread.teb
    if name == "tid":
        return thread.id
    if name == "tpid":
        return session.dump.process_id or 0
    if name == "peb":
        from dumplib.shell.process import peb_address

        peb = peb_address(session, thread)
        if peb is None:
            raise ShellError("the PEB address is not in the dump (the TEB was not captured)")
        return peb
    raise ShellError(f"Bad register error at '{text}'")


def _ip(session: Session) -> int:
    f = session.frame()
    if f is not None and session.frame_index:
        return f.ip
    ctx = session.context
    if ctx is not None:
        for name in ("rip", "eip", "pc"):
            if name in ctx:
                return ctx[name]
    return session.thread.context.ip


def _sp(session: Session) -> int:
    ctx = session.context
    if ctx is not None:
        for name in ("rsp", "esp", "sp"):
            if name in ctx:
                return ctx[name]
    return session.thread.context.sp


def evaluate(session: Session, text: str) -> int:
    """Evaluate a MASM expression in the session's scope.

    Raises:
        ShellError: a syntax error, an unknown name, or a read of memory the dump lacks.
    """
    from dumplib.shell.symbols import resolve_name

    if not text.strip():
        raise ShellError("Syntax error: an expression is expected")
    return _Parser(session, text, lambda name: resolve_name(session, name)).parse()


def split_args(text: str) -> list[str]:
    """Split an argument string on spaces outside parentheses and quotes
    (``poi(@rsp + 8) L2`` -> ``['poi(@rsp + 8)', 'L2']``); operators join their operands."""
    out: list[str] = []
    cur = ""
    depth = 0
    quote = False
    for ch in text:
        if ch == '"':
            quote = not quote
        if ch in " \t" and depth == 0 and not quote:
            if cur:
                out.append(cur)
                cur = ""
            continue
        if not quote:
            depth += ch == "("
            depth -= ch == ")"
        cur += ch
    if cur:
        out.append(cur)
    # glue "a + b" back together: a piece that is an operator, or that follows/precedes one
    glued: list[str] = []
    for piece in out:
        if glued and (piece[0] in "+-*/%" or glued[-1][-1] in "+-*/%") and not (
            glued[-1].startswith('"')
        ):
            glued[-1] += piece
        else:
            glued.append(piece)
    return glued
