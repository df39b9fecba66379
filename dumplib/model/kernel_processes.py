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

__all__ = ["KernelProcess", "KernelThread", "KernelTypesMissing", "list_processes"]

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
    threads: tuple[KernelThread, ...] = ()


@dataclass(frozen=True, slots=True)
class KernelThread:
    """One thread of a process (an ETHREAD on its process's ThreadListHead).

    Attributes:
        address: the ETHREAD; pid, tid: its Cid.
        state: KTHREAD.State (2 running, 5 waiting, ...), when the PDB describes it.
        kernel_stack: KTHREAD.KernelStack (the saved stack pointer of a thread not
            running), and stack_base/stack_limit the bounds, when described.
    """

    address: int
    pid: int
    tid: int
    state: int | None
    kernel_stack: int | None
    stack_base: int | None
    stack_limit: int | None


class _Offsets:
    """Member offsets of _EPROCESS/_ETHREAD/_KTHREAD/_CLIENT_ID from one PDB."""

    def __init__(self, pdb: str | os.PathLike[str]) -> None:
        from dumplib.pdb.pdbfile import PdbFile
        from dumplib.pdb.types import struct_layout

        with PdbFile.open(os.fspath(pdb)) as pf:
            self.ep = struct_layout(pf, "_EPROCESS")
            self.kp = struct_layout(pf, "_KPROCESS")
            self.et = struct_layout(pf, "_ETHREAD")
            self.kt = struct_layout(pf, "_KTHREAD")
            self.cid = struct_layout(pf, "_CLIENT_ID")

    def thread_fields(self) -> dict[str, int] | None:
        et, kt, cid = self.et, self.kt, self.cid
        if et is None or cid is None or "Cid" not in et.members or "ThreadListEntry" not in (
            et.members
        ) or "UniqueThread" not in cid.members:
            return None
        out = {"entry": et.members["ThreadListEntry"],
               "tid": et.members["Cid"] + cid.members["UniqueThread"]}
        tcb = et.members.get("Tcb", 0)
        if kt is not None:
            for name in ("State", "KernelStack", "StackBase", "StackLimit"):
                if name in kt.members:
                    out[name] = tcb + kt.members[name]
        return out


def _threads(dump: KernelDumpFile, eproc: int, pid: int, head_off: int,
             f: dict[str, int]) -> tuple[KernelThread, ...]:
    mem = dump.memory
    head = eproc + head_off
    out: list[KernelThread] = []
    seen = {head}
    try:
        entry = mem.read_pointer(head)
        while entry and entry not in seen and len(out) < MAX_PROCESSES:
            seen.add(entry)
            eth = entry - f["entry"]
            tid = mem.read_pointer(eth + f["tid"])
            state = mem.read_u8(eth + f["State"]) if "State" in f else None
            stacks = [mem.read_pointer(eth + f[n]) if n in f else None
                      for n in ("KernelStack", "StackBase", "StackLimit")]
            out.append(KernelThread(eth, pid, tid, state, stacks[0], stacks[1], stacks[2]))
            entry = mem.read_pointer(entry)
    except MemoryNotInDump as exc:
        dump.warnings.append(f"thread list of process {pid}: {exc}")
    return tuple(out)


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
    offsets = _Offsets(pdb)
    ep, kp = offsets.ep, offsets.kp
    tf = offsets.thread_fields()
    thread_head = ep.members.get("ThreadListHead") if ep is not None else None
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
            threads: tuple[KernelThread, ...] = ()
            if tf is not None and thread_head is not None:
                threads = _threads(dump, eproc, pid, thread_head, tf)
            name = raw.split(b"\0", 1)[0].decode("latin-1")
            out.append(KernelProcess(eproc, pid, name, dtb, threads))
            entry = mem.read_pointer(entry)
        except MemoryNotInDump as exc:
            dump.warnings.append(f"process list: EPROCESS 0x{eproc:x} unreadable: {exc}")
            break
    return out
