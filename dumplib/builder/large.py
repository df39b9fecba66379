"""Multi-GB, sparse, full-memory AMD64 dumps for benchmarks, made in seconds.

:func:`build_large_dump` writes a dump that looks like a busy server process
captured with ``procdump -ma``: many threads with plausible contexts and real
stack bytes (frame-pointer chains whose return addresses follow a CALL
instruction planted in the module images), a few modules with PE headers and
CodeView records, and thousands of heap ranges that are mostly zero (written
as file holes) with a 16-byte pattern planted at known addresses. It returns a
:class:`LargeDump` saying what it put where, so benchmarks can check results.
"""

from __future__ import annotations

import os
import random
import struct
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from dumplib.builder._output import Sparse
from dumplib.builder.builder import DumpBuilder
from dumplib.builder.records import BuiltDump

__all__ = ["LargeDump", "build_large_dump"]

_PAGE = 0x1000
_HEAP_BASE = 0x0000_0000_1000_0000
_STACK_BASE = 0x0000_00A0_0000_0000
_STACK_RESERVE = 0x10_0000
_TEB_BASE = 0x0000_00F0_0000_0000
_MODULE_BASE = 0x0000_7FF8_0000_0000
_MODULE_STRIDE = 0x1000_0000
_FRAME = 0x60
_CALL_SITES_PER_MODULE = 16
_Q = struct.Struct("<Q")


@dataclass(frozen=True)
class LargeDump:
    """What :func:`build_large_dump` wrote.

    Attributes:
        path: the dump file.
        size: file size in bytes.
        memory_bytes: total bytes of captured memory.
        thread_ids: every thread id, in thread-list order.
        stacks: thread id -> (start address, size) of its captured stack.
        contexts: thread id -> the registers given for it (rip, rsp, rbp, ...).
        ranges: every captured memory range as (address, size), sorted.
        modules: (path, base, size) of each module.
        return_addresses: the code addresses that follow a planted CALL (rel32);
            every return address in a stack frame is one of them.
        pattern: the planted 16-byte pattern.
        pattern_addresses: where it was planted, sorted.
        exception_thread_id: the thread the ExceptionStream names.
        built: the builder's map of streams and memory placements.
    """

    path: str
    size: int
    memory_bytes: int
    thread_ids: tuple[int, ...]
    stacks: Mapping[int, tuple[int, int]]
    contexts: Mapping[int, Mapping[str, int]]
    ranges: tuple[tuple[int, int], ...]
    modules: tuple[tuple[str, int, int], ...]
    return_addresses: tuple[int, ...]
    pattern: bytes
    pattern_addresses: tuple[int, ...]
    exception_thread_id: int
    built: BuiltDump


def _module_image(base: int, size: int, index: int) -> tuple[Sparse, list[int]]:
    """A sparse image with an MZ/PE header and CALL rel32 sites; returns it and return addresses."""
    patches: dict[int, bytes] = {}
    dos = bytearray(0x40)
    dos[0:2] = b"MZ"
    dos[0x3C:0x40] = struct.pack("<I", 0x80)
    patches[0] = bytes(dos)
    # IMAGE_NT_HEADERS64 signature and IMAGE_FILE_HEADER (Machine AMD64, 0 sections).
    patches[0x80] = b"PE\0\0" + struct.pack("<HHIIIHH", 0x8664, 0, 0x5F000000 + index, 0, 0,
                                            0xF0, 0x2022)
    returns: list[int] = []
    text = 0x1000
    for j in range(_CALL_SITES_PER_MODULE):
        site = text + j * 0x40
        target = text + ((j + 1) % _CALL_SITES_PER_MODULE) * 0x40
        rel = (target - (site + 5)) & 0xFFFFFFFF
        # push rbp; mov rbp, rsp; call rel32; (the return address is right after the call)
        patches[site - 4] = b"\x55\x48\x89\xe5" + b"\xe8" + struct.pack("<I", rel)
        returns.append(base + site + 5)
    return Sparse(size, patches), returns


