"""Code: ``u``, ``ub``, ``uf``, in WinDbg's disassembly layout.

Instructions come from :meth:`dumplib.Dump.disassemble` (capstone; code bytes
from the dump, else from the module's image on the symbol path). Operands are
rewritten the way WinDbg writes them: no space after commas, hexadecimal
numbers as ``28h`` / ``0FFFFFFF0h``, and branch targets as
``module!function (address)``.
"""

from __future__ import annotations

import re
from typing import Any

from dumplib.shell.expr import evaluate, parse_number, split_args
from dumplib.shell.session import Output, Session, ShellError

__all__ = ["function_extent", "instruction_lines", "u", "ub", "uf", "windbg_operands"]

_HEX = re.compile(r"\b0x([0-9a-fA-F]+)\b")
_BRANCH = re.compile(r"^(call|jmp|j[a-z]{1,3}|loop\w*)$")


def _masm_number(m: re.Match[str]) -> str:
    value = int(m.group(1), 16)
    if value < 10:
        return str(value)
    digits = f"{value:X}"
    return ("0" + digits if digits[0] in "ABCDEF" else digits) + "h"


_RIP = re.compile(r"\[rip ([+-]) 0x([0-9a-fA-F]+)\]")


def windbg_operands(session: Session, mnemonic: str, op_str: str, next_ip: int = 0) -> str:
    """Capstone's Intel operands in WinDbg's spelling (``next_ip``: the address after the
    instruction, to resolve ``[rip+X]`` to ``[module!symbol (address)]``)."""
    if _BRANCH.match(mnemonic) and re.fullmatch(r"0x[0-9a-fA-F]+", op_str.strip()):
        target = int(op_str, 16)
        sym = session.symbol(target)
        if sym == session.addr(target):
            return sym
        return f"{sym} ({session.addr(target)})"

    def rip(m: re.Match[str]) -> str:
        delta = int(m.group(2), 16)
        target = next_ip + delta if m.group(1) == "+" else next_ip - delta
        sym = session.symbol(target)
        return f"[{sym} ({session.addr(target)})]" if sym != session.addr(target) else (
            f"[{session.addr(target)}]")

    found = _RIP.search(op_str) if next_ip else None
    text = op_str if found is None else _RIP.sub("\0", op_str, count=1)
    text = text.replace(", ", ",").replace(" + ", "+").replace(" - ", "-")
    text = _HEX.sub(_masm_number, text)
    return text if found is None else text.replace("\0", rip(found))


def _decode(session: Session, address: int, count: int) -> list[Any]:
    try:
        return list(session.dump.disassemble(address, count, symbols=session.symbols))
    except ImportError as exc:  # capstone is a dependency, but say so clearly
        raise ShellError(f"disassembly needs capstone: {exc}") from None


def _line(session: Session, ins: Any) -> str:
    raw = ins.raw.hex()
    ops = windbg_operands(session, ins.mnemonic, ins.op_str, ins.address + ins.size)
    text = f"{ins.mnemonic:<7} {ops}".rstrip()
    return f"{session.addr(ins.address)} {raw:<15} {text}"


def instruction_lines(session: Session, address: int, count: int) -> list[str]:
    """``count`` instructions from ``address`` as WinDbg's ``u`` lines (no symbol labels).

    Raises:
        ShellError: no code bytes are known at ``address``.
    """
    found = _decode(session, address, count)
    if not found:
        raise ShellError(f"Memory access error at {session.addr(address)}: "
                         "no code bytes in the dump or on the symbol path")
    return [_line(session, i) for i in found]


def _listing(session: Session, instructions: list[Any], *,
             labels: bool) -> tuple[list[str], list[Any]]:
    lines: list[str] = []
    last_fn: str | None = None
    docs: list[Any] = []
    for n, ins in enumerate(instructions):
        sym = session.symbol(ins.address)
        fn = sym.split("+0x")[0]
        if n == 0 or (labels and fn != last_fn):
            lines.append(f"{sym}:")
        last_fn = fn
        lines.append(_line(session, ins))
        docs.append({"address": ins.address, "bytes": ins.raw.hex(), "mnemonic": ins.mnemonic,
                     "operands": ins.op_str, "symbol": sym})
    return lines, docs


