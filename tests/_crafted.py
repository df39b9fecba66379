"""Hostile but valid inputs for the linear-in-the-input tests and fuzz targets (issue 14).

Each builder starts from a dump made by :class:`dumplib.builder.DumpBuilder`
and then reshapes it the way an attacker would, at the byte offsets of
Microsoft's ``minidumpapiset.h`` (MINIDUMP_HEADER, MINIDUMP_DIRECTORY,
MINIDUMP_THREAD: 48 bytes) -- shapes the builder itself refuses to make.
"""

from __future__ import annotations

import struct

from dumplib.builder import REGISTERS, DumpBuilder

__all__ = ["MODULE_BASE", "STACK_BASE", "aliased_stack_dump"]

MODULE_BASE = 0x1000_0000
STACK_BASE = 0x20_0000
_THREAD_LIST = 3
_THREAD = struct.Struct("<IIIIQQIIII")  # MINIDUMP_THREAD, 48 bytes


def _directory(data: bytes) -> tuple[int, int]:
    count, rva = struct.unpack_from("<II", data, 8)
    return count, rva


def aliased_stack_dump(threads: int, *, stack_words: int = 8192, distinct: int = 1,
                       outside: bool = False) -> bytes:
    """A dump whose ``threads`` threads all point at one captured stack.

    The stack holds ``stack_words`` distinct addresses inside a module whose
    code is not in the dump (so each counts as a return address by scanning):
    one walk finds about one frame per word.

    Args:
        threads: entries of the thread list (48 bytes each, sharing stack and context).
        stack_words: 8-byte words of the shared stack.
        distinct: how many different CONTEXT records the threads cycle through
            (each with its rsp a little further up the stack), so that some
            walks differ; 1 makes every thread identical.
        outside: put every rsp outside the stack, forcing the recovery scan.
    """
    b = DumpBuilder("amd64", time_date_stamp=0x6000_0000)
    b.add_module(r"C:\crafted\alias.dll", base=MODULE_BASE, size=0x100_0000,
                 time_date_stamp=0x6000_0000)
    words = [MODULE_BASE + 0x1000 + 16 * i for i in range(stack_words)]
    stack = struct.pack(f"<{stack_words}Q", *words)
    b.add_thread(1, context={"rip": MODULE_BASE + 0x10, "rsp": STACK_BASE}, stack=stack,
                 stack_start=STACK_BASE)
    data = bytearray(b.to_bytes())
    count, dir_rva = _directory(data)
    for i in range(count):
        stype, _size, rva = struct.unpack_from("<III", data, dir_rva + 12 * i)
        if stype == _THREAD_LIST:
            entry_at = dir_rva + 12 * i
            first = _THREAD.unpack_from(data, rva + 4)
            break
    else:  # pragma: no cover - the builder always writes a thread list
        raise AssertionError("no thread list")
    ctx_size, ctx_rva = first[8], first[9]
    context = bytes(data[ctx_rva:ctx_rva + ctx_size])
    rsp_at = REGISTERS["amd64"]["rsp"][0]
    contexts = []
    for k in range(distinct):
        ctx = bytearray(context)
        sp = 0x1000 + 8 * k if outside else STACK_BASE + 8 * (k % stack_words)
        struct.pack_into("<Q", ctx, rsp_at, sp)
        contexts.append(len(data))
        data += ctx
    table = bytearray(struct.pack("<I", threads))
    for t in range(threads):
        fields = list(first)
        fields[0] = 0x100 + t
        fields[9] = contexts[t % distinct]
        table += _THREAD.pack(*fields)
    struct.pack_into("<III", data, entry_at, _THREAD_LIST, len(table), len(data))
    data += table
    return bytes(data)
