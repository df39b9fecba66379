"""Register context: ``r``, ``.ecxr``, ``.cxr``, ``.exr``, ``.lastevent``.

The registers shown are the scope's: the current thread's context, or the
exception's after ``.ecxr``, or a CONTEXT record read from memory after
``.cxr ADDRESS``, with a caller frame's recovered registers after ``.frame N``.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Mapping
from typing import Any

from dumplib.format.constants import Arch
from dumplib.shell.expr import evaluate
from dumplib.shell.session import Output, Session, ShellError

__all__ = ["cxr", "ecxr", "exception_code_text", "exr", "lastevent", "r", "registers_output"]

_AMD64_ROWS = (
    ("rax", "rbx", "rcx"), ("rdx", "rsi", "rdi"), ("rip", "rsp", "rbp"),
    ("r8", "r9", "r10"), ("r11", "r12", "r13"), ("r14", "r15"),
)
_X86_ROWS = (("eax", "ebx", "ecx", "edx", "esi", "edi"),)
_SEGMENTS = ("cs", "ss", "ds", "es", "fs", "gs")

#: The names WinDbg gives common exception codes in ``.exr`` and ``.lastevent``.
_FRIENDLY = {
    0xC0000005: "Access violation",
    0x80000003: "Break instruction exception",
    0x80000004: "Single step exception",
    0xC00000FD: "Stack overflow",
    0xC0000409: "Security check failure or stack buffer overrun",
    0xC0000374: "Heap corruption",
    0xC0000094: "Integer divide-by-zero",
    0xC000001D: "Illegal instruction",
    0xC0000006: "In-page I/O error",
    0xE06D7363: "C++ EH exception",
    0xE0434352: "CLR exception",
    0xC0000602: "Unknown exception",
}


def exception_code_text(code: int) -> str:
    """WinDbg's short name for an exception code (``Access violation``), else
    ``Unknown exception``."""
    return _FRIENDLY.get(code, "Unknown exception")


def _flags_text(efl: int) -> str:
    bits = (
        (11, "ov", "nv"), (10, "dn", "up"), (9, "ei", "di"), (7, "ng", "pl"),
        (6, "zr", "nz"), (4, "ac", "na"), (2, "pe", "po"), (0, "cy", "nc"),
    )
    flags = " ".join(on if efl >> bit & 1 else off for bit, on, off in bits)
    return f"iopl={efl >> 12 & 3:<9} {flags}"


def _full(session: Session, regs: Mapping[str, int]) -> list[str]:
    arch = session.arch
    if arch is Arch.AMD64:
        lines = [" ".join(f"{n:>3}={regs.get(n, 0):016x}" for n in row) for row in _AMD64_ROWS]
        lines.append(_flags_text(regs.get("eflags", 0)))
        segs = "  ".join(f"{n}={regs.get('seg_' + n, 0):04x}" for n in _SEGMENTS)
        lines.append(f"{segs}             efl={regs.get('eflags', 0):08x}")
        return lines
    if arch is Arch.X86:
        lines = [" ".join(f"{n}={regs.get(n, 0):08x}" for n in _X86_ROWS[0])]
        lines.append(" ".join(f"{n}={regs.get(n, 0):08x}" for n in ("eip", "esp", "ebp"))
                     + " " + _flags_text(regs.get("eflags", 0)))
        segs = "  ".join(f"{n}={regs.get('seg_' + n, 0):04x}" for n in _SEGMENTS)
        lines.append(f"{segs}             efl={regs.get('eflags', 0):08x}")
        return lines
    names = [n for n in (*(f"x{i}" for i in range(29)), "fp", "lr", "sp", "pc") if n in regs]
    lines = []
    for i in range(0, len(names), 4):
        lines.append(" ".join(f"{n:>3}={regs[n]:016x}" for n in names[i:i + 4]))
    if "cpsr" in regs:
        lines.append(f"cpsr={regs['cpsr']:08x}")
    return lines


def _one(session: Session, regs: Mapping[str, int], name: str) -> tuple[str, int]:
    low = name.strip().lstrip("@").lower()
    if low in regs:
        return low, regs[low]
    if low.startswith("$"):
        from dumplib.shell.expr import pseudo_register

        return low, pseudo_register(session, low[1:], name)
    if session.arch is Arch.AMD64:
        if low.startswith("e") and "r" + low[1:] in regs:
            return low, regs["r" + low[1:]] & 0xFFFFFFFF
        if low.endswith("d") and low[:-1] in regs:
            return low, regs[low[:-1]] & 0xFFFFFFFF
    seg = "seg_" + low
    if seg in regs:
        return low, regs[seg]
    if low in ("efl", "eflags"):
        return "efl", regs.get("eflags", 0)
    raise ShellError(f"Bad register error at '{name.strip()}'")


def _current_instruction(session: Session, regs: Mapping[str, int]) -> list[str]:
    ip = regs.get("rip", regs.get("eip", regs.get("pc")))
    if ip is None:
        return []
    from dumplib.shell.code import instruction_lines

    try:
        lines = instruction_lines(session, ip, 1)
    except ShellError:
        return [f"{session.symbol(ip)}:"]
    note = _effective_address(session, ip, lines[0])
    return [f"{session.symbol(ip)}:", lines[0] + note]


_OPERAND_SIZE = {"byte ptr": 1, "word ptr": 2, "dword ptr": 4, "qword ptr": 8}


def _effective_address(session: Session, ip: int, line: str) -> str:
    """`` ds:ADDRESS=VALUE`` for the faulting instruction's memory operand, as WinDbg ends
    the instruction line of ``r`` (``????????`` when the dump lacks the bytes); '' for
    other instructions or scopes."""
    exc = session.dump.exception
    ctx = exc.context if exc is not None else None
    if session.context_label != "exception" or ctx is None or ctx.ip != ip:
        return ""
    m = re.search(r"\b(byte|word|dword|qword) ptr\b", line)
    size = _OPERAND_SIZE[m.group(1) + " ptr"] if m else None
    why = session.dump.explain_fault(session.symbols)
    if size is None or why is None or why.address is None:
        return ""
    data = session.dump.memory.try_read(why.address, size)
    value = "??" * size if data is None else f"{int.from_bytes(data, 'little'):0{2 * size}x}"
    seg = "ss" if re.search(r"\[(?:r|e)?(?:sp|bp)\b", line) else "ds"
    return f" {seg}:{session.addr(why.address)}={value}"


def registers_output(session: Session, args: str) -> Output:
    """Registers of the scope (all of them, or the listed ones) as ``r`` prints them."""
    regs = session.registers()
    if args.strip():
        names = [n for n in args.replace(",", " ").split() if n]
        values = [_one(session, regs, n) for n in names]
        digits = 2 * session.pointer_size
        text = " ".join(
            f"{n}={v:0{8 if n.startswith('e') and session.pointer_size == 8 else digits}x}"
            for n, v in values)
        return Output(text, {n: v for n, v in values})
    lines = _full(session, regs) + _current_instruction(session, regs)
    keep = {k: v for k, v in regs.items() if v < 1 << 64}
    return Output("\n".join(lines), keep)


def r(session: Session, args: str) -> Output:
    """``r [reg[, reg...]]``: the registers of the current thread and frame
    (``.ecxr``/``.cxr`` replace the thread's context)."""
    return registers_output(session, args)


def ecxr(session: Session, args: str) -> Output:
    """``.ecxr``: switch to the exception's context record and show its registers."""
    exc = session.dump.exception
    if exc is None or exc.context is None:
        raise ShellError("Unable to get exception context, HRESULT 0x8000FFFF "
                         "(the dump has no exception record with a context)")
    idx = session.exception_thread_index()
    if idx is not None:
        session.select_thread(idx)
    session.context = exc.context
    session.context_label = "exception"
    return registers_output(session, "")


def cxr(session: Session, args: str) -> Output:
    """``.cxr [ADDRESS]``: use the CONTEXT record at ADDRESS as the register context
    (it must be in the dump); without an address, go back to the thread's own."""
    from dumplib.format.context import parse_context

    if not args.strip():
        session.context = None
        session.context_label = None
        session.frame_index = 0
        return Output("Resetting default scope", None)
    address = evaluate(session, args)
    size = {Arch.AMD64: 1232, Arch.X86: 716, Arch.ARM64: 912}.get(session.arch)
    if size is None:
        raise ShellError(f".cxr does not know {session.arch.value} contexts")
    data = session.dump.memory.read_available(address, size)
    minimum = 204 if session.arch is Arch.X86 else size  # x86 may lack ExtendedRegisters
    if len(data) < minimum:
        raise ShellError(f"Unable to read context at {session.addr(address)} "
                         f"(only {len(data)} of {size} bytes are in the dump)")
    try:
        ctx = parse_context(session.arch, data)
    except Exception as exc:  # a DumpError naming what was short
        raise ShellError(f"Unable to read context at {session.addr(address)}: {exc}") from None
    session.context = ctx
    session.context_label = "cxr"
    session.frame_index = 0
    return registers_output(session, "")


def _record_lines(session: Session, code: int, flags: int, address: int,
                  params: tuple[int, ...]) -> list[str]:
    where = session.symbol(address)
    if "+0x" in where:
        head, _, off = where.rpartition("+0x")
        where = f"{head}+0x{int(off, 16):016x}"
    lines = [
        f"ExceptionAddress: {address:0{2 * session.pointer_size}x} ({where})",
        f"   ExceptionCode: {code:08x} ({exception_code_text(code)})",
        f"  ExceptionFlags: {flags:08x}",
        f"NumberParameters: {len(params)}",
    ]
    digits = 2 * session.pointer_size
    lines += [f"   Parameter[{i}]: {p:0{digits}x}" for i, p in enumerate(params)]
    if code in (0xC0000005, 0xC0000006) and len(params) >= 2:
        kind = {0: "read from", 1: "write to", 8: "execute non-executable"}.get(params[0])
        if kind is not None:
            lines.append(f"Attempt to {kind} address {params[1]:0{digits}x}")
    return lines


_EXR64 = struct.Struct("<IIQQI4x15Q")
_EXR32 = struct.Struct("<IIIII15I")


def exr(session: Session, args: str) -> Output:
    """``.exr -1`` (the dump's exception) or ``.exr ADDRESS`` (an EXCEPTION_RECORD in memory)."""
    arg = args.strip()
    if arg in ("", "-1"):
        exc = session.dump.exception
        if exc is None:
            raise ShellError("the dump has no exception record (no ExceptionStream)")
        code, flags, address, params = exc.code, exc.flags, exc.address, tuple(exc.parameters)
    else:
        at = evaluate(session, arg)
        layout = _EXR64 if session.pointer_size == 8 else _EXR32
        data = session.dump.memory.try_read(at, layout.size)
        if data is None:
            raise ShellError(f"Cannot read Exception record @ {session.addr(at)} "
                             "(not in the dump)")
        code, flags, _next, address, n, *info = layout.unpack(data)
        params = tuple(info[: min(n, 15)])
    lines = _record_lines(session, code, flags, address, params)
    return Output("\n".join(lines), {"code": code, "flags": flags, "address": address,
                                     "parameters": list(params),
                                     "symbol": session.symbol(address)})


def lastevent(session: Session, args: str) -> Output:
    """``.lastevent``: the event the dump was written for (its exception), with the dump's time."""
    exc = session.dump.exception
    pid = session.dump.process_id or 0
    try:
        when = session.dump.time.strftime("%a %b %d %H:%M:%S.000 %Y (UTC + 0:00)")
    except Exception:  # a header time out of range
        when = "unknown"
    doc: dict[str, Any] = {"process_id": pid, "time": when}
    if exc is None:
        lines = ["Last event: none (the dump has no exception stream)"]
        doc["exception"] = None
    else:
        lines = [f"Last event: {pid:x}.{exc.thread_id:x}: {exception_code_text(exc.code)} "
                 f"- code {exc.code:08x} (first/second chance not available)"]
        doc["exception"] = {"thread_id": exc.thread_id, "code": exc.code, "name": exc.name}
    lines.append(f"  debugger time: {when}")
    return Output("\n".join(lines), doc)
