"""Processes of a kernel dump, from PsActiveProcessHead and the kernel PDB's type records.

``_EPROCESS`` changes with every Windows build, so its member offsets are never guessed:
they come from the kernel's PDB (``ntkrnlmp.pdb``, type records), and without one
:func:`list_processes` raises :class:`KernelTypesMissing` saying so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dumplib._exc import DumpError, MemoryNotInDump

if TYPE_CHECKING:
    from dumplib.model.kernel import KernelDumpFile

__all__ = ["KernelProcess", "KernelTypesMissing", "list_processes"]

#: Most processes followed on the list (a loop or garbage ends the walk sooner).
MAX_PROCESSES = 65536


class KernelTypesMissing(DumpError):
    """Structure offsets that change per build are needed, and no kernel PDB was given."""


@dataclass(frozen=True, slots=True)
class KernelProcess:
    """One process of a kernel dump.

    Attributes:
        address: the EPROCESS.
        pid: UniqueProcessId.
        name: ImageFileName (15 characters at most, as the kernel keeps it).
        directory_table_base: its page tables (KPROCESS.DirectoryTableBase), when known.
    """

    address: int
    pid: int
    name: str
    directory_table_base: int | None


def list_processes(dump: KernelDumpFile, pdb: str | os.PathLike[str] | None) -> list[KernelProcess]:
    """Walk PsActiveProcessHead with the offsets of ``pdb``'s ``_EPROCESS``.

    Raises:
        KernelTypesMissing: no PDB was given, or it does not describe ``_EPROCESS``.
        PdbError: the PDB is unreadable.
    """
    if pdb is None:
        raise KernelTypesMissing(
            "EPROCESS offsets change with every Windows build: give the kernel's PDB "
            "(ntkrnlmp.pdb) to read processes"
        )
    from dumplib.pdb.pdbfile import PdbFile
    from dumplib.pdb.types import struct_layout

    with PdbFile.open(os.fspath(pdb)) as pf:
        ep = struct_layout(pf, "_EPROCESS")
        kp = struct_layout(pf, "_KPROCESS")
    need = ("ActiveProcessLinks", "UniqueProcessId", "ImageFileName")
    if ep is None or any(n not in ep.members for n in need):
        raise KernelTypesMissing(f"{pdb}: no _EPROCESS with {', '.join(need)} in its types")
    links, pid_off, name_off = (ep.members[n] for n in need)
    dtb_off: int | None = None
    if kp is not None and "Pcb" in ep.members and "DirectoryTableBase" in kp.members:
        dtb_off = ep.members["Pcb"] + kp.members["DirectoryTableBase"]
    mem = dump.memory
    head = dump.kernel_header.ps_active_process_head
    out: list[KernelProcess] = []
    seen = {head}
    try:
        entry = mem.read_pointer(head)
    except MemoryNotInDump as exc:
        dump.warnings.append(f"PsActiveProcessHead at 0x{head:x} unreadable: {exc}")
        return out
    while entry and entry not in seen and len(out) < MAX_PROCESSES:
        seen.add(entry)
        eproc = entry - links
        try:
            pid = mem.read_pointer(eproc + pid_off)
            raw = mem.read(eproc + name_off, 15)
            dtb = mem.read_u64(eproc + dtb_off) if dtb_off is not None else None
            out.append(KernelProcess(eproc, pid, raw.split(b"\0", 1)[0].decode("latin-1"), dtb))
            entry = mem.read_pointer(entry)
        except MemoryNotInDump as exc:
            dump.warnings.append(f"process list: EPROCESS 0x{eproc:x} unreadable: {exc}")
            break
    return out