def _stack_bytes(rng: random.Random, start: int, size: int,
                 returns: list[int]) -> tuple[bytes, int]:
    """Stack contents with a frame-pointer chain; returns the bytes and the first frame's rbp."""
    buf = bytearray(rng.randbytes(size))
    frames = size // _FRAME
    first_rbp = start + _FRAME - 0x10
    for k in range(frames):
        slot = k * _FRAME + _FRAME - 0x10  # saved rbp, then the return address
        next_rbp = start + (k + 1) * _FRAME + _FRAME - 0x10 if k + 1 < frames else 0
        _Q.pack_into(buf, slot, next_rbp)
        _Q.pack_into(buf, slot + 8, returns[rng.randrange(len(returns))])
    return bytes(buf), first_rbp


def build_large_dump(
    path: str | os.PathLike[str],
    *,
    total_bytes: int = 2 << 30,
    threads: int = 200,
    ranges: int = 4000,
    modules: int = 8,
    stack_size: int = 0x4000,
    module_size: int | None = None,
    pattern: bytes = b"dumplib!needle16",
    pattern_count: int = 64,
    memory_info: bool = True,
    seed: int = 0,
) -> LargeDump:
    """Write a sparse full-memory AMD64 dump of about ``total_bytes`` of captured memory.

    Args:
        path: where to write it.
        total_bytes: captured memory in bytes (rounded down to whole pages).
        threads: number of threads; each has a real ``stack_size`` stack.
        ranges: total memory ranges: one stack per thread, one image per module,
            the rest heap ranges that share what is left of ``total_bytes``.
        modules: number of modules.
        stack_size: bytes of captured stack per thread (a multiple of 0x60 works best).
        module_size: SizeOfImage of each module; by default 2 MiB, less for small totals
            (a sixteenth of ``total_bytes`` shared by the modules, at least 64 KiB).
        pattern: the 16-byte pattern to plant in heap ranges.
        pattern_count: how many times to plant it (spread across the heap ranges).
        memory_info: also write a MemoryInfoList entry per range.
        seed: seed for the stack contents and register values.

    Returns:
        A :class:`LargeDump` describing the file.

    Raises:
        ValueError: the counts and sizes do not fit together.
    """
    if len(pattern) != 16:
        raise ValueError("pattern must be 16 bytes")
    total_bytes = total_bytes // _PAGE * _PAGE
    if module_size is None:
        module_size = max(0x1_0000, min(0x20_0000, total_bytes // 16 // max(modules, 1)))
        module_size = module_size // _PAGE * _PAGE
    heap_count = ranges - threads - modules
    if threads < 1 or modules < 1 or heap_count < 1:
        raise ValueError("need at least one thread, one module and one heap range")
    if stack_size % 8 or not _FRAME <= stack_size <= _STACK_RESERVE:
        raise ValueError("stack_size must be a multiple of 8 between 0x60 and 1 MiB")
    heap_total = total_bytes - threads * stack_size - modules * module_size
    per_heap = heap_total // heap_count // _PAGE * _PAGE
    if per_heap < _PAGE:
        raise ValueError("total_bytes is too small for that many ranges")
    if pattern_count > heap_count * (per_heap // _PAGE):
        raise ValueError("too many pattern copies for the heap pages")
    rng = random.Random(seed)
    b = DumpBuilder("amd64", full_memory=True, time_date_stamp=0x5F5E1000,
                    os_version=(10, 0, 17763), product_type=3, number_of_processors=16,
                    processor_level=6, processor_revision=0x5504)
    all_ranges: list[tuple[int, int]] = []

    module_list: list[tuple[str, int, int]] = []
    returns: list[int] = []
    for i in range(modules):
        base = _MODULE_BASE + i * _MODULE_STRIDE
        name = "app.exe" if i == 0 else f"lib{i:02d}.dll"
        module_path = f"C:\\Program Files\\App\\{name}"
        image, rets = _module_image(base, module_size, i)
        returns += rets
        b.add_memory(base, image)
        b.add_module(module_path, base=base, size=module_size, time_date_stamp=0x5F000000 + i,
                     checksum=0x10000 + i, version=(1, 0, i, 0),
                     pdb70=(name.rsplit(".", 1)[0] + ".pdb", uuid.UUID(int=0xD0D0 + i), 1))
        module_list.append((module_path, base, module_size))
        all_ranges.append((base, module_size))

    heap_sizes = [per_heap] * heap_count
    heap_sizes[-1] = heap_total // _PAGE * _PAGE - per_heap * (heap_count - 1)
    pages_per_heap = per_heap // _PAGE
    planted: dict[int, dict[int, bytes]] = {}
    pattern_addresses: list[int] = []
    heap_addresses: list[int] = []
    cursor = _HEAP_BASE
    for size in heap_sizes:
        heap_addresses.append(cursor)
        cursor = (cursor + size + 0x1_0000 + 0xFFFF) // 0x1_0000 * 0x1_0000
    for k in range(pattern_count):
        index = k * heap_count // pattern_count
        page = (k * 7919) % pages_per_heap
        slots = planted.setdefault(index, {})
        while page * _PAGE + 0x123 in slots:
            page = (page + 1) % pages_per_heap
        offset = page * _PAGE + 0x123
        slots[offset] = pattern
        pattern_addresses.append(heap_addresses[index] + offset)
    for index, (address, size) in enumerate(zip(heap_addresses, heap_sizes, strict=True)):
        b.add_memory(address, Sparse(size, planted.get(index, {})))
        all_ranges.append((address, size))

    thread_ids: list[int] = []
    stacks: dict[int, tuple[int, int]] = {}
    contexts: dict[int, dict[str, int]] = {}
    for i in range(threads):
        tid = 0x1000 + 4 * i
        top = _STACK_BASE + (i + 1) * _STACK_RESERVE
        start = top - stack_size
        data, rbp = _stack_bytes(rng, start, stack_size, returns)
        regs = {
            "rip": rng.choice(returns) + 0x10, "rsp": start, "rbp": rbp,
            "rax": rng.getrandbits(64), "rbx": rng.getrandbits(32), "rcx": rng.getrandbits(48),
            "rdx": rng.getrandbits(16), "rsi": start + 0x100, "rdi": _HEAP_BASE,
            "r8": rng.getrandbits(64), "r12": rng.getrandbits(64),
            "seg_cs": 0x33, "seg_ds": 0x2B, "seg_es": 0x2B, "seg_fs": 0x53, "seg_gs": 0x2B,
            "seg_ss": 0x2B, "eflags": 0x246, "mx_csr": 0x1F80,
        }
        b.add_thread(tid, context=regs, stack=data, stack_start=start,
                     teb=_TEB_BASE + i * 0x2000, priority=rng.choice((0, 0, 1, -2 & 0xFFFFFFFF)),
                     name=f"worker-{i}" if i else "main")
        b.add_thread_info(tid, create_time=132_000_000_000_000_000 + i, start_address=returns[0])
        thread_ids.append(tid)
        stacks[tid] = (start, stack_size)
        contexts[tid] = regs
        all_ranges.append((start, stack_size))

    all_ranges.sort()
    if memory_info:
        for address, size in all_ranges:
            is_image = address >= _MODULE_BASE
            b.add_memory_info(address, size, protect=0x20 if is_image else 0x04,
                              type=0x1000000 if is_image else 0x20000)
    crash_tid = thread_ids[0]
    b.set_exception(crash_tid, 0xC0000005, contexts[crash_tid]["rip"], parameters=(0, 0x10))
    b.set_misc_info(process_id=4242, process_create_time=0x5F5E0000, process_user_time=12,
                    process_kernel_time=3)
    b.add_comment("dumplib.builder.build_large_dump")
    built = b.write(path)
    return LargeDump(
        path=os.fspath(path), size=built.size, memory_bytes=sum(s for _, s in all_ranges),
        thread_ids=tuple(thread_ids), stacks=stacks, contexts=contexts,
        ranges=tuple(all_ranges), modules=tuple(module_list), return_addresses=tuple(returns),
        pattern=pattern, pattern_addresses=tuple(sorted(pattern_addresses)),
        exception_thread_id=crash_tid, built=built,
    )
