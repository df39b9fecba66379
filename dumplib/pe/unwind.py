"""AMD64 exception data: RUNTIME_FUNCTION tables (.pdata) and UNWIND_INFO (.xdata).

This module only *decodes* unwind data into typed records; applying it to
a register set is the unwinder's job (dumplib.unwind). The layout follows
Microsoft's "x64 exception handling" documentation:

UNWIND_INFO is ``Version:3 Flags:5``, ``SizeOfProlog``, ``CountOfCodes``,
``FrameRegister:4 FrameOffset:4`` (scaled by 16), then CountOfCodes 16-bit
slots (padded to an even number), then either an exception handler RVA
(EHANDLER/UHANDLER, followed by handler data) or a chained RUNTIME_FUNCTION
(CHAININFO). Each unwind code is ``CodeOffset`` (the prolog offset just past
the instruction it describes), ``UnwindOp:4 OpInfo:4``, and takes 1 to 3 slots.
"""

from __future__ import annotations

import enum
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from dumplib._exc import MemoryNotInDump
from dumplib.pe.layout import ImageBytes
from dumplib.pe.structs import MAX_RUNTIME_FUNCTIONS, RUNTIME_FUNCTION, U16, U32

__all__ = [
    "FunctionTable",
    "Register",
    "RuntimeFunction",
    "UnwindCode",
    "UnwindFlags",
    "UnwindInfo",
    "UnwindOp",
    "parse_runtime_functions",
    "parse_unwind_info",
]

_INFO = "UNWIND_INFO"
_RF = "RUNTIME_FUNCTION"


class UnwindOp(enum.IntEnum):
    """UWOP_* operation codes of an UNWIND_CODE."""

    PUSH_NONVOL = 0
    ALLOC_LARGE = 1
    ALLOC_SMALL = 2
    SET_FPREG = 3
    SAVE_NONVOL = 4
    SAVE_NONVOL_FAR = 5
    EPILOG = 6  # version 2; in version 1 this code was the old UWOP_SAVE_XMM
    SPARE_CODE = 7  # version 2 spare; in version 1 the old UWOP_SAVE_XMM_FAR
    SAVE_XMM128 = 8
    SAVE_XMM128_FAR = 9
    PUSH_MACHFRAME = 10


class UnwindFlags(enum.IntFlag):
    """UNW_FLAG_* bits of UNWIND_INFO.Flags."""

    NHANDLER = 0
    EHANDLER = 1
    UHANDLER = 2
    CHAININFO = 4


class Register(enum.IntEnum):
    """AMD64 integer register numbers as used by unwind codes and FrameRegister."""

    RAX = 0
    RCX = 1
    RDX = 2
    RBX = 3
    RSP = 4
    RBP = 5
    RSI = 6
    RDI = 7
    R8 = 8
    R9 = 9
    R10 = 10
    R11 = 11
    R12 = 12
    R13 = 13
    R14 = 14
    R15 = 15


@dataclass(frozen=True, slots=True, order=True)
class RuntimeFunction:
    """One RUNTIME_FUNCTION: a function's RVA range and where its unwind data is.

    Attributes:
        begin: BeginAddress, RVA of the first byte.
        end: EndAddress, RVA just past the last byte.
        unwind_rva: UnwindData, RVA of the UNWIND_INFO (odd: RVA+1 of another
            RUNTIME_FUNCTION whose unwind data is shared, RUNTIME_FUNCTION_INDIRECT).
    """

    begin: int
    end: int
    unwind_rva: int

    def contains(self, rva: int) -> bool:
        """Whether ``rva`` lies in ``[begin, end)``."""
        return self.begin <= rva < self.end


