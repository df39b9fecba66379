"""Disassembly with capstone: listings, call-site checks and faulting-instruction explanations.

* :func:`disassemble` decodes instructions into :class:`Instruction` records.
* :func:`follows_call` tells whether an address is right after a CALL
  instruction (a return address), which is how stack scanning validates a
  candidate.
* :func:`explain_fault` says what the faulting instruction of an access
  violation did: which memory operand, which registers and what address it
  computed ("write to [rax+0x10] with rax = 0x0 -> address 0x10").

Capstone objects are made once per mode. Nothing here reads a dump: callers
pass the bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "FaultExplanation",
    "Instruction",
    "disassemble",
    "disassemble_around",
    "explain_fault",
    "follows_call",
]

_MASK64 = (1 << 64) - 1
_engines: dict[tuple[int, bool], Any] = {}


def _engine(bits: int, detail: bool) -> Any:
    key = (bits, detail)
    md = _engines.get(key)
    if md is None:
        import capstone

        md = capstone.Cs(
            capstone.CS_ARCH_X86, capstone.CS_MODE_64 if bits == 64 else capstone.CS_MODE_32
        )
        md.detail = detail
        _engines[key] = md
    return md


@dataclass(frozen=True, slots=True)
class Instruction:
    """One decoded instruction.

    Attributes:
        address: where it is.
        size: its length in bytes.
        raw: its bytes.
        mnemonic: e.g. ``"mov"``.
        op_str: the operands as capstone prints them (Intel syntax).
    """

    address: int
    size: int
    raw: bytes
    mnemonic: str
    op_str: str

    @property
    def text(self) -> str:
        """``mnemonic op_str``."""
        return f"{self.mnemonic} {self.op_str}".strip()

    @property
    def is_call(self) -> bool:
        """True for a CALL instruction."""
        return self.mnemonic == "call"

    def __str__(self) -> str:
        return f"0x{self.address:x}: {self.raw.hex():<16} {self.text}"


def disassemble(code: bytes, address: int, *, bits: int = 64, count: int = 0) -> list[Instruction]:
    """Decode ``code`` as x86 (32 or 64-bit) starting at ``address``.

    Decoding stops at the first undecodable byte sequence or after ``count``
    instructions (0: no limit).

    Args:
        code: the bytes.
        address: the address of ``code[0]``.
        bits: 64 or 32.
        count: most instructions to return; 0 for all.
    """
    md = _engine(bits, False)
    out: list[Instruction] = []
    for addr, size, mnemonic, op_str in md.disasm_lite(code, address, count):
        start = addr - address
        out.append(Instruction(addr, size, bytes(code[start : start + size]), mnemonic, op_str))
    return out


def disassemble_around(
    read: Callable[[int, int], bytes | None],
    address: int,
    *,
    before: int = 4,
    after: int = 6,
    bits: int = 64,
) -> list[Instruction]:
    """Instructions around ``address``: up to ``before`` ahead of it, it, and ``after`` more.

    x86 code cannot be decoded backwards, so decoding starts at each of the 48
    bytes before ``address`` in turn; the earliest start whose instructions
    land exactly on ``address`` wins.

    Args:
        read: ``read(address, size) -> bytes | None`` (None when not available).
        address: the instruction to centre on.
        before: instructions wanted ahead of it.
        after: instructions wanted after it.
        bits: 64 or 32.
    """
    tail = _read_prefix(read, address, 16 * (after + 1))
    head: list[Instruction] = []
    for back in range(48, 0, -1):
        code = read(address - back, back)
        if not code:
            continue
        decoded = disassemble(code, address - back, bits=bits)
        if decoded and decoded[-1].address + decoded[-1].size == address:
            head = decoded[-before:] if before else []
            break
    return head + disassemble(tail, address, bits=bits, count=after + 1)


def _read_prefix(read: Callable[[int, int], bytes | None], address: int, size: int) -> bytes:
    while size >= 1:
        data = read(address, size)
        if data:
            return data
        size //= 2
    return b""


def _maybe_call(before: bytes, length: int, bits: int) -> bool:
    """Cheap filter: could the ``length`` bytes ending at the return address be a CALL?"""
    n = len(before)
    if length > n:
        return False
    at = n - length
    b = before[at]
    if length == 5 and b == 0xE8:
        return True
    if bits == 64 and 0x40 <= b <= 0x4F and length >= 3:
        at += 1
        b = before[at]
    return b == 0xFF and at + 1 < n and (before[at + 1] >> 3) & 7 == 2


def follows_call(before: bytes, return_address: int, *, bits: int = 64) -> bool:
    """Whether a CALL instruction ends exactly at ``return_address``.

    Args:
        before: the bytes just before ``return_address`` (up to 8; fewer when
            not available).
        return_address: the candidate return address.
        bits: 64 or 32.

    Returns:
        True when some suffix of ``before`` decodes (with capstone) as one
        CALL instruction whose end is ``return_address``.
    """
    md = _engine(bits, False)
    n = len(before)
    for length in (5, 6, 2, 3, 7, 4, 8):
        if not _maybe_call(before, length, bits):
            continue
        chunk = before[n - length :]
        for _addr, size, mnemonic, _ops in md.disasm_lite(chunk, return_address - length, 1):
            if mnemonic == "call" and size == length:
                return True
    return False


@dataclass(frozen=True, slots=True)
class FaultExplanation:
    """What the faulting instruction did.

    Attributes:
        instruction: the instruction at the faulting ip.
        access: ``"read"``, ``"write"`` or ``"execute"`` (from the exception, else
            from the operand), or None when the instruction touches no memory.
        operand: the memory operand as written (``"[rax + 0x10]"``), or None.
        registers: the registers the operand's address uses, with their values.
        address: the address the operand computes from those registers, or None.
        fault_address: the inaccessible address the exception reports, or None.
        matches: whether ``address`` equals ``fault_address`` (None when either is unknown).
        text: the explanation in one sentence.
    """

    instruction: Instruction
    access: str | None
    operand: str | None
    registers: Mapping[str, int] = field(default_factory=dict)
    address: int | None = None
    fault_address: int | None = None
    matches: bool | None = None
    text: str = ""

    def __str__(self) -> str:
        """The one-sentence explanation (``print(dump.explain_fault())`` shows it)."""
        return self.text


_SUB32 = {
    "eax": "rax", "ebx": "rbx", "ecx": "rcx", "edx": "rdx", "esi": "rsi", "edi": "rdi",
    "ebp": "rbp", "esp": "rsp",
}


def _register_value(name: str, regs: Mapping[str, int], next_ip: int, bits: int) -> int | None:
    if name in ("rip", "eip"):
        return next_ip
    if name in regs:
        return regs[name]
    if bits == 64:
        if name in _SUB32:
            v = regs.get(_SUB32[name])
            return None if v is None else v & 0xFFFFFFFF
        if name.startswith("r") and name.endswith("d") and name[1:-1].isdigit():
            v = regs.get(name[:-1])
            return None if v is None else v & 0xFFFFFFFF
    return None


_ACCESS = {0: "read", 1: "write", 8: "execute"}


def explain_fault(
    code: bytes,
    ip: int,
    regs: Mapping[str, int],
    *,
    bits: int = 64,
    access_code: int | None = None,
    fault_address: int | None = None,
    software: bool = False,
) -> FaultExplanation | None:
    """Explain the instruction at ``ip`` that raised an access violation.

    Args:
        code: the bytes at ``ip`` (16 are enough).
        ip: the faulting instruction's address.
        regs: the faulting context's registers (lower-case names).
        bits: 64 or 32.
        access_code: EXCEPTION_ACCESS_VIOLATION's first parameter (0 read, 1
            write, 8 execute), when known.
        fault_address: its second parameter, the inaccessible address.
        software: the exception was raised in software (RaiseException, a C++
            throw): the instruction at ``ip`` did not fault and is only described.

    Returns:
        The explanation, or None when ``code`` does not decode.
    """
    import capstone
    from capstone import x86 as cs_x86

    md = _engine(bits, True)
    decoded = next(iter(md.disasm(code, ip, 1)), None)
    if decoded is None:
        return None
    insn = Instruction(
        decoded.address, decoded.size, bytes(decoded.bytes), decoded.mnemonic, decoded.op_str
    )
    next_ip = ip + decoded.size
    if software:
        text = (f"{insn.text}: the exception was raised in software (RaiseException or a "
                f"throw); this instruction did not fault")
        return FaultExplanation(insn, None, None, {}, None, None, None, text)
    access = _ACCESS.get(access_code) if access_code is not None else None
    if access == "execute":
        where = f"0x{fault_address:x}" if fault_address is not None else "a bad address"
        text = f"execute at {where}: the instruction pointer itself is not executable memory"
        return FaultExplanation(
            insn, access, None, {}, fault_address, fault_address,
            None if fault_address is None else True, text,
        )
    candidates: list[tuple[str, str, dict[str, int], int | None]] = []
    for op in decoded.operands:
        if op.type != cs_x86.X86_OP_MEM:
            continue
        mem = op.mem
        used: dict[str, int] = {}
        total: int | None = mem.disp
        for reg_id, scale in ((mem.base, 1), (mem.index, mem.scale)):
            if reg_id == 0:
                continue
            name = decoded.reg_name(reg_id)
            value = _register_value(name, regs, next_ip, bits)
            if value is None or total is None:
                total = None
                continue
            if name not in ("rip", "eip"):
                used[name] = value
            total += value * scale
        if mem.segment:
            seg = decoded.reg_name(mem.segment)
            if seg in ("fs", "gs"):
                total = None  # relative to the TEB; the base is not in the context
        if total is not None:
            total &= _MASK64 if bits == 64 else 0xFFFFFFFF
        op_access = "write" if op.access & capstone.CS_AC_WRITE else "read"
        text_op = _operand_text(decoded.op_str, len(candidates))
        candidates.append((op_access, text_op, used, total))
    if not candidates:
        # push/pop/call/ret touch the stack implicitly
        rsp = regs.get("rsp" if bits == 64 else "esp")
        text = f"{insn.text}: no explicit memory operand"
        if decoded.mnemonic in ("push", "call") and rsp is not None:
            text = f"{insn.text}: writes the stack below rsp = 0x{rsp:x} (stack overflow?)"
        return FaultExplanation(insn, access, None, {}, None, fault_address, None, text)
    chosen = candidates[0]
    for cand in candidates:
        if fault_address is not None and cand[3] is not None and cand[3] == fault_address:
            chosen = cand
            break
        if access is not None and cand[0] == access:
            chosen = cand
    op_access, op_text, used, total = chosen
    kind = access or op_access
    regs_text = ", ".join(f"{k} = 0x{v:x}" for k, v in used.items())
    text = f"{kind} to {op_text}" if kind == "write" else f"{kind} from {op_text}"
    if regs_text:
        text += f" with {regs_text}"
    if total is not None:
        text += f" -> address 0x{total:x}"
    matches = None if total is None or fault_address is None else total == fault_address
    if matches is False and fault_address is not None:
        text += f" (the exception reports 0x{fault_address:x})"
    return FaultExplanation(insn, kind, op_text, used, total, fault_address, matches, text)


def _operand_text(op_str: str, index: int) -> str:
    """The ``index``-th bracketed memory operand of ``op_str`` (with its size prefix)."""
    parts = [p.strip() for p in _split_operands(op_str)]
    mems = [p for p in parts if "[" in p]
    if index < len(mems):
        text = mems[index]
        return text[text.index("[") :] if "ptr" in text else text
    return op_str


def _split_operands(op_str: str) -> list[str]:
    out: list[str] = []
    depth = 0
    cur = ""
    for ch in op_str:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return out
