"""Windows ARM64 unwinding from an image's ``.pdata`` / ``.xdata``.

Each ``.pdata`` entry of an ARM64 image is two words: the function's begin
RVA and either (low two bits 0) the RVA of its ``.xdata`` record or (bits 1
or 2) *packed* unwind data. Microsoft's "ARM64 exception handling" documents
both:

``.xdata``
    A header word (FunctionLength in 4-byte units, bits 0-17; X, E, epilog
    count 22-26, code words 27-31; an extension word when both are 0), epilog
    scopes unless E is set, then unwind code bytes in the reverse order of the
    prolog instructions they describe.
packed
    FunctionLength (bits 2-12), RegF (13-15), RegI (16-19), H (20), CR (21-22),
    FrameSize (23-31, 16-byte units), describing a canonical prolog: save
    x19.. (and lr when CR = 1) at the bottom of the save area, then d8..,
    then the home area of x0-x7 (H), then the locals, with fp/lr saved at the
    bottom of them and ``mov fp, sp`` when CR is 2 or 3.

:func:`unwind` undoes the prolog (the whole prolog for a return address;
only the instructions already executed when the ip is the faulting one) and
returns through ``lr``. Epilogs are not emulated.
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Callable
from dataclasses import dataclass

from dumplib._exc import DumpError, MemoryNotInDump

__all__ = ["Arm64Function", "Arm64Table", "unwind"]

_MAX_CODES = 1024
_MASK = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class Arm64Function:
    """One ``.pdata`` entry: begin RVA and the unwind word (an ``.xdata`` RVA or packed)."""

    begin: int
    word: int


class Arm64Table:
    """An ARM64 image's ``.pdata``, sorted by begin RVA, with ``.xdata`` read on demand.

    Args:
        entries: the ``.pdata`` entries.
        read: reads image bytes by RVA (raises DumpError when absent).
    """

    def __init__(self, entries: list[Arm64Function], read: Callable[[int, int], bytes]) -> None:
        self.entries = sorted(entries, key=lambda e: e.begin)
        self._begins = [e.begin for e in self.entries]
        self._read = read

    @classmethod
    def from_pdata(cls, data: bytes, read: Callable[[int, int], bytes]) -> Arm64Table:
        """Parse a ``.pdata`` directory's bytes."""
        usable = len(data) // 8 * 8
        return cls([Arm64Function(b, w) for b, w in struct.iter_unpack("<II", data[:usable])],
                   read)

    def length(self, function: Arm64Function) -> int:
        """The function's length in bytes (from the packed word or the .xdata header)."""
        if function.word & 3:
            return ((function.word >> 2) & 0x7FF) * 4
        header = int(struct.unpack("<I", self._read(function.word, 4))[0])
        return (header & 0x3FFFF) * 4

    def function_for(self, rva: int) -> Arm64Function | None:
        """The entry whose function holds ``rva``, or None."""
        i = bisect.bisect_right(self._begins, rva) - 1
        if i < 0:
            return None
        entry = self.entries[i]
        try:
            return entry if rva < entry.begin + self.length(entry) else None
        except DumpError:
            return None

    def codes(self, function: Arm64Function) -> bytes:
        """The unwind code bytes of an ``.xdata`` record."""
        at = function.word
        (header,) = struct.unpack("<I", self._read(at, 4))
        epilogs, words = (header >> 22) & 0x1F, (header >> 27) & 0x1F
        at += 4
        if epilogs == 0 and words == 0:
            (ext,) = struct.unpack("<I", self._read(at, 4))
            epilogs, words = ext & 0xFFFF, (ext >> 16) & 0xFF
            at += 4
        if not header & (1 << 21):  # E clear: epilog scopes follow
            at += 4 * epilogs
        return self._read(at, 4 * words)


