"""CPU context records (``CONTEXT``) for AMD64, x86 and ARM64.

Layouts follow ``winnt.h``: AMD64 ``CONTEXT`` is 1232 bytes, x86 ``CONTEXT`` is
716 bytes (204 without ``ExtendedRegisters``), ARM64 ``CONTEXT`` is 912 bytes.
Register names are lower case (``rip``, ``rsp``, ``eax``, ``x0``, ``pc`` ...);
128-bit vector registers are plain ``int`` values.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping
from typing import Final

from dumplib._exc import TruncatedError
from dumplib.format.constants import Arch

__all__ = [
    "AMD64_CONTEXT_SIZE",
    "ARM64_CONTEXT_SIZE",
    "ARM64_OLD_CONTEXT_SIZE",
    "ARM_CONTEXT_SIZE",
    "X86_CONTEXT_SIZE",
    "Context",
    "parse_context",
]

AMD64_CONTEXT_SIZE: Final = 1232
X86_CONTEXT_SIZE: Final = 716
X86_CONTEXT_SIZE_NO_EXT: Final = 204
ARM64_CONTEXT_SIZE: Final = 912


def _layout(spec: list[tuple[str, str]]) -> tuple[struct.Struct, tuple[str, ...]]:
    fmt = "<" + "".join(code for _, code in spec)
    names = tuple(name for name, code in spec if not code.endswith("x"))
    return struct.Struct(fmt), names


# AMD64: names in file order; "_" fields are skipped via pad bytes.
_AMD64_SPEC: list[tuple[str, str]] = [
    ("p1_home", "Q"),
    ("p2_home", "Q"),
    ("p3_home", "Q"),
    ("p4_home", "Q"),
    ("p5_home", "Q"),
    ("p6_home", "Q"),
    ("context_flags", "I"),
    ("mx_csr", "I"),
    ("seg_cs", "H"),
    ("seg_ds", "H"),
    ("seg_es", "H"),
    ("seg_fs", "H"),
    ("seg_gs", "H"),
    ("seg_ss", "H"),
    ("eflags", "I"),
    ("dr0", "Q"),
    ("dr1", "Q"),
    ("dr2", "Q"),
    ("dr3", "Q"),
    ("dr6", "Q"),
    ("dr7", "Q"),
    ("rax", "Q"),
    ("rcx", "Q"),
    ("rdx", "Q"),
    ("rbx", "Q"),
    ("rsp", "Q"),
    ("rbp", "Q"),
    ("rsi", "Q"),
    ("rdi", "Q"),
    ("r8", "Q"),
    ("r9", "Q"),
    ("r10", "Q"),
    ("r11", "Q"),
    ("r12", "Q"),
    ("r13", "Q"),
    ("r14", "Q"),
    ("r15", "Q"),
    ("rip", "Q"),
    # XMM_SAVE_AREA32 (FltSave), 512 bytes
    ("fpu_control_word", "H"),
    ("fpu_status_word", "H"),
    ("fpu_tag_word", "B"),
    ("_", "x"),
    ("fpu_error_opcode", "H"),
    ("fpu_error_offset", "I"),
    ("fpu_error_selector", "H"),
    ("_", "2x"),
    ("fpu_data_offset", "I"),
    ("fpu_data_selector", "H"),
    ("_", "2x"),
    ("fpu_mx_csr", "I"),
    ("fpu_mx_csr_mask", "I"),
]
_AMD64_HEAD, _AMD64_HEAD_NAMES = _layout(_AMD64_SPEC)
_AMD64_FLOAT_OFFSET: Final = 256 + 32  # FloatRegisters[8] inside FltSave
_AMD64_XMM_OFFSET: Final = 256 + 160  # XmmRegisters[16] inside FltSave
_AMD64_TAIL_OFFSET: Final = 1184
_AMD64_TAIL = struct.Struct("<6Q")
_AMD64_TAIL_NAMES = (
    "vector_control",
    "debug_control",
    "last_branch_to_rip",
    "last_branch_from_rip",
    "last_exception_to_rip",
    "last_exception_from_rip",
)

_X86_SPEC: list[tuple[str, str]] = [
    ("context_flags", "I"),
    ("dr0", "I"),
    ("dr1", "I"),
    ("dr2", "I"),
    ("dr3", "I"),
    ("dr6", "I"),
    ("dr7", "I"),
    ("fpu_control_word", "I"),
    ("fpu_status_word", "I"),
    ("fpu_tag_word", "I"),
    ("fpu_error_offset", "I"),
    ("fpu_error_selector", "I"),
    ("fpu_data_offset", "I"),
    ("fpu_data_selector", "I"),
    ("_", "80x"),
    ("fpu_cr0_npx_state", "I"),
    ("seg_gs", "I"),
    ("seg_fs", "I"),
    ("seg_es", "I"),
    ("seg_ds", "I"),
    ("edi", "I"),
    ("esi", "I"),
    ("ebx", "I"),
    ("edx", "I"),
    ("ecx", "I"),
    ("eax", "I"),
    ("ebp", "I"),
    ("eip", "I"),
    ("seg_cs", "I"),
    ("eflags", "I"),
    ("esp", "I"),
    ("seg_ss", "I"),
]
_X86, _X86_NAMES = _layout(_X86_SPEC)
_X86_EXT: Final = 204  # ExtendedRegisters[512]

_ARM64_HEAD = struct.Struct("<II33Q")
_ARM64_HEAD_NAMES = (
    "context_flags",
    "cpsr",
    *(f"x{i}" for i in range(29)),
    "fp",
    "lr",
    "sp",
    "pc",
)
_ARM64_V_OFFSET: Final = 272
_ARM64_TAIL = struct.Struct("<II8I8Q2I2Q")
_ARM64_TAIL_NAMES = (
    "fpcr",
    "fpsr",
    *(f"bcr{i}" for i in range(8)),
    *(f"bvr{i}" for i in range(8)),
    "wcr0",
    "wcr1",
    "wvr0",
    "wvr1",
)

#: Breakpad's / crashpad's 32-bit ARM context (MDRawContextARM): context_flags,
#: r0-r12, sp, lr, pc, cpsr, then the VFP save area (fpscr, d0-d31, 8 extra words).
ARM_CONTEXT_SIZE: Final = 368
_ARM_HEAD = struct.Struct("<I16II")
_ARM_HEAD_NAMES = ("context_flags", *(f"r{i}" for i in range(13)), "sp", "lr", "pc", "cpsr")

#: Breakpad's older ARM64 context (MDRawContextARM64_Old, context_flags bit
#: 0x80000000), packed to 4: a 64-bit context_flags, x0-x28, fp, lr, sp, pc,
#: cpsr, fpsr, fpcr, then v0-v31; 796 bytes.
ARM64_OLD_CONTEXT_SIZE: Final = 796
_ARM64_OLD_HEAD = struct.Struct("<Q31QQQIII")
_ARM64_OLD_NAMES = ("context_flags", *(f"x{i}" for i in range(29)), "fp", "lr", "sp", "pc",
                    "cpsr", "fpsr", "fpcr")

#: Shortest record accepted per architecture (x86 without ExtendedRegisters).
_MINIMUM_SIZE = {
    Arch.AMD64: AMD64_CONTEXT_SIZE,
    Arch.X86: X86_CONTEXT_SIZE_NO_EXT,
    Arch.ARM64: ARM64_OLD_CONTEXT_SIZE,  # the Windows-layout record needs ARM64_CONTEXT_SIZE
    Arch.ARM: ARM_CONTEXT_SIZE,
}
_LABEL = {Arch.AMD64: "AMD64", Arch.X86: "x86", Arch.ARM64: "ARM64", Arch.ARM: "ARM"}
_IP = {Arch.AMD64: "rip", Arch.X86: "eip", Arch.ARM64: "pc", Arch.ARM: "pc"}
_SP = {Arch.AMD64: "rsp", Arch.X86: "esp", Arch.ARM64: "sp", Arch.ARM: "sp"}
_FP = {Arch.AMD64: "rbp", Arch.X86: "ebp", Arch.ARM64: "fp", Arch.ARM: "r11"}
_ALIASES = {Arch.ARM64: {"x29": "fp", "x30": "lr"},
            Arch.ARM: {"r13": "sp", "r14": "lr", "r15": "pc", "fp": "r11"}}



def _u128s(data: bytes | memoryview, offset: int, count: int) -> list[int]:
    out = []
    for i in range(count):
        start = offset + 16 * i
        out.append(int.from_bytes(data[start : start + 16], "little"))
    return out


class Context(Mapping[str, int]):
    """A thread's CPU registers, read-only, addressed by lower-case register name.

    Attributes:
        arch: the architecture whose layout was used.
        flags: the ``ContextFlags`` field (which register groups are valid).
        raw: the bytes of the record as found in the dump.
    """

    __slots__ = ("_regs", "arch", "flags", "raw")

    def __init__(self, arch: Arch, registers: dict[str, int], raw: bytes) -> None:
        self.arch = arch
        self._regs = registers
        self.flags = registers.get("context_flags", 0)
        self.raw = raw

    def __getitem__(self, name: str) -> int:
        try:
            return self._regs[name]
        except KeyError:
            alias = _ALIASES.get(self.arch, {}).get(name)
            if alias is not None:
                return self._regs[alias]
            raise

    def __iter__(self) -> Iterator[str]:
        return iter(self._regs)

    def __len__(self) -> int:
        return len(self._regs)

    @property
    def ip(self) -> int:
        """The instruction pointer (``rip``, ``eip`` or ``pc``)."""
        return self._regs[_IP[self.arch]]

    @property
    def sp(self) -> int:
        """The stack pointer (``rsp``, ``esp`` or ``sp``)."""
        return self._regs[_SP[self.arch]]

    @property
    def fp(self) -> int:
        """The frame pointer (``rbp``, ``ebp`` or ``fp``)."""
        return self._regs[_FP[self.arch]]

    def as_dict(self) -> dict[str, int]:
        """A mutable copy of every register."""
        return dict(self._regs)

    def __repr__(self) -> str:
        if self.arch in _IP:
            return f"<Context {self.arch.value} ip=0x{self.ip:x} sp=0x{self.sp:x}>"
        return f"<Context {self.arch.value}>"


def parse_context(arch: Arch, data: bytes | memoryview, *, offset: int | None = None) -> Context:
    """Decode a CONTEXT record of the given architecture.

    Args:
        arch: the dump's architecture (from the SystemInfo stream).
        data: the record's bytes (at least the documented size; longer records,
            e.g. with XSTATE appended, are accepted).
        offset: the file offset of the record, used in error messages.

    Returns:
        The decoded :class:`Context`.

    Raises:
        TruncatedError: ``data`` is shorter than the architecture's CONTEXT.
        ValueError: ``arch`` has no supported CONTEXT layout.
    """
    size = len(data)
    minimum = _MINIMUM_SIZE.get(arch)
    if minimum is None:
        raise ValueError(f"no CONTEXT layout for architecture {arch.value}")
    if size < minimum:
        raise TruncatedError(
            f"{_LABEL[arch]} CONTEXT needs {minimum} bytes, record has {size}",
            stream="context",
            offset=offset,
        )
    regs: dict[str, int]
    if arch is Arch.AMD64:
        regs = dict(zip(_AMD64_HEAD_NAMES, _AMD64_HEAD.unpack_from(data, 0), strict=False))
        for i, v in enumerate(_u128s(data, _AMD64_FLOAT_OFFSET, 8)):
            regs[f"st{i}"] = v
        for i, v in enumerate(_u128s(data, _AMD64_XMM_OFFSET, 16)):
            regs[f"xmm{i}"] = v
        tail = _AMD64_TAIL.unpack_from(data, _AMD64_TAIL_OFFSET)
        regs.update(zip(_AMD64_TAIL_NAMES, tail, strict=False))
        return Context(arch, regs, bytes(data[:AMD64_CONTEXT_SIZE]))
    if arch is Arch.X86:
        regs = dict(zip(_X86_NAMES, _X86.unpack_from(data, 0), strict=False))
        keep = X86_CONTEXT_SIZE_NO_EXT
        if size >= X86_CONTEXT_SIZE:
            # ExtendedRegisters is an FXSAVE area: MXCSR at +24, XMM0-7 from +160.
            keep = X86_CONTEXT_SIZE
            regs["mx_csr"] = int.from_bytes(data[_X86_EXT + 24 : _X86_EXT + 28], "little")
            for i, v in enumerate(_u128s(data, _X86_EXT + 160, 8)):
                regs[f"xmm{i}"] = v
        return Context(arch, regs, bytes(data[:keep]))
    if arch is Arch.ARM:
        regs = dict(zip(_ARM_HEAD_NAMES, _ARM_HEAD.unpack_from(data, 0), strict=True))
        regs["fpscr"] = int.from_bytes(data[72:80], "little")
        for i in range(32):
            regs[f"d{i}"] = int.from_bytes(data[80 + 8 * i : 88 + 8 * i], "little")
        return Context(arch, regs, bytes(data[:ARM_CONTEXT_SIZE]))
    if size < ARM64_CONTEXT_SIZE or (
        size == ARM64_OLD_CONTEXT_SIZE and int.from_bytes(data[:4], "little") & 0x80000000
    ):
        if not int.from_bytes(data[:4], "little") & 0x80000000:
            raise TruncatedError(
                f"ARM64 CONTEXT needs {ARM64_CONTEXT_SIZE} bytes, record has {size}",
                stream="context", offset=offset)
        regs = dict(zip(_ARM64_OLD_NAMES, _ARM64_OLD_HEAD.unpack_from(data, 0), strict=True))
        for i, v in enumerate(_u128s(data, _ARM64_OLD_HEAD.size, 32)):
            regs[f"v{i}"] = v
        return Context(arch, regs, bytes(data[:ARM64_OLD_CONTEXT_SIZE]))
    regs = dict(zip(_ARM64_HEAD_NAMES, _ARM64_HEAD.unpack_from(data, 0), strict=False))
    for i, v in enumerate(_u128s(data, _ARM64_V_OFFSET, 32)):
        regs[f"v{i}"] = v
    regs.update(zip(_ARM64_TAIL_NAMES, _ARM64_TAIL.unpack_from(data, 784), strict=False))
    return Context(arch, regs, bytes(data[:ARM64_CONTEXT_SIZE]))
