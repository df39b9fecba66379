"""The WinDbg-style shell on the real wine dumps, checked against facts known without dumplib.

Oracles: truth.json (call chains written from the programs' sources),
runtime.json (module bases, thread ids, the exception address, recorded by
the programs while they ran), the PE files read with pefile (SizeOfImage,
code bytes), and the dump files read by a few lines of struct code here from
Microsoft's documented layouts (MINIDUMP_THREAD, the AMD64 CONTEXT of winnt.h,
MINIDUMP_SYSTEM_INFO) -- not by dumplib's parser.
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pefile
import pytest

import dumplib
import dumplib.shell
from dumplib.cli import main
from dumplib.shell.table import COMMANDS

ROOT = Path(__file__).resolve().parent.parent
WINE = ROOT / "fixtures" / "wine"
SYSTEM = WINE / "system"
SCENARIOS = sorted(p.parent.name for p in WINE.glob("*/truth.json"))
CRT = {None, "mainCRTStartup", "__tmainCRTStartup", "WinMainCRTStartup"}

# AMD64 CONTEXT register offsets from winnt.h.
_CTX = {"rax": 0x78, "rcx": 0x80, "rdx": 0x88, "rbx": 0x90, "rsp": 0x98, "rbp": 0xA0,
        "rsi": 0xA8, "rdi": 0xB0, "r8": 0xB8, "r9": 0xC0, "r10": 0xC8, "r11": 0xD0,
        "r12": 0xD8, "r13": 0xE0, "r14": 0xE8, "r15": 0xF0, "rip": 0xF8}


def _load(scenario: str) -> tuple[dict[str, Any], dict[str, Any]]:
    d = WINE / scenario
    return json.loads((d / "truth.json").read_text()), json.loads((d / "runtime.json").read_text())


def _symbols(scenario: str) -> list[str]:
    return [str(WINE / scenario), str(SYSTEM)]


def _dmp(scenario: str) -> Path:
    return WINE / scenario / f"{scenario}.dmp"


# -- an independent reader of the few records the oracles need -------------------------


class RawDump:
    """Threads, contexts, stacks and the exception of a minidump, read with struct."""

    def __init__(self, path: Path) -> None:
        self.data = path.read_bytes()
        sig, _ver, count, rva = struct.unpack_from("<4sIII", self.data, 0)
        assert sig == b"MDMP"
        self.streams = {}
        for i in range(count):
            kind, size, at = struct.unpack_from("<III", self.data, rva + 12 * i)
            self.streams.setdefault(kind, (at, size))

    def threads(self) -> list[dict[str, Any]]:
        at, _ = self.streams[3]
        (n,) = struct.unpack_from("<I", self.data, at)
        out = []
        for i in range(n):
            tid, _s, _pc, _p, teb, start, size, rva, _csize, crva = struct.unpack_from(
                "<IIIIQQIIII", self.data, at + 4 + 48 * i)
            out.append({"id": tid, "teb": teb, "stack": (start, size, rva),
                        "context": self.context(crva)})
        return out

    def context(self, rva: int) -> dict[str, int]:
        regs = {n: struct.unpack_from("<Q", self.data, rva + off)[0] for n, off in _CTX.items()}
        regs["efl"] = struct.unpack_from("<I", self.data, rva + 0x44)[0]
        return regs

    def exception(self) -> dict[str, Any]:
        at, _ = self.streams[6]
        tid, = struct.unpack_from("<I", self.data, at)
        code, _flags, _rec, address, n = struct.unpack_from("<IIQQI", self.data, at + 8)
        params = struct.unpack_from(f"<{n}Q", self.data, at + 8 + 32)
        _csize, crva = struct.unpack_from("<II", self.data, at + 8 + 152)
        return {"thread": tid, "code": code, "address": address, "parameters": params,
                "context": self.context(crva)}

    def stack_qword(self, thread: dict[str, Any], address: int) -> int:
        start, size, rva = thread["stack"]
        assert start <= address < start + size - 7
        value: int = struct.unpack_from("<Q", self.data, rva + address - start)[0]
        return value

    def system(self) -> tuple[int, int, int]:
        at, _ = self.streams[7]
        return struct.unpack_from("<III", self.data, at + 8)


def _run(scenario: str, commands: str) -> str:
    with dumplib.open(_dmp(scenario)) as dump:
        return dumplib.shell.run(dump, commands, symbols=_symbols(scenario))


def _outputs(text: str) -> dict[str, str]:
    """Each command's output from run()'s text, keyed by the command."""
    out: dict[str, str] = {}
    for block in re.split(r"^0:\d{3}> ", text, flags=re.M)[1:]:
        cmd, _, body = block.partition("\n")
        out[cmd] = body.rstrip("\n")
    return out


_ROW = re.compile(r"^(?:[0-9a-f]{2,} )?[0-9a-f]{8}`[0-9a-f]{8} [0-9a-f]{8}`[0-9a-f]{8} "
                  r"(?:: .* : |    )(?P<site>\S+)")


def _sites(k_text: str) -> list[tuple[str, str | None]]:
    """(module, function or None) of each frame row of a k listing."""
    out = []
    for line in k_text.splitlines():
        m = _ROW.match(line)
        if m is None:
            continue
        site = m.group("site")
        if "!" in site:
            mod, _, rest = site.partition("!")
            out.append((mod, rest.rsplit("+0x", 1)[0]))
        else:
            out.append((site.split("+0x")[0], None))
    return out


def _stem(name: str) -> str:
    return name.rsplit(".", 1)[0].replace(".", "_").lower()


def _program(truth: dict[str, Any], sites: list[tuple[str, str | None]]) -> list[str | None]:
    mods = {_stem(m) for m in truth["modules"]}
    return [fn for mod, fn in sites if mod.lower() in mods]


# -- threads and stacks ---------------------------------------------------------------


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if _load(s)[0]["crash_stack"]])
def test_k_gives_the_programs_call_chain(scenario: str) -> None:
    truth, _runtime = _load(scenario)
    text = _run(scenario, ".ecxr; kn")
    functions = _program(truth, _sites(_outputs(text)["kn"]))
    runtime_frames = set(truth.get("runtime_frames", []))
    while functions and functions[0] in runtime_frames:
        functions.pop(0)
    expected = truth["crash_stack"]
    if truth.get("crash_stack_complete", True):
        assert functions[: len(expected)] == expected
        assert set(functions[len(expected):]) <= CRT
    else:
        assert functions[: len(expected)] == expected
        assert functions[-1] == truth["crash_stack_outermost"]
    # frame numbers count up from 00 in hex
    rows = [ln for ln in _outputs(text)["kn"].splitlines() if _ROW.match(ln)]
    assert [int(r.split()[0], 16) for r in rows[:20]] == list(range(min(20, len(rows))))


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if _load(s)[0]["other_threads"]])
def test_tilde_star_k_names_every_threads_function(scenario: str) -> None:
    truth, runtime = _load(scenario)
    quirk = truth.get("wine_writer_thread_quirk")
    text = _outputs(_run(scenario, "~*k"))["~*k"]
    sections = re.split(r"^[ .#]\s*\d+  Id: ", text, flags=re.M)[1:]
    by_tid = {}
    for sec in sections:
        ids, _, body = sec.partition(" ")
        by_tid[int(ids.split(".")[1], 16)] = body
    assert int(ids.split(".")[0], 16) == runtime["pid"]
    for role, function in truth["other_threads"].items():
        if quirk and role == quirk["writer_role"]:
            continue
        functions = _program(truth, _sites(by_tid[runtime[f"thread.{role}"]]))
        assert functions and functions[0] == function, role


def test_tilde_star_json_marks_the_current_thread_only() -> None:
    _, runtime = _load("waits")
    with dumplib.open(_dmp("waits")) as dump:
        doc = dumplib.shell.run_json(dump, "~*k", symbols=_symbols("waits"))[0]["output"]
    current = [d["thread"]["id"] for d in doc if d["thread"]["current"]]
    assert current == [runtime["faulting_thread"]]
    assert [d["thread"]["id"] for d in doc if d["thread"]["exception"]] == current
    assert {d["thread"]["id"] for d in doc} == {v for k, v in runtime.items()
                                               if k.startswith("thread.")}


def test_kp_shows_parameter_types_from_the_pdb() -> None:
    """caseb's mscorlib.cpp declares PerformIOCompletionCallback(DWORD, DWORD, OVERLAPPED *)
    and clr.cpp CompletionPortThreadStart(LPVOID)."""
    out = _outputs(_run("caseb", ".ecxr; kp"))["kp"]
    assert ("mscorlib_ni!System::Threading::_IOCompletionCallback::PerformIOCompletionCallback"
            "(unsigned long, unsigned long, _OVERLAPPED*)+0x") in out
    assert "clr!ThreadpoolMgr::CompletionPortThreadStart(void*)+0x" in out
    assert "(void*)" not in _outputs(_run("caseb", ".ecxr; k"))["k"]


def test_thread_switch_and_prompt() -> None:
    _, runtime = _load("waits")
    text = _run("waits", f"~~[{runtime['thread.event_waiter']:x}]s; ~; r rip; ~6s")
    out = _outputs(text)
    assert "0:001> ~\n" in text and "0:001> ~6s" in text
    current = [ln for ln in out["~"].splitlines() if ln.startswith(".")]
    assert len(current) == 1 and f"Id: 20.{runtime['thread.event_waiter']:x} " in current[0]
    raw = RawDump(_dmp("waits"))
    event = next(t for t in raw.threads() if t["id"] == runtime["thread.event_waiter"])
    assert out["r rip"].strip() == f"rip={event['context']['rip']:016x}"


def test_frame_selects_a_caller() -> None:
    truth, _ = _load("nullwrite")
    out = _outputs(_run("nullwrite", ".ecxr; .frame 2; ? @$ip; kn"))
    assert out[".frame 2"].startswith("02 ") and "nullwrite!level1+0x" in out[".frame 2"]
    row = next(ln for ln in out["kn"].splitlines() if ln.startswith("02 "))
    ip = int(out["? @$ip"].split("= ")[1].replace("`", ""), 16)
    assert "level1" in truth["crash_stack"]
    # the frame's ip is the return address the row of frame 01 shows
    row1 = next(ln for ln in out["kn"].splitlines() if ln.startswith("01 "))
    assert row1.split()[2].replace("`", "") == f"{ip:016x}"
    assert row.startswith("02")


# -- context ---------------------------------------------------------------------------


def _r_values(text: str) -> dict[str, int]:
    return {m.group(1): int(m.group(2), 16)
            for m in re.finditer(r"\b(r\w+|efl)=([0-9a-f]+)", text)}


def test_r_matches_every_threads_context() -> None:
    raw = RawDump(_dmp("waits"))
    threads = raw.threads()
    cmds = "; ".join(f"~{i}s" for i in range(len(threads)))
    out = _run("waits", cmds)
    for i, t in enumerate(threads):
        body = _outputs(out)[f"~{i}s"]
        values = _r_values(body)
        for name in _CTX:
            assert values[name] == t["context"][name], (i, name)
        assert values["efl"] == t["context"]["efl"]


def test_ecxr_gives_the_exception_context() -> None:
    _, runtime = _load("nullwrite")
    raw = RawDump(_dmp("nullwrite")).exception()
    out = _outputs(_run("nullwrite", ".ecxr; r rax, rip, rsp"))
    assert _r_values(out[".ecxr"])["rip"] == runtime["exception.address"]
    assert out["r rax, rip, rsp"] == (f"rax={raw['context']['rax']:016x} "
                                     f"rip={runtime['exception.address']:016x} "
                                     f"rsp={raw['context']['rsp']:016x}")


def test_exr_and_lastevent() -> None:
    truth, runtime = _load("waits")
    raw = RawDump(_dmp("waits")).exception()
    out = _outputs(_run("waits", ".exr -1; .lastevent"))
    assert f"ExceptionAddress: {runtime['exception.address']:016x} (waits!CrashNow+0x" in (
        out[".exr -1"])
    assert f"   ExceptionCode: {truth['exception']['code']:08x} (Access violation)" in (
        out[".exr -1"])
    assert f"NumberParameters: {len(raw['parameters'])}" in out[".exr -1"]
    assert out[".lastevent"].startswith(
        f"Last event: {runtime['pid']:x}.{runtime['faulting_thread']:x}: Access violation "
        f"- code {truth['exception']['code']:08x}")


def test_ecxr_without_an_exception_is_an_error() -> None:
    out = _outputs(_run("casea", ".ecxr; .exr -1"))
    assert out[".ecxr"].startswith("^ ") and out[".exr -1"].startswith("^ ")


# -- modules and symbols ---------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_lm_bases_and_ends(scenario: str) -> None:
    _, runtime = _load(scenario)
    fresh = _outputs(_run(scenario, "lm"))["lm"]
    # nothing used yet: every module's symbols are deferred, as in WinDbg
    assert all(ln.endswith("(deferred)") for ln in fresh.splitlines()[1:] if "`" in ln)
    out = _outputs(_run(scenario, ".reload /f; lm; lmf"))
    for key, base in runtime.items():
        if not key.startswith("module."):
            continue
        name = key.removeprefix("module.")
        image = WINE / scenario / name
        program = image.exists()
        pe = pefile.PE(str(image if program else SYSTEM / name), fast_load=True)
        end = base + pe.OPTIONAL_HEADER.SizeOfImage
        hexa = f"{base >> 32:08x}`{base & 0xFFFFFFFF:08x} {end >> 32:08x}`{end & 0xFFFFFFFF:08x}"
        row = next(ln for ln in out["lm"].splitlines() if ln.startswith(hexa))
        assert row.split()[2].lower() == _stem(name)
        if program:
            assert "(pdb symbols)" in row and row.endswith(name.rsplit(".", 1)[0] + ".pdb")
        rowf = next(ln for ln in out["lmf"].splitlines() if ln.startswith(hexa))
        assert rowf.lower().endswith("\\" + name.lower())
    # WinDbg lists modules by start address; runtime.json's bases give the order
    starts = [int(ln.split()[0].replace("`", ""), 16)
              for ln in out["lm"].split("Unloaded modules:")[0].splitlines()[1:] if "`" in ln]
    program_bases = sorted(b for k, b in runtime.items() if k.startswith("module."))
    assert starts == sorted(starts) and [b for b in starts if b in program_bases] == program_bases


def test_lmv_shows_the_images_header_fields() -> None:
    pe = pefile.PE(str(WINE / "caseb" / "clr.dll"), fast_load=True)
    out = _outputs(_run("caseb", "lmv m clr"))["lmv m clr"]
    assert "    Timestamp:        " in out and f"({pe.FILE_HEADER.TimeDateStamp:08X})" in out
    assert f"    CheckSum:         {pe.OPTIONAL_HEADER.CheckSum:08X}" in out
    assert f"    ImageSize:        {pe.OPTIONAL_HEADER.SizeOfImage:08X}" in out
    truth, _ = _load("caseb")
    assert "    Image name: clr.dll" in out
    assert out.count("\n0") == 1  # only the one module
    version = truth["versions"]["clr.dll"] if "clr.dll" in truth.get("versions", {}) else None
    if version is not None:
        assert f"    File version:     {'.'.join(str(v) for v in version)}" in out


def test_x_ln_and_expressions_agree_on_symbols() -> None:
    truth, runtime = _load("nullwrite")
    out = _outputs(_run("nullwrite", "x nullwrite!level*; ln 140001563; ? nullwrite; "
                                     "? nullwrite!level3"))
    names = [ln.split()[1] for ln in out["x nullwrite!level*"].splitlines()]
    assert sorted(names) == sorted(f"nullwrite!{f}" for f in truth["crash_stack"]
                                   if f.startswith("level"))
    assert out["ln 140001563"].startswith("(") and "nullwrite!level3+0x" in out["ln 140001563"]
    assert out["? nullwrite"].endswith("= 00000001`40000000")
    start = int(out["? nullwrite!level3"].split("= ")[1].replace("`", ""), 16)
    assert start < runtime["exception.address"] < start + 0x100
    assert f"{start >> 32:08x}`{start & 0xFFFFFFFF:08x} nullwrite!level3" in (
        out["x nullwrite!level*"])


def test_sympath_plus_adds_symbols() -> None:
    with dumplib.open(_dmp("nullwrite")) as dump:
        text = dumplib.shell.run(dump, ".sympath; .sympath+ " + str(WINE / "nullwrite")
                                 + "; .sympath; .reload")
    out = _outputs(text)
    assert "Symbol search path is: <empty>" in text
    after = next(v for k, v in out.items() if k.startswith(".sympath+"))
    assert str(WINE / "nullwrite") in after
    assert "Symbol search path is: " + str(WINE / "nullwrite") in out[".sympath"]


# -- memory ----------------------------------------------------------------------------


def test_dq_and_dps_read_the_stack_bytes() -> None:
    raw = RawDump(_dmp("nullwrite"))
    exc = raw.exception()
    thread = next(t for t in raw.threads() if t["id"] == exc["thread"])
    rsp = exc["context"]["rsp"]
    out = _outputs(_run("nullwrite", ".ecxr; dq @rsp L4; dps @rsp+0x28 L1; ? poi(@rsp+8); "
                                     "dd @rsp L2"))
    words = [raw.stack_qword(thread, rsp + 8 * i) for i in range(4)]
    fmt = [f"{w >> 32:08x}`{w & 0xFFFFFFFF:08x}" for w in words]
    lines = out["dq @rsp L4"].splitlines()
    assert lines[0].split()[1:] == fmt[:2] and lines[1].split()[1:] == fmt[2:]
    assert out["? poi(@rsp+8)"].endswith("= " + fmt[1])
    ret = raw.stack_qword(thread, rsp + 0x28)
    assert out["dps @rsp+0x28 L1"].split()[1] == f"{ret >> 32:08x}`{ret & 0xFFFFFFFF:08x}"
    assert "nullwrite!level2+0x" in out["dps @rsp+0x28 L1"]  # level3's return address
    assert out["dd @rsp L2"].split()[1:] == [f"{words[0] & 0xFFFFFFFF:08x}",
                                             f"{words[0] >> 32:08x}"]


def test_memory_not_in_the_dump_shows_question_marks() -> None:
    out = _outputs(_run("nullwrite", "dq 10 L2; db 10 L4"))
    assert out["dq 10 L2"] == "00000000`00000010  ????????`???????? ????????`????????"
    assert out["db 10 L4"].startswith("00000000`00000010  ?? ?? ?? ??")


def test_search_finds_stack_words() -> None:
    raw = RawDump(_dmp("nullwrite"))
    exc = raw.exception()
    thread = next(t for t in raw.threads() if t["id"] == exc["thread"])
    rsp = exc["context"]["rsp"]
    ret = raw.stack_qword(thread, rsp + 0x28)
    out = _outputs(_run("nullwrite", f"s -q {rsp:x} L100 {ret:x}"))
    hits = [int(ln.split()[0].replace("`", ""), 16) for ln in out[
        f"s -q {rsp:x} L100 {ret:x}"].splitlines()]
    assert rsp + 0x28 in hits
    for h in hits:
        assert raw.stack_qword(thread, h) == ret


# -- code ------------------------------------------------------------------------------


def test_u_bytes_come_from_the_image() -> None:
    _, runtime = _load("nullwrite")
    pe = pefile.PE(str(WINE / "nullwrite" / "nullwrite.exe"), fast_load=True)
    out = _outputs(_run("nullwrite", ".ecxr; u @rip L3; uf nullwrite!level3; ub @rip L2"))
    at = runtime["exception.address"]
    rows = out["u @rip L3"].splitlines()
    assert rows[0].startswith("nullwrite!level3+0x")
    cur = at
    for row in rows[1:]:
        addr, raw_bytes = row.split()[:2]
        assert int(addr.replace("`", ""), 16) == cur
        assert bytes.fromhex(raw_bytes) == pe.get_data(cur - 0x140000000, len(raw_bytes) // 2)
        cur += len(raw_bytes) // 2
    uf = out["uf nullwrite!level3"].splitlines()
    assert uf[0] == "nullwrite!level3:" and uf[-1].split()[2] == "ret"
    assert any(ln.startswith("00000001`40001563") for ln in uf)
    ub = out["ub @rip L2"].splitlines()
    last = ub[-1].split()
    assert int(last[0].replace("`", ""), 16) + len(last[1]) // 2 == at


# -- analysis --------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", ["nullwrite", "callback"])
def test_analyze_v_sections_in_windbg_order(scenario: str) -> None:
    truth, _ = _load(scenario)
    text = _outputs(_run(scenario, "!analyze -v"))["!analyze -v"]
    order = ["EXCEPTION_RECORD:", "FAULTING_IP:", "STACK_TEXT:", "SYMBOL_NAME:",
             "MODULE_NAME:", "FAILURE_BUCKET_ID:", "DUMPLIB_FINDINGS:"]
    positions = [text.index("\n" + s) for s in order]
    assert positions == sorted(positions)
    symbol = re.search(r"^SYMBOL_NAME:  (\S+)", text, re.M)
    assert symbol is not None
    assert symbol.group(1).startswith(f"{_stem(truth['faulting_module'])}!"
                                      f"{truth['faulting_function']}+")
    assert re.search(rf"^MODULE_NAME: {_stem(truth['faulting_module'])}$", text, re.M)
    with dumplib.open(_dmp(scenario)) as dump:
        bucket = dumplib.analyze(dump, _symbols(scenario)).bucket
    assert f"\nFAILURE_BUCKET_ID:  {bucket}\n" in text


# -- expressions -----------------------------------------------------------------------


@pytest.mark.parametrize(("expr", "value"), [
    ("0n10 + 0x10", 26), ("10*2-0n4", 0x1C), ("0y101", 5), ("(1+2)*3", 9), ("100/3", 0x55),
    ("-1", (1 << 64) - 1), ("0x100 % 7", 0x100 % 7), ("1`00000000", 1 << 32),
])
def test_question_evaluates_masm_expressions(expr: str, value: int) -> None:
    out = _outputs(_run("nullwrite", f"? {expr}"))[f"? {expr}"]
    assert out.endswith(f"= {value >> 32:08x}`{value & 0xFFFFFFFF:08x}")


def test_formats_and_bad_expressions() -> None:
    out = _outputs(_run("nullwrite", ".formats 0n65; ? nosuchthing; ? @nosuchreg; ? (1"))
    assert "  Decimal: 65" in out[".formats 0n65"] and "  Chars:   .......A" in out[
        ".formats 0n65"]
    for cmd in ("? nosuchthing", "? @nosuchreg", "? (1"):
        assert out[cmd].startswith("^ ")


# -- command line ----------------------------------------------------------------------

ALL = ("~; ~*k; k; kn; kb; kv; kp; .frame 1; !runaway; r; r rip; .ecxr; .cxr; .exr -1; "
       ".lastevent; lm; lmv m {m}; lmf; x {m}!*; ln @rip; .sympath; .sympath+ {s}; .reload; "
       "db @rsp; dw @rsp; dd @rsp; dq @rsp L1; dp @rsp; dps @rsp; dqs @rsp; da @rsp; "
       "du @rsp; s -b @rsp L10 00; s -d @rsp L10 0; s -q @rsp L10 0; s -a @rsp L10 \"a\"; "
       "s -u @rsp L10 \"a\"; !address; !address @rsp; u; ub; uf @rip; !peb; !teb; !handle; "
       "!gle; vertarget; ||; !analyze -v; !findings; ? @rsp; .formats 1; .help; q; k")

#: Commands that may fail on wine's small dumps, for the reason given.
MAY_FAIL = {
    "!runaway": "no ThreadInfoListStream", "!peb": "TEB", "!teb": "not in the dump",
    "!handle": "no handle data", "!gle": "TEB", ".ecxr": "no exception",
    ".exr -1": "no exception", "uf @rip": "No function extent", "ub": "No code",
    "u": "Memory access", "!address @rsp": "neither captured",
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_command_runs_through_dash_c(scenario: str, capsys: pytest.CaptureFixture[str],
                                           ) -> None:
    truth, _ = _load(scenario)
    module = _stem(truth["modules"][0])
    cmds = ALL.format(m=module, s=str(SYSTEM))
    args = ["shell", str(_dmp(scenario)), "--symbols", str(WINE / scenario), "-c", cmds]
    assert main(args) == 0
    text = capsys.readouterr().out
    out = _outputs(text)
    assert "Traceback" not in text and "internal error" not in text
    assert text.rstrip().endswith("0:" + text.rstrip().rsplit("0:", 1)[1])
    assert list(out)[-1] == "q"  # stopped at q: the k after it never ran
    for cmd, body in out.items():
        if body.startswith("^ "):
            reason = MAY_FAIL.get(cmd)
            assert reason is not None and reason in body, (cmd, body)


def test_json_is_one_document_with_one_entry_per_command(
        capsys: pytest.CaptureFixture[str]) -> None:
    _, runtime = _load("caseb")
    assert main(["shell", str(_dmp("caseb")), "--json", "-c", "lm; .ecxr; r rip; nosuch"]) == 0
    docs = json.loads(capsys.readouterr().out)
    assert [d["command"] for d in docs] == ["lm", ".ecxr", "r rip", "nosuch"]
    bases = {m["name"]: m["base"] for m in docs[0]["output"]["modules"]}
    for key, base in runtime.items():
        if key.startswith("module."):
            assert bases[key.removeprefix("module.")] == base
    assert docs[2]["output"] == {"rip": runtime["exception.address"]}
    assert "error" in docs[3] and "output" not in docs[3]


def test_help_lists_every_command() -> None:
    proc = subprocess.run([sys.executable, "-m", "dumplib", "shell", "--help"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120, check=True)
    for c in COMMANDS:
        assert c.syntax in proc.stdout, c.name


def test_dash_c_works_without_prompt_toolkit() -> None:
    code = ("import sys; sys.modules['prompt_toolkit'] = None\n"
            "from dumplib.cli import main\n"
            f"raise SystemExit(main(['shell', {str(_dmp('nullwrite'))!r}, '-c', 'lm; q']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "0:000> lm" in proc.stdout and "nullwrite" in proc.stdout


def test_shell_modules_import_nothing_heavy() -> None:
    code = ("import sys, dumplib, dumplib.cli.shell, dumplib.shell.commands\n"
            "assert dumplib.shell.run\n"
            "heavy = [m for m in ('rich', 'capstone', 'dumplib.analysis', 'prompt_toolkit',"
            " 'pandas', 'IPython') if m in sys.modules]\n"
            "print(heavy)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, check=True)
    assert proc.stdout.strip() == "[]"


def test_stdin_lines_are_commands_when_not_a_terminal() -> None:
    proc = subprocess.run([sys.executable, "-m", "dumplib", "shell", str(_dmp("nullwrite"))],
                          input="? 0n5\nq\nk\n", capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "0:000> ? 0n5\nEvaluate expression: 5 = 00000000`00000005" in proc.stdout
    assert "0:000> k" not in proc.stdout


def test_vertarget_and_system_status() -> None:
    major, minor, build = RawDump(_dmp("nullwrite")).system()
    out = _outputs(_run("nullwrite", "vertarget; ||"))
    first = out["vertarget"].splitlines()[0]
    assert first.startswith("Windows 7 Version 7601 ") and first.endswith(" Free x64")
    assert f"Version {build} " in first and (major, minor) == (6, 1)
    assert f"Version: {major}.{minor}.{build}" in out["vertarget"]
    assert out["||"] == f".  0 User mini dump: {_dmp('nullwrite')}"


def test_unknown_commands_are_errors_not_crashes() -> None:
    out = _outputs(_run("nullwrite", "frob; ~99s; .frame 999; lm m; s -b 0 L10"))
    assert all(body.startswith("^ ") for body in out.values()), out


def test_ipython_magic_runs_on_the_notebooks_dump(capsys: pytest.CaptureFixture[str]) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    try:
        ip.run_line_magic("load_ext", "dumplib.shell.magic")
        rip = RawDump(_dmp("nullwrite")).threads()[0]["context"]["rip"]
        with dumplib.open(_dmp("nullwrite")) as dump:
            ip.user_ns["dump"] = dump
            ip.run_line_magic("dumplib", "lm; r rip")
        out = capsys.readouterr().out
        assert "00000001`40000000" in out
        assert f"rip={rip:016x}" in out
        assert "nullwrite" in out and "0:000>" not in out
    finally:
        InteractiveShell.clear_instance()


def test_unusable_input_is_one_line_and_exit_1(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "not.dmp"
    bad.write_bytes(b"this is not a minidump at all")
    assert main(["shell", str(bad), "-c", "k"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("dumplib: error:")


def test_completion_of_commands_modules_symbols_and_registers() -> None:
    from dumplib.shell.repl import completions

    truth, _ = _load("nullwrite")
    with dumplib.open(_dmp("nullwrite")) as dump:
        session = dumplib.shell.Session(dump, _symbols("nullwrite"))
        assert {"k", "kb", "kn", "kv", "kp"} <= set(completions(session, "k"))
        assert "!analyze -v" in completions(session, "!an")
        assert completions(session, "lm m nullw") == ["nullwrite"]
        assert completions(session, "u nullwrite!lev") == sorted(
            f"nullwrite!{f}" for f in truth["crash_stack"] if f.startswith("level"))
        assert "@rsp" in completions(session, "dq @rs")
        assert completions(session, "x nosuchmodule!") == []