def _packed_codes(word: int) -> list[tuple[str, tuple[int, ...]]]:
    """The canonical prolog of packed unwind data as unwind operations, in unwind order."""
    reg_f, reg_i = (word >> 13) & 7, (word >> 16) & 0xF
    home, cr, frame = (word >> 20) & 1, (word >> 21) & 3, ((word >> 23) & 0x1FF) * 16
    int_sz = 8 * reg_i + (8 if cr == 1 else 0)
    fp_sz = 8 * reg_f + 8 if reg_f else 0
    sav_sz = (int_sz + fp_sz + 64 * home + 0xF) & ~0xF
    loc_sz = frame - sav_sz
    ops: list[tuple[str, tuple[int, ...]]] = []
    if cr in (2, 3):
        ops.append(("set_fp", ()))
        ops.append(("save_fplr", (0,)))
    if loc_sz > 0:
        ops.append(("alloc", (loc_sz,)))
    for i in range(reg_i):
        ops.append(("save_reg", (19 + i, 8 * i)))
    if cr == 1:
        ops.append(("save_lr", (8 * reg_i,)))
    if sav_sz:
        ops.append(("alloc", (sav_sz,)))
    return ops


def _decode(codes: bytes) -> list[tuple[str, tuple[int, ...]]]:
    """Unwind code bytes as operations, in the stored (unwind) order, up to ``end``."""
    ops: list[tuple[str, tuple[int, ...]]] = []
    i = 0
    last_pair: tuple[str, int, int] | None = None  # for save_next: (kind, next reg, offset)
    while i < len(codes) and len(ops) < _MAX_CODES:
        b = codes[i]
        nxt = codes[i + 1] if i + 1 < len(codes) else 0
        if b < 0x20:  # alloc_s
            ops.append(("alloc", (16 * b,)))
            i += 1
        elif b < 0x40:  # save_r19r20_x
            z = (b & 0x1F) * 8
            ops += [("save_reg", (19, 0)), ("save_reg", (20, 8)), ("alloc", (z,))]
            last_pair = ("x", 21, 16)
            i += 1
        elif b < 0x80:  # save_fplr
            ops.append(("save_fplr", ((b & 0x3F) * 8,)))
            i += 1
        elif b < 0xC0:  # save_fplr_x
            ops += [("save_fplr", (0,)), ("alloc", (((b & 0x3F) + 1) * 8,))]
            i += 1
        elif b < 0xC8:  # alloc_m
            ops.append(("alloc", (16 * (((b & 7) << 8) | nxt),)))
            i += 2
        elif b < 0xD0:  # save_regp / save_regp_x
            reg = 19 + (((b & 3) << 2) | (nxt >> 6))
            z = nxt & 0x3F
            if b & 4:
                ops += [("save_reg", (reg, 0)), ("save_reg", (reg + 1, 8)),
                        ("alloc", ((z + 1) * 8,))]
                last_pair = ("x", reg + 2, 16)
            else:
                ops += [("save_reg", (reg, z * 8)), ("save_reg", (reg + 1, z * 8 + 8))]
                last_pair = ("x", reg + 2, z * 8 + 16)
            i += 2
        elif b < 0xD4:  # save_reg
            reg = 19 + (((b & 3) << 2) | (nxt >> 6))
            ops.append(("save_reg", (reg, (nxt & 0x3F) * 8)))
            i += 2
        elif b < 0xD6:  # save_reg_x
            reg = 19 + (((b & 1) << 3) | (nxt >> 5))
            ops += [("save_reg", (reg, 0)), ("alloc", (((nxt & 0x1F) + 1) * 8,))]
            i += 2
        elif b < 0xD8:  # save_lrpair
            reg = 19 + 2 * (((b & 1) << 2) | (nxt >> 6))
            z = (nxt & 0x3F) * 8
            ops += [("save_reg", (reg, z)), ("save_lr", (z + 8,))]
            i += 2
        elif b < 0xE0:  # save_fregp(_x), save_freg(_x): floating point, not tracked
            if b & 0xFE == 0xDA or b == 0xDE:  # the pre-indexed forms move sp
                z = (nxt & 0x3F) if b != 0xDE else (nxt & 0x1F)
                ops.append(("alloc", ((z + 1) * 8,)))
            last_pair = None
            i += 2
        elif b == 0xE0:  # alloc_l
            if i + 3 >= len(codes):
                break
            ops.append(("alloc", (16 * int.from_bytes(codes[i + 1 : i + 4], "big"),)))
            i += 4
        elif b == 0xE1:  # set_fp
            ops.append(("set_fp", ()))
            i += 1
        elif b == 0xE2:  # add_fp
            ops.append(("add_fp", (nxt * 8,)))
            i += 2
        elif b == 0xE3 or b == 0xFC:  # nop, pac_sign_lr
            ops.append(("nop", ()))
            i += 1
        elif b in (0xE4, 0xE5):  # end, end_c
            break
        elif b == 0xE6:  # save_next: the next register pair after the previous save
            if last_pair is not None:
                _kind, reg, off = last_pair
                ops += [("save_reg", (reg, off)), ("save_reg", (reg + 1, off + 8))]
                last_pair = ("x", reg + 2, off + 16)
            i += 1
        else:  # machine frame, context and reserved codes: not unwound here
            raise DumpError(f"ARM64 unwind code 0x{b:02x} is not supported")
    return ops


