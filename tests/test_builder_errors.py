"""dumplib.builder refuses arguments it cannot write faithfully."""

from __future__ import annotations

import pytest

from dumplib.builder import DumpBuilder, NestedException, Sparse, build_large_dump


def test_overlapping_memory_is_refused() -> None:
    b = DumpBuilder("amd64")
    b.add_memory(0x1000, b"x" * 0x100)
    b.add_thread(1, context={"rsp": 0x10F0}, stack=b"y" * 0x20)
    with pytest.raises(ValueError, match="overlaps"):
        b.build()


def test_adjacent_memory_is_fine() -> None:
    b = DumpBuilder("amd64")
    b.add_memory(0x1000, b"x" * 0x100)
    b.add_memory(0x1100, b"y")
    assert [m.address for m in b.build().memory] == [0x1000, 0x1100]


@pytest.mark.parametrize("regs", [{"rip": 1 << 64}, {"eip": 1}, {"rax": -1}, {"xmm0": 1 << 128}])
def test_bad_registers(regs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        DumpBuilder("amd64").add_thread(1, context=regs)


def test_x86_registers_are_32_bit() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        DumpBuilder("x86").add_thread(1, context={"eip": 1 << 32})


def test_stack_needs_an_address() -> None:
    with pytest.raises(ValueError, match="stack_start"):
        DumpBuilder("amd64").add_thread(1, stack=b"abc")


def test_field_range_checks() -> None:
    b = DumpBuilder("amd64")
    with pytest.raises(ValueError):
        b.add_module("a", base=0, size=1 << 32)
    with pytest.raises(ValueError):
        b.add_module("a", base=0, size=1, version=(1 << 16, 0, 0, 0))
    with pytest.raises(ValueError):
        b.add_module("a", base=0, size=1, pdb70=("a.pdb", b"short", 1))
    with pytest.raises(ValueError):
        b.add_module("a", base=0, size=1, pdb70=("a.pdb", bytes(16), 1), pdb20=("a", 1, 1))
    with pytest.raises(ValueError):
        b.set_exception(1, 0xC0000005, 0, parameters=range(16))
    with pytest.raises(ValueError):
        b.add_handle_operation(1, back_trace=range(33))
    with pytest.raises(ValueError):
        DumpBuilder("amd64", number_of_processors=256)
    with pytest.raises(ValueError):
        DumpBuilder("amd64", vendor_id="Intel")
    with pytest.raises(ValueError):
        DumpBuilder("mips")  # type: ignore[arg-type]


def test_misc_info_level_conflicts() -> None:
    b = DumpBuilder("amd64")
    with pytest.raises(ValueError, match="level 4"):
        b.set_misc_info(level=2, build_string="x")
    with pytest.raises(ValueError, match="UTF-16"):
        b.set_misc_info(build_string="x" * 260)


def test_unknown_counter_names() -> None:
    b = DumpBuilder("amd64")
    with pytest.raises(ValueError, match="unknown"):
        b.set_system_memory_info(page_size=4096)
    with pytest.raises(ValueError, match="unknown"):
        b.set_process_vm_counters(virtual_size_typo=1)
    b1 = DumpBuilder("amd64", process_vm_counters_revision=1)
    with pytest.raises(ValueError, match="unknown"):
        b1.set_process_vm_counters(virtual_size=1)  # revision 2 only


def test_nested_needs_address() -> None:
    with pytest.raises(ValueError, match="nested_address"):
        DumpBuilder("amd64").set_exception(1, 1, 1, nested=[NestedException(1, 2)])


def test_object_info_needs_v2_descriptors() -> None:
    b = DumpBuilder("amd64", handle_descriptor_version=1)
    with pytest.raises(ValueError, match="version=2"):
        b.add_handle(4, object_info=[(1, b"x")])


def test_memory_list_cannot_hold_4gib_range() -> None:
    b = DumpBuilder("amd64")
    b.add_memory(0, Sparse(1 << 32))
    with pytest.raises(ValueError, match="full_memory"):
        b.build()


def test_sparse_patch_outside_run() -> None:
    with pytest.raises(ValueError):
        Sparse(16, {10: b"12345678"})
    with pytest.raises(ValueError):
        Sparse(-1)


def test_large_dump_arguments(tmp_path: object) -> None:
    with pytest.raises(ValueError):
        build_large_dump("/nonexistent/never-written.dmp", total_bytes=1 << 20, ranges=4000)
    with pytest.raises(ValueError):
        build_large_dump("/nonexistent/never-written.dmp", pattern=b"short")