@dataclass(frozen=True, slots=True)
class UnwindCode:
    """One decoded unwind operation.

    ``operand`` holds the value the extra slots carry, already scaled:

    ======================  ==========================================================
    op                      meaning of op_info / operand
    ======================  ==========================================================
    PUSH_NONVOL             op_info = register pushed; operand None
    ALLOC_LARGE             operand = bytes allocated (op_info 0: slot*8, 1: 32-bit)
    ALLOC_SMALL             operand = op_info * 8 + 8
    SET_FPREG               operand = FrameOffset*16 from the UNWIND_INFO header
    SAVE_NONVOL(_FAR)       op_info = register; operand = offset from the frame base
    SAVE_XMM128(_FAR)       op_info = XMM register; operand = offset from the frame base
    PUSH_MACHFRAME          op_info = 1 when an error code was pushed; operand None
    EPILOG (version 2)      first code: offset_in_prolog = epilog size, op_info bit 0 =
                            the last epilog ends the function; operand = that
                            epilog's offset from the end (the size) or None.
                            Later codes: operand = an epilog's offset from the
                            function's end (op_info << 8 | offset_in_prolog);
                            0 is padding
    SPARE_CODE / v1 6       operand = the raw value of the extra slots
    ======================  ==========================================================

    Attributes:
        offset_in_prolog: CodeOffset, prolog offset just past the instruction.
        op: the operation.
        op_info: the OpInfo nibble.
        operand: decoded extra value (see table) or None.
        slots: how many 16-bit slots the code occupies (1 to 3).
    """

    offset_in_prolog: int
    op: UnwindOp
    op_info: int
    operand: int | None
    slots: int

    @property
    def register(self) -> Register | None:
        """The integer register for PUSH_NONVOL / SAVE_NONVOL(_FAR), else None."""
        if self.op in (UnwindOp.PUSH_NONVOL, UnwindOp.SAVE_NONVOL, UnwindOp.SAVE_NONVOL_FAR):
            return Register(self.op_info)
        return None


@dataclass(frozen=True, slots=True)
class UnwindInfo:
    """A decoded UNWIND_INFO.

    Attributes:
        rva: where it was read.
        version: 1 or 2.
        flags: UNW_FLAG_* bits.
        size_of_prolog: SizeOfProlog in bytes.
        count_of_codes: CountOfCodes, the number of 16-bit slots used.
        frame_register: FrameRegister (0 = no frame register).
        frame_offset: FrameOffset scaled by 16 (bytes).
        codes: the unwind codes, in stored order (last prolog instruction first);
            version-2 EPILOG codes come first and are kept as codes.
        handler_rva: exception/termination handler RVA (EHANDLER/UHANDLER), else None.
        handler_data_rva: RVA of the language-specific handler data, else None.
        chained: the parent RUNTIME_FUNCTION (CHAININFO), else None.
    """

    rva: int
    version: int
    flags: int
    size_of_prolog: int
    count_of_codes: int
    frame_register: int
    frame_offset: int
    codes: tuple[UnwindCode, ...]
    handler_rva: int | None
    handler_data_rva: int | None
    chained: RuntimeFunction | None

    @property
    def unwind_flags(self) -> UnwindFlags:
        """:attr:`flags` as an :class:`UnwindFlags` set."""
        return UnwindFlags(self.flags & 7)

    @property
    def has_chain(self) -> bool:
        """True when CHAININFO is set."""
        return bool(self.flags & UnwindFlags.CHAININFO)

    @property
    def prolog_codes(self) -> tuple[UnwindCode, ...]:
        """The codes that describe the prolog (EPILOG and SPARE codes left out)."""
        return tuple(
            c for c in self.codes if c.op not in (UnwindOp.EPILOG, UnwindOp.SPARE_CODE)
            or self.version < 2
        )

    @property
    def epilog_size(self) -> int | None:
        """Size of the epilogs described by version-2 EPILOG codes, else None."""
        for code in self.codes:
            if code.op is UnwindOp.EPILOG and self.version >= 2:
                return code.offset_in_prolog
        return None

    @property
    def epilog_offsets(self) -> tuple[int, ...]:
        """Where version-2 epilogs start, as offsets back from the function's end.

        Each epilog is :attr:`epilog_size` bytes long; padding codes are left out.
        """
        if self.version < 2:
            return ()
        return tuple(
            c.operand for c in self.codes
            if c.op is UnwindOp.EPILOG and c.operand
        )

    @property
    def stack_size(self) -> int:
        """Bytes the prolog moves rsp down (pushes, allocations, a machine frame).

        The canonical frame address is ``rsp + stack_size + 8`` once the prolog
        has run and no frame register is in use.
        """
        total = 0
        for code in self.prolog_codes:
            if code.op is UnwindOp.PUSH_NONVOL:
                total += 8
            elif code.op in (UnwindOp.ALLOC_LARGE, UnwindOp.ALLOC_SMALL):
                total += code.operand or 0
            elif code.op is UnwindOp.PUSH_MACHFRAME:
                total += 48 if code.op_info else 40
        return total


