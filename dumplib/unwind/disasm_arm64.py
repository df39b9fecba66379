"""ARM64 listings and faulting-instruction explanations (capstone's AArch64 decoder).

The ARM64 counterpart of :func:`dumplib.unwind.disasm.explain_fault`: the
faulting instruction's memory operand, the registers it uses and the address
they give, so that a SIGSEGV or EXC_BAD_ACCESS on Android or iOS reads like
one on x64 (``write to [x8, #0x10] with x8 = 0x0 -> address 0x10``). Loads
(``ld*``) read, stores (``st*``) write; the access size comes from the
mnemonic (``b``/``h`` suffixes) or the data register's width.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dumplib.unwind.disasm import FaultExplanation, Instruction

__all__ = ["access_size", "disassemble_arm64", "explain_fault_arm64"]

_MASK64 = (1 << 64) - 1
_engines: dict[bool, Any] = {}


def _engine(detail: bool) -> Any:
    md = _engines.get(detail)
    if md is None:
        import capstone

        md = capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)
        md.detail = detail
        _engines[detail] = md
    return md


def disassemble_arm64(code: bytes, address: int, *, count: int = 0) -> list[Instruction]:
    """Decode ``code`` as A64 instructions starting at ``address`` (stops at undecodable words).

    Args:
        code: the bytes.
        address: the address of ``code[0]``.
        count: most instructions to return; 0 for all.
    """
    out: list[Instruction] = []
    for addr, size, mnemonic, op_str in _engine(False).disasm_lite(code, address, count):
        start = addr - address
        out.append(Instruction(addr, size, bytes(code[start : start + size]), mnemonic, op_str))
    return out


def _register(name: str, regs: Mapping[str, int]) -> int | None:
    name = {"x29": "fp", "x30": "lr", "w29": "wfp", "w30": "wlr"}.get(name, name)
    if name in regs:
        return regs[name]
    if name.startswith("w") and name[1:].isdigit() and f"x{name[1:]}" in regs:
        return regs[f"x{name[1:]}"] & 0xFFFFFFFF
    if name in ("wfp", "wlr") and name[1:] in regs:
        return regs[name[1:]] & 0xFFFFFFFF
    if name in ("xzr", "wzr"):
        return 0
    return None


def access_size(mnemonic: str, first_register: str | None) -> int | None:
    """Bytes one load or store moves: by suffix (``strb`` 1, ``ldrh`` 2, ``ldrsw`` 4),
    else by the data register (``w`` 4, ``x``/``d`` 8, ``q`` 16, ``s`` 4, ``h`` 2, ``b`` 1);
    pairs (``ldp``/``stp``) move two."""
    base = mnemonic.rstrip(".")
    size: int | None = None
    if base.endswith("b") and base not in ("sub",):
        size = 1
    elif base.endswith("h"):
        size = 2
    elif base.endswith("sw"):
        size = 4
    elif first_register:
        size = {"w": 4, "x": 8, "d": 8, "q": 16, "s": 4, "h": 2, "b": 1}.get(first_register[0])
    if size is not None and base.startswith(("ldp", "stp", "ldnp", "stnp")):
        size *= 2
    return size


def explain_fault_arm64(
    code: bytes,
    ip: int,
    regs: Mapping[str, int],
    *,
    fault_address: int | None = None,
    software: bool = False,
) -> FaultExplanation | None:
    """Explain the A64 instruction at ``ip`` that faulted.

    Args:
        code: at least the 4 bytes at ``ip``.
        ip: the faulting instruction's address.
        regs: the context's registers (``x0``.., ``fp``, ``lr``, ``sp``, ``pc``).
        fault_address: the inaccessible address the exception reports, if any.
        software: the exception was raised in software: the instruction is only described.

    Returns:
        The explanation, or None when the bytes do not decode.
    """
    from capstone import arm64 as cs_arm64

    decoded = next(iter(_engine(True).disasm(code[:4], ip, 1)), None)
    if decoded is None:
        return None
    insn = Instruction(decoded.address, decoded.size, bytes(decoded.bytes), decoded.mnemonic,
                       decoded.op_str)
    if software:
        return FaultExplanation(insn, None, None, {}, None, None, None,
                                f"{insn.text}: raised in software; this instruction did not fault")
    mnemonic = decoded.mnemonic
    kind = "write" if mnemonic.startswith("st") else "read" if mnemonic.startswith("ld") else None
    for op in decoded.operands:
        if op.type != cs_arm64.ARM64_OP_MEM:
            continue
        used: dict[str, int] = {}
        total: int | None = op.mem.disp
        for reg_id in (op.mem.base, op.mem.index):
            if not reg_id:
                continue
            name = decoded.reg_name(reg_id)
            value = _register(name, regs)
            if value is None or total is None:
                total = None
                continue
            used[name] = value
            total += value
        if total is not None:
            total &= _MASK64
        operand = decoded.op_str[decoded.op_str.index("[") :] if "[" in decoded.op_str else ""
        regs_text = ", ".join(f"{k} = 0x{v:x}" for k, v in used.items())
        verb = kind or "access"
        text = f"{verb} to {operand}" if kind == "write" else f"{verb} from {operand}"
        if regs_text:
            text += f" with {regs_text}"
        if total is not None:
            text += f" -> address 0x{total:x}"
        matches = None if total is None or fault_address is None else total == fault_address
        if matches is False and fault_address is not None:
            text += f" (the exception reports 0x{fault_address:x})"
        return FaultExplanation(insn, kind, operand, used, total, fault_address, matches, text)
    return FaultExplanation(insn, None, None, {}, None, fault_address, None,
                            f"{insn.text}: no memory operand")
