"""Real x64 dumps written by wine's dbghelp, checked against ground truth.

Every scenario directory under ``fixtures/wine/`` holds the images and PDBs
of a small program (``fixtures/programs/<scenario>/``), the dump(s) it made
under wine, ``truth.json`` (written from the program's source: exception,
faulting function, call chains, modules) and ``runtime.json`` (written by the
program itself while it ran: process id, thread ids by role, module bases as
``GetModuleHandle`` returned them, the exception its filter saw).

What the parser can reach today is checked as hard tests. Expectations that
need a later capability (stack walking, analysis) are marked with the
capability they wait for, as strict xfails: once the capability exists they
run as ordinary tests and fail loudly when wrong.
"""

from __future__ import annotations

import json
import lzma
import shutil
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import dumplib

WINE = Path(__file__).resolve().parent.parent / "fixtures" / "wine"
SYSTEM = WINE / "system"

# What wine 8.0's dbghelp reports as the OS, measured and stated in issue 3.
WINE_OS_VERSION = (6, 1, 7601)
# NTSTATUS values named in the ground truth (winnt.h / ntstatus.h).
STATUS_BUFFER_OVERFLOW = 0x80000005

HAS_STACK = hasattr(dumplib.Dump, "stack")
HAS_ANALYZE = hasattr(dumplib, "analyze")
WAITS_FOR_STACK = "waits for: stack walker (Dump.stack) with PDB/PE symbols"
WAITS_FOR_ANALYZE = "waits for: analysis (dumplib.analyze)"


@dataclass(frozen=True)
class Fixture:
    """One dump of one scenario with its ground truth."""

    scenario: str
    directory: Path
    dump_name: str
    truth: dict[str, Any]
    runtime: dict[str, Any]

    @property
    def full(self) -> bool:
        """True for a full-memory dump (shipped xz-compressed)."""
        return self.dump_name.endswith(".xz")

    def threads_by_role(self) -> dict[str, int]:
        """Thread ids the program recorded, by role."""
        return {
            key.removeprefix("thread."): int(value)
            for key, value in self.runtime.items()
            if key.startswith("thread.")
        }

    def module_bases(self) -> dict[str, int]:
        """Module bases the program recorded (GetModuleHandle), by name."""
        return {
            key.removeprefix("module."): int(value)
            for key, value in self.runtime.items()
            if key.startswith("module.")
        }


def _scenarios() -> list[Path]:
    return sorted(p.parent for p in WINE.glob("*/truth.json"))


def _fixtures() -> list[Fixture]:
    out = []
    for directory in _scenarios():
        truth = json.loads((directory / "truth.json").read_text())
        runtime = json.loads((directory / "runtime.json").read_text())
        dumps = sorted(directory.glob("*.dmp")) + sorted(directory.glob("*.dmp.xz"))
        for dump in dumps:
            out.append(Fixture(directory.name, directory, dump.name, truth, runtime))
    return out


FIXTURES = _fixtures()


def _id(fx: Fixture) -> str:
    return f"{fx.scenario}/{fx.dump_name}"


IDS = [_id(f) for f in FIXTURES]


@pytest.fixture(scope="session")
def unpacked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """Decompressed copies of the xz full-memory dumps, made once per session."""
    root = tmp_path_factory.mktemp("wine-full")
    cache: dict[str, Path] = {}
    for fx in FIXTURES:
        if fx.full:
            target = root / fx.scenario / fx.dump_name.removesuffix(".xz")
            target.parent.mkdir(parents=True, exist_ok=True)
            with lzma.open(fx.directory / fx.dump_name) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            cache[f"{fx.scenario}/{fx.dump_name}"] = target
    yield cache


def _path(fx: Fixture, unpacked: dict[str, Path]) -> Path:
    if fx.full:
        return unpacked[f"{fx.scenario}/{fx.dump_name}"]
    return fx.directory / fx.dump_name


def _pe_header(image: Path) -> tuple[int, int]:
    """(TimeDateStamp, SizeOfImage) read straight from a PE file's headers."""
    data = image.read_bytes()[:4096]
    (e_lfanew,) = struct.unpack_from("<I", data, 0x3C)
    assert data[e_lfanew : e_lfanew + 4] == b"PE\0\0"
    (timestamp,) = struct.unpack_from("<I", data, e_lfanew + 8)
    (size_of_image,) = struct.unpack_from("<I", data, e_lfanew + 24 + 56)
    return timestamp, size_of_image