def _range(session: Session, args: str, default_count: int) -> tuple[int, int]:
    parts = split_args(args)
    if parts:
        address = evaluate(session, parts[0])
    else:
        cont = session.display
        address = cont.address if cont.kind == "u" else _scope_ip(session)
    count = default_count
    if len(parts) > 1:
        rest = parts[1]
        if rest[:1] in "lL":
            count = parse_number(rest[1:])
        else:
            end = evaluate(session, rest)
            count = max(1, end - address)  # an end address: decode up to it
    if count > 0x10000:
        raise ShellError(f"Range error: {count:#x} instructions are too many")
    return address, count


def _scope_ip(session: Session) -> int:
    from dumplib.shell.expr import pseudo_register

    return pseudo_register(session, "ip", "$ip")


def u(session: Session, args: str) -> Output:
    """``u [ADDRESS] [L COUNT]``: disassemble 8 instructions (default: at the scope's ip,
    or where the last ``u`` stopped)."""
    address, count = _range(session, args, 8)
    found = _decode(session, address, count)
    if not found:
        raise ShellError(f"Memory access error at {session.addr(address)}")
    lines, docs = _listing(session, found, labels=True)
    last = found[-1]
    session.display.kind, session.display.address = "u", last.address + last.size
    return Output("\n".join(lines), docs)


def function_extent(session: Session, address: int) -> tuple[int, int] | None:
    """``(start, end)`` of the function holding ``address``: from symbols with sizes
    (PDB procedures, breakpad FUNC), else from the image's unwind table (.pdata)."""
    module = session.dump.modules.find(address)
    if module is None:
        return None
    resolver = session.resolver
    session.loaded.add(module.base)
    info = resolver.lookup(module, address)
    if info is not None and info.size:
        start = module.base + info.start_rva
        return start, start + info.size
    image = resolver.image(module)
    if image is not None:
        rf = image.function_for(address - module.base)
        if rf is not None:
            return module.base + rf.begin, module.base + rf.end
    return None


def ub(session: Session, args: str) -> Output:
    """``ub [ADDRESS] [L COUNT]``: the 8 instructions that end just before ADDRESS.

    Decoding starts at the function's start when it is known (symbols or
    unwind data), else at the nearest earlier byte from which decoding lands
    exactly on ADDRESS.
    """
    parts = split_args(args)
    address = evaluate(session, parts[0]) if parts else _scope_ip(session)
    count = parse_number(parts[1][1:]) if len(parts) > 1 and parts[1][:1] in "lL" else 8
    ext = function_extent(session, address)
    candidates = [ext[0]] if ext is not None and ext[0] < address else []
    candidates += [address - back for back in range(count * 15, 0, -1)]
    for start in candidates:
        if address - start > 0x10000:
            continue
        found = _decode(session, start, address - start)
        before = [i for i in found if i.address + i.size <= address]
        if before and before[-1].address + before[-1].size == address:
            chosen = before[-count:]
            lines, docs = _listing(session, chosen, labels=True)
            return Output("\n".join(lines), docs)
    raise ShellError(f"No code found before {session.addr(address)}")


def uf(session: Session, args: str) -> Output:
    """``uf ADDRESS``: the whole function holding ADDRESS, from its start to its end
    (extent from PDB/breakpad symbols, else the image's .pdata)."""
    parts = split_args(args)
    address = evaluate(session, parts[0]) if parts else _scope_ip(session)
    ext = function_extent(session, address)
    if ext is None:
        raise ShellError(f"No function extent known for {session.addr(address)} "
                         "(no symbols with sizes and no unwind data)")
    start, end = ext
    found = [i for i in _decode(session, start, end - start) if i.address < end]
    if not found:
        raise ShellError(f"Memory access error at {session.addr(start)}")
    lines, docs = _listing(session, found, labels=True)
    return Output("\n".join(lines), {"start": start, "end": end, "instructions": docs})