class FunctionTable:
    """The sorted RUNTIME_FUNCTION entries of one image, searchable by RVA.

    The table keeps three parallel lists (begins, ends, unwind RVAs) and makes a
    :class:`RuntimeFunction` only for the entries asked for: a walk touches a few
    dozen of an image's thousands of functions (issue #16: building every entry
    was most of a cold walk's cost).
    """

    __slots__ = ("_begins", "_ends", "_entries", "_made", "_unwinds")

    def __init__(self, entries: Sequence[RuntimeFunction]) -> None:
        ordered = list(entries)
        if any(ordered[i].begin > ordered[i + 1].begin for i in range(len(ordered) - 1)):
            ordered.sort()
        self._begins = [e.begin for e in ordered]
        self._ends = [e.end for e in ordered]
        self._unwinds = [e.unwind_rva for e in ordered]
        self._entries: tuple[RuntimeFunction, ...] | None = tuple(ordered)
        self._made: dict[int, RuntimeFunction] = {}

    @classmethod
    def from_columns(cls, begins: list[int], ends: list[int], unwinds: list[int]) -> FunctionTable:
        """A table from parallel lists of BeginAddress, EndAddress and UnwindData
        (sorted here by BeginAddress when they are not already)."""
        table = cls.__new__(cls)
        if any(begins[i] > begins[i + 1] for i in range(len(begins) - 1)):
            rows = sorted(zip(begins, ends, unwinds, strict=True))
            begins = [r[0] for r in rows]
            ends = [r[1] for r in rows]
            unwinds = [r[2] for r in rows]
        table._begins, table._ends, table._unwinds = begins, ends, unwinds
        table._entries = None
        table._made = {}
        return table

    @property
    def entries(self) -> tuple[RuntimeFunction, ...]:
        """Every entry, by BeginAddress."""
        if self._entries is None:
            self._entries = tuple(self[i] for i in range(len(self._begins)))
        return self._entries

    def __len__(self) -> int:
        return len(self._begins)

    def __iter__(self) -> Iterator[RuntimeFunction]:
        return iter(self.entries)

    def __getitem__(self, index: int) -> RuntimeFunction:
        if self._entries is not None:
            return self._entries[index]
        if index < 0:
            index += len(self._begins)
        if not 0 <= index < len(self._begins):
            raise IndexError("function table index out of range")
        rf = self._made.get(index)
        if rf is None:
            rf = self._made[index] = RuntimeFunction(
                self._begins[index], self._ends[index], self._unwinds[index])
        return rf

    def function_for(self, rva: int) -> RuntimeFunction | None:
        """The entry whose ``[begin, end)`` holds ``rva`` (bisection), or None."""
        i = bisect_right(self._begins, rva) - 1
        if i >= 0 and rva < self._ends[i]:
            return self[i]
        return None


def parse_runtime_functions(
    image: ImageBytes, rva: int, size: int, warnings: list[str]
) -> FunctionTable:
    """Read the exception directory (an array of RUNTIME_FUNCTION) at ``rva``.

    Entries that are empty or point outside the image are skipped with a
    warning; in a dump, pages of the table that were not captured are
    skipped with a warning too.

    Raises:
        PeError: the directory's size is impossible (beyond the image or the cap).
    """
    count = size // RUNTIME_FUNCTION.size
    if size % RUNTIME_FUNCTION.size:
        warnings.append(f"exception directory size {size} is not a multiple of 12")
    if count > MAX_RUNTIME_FUNCTIONS:
        raise image.error(
            f"exception directory claims {count} entries (cap {MAX_RUNTIME_FUNCTIONS})", _RF, rva
        )
    nbytes = count * RUNTIME_FUNCTION.size
    image.check(rva, nbytes, _RF)
    raw: list[tuple[int, int, int]]
    try:
        raw = list(RUNTIME_FUNCTION.iter_unpack(image.read(rva, nbytes, _RF)))
    except MemoryNotInDump:
        raw = _read_present(image, rva, count, warnings)
    limit = image.limit
    begins: list[int] = []
    ends: list[int] = []
    unwinds: list[int] = []
    bad = 0
    for begin, end, unwind in raw:
        if begin < end <= limit and unwind < limit:
            begins.append(begin)
            ends.append(end)
            unwinds.append(unwind)
        elif begin or end or unwind:
            bad += 1
    if bad:
        warnings.append(f"{bad} RUNTIME_FUNCTION entries with impossible ranges skipped")
    return FunctionTable.from_columns(begins, ends, unwinds)