def test_every_scenario_has_a_dump_and_ground_truth() -> None:
    scenarios = _scenarios()
    assert len(scenarios) >= 3
    for directory in scenarios:
        assert (directory / "runtime.json").is_file(), directory
        assert list(directory.glob("*.dmp")), f"{directory.name}: no small dump"
        truth = json.loads((directory / "truth.json").read_text())
        assert truth["scenario"] == directory.name


@pytest.mark.parametrize("fx", FIXTURES, ids=IDS)
def test_system_and_process(fx: Fixture, unpacked: dict[str, Path]) -> None:
    with dumplib.open(_path(fx, unpacked)) as dump:
        assert dump.system.arch == dumplib.Arch("amd64")
        assert dump.system.os_version == WINE_OS_VERSION
        assert dump.process_id == fx.runtime["pid"]


@pytest.mark.parametrize("fx", FIXTURES, ids=IDS)
def test_threads_are_the_programs_threads(fx: Fixture, unpacked: dict[str, Path]) -> None:
    roles = fx.threads_by_role()
    with dumplib.open(_path(fx, unpacked)) as dump:
        ids = [t.id for t in dump.threads]
        # Every program records every thread it starts: nothing more, nothing less.
        assert sorted(ids) == sorted(roles.values())
        quirk = fx.truth.get("wine_writer_thread_quirk")
        writer = roles[quirk["writer_role"]] if quirk else None
        for thread in dump.threads:
            assert thread.stack_range is not None
            if thread.id == writer:
                # Measured wine 8.0 behaviour (see truth.json): the writing
                # thread's entry carries the exception's context.
                assert dump.exception is not None
                assert thread.context.ip == dump.exception.address
                continue
            start, size = thread.stack_range
            assert size > 0
            # The captured stack begins at or just below the thread's rsp.
            assert start <= thread.context.sp < start + size + 0x100
            # Small dumps carry the bytes in the stack descriptor; full dumps
            # (descriptor offset 0) only through the Memory64 list.
            assert len(dump.memory.read(start, size)) == size


@pytest.mark.parametrize("fx", FIXTURES, ids=IDS)
def test_exception(fx: Fixture, unpacked: dict[str, Path]) -> None:
    expected = fx.truth["exception"]
    with dumplib.open(_path(fx, unpacked)) as dump:
        exc = dump.exception
        if expected is None:
            assert exc is None
            assert "faulting_thread" not in fx.runtime
            return
        assert exc is not None
        assert exc.code == expected["code"] == fx.runtime["exception.code"]
        if expected["name"] is not None:  # codes outside Windows' tables may get a name or not
            assert exc.name == expected["name"]
        role = fx.truth["faulting_thread_role"]
        assert exc.thread_id == fx.runtime["faulting_thread"] == fx.threads_by_role()[role]
        assert exc.address == fx.runtime["exception.address"]
        for index, value in enumerate(expected.get("parameters", [])):
            if isinstance(value, str):  # "runtime:<key>": recorded by the program
                value = fx.runtime[value.removeprefix("runtime:")]
            assert exc.parameters[index] == value
        module = dump.modules.find(exc.address)
        assert module is not None
        assert module.name.lower() == fx.truth["faulting_module"].lower()


