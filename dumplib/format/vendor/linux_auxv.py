"""LinuxAuxv (0x47670008): the process's ELF auxiliary vector.

Pointer-sized ``(type, value)`` pairs, as in ``/proc/PID/auxv``; the vector
ends at ``AT_NULL``. The names are those of ``<elf.h>``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = ["AUXV_NAMES", "AuxvEntry", "parse_auxv"]

#: ``AT_*`` names by type.
AUXV_NAMES: dict[int, str] = {
    0: "AT_NULL", 1: "AT_IGNORE", 2: "AT_EXECFD", 3: "AT_PHDR", 4: "AT_PHENT", 5: "AT_PHNUM",
    6: "AT_PAGESZ", 7: "AT_BASE", 8: "AT_FLAGS", 9: "AT_ENTRY", 10: "AT_NOTELF", 11: "AT_UID",
    12: "AT_EUID", 13: "AT_GID", 14: "AT_EGID", 15: "AT_PLATFORM", 16: "AT_HWCAP",
    17: "AT_CLKTCK", 23: "AT_SECURE", 24: "AT_BASE_PLATFORM", 25: "AT_RANDOM",
    26: "AT_HWCAP2", 31: "AT_EXECFN", 32: "AT_SYSINFO", 33: "AT_SYSINFO_EHDR",
    51: "AT_MINSIGSTKSZ",
}


@dataclass(frozen=True, slots=True)
class AuxvEntry:
    """One auxiliary vector entry.

    Attributes:
        type: the ``AT_*`` number; name: its name, or None; value: its value.
    """

    type: int
    name: str | None
    value: int


def parse_auxv(data: bytes, pointer_size: int) -> list[AuxvEntry]:
    """Parse LinuxAuxv, up to ``AT_NULL`` or the end of the bytes.

    Args:
        data: the stream's bytes.
        pointer_size: 4 or 8.
    """
    fmt = "<II" if pointer_size == 4 else "<QQ"
    usable = len(data) // (2 * pointer_size) * (2 * pointer_size)
    out: list[AuxvEntry] = []
    for kind, value in struct.iter_unpack(fmt, data[:usable]):
        if kind == 0:
            break
        out.append(AuxvEntry(kind, AUXV_NAMES.get(kind), value))
    return out
