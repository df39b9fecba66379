"""Was the crash address one flipped bit away from a valid one?

A crash at an address nothing maps, where flipping a single bit gives an
address inside a mapping the access could use, may be a hardware bit flip
rather than a software bug. :func:`possible_bit_flips` lists such candidates
as minidump-stackwalk does (``crash_info.possible_bit_flips``): 64-bit x86
only; the bits flipped are 0-47 of a canonical address; the mappings come
from the MemoryInfoList stream or, on Linux, ``/proc/PID/maps``; a candidate
is scored from a 0.25 baseline, raised when it is the null pointer or when
registers hold nearby values, halved when registers hold poison patterns
(``0xcccc...`` and the like).
"""

from __future__ import annotations

from dataclasses import dataclass

from dumplib.format.constants import Arch
from dumplib.model.dump import DumpFile

__all__ = ["BitFlip", "possible_bit_flips"]

_NEARBY = 1 << 12
_LOW = _NEARBY * 2
_POISON = frozenset({0x2B, 0x2D, 0x2F, 0x49, 0x4B, 0x4D, 0x4F, 0x6B, 0x8B, 0x9B, 0x9F, 0xA5,
                     0xBB, 0xCC, 0xCD, 0xCE, 0xDB, 0xE5})
_PAGE_READ = 0x02 | 0x04 | 0x08 | 0x20 | 0x40 | 0x80
_PAGE_WRITE = 0x04 | 0x08 | 0x40 | 0x80
_PAGE_EXEC = 0x10 | 0x20 | 0x40 | 0x80


@dataclass(frozen=True, slots=True)
class BitFlip:
    """One candidate: the address one bit away, and why it is (not) likely.

    Attributes:
        address: the crash address with one bit flipped.
        source_register: the register the address came from, or None for the
            crash address itself.
        is_null, was_low, nearby_registers, poison_registers: the heuristics'
            inputs, as minidump-stackwalk names them.
        confidence: 0 to 1.
    """

    address: int
    source_register: str | None
    is_null: bool
    was_low: bool
    nearby_registers: int
    poison_registers: bool
    confidence: float


def _regions(dump: DumpFile, operation: str | None) -> list[tuple[int, int]]:
    """(start, end) of mappings the operation may use (any mapping when it is unknown)."""
    out: list[tuple[int, int]] = []
    infos = dump.memory_info
    if infos:
        for mi in infos:
            if mi.state != 0x1000:  # MEM_COMMIT
                continue
            allowed = {None: True, "read": mi.protect & _PAGE_READ,
                       "write": mi.protect & _PAGE_WRITE, "execute": mi.protect & _PAGE_EXEC}
            if allowed.get(operation, True):
                out.append((mi.base_address, mi.end))
        return out
    for m in dump.vendor.maps or ():
        perms = m.permissions
        allowed = {None: True, "read": "r" in perms, "write": "w" in perms,
                   "execute": "x" in perms}
        if allowed.get(operation, True):
            out.append((m.start, m.end))
    return out


def _score(new: int, original: int, registers: dict[str, int]) -> tuple[bool, bool, int, bool,
                                                                         float]:
    is_null = new == 0
    was_low = is_null and original <= _LOW
    nearby = 0
    poison = False
    for value in registers.values():
        if new > _LOW and abs(new - value) <= _NEARBY:
            nearby += 1
        if not poison and value == (value & 0xFF) * 0x0101010101010101 and (
                value & 0xFF) in _POISON:
            poison = True
    values = [0.25]
    if is_null:
        values.append(0.5 * (0.5 if was_low else 1.0))
    if nearby:
        values.append((0.5, 0.55, 0.6, 0.65)[min(nearby, 4) - 1])
    keep = 1.0
    for v in values:
        keep *= 1.0 - v
    confidence = (1.0 - keep) * (0.5 if poison else 1.0)
    return is_null, was_low, nearby, poison, round(confidence, 6)


def possible_bit_flips(
    dump: DumpFile,
    address: int,
    *,
    operation: str | None = None,
    access_size: int | None = None,
    registers: dict[str, int] | None = None,
    source_register: str | None = None,
) -> list[BitFlip]:
    """Candidates for ``address`` being a valid address with one bit flipped.

    Args:
        dump: the dump (its memory map).
        address: the inaccessible address.
        operation: ``"read"``, ``"write"``, ``"execute"`` when the exception says,
            else None (any mapping counts).
        access_size: bytes the faulting access touched: a crash closer than that
            to a usable mapping is an overrun, not a bit flip.
        registers: the crash context's general registers, for the heuristics.
        source_register: the register ``address`` came from, if any.

    Returns:
        The candidates, lowest bit first; empty for 32-bit and ARM64 dumps.
    """
    if dump.system.arch is not Arch.AMD64:
        return []
    regions = _regions(dump, operation)
    if any(s <= address < e for s, e in regions):
        return []
    if regions and access_size is not None:
        distance = min(s - address if address < s else max(0, address - e) for s, e in regions)
        if distance < access_size:
            return []
    regs = registers or {}
    out: list[BitFlip] = []
    for bit in range(48):
        new = address ^ (1 << bit)
        if new == 0 or any(s <= new < e for s, e in regions):
            out.append(BitFlip(new, source_register, *_score(new, address, regs)))
    return out
