"""Multi-GB sparse dumps from dumplib.builder: fast to write, small on disk, readable by skelsec."""

from __future__ import annotations

import os
import struct
from pathlib import Path

from minidump.minidumpfile import MinidumpFile

from dumplib.builder import DumpBuilder, Sparse, build_large_dump


def test_large_dump_is_sparse_and_readable(tmp_path: Path) -> None:
    path = tmp_path / "big.dmp"
    info = build_large_dump(path, total_bytes=3 << 30, threads=50, ranges=1000, modules=4,
                            pattern_count=40)
    st = os.stat(path)
    assert st.st_size == info.size > 3 << 30
    assert st.st_blocks * 512 < 64 << 20  # holes: only stacks, headers and patches use disk
    assert info.memory_bytes == 3 << 30
    assert len(info.ranges) == 1000 and len(info.thread_ids) == 50
    assert len(set(info.pattern_addresses)) == 40

    m = MinidumpFile.parse(str(path))
    try:
        segs = m.memory_segments_64.memory_segments
        assert [(s.start_virtual_address, s.size) for s in segs] == list(info.ranges)
        reader = m.get_reader()
        for address in info.pattern_addresses:
            assert reader.read(address, 16) == info.pattern
        assert [t.ThreadId for t in m.threads.threads] == list(info.thread_ids)
        for t in m.threads.threads:
            start, size = info.stacks[t.ThreadId]
            assert (t.Stack.StartOfMemoryRange, t.Stack.DataSize) == (start, size)
            regs = info.contexts[t.ThreadId]
            assert (t.ContextObject.Rip, t.ContextObject.Rsp, t.ContextObject.Rbp) == (
                regs["rip"], regs["rsp"], regs["rbp"])
        # Walk one thread's frame-pointer chain: each return address follows a CALL rel32.
        tid = info.thread_ids[7]
        rbp = info.contexts[tid]["rbp"]
        start, size = info.stacks[tid]
        steps = 0
        while rbp:
            assert start <= rbp < start + size
            next_rbp, ret = struct.unpack("<QQ", reader.read(rbp, 16))
            assert ret in info.return_addresses
            assert reader.read(ret - 5, 1) == b"\xe8"
            rbp, steps = next_rbp, steps + 1
        assert steps == size // 0x60
        (exc,) = m.exception.exception_records
        assert exc.ThreadId == info.exception_thread_id
        assert [x.name for x in m.modules.modules] == [p for p, _, _ in info.modules]
        assert m.misc_info.ProcessId == 4242
    finally:
        m.file_handle.close()


def test_memory_beyond_4gib_of_file(tmp_path: Path) -> None:
    # 5 GiB of captured memory before the stack: the stack's file offset does not fit a
    # 32-bit RVA, so its descriptor says Rva 0 and readers find it by address.
    b = DumpBuilder("amd64", full_memory=True)
    b.add_memory(0x1000_0000, Sparse(5 << 30, {(5 << 30) - 8: b"lastword"}))
    b.add_thread(9, context={"rsp": 0x7_0000_0000, "rip": 0x1234}, stack=b"\x5A" * 0x1000)
    path = tmp_path / "huge.dmp"
    built = b.write(path)
    assert os.stat(path).st_size == built.size > 5 << 30
    stack = next(p for p in built.memory if p.address == 0x7_0000_0000)
    assert stack.rva > 1 << 32
    m = MinidumpFile.parse(str(path))
    try:
        (t,) = m.threads.threads
        assert (t.Stack.StartOfMemoryRange, t.Stack.DataSize, t.Stack.Rva) == (
            0x7_0000_0000, 0x1000, 0)
        reader = m.get_reader()
        assert reader.read(0x7_0000_0000, 4) == b"\x5A" * 4
        assert reader.read(0x1000_0000 + (5 << 30) - 8, 8) == b"lastword"
    finally:
        m.file_handle.close()


def test_small_total_keeps_the_shape(tmp_path: Path) -> None:
    # Benchmarks grow the same process from 20 MiB to 2 GiB: 200 threads, 4,000 ranges.
    info = build_large_dump(tmp_path / "small.dmp", total_bytes=20 << 20)
    assert info.memory_bytes == 20 << 20
    assert len(info.ranges) == 4000 and len(info.thread_ids) == 200
    starts = [a for a, _ in info.ranges]
    assert all(a + s <= b for (a, s), b in zip(info.ranges, starts[1:], strict=False))
    m = MinidumpFile.parse(str(info.path))
    try:
        reader = m.get_reader()
        assert all(reader.read(a, 16) == info.pattern for a in info.pattern_addresses)
    finally:
        m.file_handle.close()
