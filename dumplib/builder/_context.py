"""CPU context records (winnt.h ``CONTEXT``) for AMD64, x86 and ARM64, encoded by register name.

Offsets come from winnt.h: the AMD64 ``CONTEXT`` is 1232 bytes (0x4D0) with the
XMM registers inside ``FltSave`` (XMM_SAVE_AREA32 at 0x100, Xmm0 at 0x1A0); the
x86 ``CONTEXT`` is 716 bytes with a 112-byte FLOATING_SAVE_AREA and 512 bytes of
``ExtendedRegisters`` (an FXSAVE image, Xmm0 at +0xA0 in it); the ARM64
``CONTEXT`` is 912 bytes (0x390).

Register names are lower case (the snake_case of winnt.h's field names; the
FPU save-area fields carry an ``fpu_`` prefix, x87 registers are ``st0``..``st7``,
vector registers ``xmm0``.. / ``v0``.. as 128-bit integers); unspecified
registers are zero. AMD64 ``mx_csr`` is the CONTEXT's own MxCsr field and
``fpu_mx_csr`` the copy inside FltSave; x86 ``mx_csr`` and ``xmm0``..``xmm7``
live in the FXSAVE image in ExtendedRegisters. The default ``context_flags`` of
each architecture is listed in :data:`DEFAULT_CONTEXT_FLAGS`.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "CONTEXT_SIZES",
    "DEFAULT_CONTEXT_FLAGS",
    "REGISTERS",
    "encode_context",
    "ip_register",
    "sp_register",
]

#: name -> (offset, size in bytes)
_Layout = dict[str, tuple[int, int]]


def _amd64() -> _Layout:
    regs: _Layout = {f"p{i}_home": (0x08 * (i - 1), 8) for i in range(1, 7)}
    regs.update({"context_flags": (0x30, 4), "mx_csr": (0x34, 4)})
    for i, name in enumerate(("seg_cs", "seg_ds", "seg_es", "seg_fs", "seg_gs", "seg_ss")):
        regs[name] = (0x38 + 2 * i, 2)
    regs["eflags"] = (0x44, 4)
    for i, name in enumerate(("dr0", "dr1", "dr2", "dr3", "dr6", "dr7")):
        regs[name] = (0x48 + 8 * i, 8)
    gprs = ("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
            *(f"r{i}" for i in range(8, 16)), "rip")
    for i, name in enumerate(gprs):
        regs[name] = (0x78 + 8 * i, 8)
    # FltSave (XMM_SAVE_AREA32) at 0x100
    for name, where in (
        ("fpu_control_word", (0x100, 2)), ("fpu_status_word", (0x102, 2)),
        ("fpu_tag_word", (0x104, 1)), ("fpu_error_opcode", (0x106, 2)),
        ("fpu_error_offset", (0x108, 4)), ("fpu_error_selector", (0x10C, 2)),
        ("fpu_data_offset", (0x110, 4)), ("fpu_data_selector", (0x114, 2)),
        ("fpu_mx_csr", (0x118, 4)), ("fpu_mx_csr_mask", (0x11C, 4)),
    ):
        regs[name] = where
    for i in range(8):
        regs[f"st{i}"] = (0x120 + 16 * i, 16)
    for i in range(16):
        regs[f"xmm{i}"] = (0x1A0 + 16 * i, 16)
    for i, name in enumerate((
        "vector_control", "debug_control", "last_branch_to_rip", "last_branch_from_rip",
        "last_exception_to_rip", "last_exception_from_rip",
    )):
        regs[name] = (0x4A0 + 8 * i, 8)
    return regs


def _x86() -> _Layout:
    regs: _Layout = {"context_flags": (0x00, 4)}
    for i, name in enumerate(("dr0", "dr1", "dr2", "dr3", "dr6", "dr7")):
        regs[name] = (0x04 + 4 * i, 4)
    # FloatSave (FLOATING_SAVE_AREA, 112 bytes) at 0x1C
    for i, name in enumerate(("fpu_control_word", "fpu_status_word", "fpu_tag_word",
                              "fpu_error_offset", "fpu_error_selector", "fpu_data_offset",
                              "fpu_data_selector")):
        regs[name] = (0x1C + 4 * i, 4)
    regs["fpu_cr0_npx_state"] = (0x1C + 0x6C, 4)
    for i, name in enumerate(("seg_gs", "seg_fs", "seg_es", "seg_ds", "edi", "esi", "ebx",
                              "edx", "ecx", "eax", "ebp", "eip", "seg_cs", "eflags", "esp",
                              "seg_ss")):
        regs[name] = (0x8C + 4 * i, 4)
    # ExtendedRegisters (FXSAVE image) at 0xCC: MXCSR at +0x18, XMM0..7 at +0xA0.
    regs["mx_csr"] = (0xCC + 0x18, 4)
    for i in range(8):
        regs[f"xmm{i}"] = (0xCC + 0xA0 + 16 * i, 16)
    return regs


def _arm64() -> _Layout:
    regs: _Layout = {"context_flags": (0x00, 4), "cpsr": (0x04, 4)}
    for i in range(29):
        regs[f"x{i}"] = (0x08 + 8 * i, 8)
    regs.update({"fp": (0xF0, 8), "lr": (0xF8, 8), "sp": (0x100, 8), "pc": (0x108, 8)})
    for i in range(32):
        regs[f"v{i}"] = (0x110 + 16 * i, 16)
    regs.update({"fpcr": (0x310, 4), "fpsr": (0x314, 4)})
    for i in range(8):
        regs[f"bcr{i}"] = (0x318 + 4 * i, 4)
        regs[f"bvr{i}"] = (0x338 + 8 * i, 8)
    for i in range(2):
        regs[f"wcr{i}"] = (0x378 + 4 * i, 4)
        regs[f"wvr{i}"] = (0x380 + 8 * i, 8)
    return regs


#: Register layouts by architecture name.
REGISTERS: dict[str, _Layout] = {"amd64": _amd64(), "x86": _x86(), "arm64": _arm64()}
#: Register aliases accepted on input.
_ALIASES: dict[str, dict[str, str]] = {
    "amd64": {}, "x86": {}, "arm64": {"x29": "fp", "x30": "lr"},
}
#: ``sizeof(CONTEXT)`` by architecture.
CONTEXT_SIZES: dict[str, int] = {"amd64": 0x4D0, "x86": 0x2CC, "arm64": 0x390}
#: Default ``ContextFlags``: AMD64 CONTEXT_ALL (CONTEXT_AMD64 | CONTROL | INTEGER | SEGMENTS |
#: FLOATING_POINT | DEBUG_REGISTERS = 0x10001F); x86 CONTEXT_ALL | CONTEXT_EXTENDED_REGISTERS
#: (0x1003F); ARM64 CONTEXT_FULL (CONTEXT_ARM64 | CONTROL | INTEGER | FLOATING_POINT = 0x400007).
DEFAULT_CONTEXT_FLAGS: dict[str, int] = {"amd64": 0x10001F, "x86": 0x1003F, "arm64": 0x400007}


def ip_register(arch: str) -> str:
    """Return the name of the instruction-pointer register of ``arch``."""
    return {"amd64": "rip", "x86": "eip", "arm64": "pc"}[arch]


def sp_register(arch: str) -> str:
    """Return the name of the stack-pointer register of ``arch``."""
    return {"amd64": "rsp", "x86": "esp", "arm64": "sp"}[arch]


def encode_context(arch: str, registers: Mapping[str, int]) -> bytes:
    """Encode a ``CONTEXT`` record for ``arch`` from register values.

    Args:
        arch: ``"amd64"``, ``"x86"`` or ``"arm64"``.
        registers: lower-case register names to unsigned values; missing registers
            are zero and a missing ``context_flags`` takes the architecture default.

    Returns:
        The record, exactly ``CONTEXT_SIZES[arch]`` bytes.

    Raises:
        ValueError: unknown architecture or register, or a value that does not fit.
    """
    layout = REGISTERS.get(arch)
    if layout is None:
        raise ValueError(f"no CONTEXT layout for architecture {arch!r}")
    aliases = _ALIASES[arch]
    buf = bytearray(CONTEXT_SIZES[arch])
    values = {"context_flags": DEFAULT_CONTEXT_FLAGS[arch]}
    for name, value in registers.items():
        values[aliases.get(name, name)] = value
    for name, value in values.items():
        where = layout.get(name)
        if where is None:
            raise ValueError(f"unknown {arch} register {name!r}")
        offset, size = where
        if not 0 <= value < 1 << (8 * size):
            raise ValueError(f"{arch} register {name} value {value:#x} does not fit {size} bytes")
        buf[offset:offset + size] = value.to_bytes(size, "little")
    return bytes(buf)
