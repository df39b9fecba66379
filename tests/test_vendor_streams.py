"""Breakpad, crashpad and Mozilla vendor streams, and module identity on every platform.

Expected values: rust-minidump's own tests (``minidump/tests/test_minidump.rs``
asserts the BreakpadInfo thread ids of test.dmp and the CrashpadInfo ids and
annotations of simple-crashpad.dmp) and its minidump-stackwalk snapshots
(pid, lsb_release, linux_memory_map_count, soft_errors, module code and debug
ids, the dump-writer thread's empty frame list); module names and bases are
read a second time with the skelsec ``minidump`` package. Builder-made dumps
check the ``/proc`` text parsers on what the kernel documents.
"""

from __future__ import annotations

import logging
import shutil
import struct
from pathlib import Path

import pytest

import dumplib
from dumplib.builder import DumpBuilder
from dumplib.unwind.frames import StackStatus
from tests.test_os_crash import RUST, snapshot


def test_linux_streams_match_minidump_stackwalk() -> None:
    expected = snapshot("linux_json_pretty")
    with dumplib.open(RUST / "linux-mini.dmp") as d:
        assert d.process_id == expected["pid"] == 1304
        lsb = d.vendor.lsb_release
        assert lsb is not None
        assert {"codename": lsb.codename, "description": lsb.description, "id": lsb.id,
                "release": lsb.release} == expected["lsb_release"]
        assert d.vendor.maps is not None
        assert len(d.vendor.maps) == expected["linux_memory_map_count"]
        assert d.vendor.soft_errors == expected["soft_errors"]
        status = d.vendor.proc_status
        assert status is not None and status.pid == 1304 and status.name == "crash"
        assert d.vendor.cmdline == ["./crash"]
        # the executable's mapping in /proc/PID/maps is where the module list puts it
        crash = next(m for m in d.vendor.maps if m.path and m.path.endswith("/crash"))
        assert crash.start == d.modules[0].base and crash.executable
        auxv = {e.name: e.value for e in d.vendor.auxv or ()}
        assert auxv["AT_PAGESZ"] == 4096
        # AT_SYSINFO_EHDR is the vDSO, which the module list calls linux-gate.so
        vdso = next(m for m in d.modules if m.name == "linux-gate.so")
        assert auxv["AT_SYSINFO_EHDR"] == vdso.base
        dso = d.vendor.dso_debug
        assert dso is not None and len(dso.entries) == 8
        names = {e.name for e in dso.entries}
        assert "/lib/x86_64-linux-gnu/libc.so.6" in names
        assert d.vendor.cpu_info is not None and len(d.vendor.cpu_info) == 4  # cpu_count 4
        assert d.warnings == []


@pytest.mark.parametrize("name", ["linux-mini.dmp", "simple-crashpad.dmp",
                                  "pipeline-inlines-macos-segv.dmp"])
def test_modules_agree_with_skelsec_minidump(name: str) -> None:
    mf = pytest.importorskip("minidump.minidumpfile")
    logging.getLogger().setLevel(logging.CRITICAL)
    theirs = mf.MinidumpFile.parse(str(RUST / name))
    with dumplib.open(RUST / name) as d:
        assert [(m.path, m.base) for m in d.modules] == [
            (m.name, m.baseaddress) for m in theirs.modules.modules]


def test_breakpad_info_and_dump_writer_thread() -> None:
    expected = snapshot("json-pretty")
    with dumplib.open(RUST / "test.dmp") as d:
        info = d.vendor.breakpad_info
        assert info is not None
        assert (info.dump_thread_id, info.requesting_thread_id) == (0x11C0, 0xBF4)
        writer = d.stack(0x11C0)
        assert writer.status is StackStatus.DUMP_WRITER and writer.frames == ()
        mine = {t["thread_id"]: t["frame_count"] for t in expected["threads"]}
        assert mine[0x11C0] == 0
        assert len(d.stack(0xBF4).frames) == mine[0xBF4]


def test_crashpad_info() -> None:
    with dumplib.open(RUST / "simple-crashpad.dmp") as d:
        info = d.vendor.crashpad_info
        assert info is not None
        assert info.report_id == "42f9de72-518a-43dd-97d7-8ddc328d3662"
        assert info.client_id == "6fd2b3b9-9833-4b2f-bbf7-0bcf501bad7e"
        assert info.simple_annotations == {"hello": "world"}
        assert len(info.modules) == 2
        first = info.modules[0]
        assert first.module_index == 16
        assert first.list_annotations == ("abort() called",)
        assert first.simple_annotations == {} and first.annotation_objects == ()
        assert d.process_id == 56685  # MiscInfo still wins where it exists


