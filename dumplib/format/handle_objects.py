"""Decoding MINIDUMP_HANDLE_OBJECT_INFORMATION blobs (HandleDataStream, descriptor v2).

dbghelp attaches typed blobs to some handles (``MINIDUMP_HANDLE_OBJECT_INFORMATION_TYPE``).
Their contents are the NT information classes dbghelp queried:

* ``MiniThreadInformation1`` (1): THREAD_BASIC_INFORMATION -- ExitStatus,
  TebBaseAddress, ClientId (UniqueProcess, UniqueThread), AffinityMask,
  Priority, BasePriority: it maps a thread handle to its thread id;
* ``MiniMutantInformation1`` (2): MUTANT_BASIC_INFORMATION -- CurrentCount,
  OwnedByCaller, AbandonedState;
* ``MiniMutantInformation2`` (3): MUTANT_OWNER_INFORMATION -- the owner's
  ClientId (UniqueProcess, UniqueThread);
* ``MiniProcessInformation1`` (4): PROCESS_BASIC_INFORMATION -- ExitStatus,
  PebBaseAddress, AffinityMask, BasePriority, UniqueProcessId,
  InheritedFromUniqueProcessId.

Pointer-sized fields are 8 bytes in 64-bit dumps and 4 in 32-bit ones; the
blob's size tells which (Microsoft documents that the layout varies by
operating system and architecture, so an unexpected size decodes to None).
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from dumplib.format.records import HandleObjectInfo

__all__ = [
    "HandleObjectInfoType",
    "MutantInfo",
    "MutantOwner",
    "ProcessObjectInfo",
    "ThreadObjectInfo",
    "decode_object_info",
]


class HandleObjectInfoType(enum.IntEnum):
    """MINIDUMP_HANDLE_OBJECT_INFORMATION_TYPE."""

    NONE = 0
    THREAD_1 = 1
    MUTANT_1 = 2
    MUTANT_2 = 3
    PROCESS_1 = 4
    PROCESS_2 = 5
    EVENT_1 = 6
    SECTION_1 = 7
    SEMAPHORE_1 = 8


@dataclass(frozen=True, slots=True)
class ThreadObjectInfo:
    """THREAD_BASIC_INFORMATION of a thread handle."""

    exit_status: int
    teb: int
    process_id: int
    thread_id: int
    affinity: int
    priority: int
    base_priority: int


@dataclass(frozen=True, slots=True)
class MutantInfo:
    """MUTANT_BASIC_INFORMATION: ``current_count`` <= 0 means some thread owns it."""

    current_count: int
    owned_by_caller: bool
    abandoned: bool


@dataclass(frozen=True, slots=True)
class MutantOwner:
    """MUTANT_OWNER_INFORMATION: the owning thread (0, 0 when unowned)."""

    process_id: int
    thread_id: int


@dataclass(frozen=True, slots=True)
class ProcessObjectInfo:
    """PROCESS_BASIC_INFORMATION of a process handle."""

    exit_status: int
    peb: int
    affinity: int
    base_priority: int
    process_id: int
    parent_process_id: int


# THREAD_BASIC_INFORMATION: NTSTATUS (padded to pointer alignment), 4 pointers, 2 LONGs.
_THREAD = {48: struct.Struct("<I4xQQQQii"), 28: struct.Struct("<IIIIIii")}
_MUTANT_1 = struct.Struct("<iBB")
_MUTANT_2 = {16: struct.Struct("<QQ"), 8: struct.Struct("<II")}
_PROCESS = {48: struct.Struct("<I4xQQqQQ"), 24: struct.Struct("<IIIiII")}

ObjectInfo = ThreadObjectInfo | MutantInfo | MutantOwner | ProcessObjectInfo


def decode_object_info(info: HandleObjectInfo) -> ObjectInfo | None:
    """Decode one object-information blob, or None for types and sizes not understood."""
    data = info.data
    if info.info_type == HandleObjectInfoType.THREAD_1:
        shape = _THREAD.get(len(data))
        if shape is None:
            return None
        status, teb, pid, tid, affinity, prio, base = shape.unpack(data)
        return ThreadObjectInfo(status, teb, pid, tid, affinity, prio, base)
    if info.info_type == HandleObjectInfoType.MUTANT_1 and len(data) >= _MUTANT_1.size:
        count, owned, abandoned = _MUTANT_1.unpack_from(data)
        return MutantInfo(count, bool(owned), bool(abandoned))
    if info.info_type == HandleObjectInfoType.MUTANT_2:
        shape2 = _MUTANT_2.get(len(data))
        if shape2 is None:
            return None
        pid, tid = shape2.unpack(data)
        return MutantOwner(pid, tid)
    if info.info_type == HandleObjectInfoType.PROCESS_1:
        shape3 = _PROCESS.get(len(data))
        if shape3 is None:
            return None
        status, peb, affinity, base, pid, parent = shape3.unpack(data)
        return ProcessObjectInfo(status, peb, affinity, base, pid, parent)
    return None
