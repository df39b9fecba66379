"""Breakpad's postfix programs: ``STACK WIN`` frame programs and ``STACK CFI`` rules.

A program is a sequence of tokens evaluated on a stack: numbers (decimal, or
hex with ``0x``), variables (``$eip``, ``$T0``, ``.cbSavedRegs``, ``.cfa``),
the binary operators ``+ - * / % @`` (``@`` aligns down to a power of two),
the dereference ``^`` (reads a pointer from the dump) and the assignment
``=`` (``$T0 $ebp 8 + =``). Evaluation is bounded: programs longer than
:data:`MAX_TOKENS` or deeper than :data:`MAX_DEPTH` are refused, and every
failure (unknown variable, unreadable memory, division by zero, a malformed
program) gives :class:`PostfixError`, which the walker turns into "try the
next method".
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping

from dumplib._exc import DumpError, MemoryNotInDump

__all__ = ["MAX_DEPTH", "MAX_TOKENS", "PostfixError", "evaluate_expression", "run_program"]

#: Longest program accepted, in tokens.
MAX_TOKENS = 256
#: Deepest evaluation stack accepted.
MAX_DEPTH = 64


class PostfixError(DumpError):
    """A breakpad postfix program could not be evaluated."""


_BINARY = frozenset("+-*/%@")


def _value(token: str, variables: MutableMapping[str, int], mask: int) -> int:
    if token in variables:
        return variables[token]
    if token[0] in "$.":
        raise PostfixError(f"unknown variable {token}")
    try:
        return int(token, 0) & mask if token.lower().startswith(("0x", "-0x")) else (
            int(token, 10) & mask
        )
    except ValueError:
        raise PostfixError(f"bad token {token!r}") from None


def _eval(
    tokens: list[str],
    variables: MutableMapping[str, int],
    deref: Callable[[int], int],
    mask: int,
    *,
    assign: bool,
) -> list[int | str]:
    if len(tokens) > MAX_TOKENS:
        raise PostfixError(f"program of {len(tokens)} tokens (cap {MAX_TOKENS})")
    stack: list[int | str] = []
    for token in tokens:
        if token in _BINARY and len(token) == 1:
            if len(stack) < 2:
                raise PostfixError(f"operator {token} needs two operands")
            b = stack.pop()
            a = stack.pop()
            x = a if isinstance(a, int) else _value(a, variables, mask)
            y = b if isinstance(b, int) else _value(b, variables, mask)
            if token == "+":
                r = x + y
            elif token == "-":
                r = x - y
            elif token == "*":
                r = x * y
            elif token in "/%":
                if y == 0:
                    raise PostfixError("division by zero")
                r = x // y if token == "/" else x % y
            else:  # "@": align x down to a multiple of y
                if y <= 0 or y & (y - 1):
                    raise PostfixError(f"alignment {y} is not a power of two")
                r = x & ~(y - 1)
            stack.append(r & mask)
        elif token == "^":
            if not stack:
                raise PostfixError("^ needs an operand")
            a = stack.pop()
            x = a if isinstance(a, int) else _value(a, variables, mask)
            try:
                stack.append(deref(x) & mask)
            except MemoryNotInDump as exc:
                raise PostfixError(f"dereference of 0x{x:x} not in the dump") from exc
        elif token == "=" and assign:
            if len(stack) < 2:
                raise PostfixError("= needs a variable and a value")
            b = stack.pop()
            a = stack.pop()
            if not isinstance(a, str) or a[0] not in "$.":
                raise PostfixError(f"cannot assign to {a!r}")
            variables[a] = b if isinstance(b, int) else _value(b, variables, mask)
        else:
            stack.append(token)
        if len(stack) > MAX_DEPTH:
            raise PostfixError(f"evaluation stack deeper than {MAX_DEPTH}")
    return stack


def run_program(
    program: str,
    variables: MutableMapping[str, int],
    deref: Callable[[int], int],
    *,
    bits: int = 32,
) -> None:
    """Run a ``STACK WIN`` program, assigning into ``variables``.

    Args:
        program: e.g. ``"$T0 $ebp = $eip $T0 4 + ^ = $ebp $T0 ^ = $esp $T0 8 + ="``.
        variables: the initial registers and ``.cb*`` values; updated in place.
        deref: reads a pointer at an address (raises MemoryNotInDump when absent).
        bits: the pointer width, for wrap-around.

    Raises:
        PostfixError: the program is malformed or cannot be evaluated.
    """
    mask = (1 << bits) - 1
    left = _eval(program.split(), variables, deref, mask, assign=True)
    if left:
        raise PostfixError(f"program leaves {len(left)} values on the stack")


def evaluate_expression(
    expression: str,
    variables: MutableMapping[str, int],
    deref: Callable[[int], int],
    *,
    bits: int = 64,
) -> int:
    """Evaluate one ``STACK CFI`` rule expression to a value.

    Args:
        expression: e.g. ``".cfa 8 - ^"`` or ``"$rsp 16 +"``.
        variables: register values (``$rsp``) and ``.cfa`` when known.
        deref: reads a pointer at an address.
        bits: the pointer width.

    Raises:
        PostfixError: the expression is malformed or cannot be evaluated.
    """
    mask = (1 << bits) - 1
    left = _eval(expression.split(), variables, deref, mask, assign=False)
    if len(left) != 1:
        raise PostfixError(f"expression {expression!r} leaves {len(left)} values")
    top = left[0]
    return top if isinstance(top, int) else _value(top, variables, mask)
