"""Typed records of breakpad ``.sym`` files and the range index used to look them up.

:mod:`dumplib.symbols.breakpad` parses the files; this module holds what it
produces -- MODULE, FUNC, PUBLIC, line, INLINE, ``STACK CFI`` and ``STACK WIN``
records -- plus :func:`parse_cfi_rules`, which splits a CFI rule string, and
the innermost-range index that ``STACK WIN`` lookups bisect.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from dumplib.symbols.errors import SymbolError

__all__ = [
    "CfiRules",
    "FuncRecord",
    "InlineRecord",
    "LineRecord",
    "ModuleRecord",
    "PublicRecord",
    "RangeIndex",
    "StackCfiInit",
    "StackCfiRecord",
    "StackWinRecord",
    "StackWinType",
    "parse_cfi_rules",
]


class StackWinType(IntEnum):
    """The ``type`` field of ``STACK WIN`` records (the PDB frame data kind)."""

    FPO = 0
    TRAP = 1
    TSS = 2
    STANDARD = 3
    FRAME_DATA = 4


@dataclass(frozen=True, slots=True)
class ModuleRecord:
    """The ``MODULE`` line: which binary the file describes.

    Attributes:
        os: operating system (``"windows"``, ``"linux"``, ``"mac"``).
        arch: CPU architecture (``"x86"``, ``"x86_64"``, ``"arm64"``).
        id: debug identifier: for Windows, the PDB GUID (32 upper-case hex digits)
            followed by the age in hex.
        name: debug file name (``"crash.pdb"``).
    """

    os: str
    arch: str
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class FuncRecord:
    """A ``FUNC`` record: a function with a known extent.

    Attributes:
        address: RVA of the first byte.
        size: length in bytes.
        parameter_size: bytes of stack parameters (x86 ``__stdcall``).
        name: function name.
        multiple: the ``m`` flag: several symbols were folded onto this address.
    """

    address: int
    size: int
    parameter_size: int
    name: str
    multiple: bool


@dataclass(frozen=True, slots=True)
class PublicRecord:
    """A ``PUBLIC`` record: a symbol name at an address, without a size.

    Attributes:
        address: RVA of the symbol.
        parameter_size: bytes of stack parameters.
        name: symbol name.
        multiple: the ``m`` flag.
    """

    address: int
    parameter_size: int
    name: str
    multiple: bool


@dataclass(frozen=True, slots=True)
class LineRecord:
    """A line record: ``size`` bytes at ``address`` come from ``line`` of file ``file``.

    Attributes:
        address: RVA of the first byte.
        size: length in bytes.
        line: source line number.
        file: index into the ``FILE`` records.
    """

    address: int
    size: int
    line: int
    file: int


@dataclass(frozen=True, slots=True)
class InlineRecord:
    """An ``INLINE`` record: a call inlined into the enclosing ``FUNC``.

    Attributes:
        depth: nesting depth, 0 for a call inlined directly into the function.
        call_line: line of the call site.
        call_file: ``FILE`` index of the call site.
        origin: ``INLINE_ORIGIN`` index naming the inlined function.
        ranges: ``(address, size)`` pairs the inlined code occupies.
    """

    depth: int
    call_line: int
    call_file: int
    origin: int
    ranges: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class StackCfiInit:
    """A ``STACK CFI INIT`` record with the ``STACK CFI`` deltas that follow it.

    Attributes:
        address: RVA where the covered range starts.
        size: length of the covered range.
        rules: the initial rules, e.g. ``".cfa: $rsp 8 + .ra: .cfa 8 - ^"``.
        deltas: rule changes taking effect at later addresses, in file order.
    """

    address: int
    size: int
    rules: str
    deltas: tuple[StackCfiRecord, ...]


@dataclass(frozen=True, slots=True)
class StackCfiRecord:
    """A ``STACK CFI`` delta: rules that change from ``address`` on.

    Attributes:
        address: RVA from which the rules apply.
        rules: the changed rules.
    """

    address: int
    rules: str


@dataclass(frozen=True, slots=True)
class StackWinRecord:
    """A ``STACK WIN`` record (x86 frame data from the PDB).

    Attributes:
        type: the frame data kind (4 = FrameData with a program string, 0 = FPO).
        address: RVA where the covered range starts.
        size: length of the covered code.
        prologue_size: bytes of prologue.
        epilogue_size: bytes of epilogue.
        parameter_size: bytes of parameters.
        saved_register_size: bytes of saved registers.
        local_size: bytes of locals.
        max_stack_size: maximum stack size, or None when unknown.
        program_string: the postfix program (when ``has_program_string``), else None.
        allocates_base_pointer: for FPO data, whether EBP is used as a general register.
    """

    type: StackWinType | int
    address: int
    size: int
    prologue_size: int
    epilogue_size: int
    parameter_size: int
    saved_register_size: int
    local_size: int
    max_stack_size: int | None
    program_string: str | None
    allocates_base_pointer: bool


@dataclass(frozen=True, slots=True)
class CfiRules:
    """The CFI rules in effect at one address.

    Attributes:
        address: RVA of the ``STACK CFI INIT`` range start.
        size: length of that range.
        rules: register name (``".cfa"``, ``".ra"``, ``"$rbp"``) -> postfix expression.
    """

    address: int
    size: int
    rules: dict[str, str]


def parse_cfi_rules(text: str) -> dict[str, str]:
    """Split a CFI rule string into register -> expression.

    Args:
        text: rules such as ``".cfa: $rsp 16 + .ra: .cfa 8 - ^ $rbx: .cfa 24 - ^"``.

    Returns:
        ``{".cfa": "$rsp 16 +", ".ra": ".cfa 8 - ^", "$rbx": ".cfa 24 - ^"}``.

    Raises:
        SymbolError: an expression appears before any register name.
    """
    rules: dict[str, str] = {}
    register: str | None = None
    tokens: list[str] = []
    for token in text.split():
        if token.endswith(":"):
            if register is not None:
                rules[register] = " ".join(tokens)
            register = token[:-1]
            tokens = []
        elif register is None:
            raise SymbolError(f"CFI rule {token!r} before any register name in {text!r}")
        else:
            tokens.append(token)
    if register is not None:
        rules[register] = " ".join(tokens)
    return rules


class RangeIndex:
    """Innermost-range lookup over possibly nested address ranges.

    The ranges are flattened once into elementary segments, each naming the
    innermost range covering it (the one starting last; the shortest on ties),
    so a lookup is a single bisection.
    """

    __slots__ = ("_owner", "_starts")

    def __init__(self, ranges: Sequence[tuple[int, int]]) -> None:
        bounds = sorted({a for a, s in ranges if s > 0} | {a + s for a, s in ranges if s > 0})
        order = sorted((i for i, (_, s) in enumerate(ranges) if s > 0), key=lambda i: ranges[i][0])
        heap: list[tuple[int, int, int]] = []
        starts: list[int] = []
        owner: list[int] = []
        k = 0
        for bound in bounds:
            while k < len(order) and ranges[order[k]][0] <= bound:
                i = order[k]
                heapq.heappush(heap, (-ranges[i][0], ranges[i][1], i))
                k += 1
            while heap and ranges[heap[0][2]][0] + ranges[heap[0][2]][1] <= bound:
                heapq.heappop(heap)
            starts.append(bound)
            owner.append(heap[0][2] if heap else -1)
        self._starts = starts
        self._owner = owner

    def find(self, address: int) -> int:
        """Return the index of the innermost range holding ``address``, or -1."""
        pos = bisect_right(self._starts, address) - 1
        return self._owner[pos] if pos >= 0 else -1
