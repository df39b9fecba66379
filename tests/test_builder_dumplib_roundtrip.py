"""Build -> ``dumplib.open`` -> the same values, through the public API of API.md only.

The builder declares its layouts independently of ``dumplib.format``, so these
round trips compare two separate readings of Microsoft's documentation; the
expected values are the ones handed to the builder (or derived from them by
documented rules, e.g. a PDB70 identifier is the GUID's hex digits).
"""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dumplib
from dumplib.builder import REGISTERS, DumpBuilder, Sparse

_IP = {"amd64": "rip", "x86": "eip", "arm64": "pc"}
_SP = {"amd64": "rsp", "x86": "esp", "arm64": "sp"}
_text = st.text(st.characters(codec="utf-8", exclude_characters="\0\\/"), min_size=1,
                max_size=24)


def test_every_register_round_trips() -> None:
    for arch in ("amd64", "x86", "arm64"):
        regs = {}
        for i, (name, (_, size)) in enumerate(sorted(REGISTERS[arch].items())):
            regs[name] = (0x1111_1111_1111_1111 * (i % 15 + 1)) & ((1 << (8 * size)) - 1)
        b = DumpBuilder(arch)
        b.add_thread(1, context=regs)
        with dumplib.open(b.to_bytes()) as dump:
            ctx = dump.threads[0].context
            for name, value in regs.items():
                assert ctx[name] == value, (arch, name)


@st.composite
def _dump_spec(draw: st.DrawFn) -> dict[str, object]:
    arch = draw(st.sampled_from(["amd64", "x86", "arm64"]))
    ptr_bits = 32 if arch == "x86" else 64
    addr = st.integers(0, (1 << ptr_bits) - 1)
    threads = draw(st.lists(
        st.tuples(st.integers(0, 0xFFFF_FFFF), addr, st.one_of(st.none(), _text),
                  st.binary(min_size=0, max_size=64)),
        max_size=4, unique_by=lambda t: t[0]))
    modules = draw(st.lists(
        st.tuples(_text, st.integers(0, 1 << 47), st.integers(1, 0xFFFF_FFFF),
                  st.one_of(st.none(), st.tuples(*[st.integers(0, 0xFFFF)] * 4)),
                  st.one_of(st.none(), st.tuples(_text, st.uuids(), st.integers(0, 50)))),
        max_size=4))
    return {"arch": arch, "threads": threads, "modules": modules,
            "full": draw(st.booleans()), "pid": draw(st.integers(0, 0xFFFF_FFFF)),
            "comment": draw(st.one_of(st.none(), _text)),
            "code": draw(st.integers(0, 0xFFFF_FFFF)),
            "params": draw(st.lists(addr, max_size=15))}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=_dump_spec())
def test_build_open_same_values(spec: dict[str, object]) -> None:
    arch = spec["arch"]
    assert isinstance(arch, str)
    b = DumpBuilder(arch, full_memory=bool(spec["full"]), os_version=(6, 3, 9600))  # type: ignore[arg-type]
    threads = spec["threads"]
    assert isinstance(threads, list)
    stack_at = 0x10_0000
    expected_stacks = {}
    for tid, ip, name, stack in threads:
        regs = {_IP[arch]: ip, _SP[arch]: stack_at}
        b.add_thread(tid, context=regs, name=name, stack=stack or None, stack_start=stack_at)
        expected_stacks[tid] = (stack_at, stack) if stack else None
        stack_at += 0x1000
    modules = spec["modules"]
    assert isinstance(modules, list)
    for name, base, size, version, pdb in modules:
        b.add_module("C:\\m\\" + name, base=base, size=size, version=version, pdb70=pdb)
    b.add_memory(0x7000_0000, Sparse(0x2000, {0x1FF0: b"0123456789abcdef"}))
    b.set_misc_info(process_id=spec["pid"])  # type: ignore[arg-type]
    if spec["comment"] is not None:
        b.add_comment(str(spec["comment"]))
    first_tid = threads[0][0] if threads else 0
    b.set_exception(first_tid, spec["code"], 0x1234, parameters=spec["params"])  # type: ignore[arg-type]

    with dumplib.open(b.to_bytes()) as dump:
        assert dump.system.arch == arch
        assert tuple(dump.system.os_version) == (6, 3, 9600)
        assert dump.process_id == spec["pid"]
        assert [t.id for t in dump.threads] == [t[0] for t in threads]
        for t, (tid, ip, name, _stack) in zip(dump.threads, threads, strict=True):
            assert t.name == name
            assert t.context.ip == ip
            expected = expected_stacks[tid]
            if expected is None:
                assert t.stack_range is None
            else:
                assert t.stack_range == (expected[0], len(expected[1]))
                assert dump.memory.read(expected[0], len(expected[1])) == expected[1]
                assert t.context.sp == expected[0]
        assert len(dump.modules) == len(modules)
        for m, (name, base, size, version, pdb) in zip(dump.modules, modules, strict=True):
            assert (m.name, m.path) == (name, "C:\\m\\" + name)
            assert (m.base, m.size, m.end) == (base, size, base + size)
            assert m.version == version
            if pdb is None:
                assert m.pdb is None
            else:
                assert m.pdb == (pdb[0], pdb[1].hex.upper(), pdb[2])
        e = dump.exception
        assert e is not None
        assert (e.thread_id, e.code, e.address) == (first_tid, spec["code"], 0x1234)
        assert tuple(e.parameters) == tuple(spec["params"])  # type: ignore[arg-type]
        assert dump.memory.read(0x7000_1FF0, 16) == b"0123456789abcdef"
        needle = b"0123456789abcdef"
        planted = [0x7000_1FF0]
        for start_data in expected_stacks.values():  # hypothesis may put the needle in a stack
            if start_data is not None:
                at = start_data[1].find(needle)
                while at >= 0:
                    planted.append(start_data[0] + at)
                    at = start_data[1].find(needle, at + 1)
        assert list(dump.memory.find(needle)) == sorted(planted)
        comments = [] if spec["comment"] is None else [spec["comment"]]
        assert dump.comments == comments


def test_pdb_identifiers() -> None:
    guid = uuid.UUID("0c6ab5e1-2a3b-4c5d-8e9f-a0b1c2d3e4f5")
    b = DumpBuilder("amd64")
    b.add_module("C:\\a.dll", base=0x1000_0000, size=0x1000, pdb70=("a.pdb", guid, 7))
    with dumplib.open(b.to_bytes()) as dump:
        assert dump.modules[0].pdb == ("a.pdb", "0C6AB5E12A3B4C5D8E9FA0B1C2D3E4F5", 7)