def unwind(
    regs: dict[str, int],
    rva: int,
    function: Arm64Function,
    table: Arm64Table,
    read_u64: Callable[[int], int],
    *,
    exact: bool,
) -> dict[str, int]:
    """The caller's registers, from the callee's, through ``function``'s unwind data.

    Args:
        regs: the callee's registers (``sp``, ``fp``, ``lr``, ``x19``...).
        rva: the callee's lookup address relative to the image base.
        function: its ``.pdata`` entry.
        table: the image's table (to read ``.xdata``).
        read_u64: reads stack memory.
        exact: the ip is the faulting instruction (the prolog may be partly run).

    Returns:
        The caller's registers; ``pc`` is the restored ``lr``.

    Raises:
        DumpError: unreadable unwind data or stack memory.
    """
    if function.word & 3:
        ops = _packed_codes(function.word)
    else:
        ops = _decode(table.codes(function))
    if exact:
        # only the prolog instructions before the ip have run: the codes are stored
        # last-instruction first, one per instruction (nops included)
        done = (rva - function.begin) // 4
        groups = _instruction_groups(ops)
        if done < len(groups):
            ops = [op for g in groups[len(groups) - done:] for op in g]
    new = dict(regs)
    sp = new["sp"]
    try:
        for name, args in ops:
            if name == "alloc":
                sp = (sp + args[0]) & _MASK
            elif name == "save_reg":
                reg, off = args
                key = "fp" if reg == 29 else "lr" if reg == 30 else f"x{reg}"
                new[key] = read_u64(sp + off)
            elif name == "save_lr":
                new["lr"] = read_u64(sp + args[0])
            elif name == "save_fplr":
                new["fp"] = read_u64(sp + args[0])
                new["lr"] = read_u64(sp + args[0] + 8)
            elif name == "set_fp":
                sp = new["fp"]
            elif name == "add_fp":
                sp = (new["fp"] - args[0]) & _MASK
    except MemoryNotInDump:
        raise
    new["sp"] = sp
    new["pc"] = new.get("lr", 0)
    return new


def _instruction_groups(
    ops: list[tuple[str, tuple[int, ...]]],
) -> list[list[tuple[str, tuple[int, ...]]]]:
    """Operations grouped by the prolog instruction they undo (stored order)."""
    groups: list[list[tuple[str, tuple[int, ...]]]] = []
    i = 0
    while i < len(ops):
        name = ops[i][0]
        # a pair save (and its pre-index allocation) is one instruction
        j = i + 1
        if name == "save_reg" and j < len(ops) and ops[j][0] in ("save_reg", "save_lr"):
            j += 1
        if name in ("save_reg", "save_fplr") and j < len(ops) and ops[j][0] == "alloc" and (
            ops[i][1][-1] == 0
        ):
            j += 1
        groups.append(ops[i:j])
        i = j
    return groups