@pytest.mark.parametrize(("dump_name", "snap"), [
    ("linux-mini.dmp", "linux_json_pretty"),
    ("test.dmp", "json-pretty"),
    ("pipeline-inlines-macos-segv.dmp", "macos_inlines_json_pretty"),
])
def test_module_identity_matches_minidump_stackwalk(dump_name: str, snap: str) -> None:
    expected = snapshot(snap)["modules"]
    with dumplib.open(RUST / dump_name) as d:
        got = [{"filename": m.name, "debug_file": m.debug_file, "debug_id": m.debug_id,
                "code_id": m.code_id} for m in d.modules]
    assert got == [{k: e[k] for k in ("filename", "debug_file", "debug_id", "code_id")}
                   for e in expected]


def _elf_sym(debug_id: str, name: str) -> str:
    return (f"MODULE Linux x86_64 {debug_id} {name}\n"
            "FILE 0 crash.c\n"
            "FUNC 1d00 100 0 crash_here\n"
            "1d00 100 12 0\n"
            "STACK CFI INIT 1d00 100 .cfa: $rsp 8 + .ra: .cfa -8 + ^\n")


def test_linux_sym_matched_by_build_id(tmp_path: Path) -> None:
    """A breakpad tree ``crash/<debug id>/crash.sym`` is found from the ELF build id;
    a .sym with another id is not."""
    debug_id = snapshot("linux_json_pretty")["modules"][0]["debug_id"]
    tree = tmp_path / "crash" / debug_id
    tree.mkdir(parents=True)
    (tree / "crash.sym").write_text(_elf_sym(debug_id, "crash"))
    with dumplib.open(RUST / "linux-mini.dmp") as d:
        top = d.stack(1304, [str(tmp_path)]).frames[0]
        assert top.function == "crash_here" and top.source_line == 12
    wrong = tmp_path / "other"
    (wrong / "crash" / ("0" * 33)).mkdir(parents=True)
    (wrong / "crash" / ("0" * 33) / "crash.sym").write_text(_elf_sym("0" * 33, "crash"))
    with dumplib.open(RUST / "linux-mini.dmp") as d:
        assert d.stack(1304, [str(wrong)]).frames[0].function is None


def test_symbol_file_named_directly_whatever_its_extension(tmp_path: Path) -> None:
    debug_id = snapshot("linux_json_pretty")["modules"][0]["debug_id"]
    named = tmp_path / "crash-symbols.txt"
    named.write_text(_elf_sym(debug_id, "crash"))
    with dumplib.open(RUST / "linux-mini.dmp") as d:
        assert d.stack(1304, [str(named)]).frames[0].function == "crash_here"
    # the test_app .sym under a name of its own, given directly
    src = RUST / "symbols/test_app.pdb/5A9832E5287241C1838ED98914E9B7FF1/test_app.sym"
    copy = tmp_path / "test_app.breakpad"
    shutil.copy(src, copy)
    with dumplib.open(RUST / "test.dmp") as d:
        top = d.stack(0xBF4, [str(copy)]).frames[0]
        assert top.function == "`anonymous namespace'::CrashFunction"


def test_proc_text_parsers_on_builder_dumps() -> None:
    b = DumpBuilder("x86", platform_id=0x8201, os_version=(0, 0, 0))
    b.add_raw_stream(0x47670004, b"Name:\tsleepy\nState:\tS (sleeping)\nPid:\t42\nPPid:\t1\n")
    b.add_raw_stream(0x47670005, b'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian 12"\n')
    b.add_raw_stream(0x47670007, b"A=1\0B=two=2\0")
    b.add_raw_stream(0x47670008, struct.pack("<8I", 6, 4096, 9, 0x8048000, 0, 0, 99, 99))
    b.add_raw_stream(0x47670009, b"08048000-08049000 r-xp 00000000 08:01 1234 /bin/sleepy\n"
                                 b"bad line\nb7700000-b7701000 rw-p 00000000 00:00 0 \n")
    b.add_raw_stream(0x47670001, struct.pack("<III", 1, 5, 6))
    with dumplib.open(b.to_bytes()) as d:
        assert d.process_id == 42
        assert d.vendor.proc_status is not None and d.vendor.proc_status.ppid == 1
        lsb = d.vendor.lsb_release
        assert lsb is not None and (lsb.id, lsb.release, lsb.description) == (
            "debian", "12", "Debian 12")
        assert d.vendor.environ == {"A": "1", "B": "two=2"}
        assert [(e.name, e.value) for e in d.vendor.auxv or ()] == [
            ("AT_PAGESZ", 4096), ("AT_ENTRY", 0x8048000)]
        maps = d.vendor.maps or []
        assert [(m.start, m.path) for m in maps] == [(0x8048000, "/bin/sleepy"),
                                                      (0xB7700000, None)]
        info = d.vendor.breakpad_info
        assert info is not None and (info.dump_thread_id, info.requesting_thread_id) == (5, None)