@pytest.mark.parametrize("fx", FIXTURES, ids=IDS)
def test_program_modules(fx: Fixture, unpacked: dict[str, Path]) -> None:
    bases = fx.module_bases()
    versions: dict[str, list[int]] = dict(fx.truth.get("versions", {}))
    for name, info in fx.truth.get("third_party", {}).items():
        versions[name] = info["version"]
    with dumplib.open(_path(fx, unpacked)) as dump:
        by_name = {m.name.lower(): m for m in dump.modules}
        for name in fx.truth["modules"]:
            module = by_name[name.lower()]
            assert module.base == bases[name]
            assert module.end == module.base + module.size
            assert dump.modules.find(module.base + module.size // 2) == module
            timestamp, size_of_image = _pe_header(fx.directory / name)
            assert module.timestamp == timestamp
            assert module.size == size_of_image
            if name in versions:
                assert module.version == tuple(versions[name])
        main = dump.modules[0]
        assert main.name.lower() == fx.truth["process"].lower()


@pytest.mark.parametrize("fx", FIXTURES, ids=IDS)
def test_system_modules_match_shipped_images(fx: Fixture, unpacked: dict[str, Path]) -> None:
    with dumplib.open(_path(fx, unpacked)) as dump:
        by_name = {m.name.lower(): m for m in dump.modules}
        for image in sorted(SYSTEM.glob("*.dll")):
            module = by_name.get(image.name.lower())
            if module is None:
                # only loaded by socket users, and by services (the control dispatcher)
                assert image.name.lower() in ("ws2_32.dll", "sechost.dll")
                continue
            timestamp, size_of_image = _pe_header(image)
            assert (module.timestamp, module.size) == (timestamp, size_of_image)


@pytest.mark.parametrize("fx", FIXTURES, ids=IDS)
def test_comments(fx: Fixture, unpacked: dict[str, Path]) -> None:
    with dumplib.open(_path(fx, unpacked)) as dump:
        comment = fx.truth.get("comment")
        if comment is None:
            assert dump.comments == []
        else:
            assert comment in dump.comments


@pytest.mark.parametrize("fx", [f for f in FIXTURES if f.scenario == "caseb"], ids=_id)
def test_caseb_overlapped(fx: Fixture, unpacked: dict[str, Path]) -> None:
    """The OVERLAPPED lives on the heap: only the full-memory dump holds it."""
    address = fx.runtime["overlapped.address"]
    assert fx.runtime["overlapped.internal"] == STATUS_BUFFER_OVERFLOW
    with dumplib.open(_path(fx, unpacked)) as dump:
        if not fx.full:
            with pytest.raises(dumplib.MemoryNotInDump):
                dump.memory.read(address, 32)
            return
        internal, internal_high = struct.unpack("<QQ", dump.memory.read(address, 16))
        assert internal == fx.truth["overlapped"]["internal"] == STATUS_BUFFER_OVERFLOW
        assert internal_high == fx.runtime["overlapped.internal_high"]
        # The callback state was freed: m_iocb (right after the OVERLAPPED) is NULL.
        (iocb,) = struct.unpack("<Q", dump.memory.read(address + 32, 8))
        assert iocb == 0


@pytest.mark.xfail(
    not hasattr(dumplib.ExceptionInfo, "context"),
    reason="waits for: the exception stream's context (ExceptionInfo.context)",
    strict=True,
)
@pytest.mark.parametrize("fx", [f for f in FIXTURES if f.scenario == "caseb"], ids=_id)
def test_caseb_exception_context_holds_the_overlapped(
    fx: Fixture, unpacked: dict[str, Path]
) -> None:
    """The faulting context (not the thread list's live one) has pOVERLAP in r8."""
    with dumplib.open(_path(fx, unpacked)) as dump:
        exc = dump.exception
        assert exc is not None
        context = _later(exc, "context")
        assert context.ip == exc.address
        register = fx.truth["overlapped"]["register_at_fault"]
        assert context[register] == fx.runtime["overlapped.address"]
        # Measured wine behaviour: the thread that called MiniDumpWriteDump
        # (here the faulting thread itself) gets the exception context in
        # the thread list too.
        thread = dump.threads.get(exc.thread_id)
        assert thread is not None
        assert thread.context.ip == exc.address
        assert thread.context[register] == fx.runtime["overlapped.address"]


# ---------------------------------------------------------------- later capabilities


def _later(owner: object, name: str) -> Any:
    """A capability that may not exist yet (looked up by name, so this file
    type-checks before and after it lands)."""
    return getattr(owner, name)


def _symbols(fx: Fixture) -> list[str]:
    return [str(fx.directory), str(SYSTEM)]


def _program_functions(fx: Fixture, frames: Any) -> list[str | None]:
    names = {n.lower() for n in fx.truth["modules"]}
    return [f.function for f in frames if f.module is not None and f.module.name.lower() in names]


@pytest.mark.xfail(not HAS_STACK, reason=WAITS_FOR_STACK, strict=True)
@pytest.mark.parametrize("fx", [f for f in FIXTURES if f.truth["crash_stack"]], ids=_id)
def test_crash_stack(fx: Fixture, unpacked: dict[str, Path]) -> None:
    """The faulting thread's stack (walked from the exception's context, as a
    debugger's .ecxr does) holds the program's call chain, innermost first."""
    expected = fx.truth["crash_stack"]
    complete = fx.truth.get("crash_stack_complete", True)
    with dumplib.open(_path(fx, unpacked)) as dump:
        exc = dump.exception
        assert exc is not None
        thread = dump.threads.get(exc.thread_id)
        stack = _later(dump, "stack")(thread, symbols=_symbols(fx))
        functions = _program_functions(fx, stack.frames)
        # Runtime code linked into the program (libgcc's unwinder, __cxa_throw)
        # may sit inside the first source function; nothing else may.
        allowed = set(fx.truth.get("runtime_frames", []))
        while functions and functions[0] in allowed:
            functions.pop(0)
        if complete:
            ours = [f for f in functions if f in set(expected)]
            assert ours == expected
            assert functions[0] == expected[0]
        else:
            assert functions[: len(expected)] == expected
            outermost = fx.truth["crash_stack_outermost"]
            assert outermost in functions
        if "crash_stack_modules" in fx.truth:
            modules = [
                f.module.name.lower() for f in stack.frames if f.function in expected and f.module
            ]
            assert modules[: len(expected)] == [m.lower() for m in fx.truth["crash_stack_modules"]]


@pytest.mark.xfail(not HAS_STACK, reason=WAITS_FOR_STACK, strict=True)
@pytest.mark.parametrize("fx", [f for f in FIXTURES if f.truth["other_threads"]], ids=_id)
def test_other_threads_innermost_program_function(fx: Fixture, unpacked: dict[str, Path]) -> None:
    roles = fx.threads_by_role()
    quirk = fx.truth.get("wine_writer_thread_quirk")
    with dumplib.open(_path(fx, unpacked)) as dump:
        for role, function in fx.truth["other_threads"].items():
            if quirk and role == quirk["writer_role"]:
                # wine replaced this thread's context with the exception's:
                # where it really was is not in the dump (see truth.json).
                continue
            thread = dump.threads.get(roles[role])
            stack = _later(dump, "stack")(thread, symbols=_symbols(fx))
            functions = _program_functions(fx, stack.frames)
            assert functions, role
            assert functions[0] == function, role


@pytest.mark.xfail(not HAS_ANALYZE, reason=WAITS_FOR_ANALYZE, strict=True)
@pytest.mark.parametrize("fx", [f for f in FIXTURES if f.scenario == "caseb" and f.full], ids=_id)
def test_caseb_analysis_reports_double_completion(fx: Fixture, unpacked: dict[str, Path]) -> None:
    with dumplib.open(_path(fx, unpacked)) as dump:
        report = _later(dumplib, "analyze")(dump, symbols=_symbols(fx))
        evidence = json.dumps([f.evidence for f in report.findings])
        assert str(STATUS_BUFFER_OVERFLOW) in evidence or "0x80000005" in evidence.lower()
        assert "PerformIOCompletionCallback" in evidence


@pytest.mark.xfail(not HAS_ANALYZE, reason=WAITS_FOR_ANALYZE, strict=True)
@pytest.mark.parametrize("fx", [f for f in FIXTURES if f.scenario == "casea"], ids=_id)
def test_casea_analysis_names_the_vendor_module(fx: Fixture, unpacked: dict[str, Path]) -> None:
    with dumplib.open(_path(fx, unpacked)) as dump:
        report = _later(dumplib, "analyze")(dump, symbols=_symbols(fx))
        assert dump.exception is None
        evidence = json.dumps([f.evidence for f in report.findings])
        assert "fabnetinspect.dll" in evidence.lower()
        vendor = fx.truth["third_party"]["fabnetinspect.dll"]["CompanyName"]
        assert vendor in evidence


def _version_strings(image: Path) -> dict[str, str]:
    """StringFileInfo of a PE image, read by pefile (not by dumplib)."""
    import pefile  # type: ignore[import-untyped, unused-ignore]

    pe = pefile.PE(str(image), fast_load=False)
    out: dict[str, str] = {}
    for info in getattr(pe, "FileInfo", None) or []:
        for entry in info:
            for table in getattr(entry, "StringTable", []):
                for key, value in table.entries.items():
                    out[key.decode()] = value.decode()
    pe.close()
    return out


@pytest.mark.parametrize("scenario", ["casea"])
def test_vendor_module_version_resource(scenario: str) -> None:
    """The third-party module names its vendor as build.sh wrote it."""
    directory = WINE / scenario
    truth = json.loads((directory / "truth.json").read_text())
    for name, expected in truth["third_party"].items():
        strings = _version_strings(directory / name)
        for key in ("CompanyName", "FileDescription", "FileVersion"):
            assert strings[key] == expected[key]