def _read_present(
    image: ImageBytes, rva: int, count: int, warnings: list[str]
) -> list[tuple[int, int, int]]:
    """Read a RUNTIME_FUNCTION array page by page, keeping the entries that were captured."""
    size = RUNTIME_FUNCTION.size
    out: list[tuple[int, int, int]] = []
    missing = 0
    i = 0
    while i < count:
        at = rva + i * size
        # as many whole entries as fit before the next page boundary (at least one)
        room = max(1, min(count - i, image.contiguous(at) // size))
        try:
            chunk = image.read(at, room * size, _RF)
        except MemoryNotInDump:
            missing += room
            i += room
            continue
        out.extend(RUNTIME_FUNCTION.iter_unpack(chunk))
        i += room
    if missing:
        warnings.append(f"{missing} of {count} RUNTIME_FUNCTION entries not in dump")
    return out


# Slots per op (ALLOC_LARGE and version-2 EPILOG are decided by op info).
_SLOTS = (1, 2, 1, 1, 2, 3, 2, 3, 2, 3, 1)
_OPS = tuple(UnwindOp)
_CHAININFO = int(UnwindFlags.CHAININFO)


def parse_unwind_info(image: ImageBytes, rva: int) -> UnwindInfo:
    """Decode the UNWIND_INFO at ``rva``.

    Raises:
        PeError: unknown version or op code, codes that overrun CountOfCodes, or
            the structure leaves the image.
        MemoryNotInDump: (memory layout) the bytes were not captured.
    """
    head = image.read(rva, 4, _INFO)
    vf, prolog, count, frame = head[0], head[1], head[2], head[3]
    version, flags = vf & 7, vf >> 3
    if version not in (1, 2):
        raise image.error(f"unsupported UNWIND_INFO version {version}", _INFO, rva)
    slots_rva = rva + 4
    padded = (count + 1) & ~1
    tail = 12 if flags & _CHAININFO else 4 if flags & 3 else 0
    body = image.read(slots_rva, padded * 2 + tail, _INFO)
    frame_offset = (frame >> 4) * 16
    codes: list[UnwindCode] = []
    i = 0
    first_epilog = True
    while i < count:
        offset, opbyte = body[2 * i], body[2 * i + 1]
        op, info = opbyte & 0xF, opbyte >> 4
        if op > 10:
            raise image.error(f"unknown unwind op {op}", _INFO, slots_rva + 2 * i)
        if op == UnwindOp.ALLOC_LARGE:
            if info > 1:
                raise image.error(
                    f"ALLOC_LARGE with op info {info}", _INFO, slots_rva + 2 * i
                )
            n = 2 if info == 0 else 3
        elif op == UnwindOp.EPILOG and version >= 2:
            # one slot each, as LLVM writes them and llvm-readobj reads them: a header
            # (size, "at end" flag), then one code per epilog, padded to an even count
            n = 1
        else:
            n = _SLOTS[op]
        if i + n > count:
            raise image.error(
                f"unwind op {op} needs {n} slots but only {count - i} remain",
                _INFO,
                slots_rva + 2 * i,
            )
        operand: int | None = None
        if op == UnwindOp.ALLOC_LARGE:
            operand = (
                U16.unpack_from(body, 2 * i + 2)[0] * 8
                if info == 0
                else U32.unpack_from(body, 2 * i + 2)[0]
            )
        elif op == UnwindOp.ALLOC_SMALL:
            operand = info * 8 + 8
        elif op == UnwindOp.SET_FPREG:
            operand = frame_offset
        elif op == UnwindOp.SAVE_NONVOL:
            operand = U16.unpack_from(body, 2 * i + 2)[0] * 8
        elif op == UnwindOp.SAVE_XMM128:
            operand = U16.unpack_from(body, 2 * i + 2)[0] * 16
        elif op in (UnwindOp.SAVE_NONVOL_FAR, UnwindOp.SAVE_XMM128_FAR):
            operand = U32.unpack_from(body, 2 * i + 2)[0]
        elif op == UnwindOp.EPILOG and version >= 2:
            if first_epilog:
                operand = offset if info & 1 else None
                first_epilog = False
            else:
                operand = offset | (info << 8)
        elif n == 2:
            operand = U16.unpack_from(body, 2 * i + 2)[0]
        elif n == 3:
            operand = U32.unpack_from(body, 2 * i + 2)[0]
        codes.append(UnwindCode(offset, _OPS[op], info, operand, n))
        i += n
    tail_at = padded * 2
    handler: int | None = None
    handler_data: int | None = None
    chained: RuntimeFunction | None = None
    if flags & _CHAININFO:
        begin, end, unwind = RUNTIME_FUNCTION.unpack_from(body, tail_at)
        chained = RuntimeFunction(begin, end, unwind)
    elif flags & 3:
        handler = U32.unpack_from(body, tail_at)[0]
        handler_data = slots_rva + tail_at + 4
    return UnwindInfo(
        rva=rva,
        version=version,
        flags=flags,
        size_of_prolog=prolog,
        count_of_codes=count,
        frame_register=frame & 0xF,
        frame_offset=frame_offset,
        codes=tuple(codes),
        handler_rva=handler,
        handler_data_rva=handler_data,
        chained=chained,
    )