def test_corrupt_crashpad_info_is_a_warning_not_an_error() -> None:
    b = DumpBuilder("amd64")
    # count of a million annotations at an RVA that holds nothing
    body = struct.pack("<I16s16sIIII", 1, b"\0" * 16, b"\0" * 16, 8, 0x7FFFFFF0, 0, 0)
    b.add_raw_stream(0x43500001, body)
    with dumplib.open(b.to_bytes()) as d:
        assert d.vendor.crashpad_info is None
        assert any("CrashpadInfo" in w for w in d.warnings)


def test_mac_crash_info_and_boot_args() -> None:
    """MozMacosCrashInfo as Mozilla's writer lays it out (a header of 20 location
    descriptors; a version-5 record of five u64 fields, then five C strings at
    record_start_size) and MozMacosBootargs (an RVA64 of a MINIDUMP_STRING)."""
    b = DumpBuilder("amd64", platform_id=0x8101, os_version=(11, 6, 7))
    start = 40
    strings = [b"/usr/lib/libobjc.A.dylib", b"BUG IN CLIENT OF LIBOBJC", b"", b"", b"second"]
    record = struct.pack("<5Q", 0x4D7A0001, 5, 0x1234, 0, 7) + b"\0".join(strings) + b"\0"
    # the stream: header, then the record right after it (RVA patched in below)
    header_size = 12 + 8 * 20
    b.add_raw_stream(0x4D7A0001, b"\0" * header_size + record)
    b.add_raw_stream(0x4D7A0002, b"\0" * 12)
    data = bytearray(b.to_bytes())
    # find the two streams in the directory and fill in their RVAs
    count, dir_rva = struct.unpack_from("<II", data, 8)
    entries = {struct.unpack_from("<I", data, dir_rva + 12 * i)[0]:
               struct.unpack_from("<II", data, dir_rva + 12 * i + 4) for i in range(count)}
    _size, rva = entries[0x4D7A0001]
    struct.pack_into("<III", data, rva, 0x4D7A0001, 1, start)
    struct.pack_into("<II", data, rva + 12, len(record), rva + header_size)
    text = "debug=0x144".encode("utf-16-le")
    boot_rva = len(data)
    data += struct.pack("<I", len(text)) + text
    _size, brva = entries[0x4D7A0002]
    struct.pack_into("<IQ", data, brva, 0x4D7A0002, boot_rva)
    with dumplib.open(bytes(data)) as d:
        infos = d.vendor.mac_crash_info
        assert infos is not None and len(infos) == 1
        info = infos[0]
        assert (info.version, info.thread, info.dialog_mode, info.abort_cause) == (5, 0x1234, 0, 7)
        assert info.module_path == "/usr/lib/libobjc.A.dylib"
        assert info.message == "BUG IN CLIENT OF LIBOBJC" and info.message2 == "second"
        assert d.vendor.mac_boot_args == "debug=0x144"
        doc = dumplib.stackwalk_json(d)
        assert doc["mac_crash_info"]["num_records"] == 1
        assert doc["mac_boot_args"] == "debug=0x144"


def test_modules_json_carries_breakpad_identity() -> None:
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "dumplib", "modules",
                          str(RUST / "linux-mini.dmp"), "--json"],
                         capture_output=True, text=True, check=True, timeout=120,
                         cwd=Path(__file__).parent.parent)
    doc = json.loads(out.stdout)
    mods = doc["modules"] if isinstance(doc, dict) else doc
    expected = snapshot("linux_json_pretty")["modules"]
    assert [(m["debug_id"], m["code_id"]) for m in mods] == [
        (e["debug_id"], e["code_id"]) for e in expected]
