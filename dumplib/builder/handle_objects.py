"""Encoders for MINIDUMP_HANDLE_OBJECT_INFORMATION blobs, for ``DumpBuilder.add_handle``.

Each returns an ``(InfoType, data)`` pair for ``object_info=``; the layouts
are the NT information classes dbghelp stores (see
:mod:`dumplib.format.handle_objects`). ``pointer_size`` is 8 for 64-bit
dumps and 4 for 32-bit ones.
"""

from __future__ import annotations

import struct

__all__ = ["mutant_basic_info", "mutant_owner_info", "thread_object_info"]


def thread_object_info(
    thread_id: int, process_id: int = 0, *, teb: int = 0, exit_status: int = 0x103,
    affinity: int = 1, priority: int = 8, base_priority: int = 0, pointer_size: int = 8,
) -> tuple[int, bytes]:
    """MiniThreadInformation1 (THREAD_BASIC_INFORMATION) of a thread handle."""
    if pointer_size == 8:
        data = struct.pack("<I4xQQQQii", exit_status, teb, process_id, thread_id, affinity,
                           priority, base_priority)
    else:
        data = struct.pack("<IIIIIii", exit_status, teb, process_id, thread_id, affinity,
                           priority, base_priority)
    return 1, data


def mutant_basic_info(current_count: int, owned_by_caller: bool = False,
                      abandoned: bool = False) -> tuple[int, bytes]:
    """MiniMutantInformation1 (MUTANT_BASIC_INFORMATION)."""
    return 2, struct.pack("<iBB2x", current_count, owned_by_caller, abandoned)


def mutant_owner_info(thread_id: int, process_id: int = 0, *,
                      pointer_size: int = 8) -> tuple[int, bytes]:
    """MiniMutantInformation2 (MUTANT_OWNER_INFORMATION): the owner's ClientId."""
    fmt = "<QQ" if pointer_size == 8 else "<II"
    return 3, struct.pack(fmt, process_id, thread_id)
