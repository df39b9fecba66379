"""The crash reason on every operating system, as minidump-stackwalk states it.

:func:`crash_reason` reads the exception record the way its writer filled it
(see :mod:`dumplib.format.oscodes`): Windows exception codes, Linux and
Android signals with their ``si_code``, macOS and iOS Mach exceptions with
their codes, crashpad's unwrapped EXC_CRASH. It gives one
:class:`CrashReason`: the reason string minidump-stackwalk prints
(``"SIGSEGV / SEGV_MAPERR"``, ``"EXC_BAD_ACCESS / KERN_INVALID_ADDRESS"``,
``"EXCEPTION_ACCESS_VIOLATION_WRITE"``), the crash address, the access type
when the record says it, whether the CPU raised it (so the instruction at the
ip is the one that faulted) and whether there was a crash at all (breakpad's
"dump requested", crashpad's simulated exception).

:func:`summarize_os_exception` turns it into the
:class:`~dumplib.analysis.model.ExceptionSummary` the rest of the analysis
reads, for dumps not written on Windows; the access type then comes from the
faulting instruction's memory operand.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from dumplib.analysis.model import ExceptionSummary
from dumplib.codes import name_of_exception
from dumplib.format.constants import Arch, PlatformId
from dumplib.format.oscodes import (
    CRASHPAD_SIMULATED,
    DUMP_REQUESTED,
    MAC_GUARD_FLAVORS,
    MAC_RESOURCE_FLAVORS,
    WINDOWS_SIMULATED,
    LinuxSignal,
    MachException,
    linux_si_code_name,
    mac_subcode_name,
)
from dumplib.model.dump import DumpFile

__all__ = ["CrashReason", "OsFamily", "crash_reason", "os_family", "summarize_os_exception"]

_ACCESS_WINDOWS = {0: "READ", 1: "WRITE", 8: "EXEC"}
_HARDWARE_SIGNALS = frozenset(
    {LinuxSignal.SIGSEGV, LinuxSignal.SIGBUS, LinuxSignal.SIGILL, LinuxSignal.SIGFPE,
     LinuxSignal.SIGTRAP}
)
_HARDWARE_MACH = frozenset(
    {MachException.EXC_BAD_ACCESS, MachException.EXC_BAD_INSTRUCTION,
     MachException.EXC_ARITHMETIC, MachException.EXC_BREAKPOINT}
)
#: Mach exceptions minidump-stackwalk names (it has no name for EXC_CRASH, 10).
_STACKWALK_MACH = frozenset(MachException) - {MachException.EXC_CRASH,
                                              MachException.EXC_CORPSE_NOTIFY}


class OsFamily(str, enum.Enum):
    """The operating system family whose conventions fill the exception record."""

    WINDOWS = "windows"
    LINUX = "linux"
    ANDROID = "android"
    MACOS = "macos"
    IOS = "ios"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class CrashReason:
    """Why the dump was written, decoded for its operating system.

    Attributes:
        os: whose conventions the record follows.
        thread_id: the thread the record names.
        code, flags: ExceptionCode and ExceptionFlags as written.
        reason: minidump-stackwalk's ``crash_info.type`` string, except that a
            crashpad-unwrapped EXC_CRASH is named (``"EXC_CRASH / SIGABRT"``)
            where minidump-stackwalk prints ``unknown 0x...``.
        name: the primary name (``"SIGSEGV"``, ``"EXC_BAD_ACCESS"``,
            ``"EXCEPTION_ACCESS_VIOLATION"``, ``"DUMP_REQUESTED"``), or None.
        subcode_name: ``si_code`` / Mach code / access-violation kind name, or None.
        address: the crash address (the inaccessible address of a Windows
            access violation, else ExceptionAddress), cut to 32 bits on 32-bit CPUs.
        access: ``"read"``, ``"write"`` or ``"execute"`` when the record says it
            (Windows access violations); None when only the instruction can tell.
        hardware: the CPU raised it, so the instruction at the ip faulted.
        crashed: False for a dump written on request (breakpad's
            ``DUMP_REQUESTED``, crashpad's simulated exception).
        signal: for EXC_CRASH, the signal that ended the process.
    """

    os: OsFamily
    thread_id: int
    code: int
    flags: int
    reason: str
    name: str | None
    subcode_name: str | None
    address: int
    access: str | None
    hardware: bool
    crashed: bool
    signal: str | None = None


def os_family(platform_id: int) -> OsFamily:
    """The :class:`OsFamily` of a SystemInfo platform id."""
    families: dict[int, OsFamily] = {
        PlatformId.LINUX: OsFamily.LINUX, PlatformId.ANDROID: OsFamily.ANDROID,
        PlatformId.MAC_OS_X: OsFamily.MACOS, PlatformId.IOS: OsFamily.IOS,
        PlatformId.WIN32_NT: OsFamily.WINDOWS, PlatformId.WIN32_WINDOWS: OsFamily.WINDOWS,
        PlatformId.WIN32s: OsFamily.WINDOWS, PlatformId.WIN32_CE: OsFamily.WINDOWS,
    }
    return families.get(platform_id, OsFamily.OTHER)


def _signal_name(number: int) -> str | None:
    try:
        return LinuxSignal(number).name
    except ValueError:
        return None


def _linux(code: int, flags: int) -> tuple[str, str | None, str | None, bool]:
    if code == DUMP_REQUESTED:
        return "DUMP_REQUESTED", "DUMP_REQUESTED", None, False
    name = _signal_name(code)
    if name is None:
        return f"unknown 0x{code:08x} / 0x{flags:08x}", None, None, False
    sub = linux_si_code_name(code, flags)
    signed = flags - (1 << 32) if flags & 0x80000000 else flags
    hardware = code in _HARDWARE_SIGNALS and signed >= 0
    if sub is None:
        return f"{name} / 0x{flags:08x}", name, None, hardware
    if sub == "SI_USER":
        return name, name, sub, hardware
    return f"{name} / {sub}", name, sub, hardware


def _mac(
    code: int, flags: int, params: tuple[int, ...], arch: Arch
) -> tuple[str, str | None, str | None, bool, str | None]:
    family = "arm" if arch in (Arch.ARM, Arch.ARM64) else "x86"
    if code == CRASHPAD_SIMULATED:
        return "Simulated Exception", "SIMULATED", None, False, None
    if code not in _STACKWALK_MACH:
        if params and params[0] == MachException.EXC_CRASH and len(params) >= 2:
            # crashpad unwrapped EXC_CRASH: code0 holds the signal and the original exception
            signal = _signal_name((params[1] >> 24) & 0xFF)
            original = (params[1] >> 20) & 0xF
            try:
                inner = MachException(original).name if original else None
            except ValueError:
                inner = None
            parts = ["EXC_CRASH", *(p for p in (inner, signal) if p)]
            return " / ".join(parts), "EXC_CRASH", signal, False, signal
        return f"unknown 0x{code:08x} / 0x{flags:08x}", None, None, False, None
    exc = MachException(code)
    sub = mac_subcode_name(code, flags, family)
    hardware = exc in _HARDWARE_MACH
    if sub is None:
        return f"{exc.name} / 0x{flags:08x}", exc.name, None, hardware, None
    if exc in (MachException.EXC_RESOURCE, MachException.EXC_GUARD) and len(params) >= 3:
        detail = (_resource if exc == MachException.EXC_RESOURCE else _guard)(
            (flags >> 29) & 7, params[1], params[2])
        return f"{exc.name} / {sub}{detail}", exc.name, sub, hardware, None
    return f"{exc.name} / {sub}", exc.name, sub, hardware, None


def _raw(code: int, subcode: int) -> str:
    return f"0x{code:016x} / 0x{subcode:016x}"


def _resource(kind: int, code: int, subcode: int) -> str:
    """EXC_RESOURCE details as minidump-stackwalk prints them (XNU's exc_resource.h bits)."""
    flavor = MAC_RESOURCE_FLAVORS.get(kind, {}).get((code >> 58) & 7)
    if flavor is None:
        return f" / {_raw(code, subcode)}"
    if kind == 1:
        return (f" / {flavor} interval: {(code >> 7) & 0x1FFFFFF}s CPU limit: {code & 7}% "
                f"CPU consumed: {subcode & 7}%")
    if kind == 2:
        return (f" / {flavor} interval: {(code >> 20) & 0xFFFFF}s wakeups permitted: "
                f"{code & 0xFFF} wakeups observed: {subcode & 0xFFF}")
    if kind == 3:
        return f" / {flavor} high watermark limit: {code & 0x1FFF}MiB"
    if kind == 4:
        return (f" / {flavor} interval: {(code >> 15) & 0x1FFFF}s I/O limit: {code & 0x7FFF}% "
                f"I/O observed: {subcode & 0x7FFF}%")
    return f" / {flavor} high watermark limit: {code & 0x7FFF}"


def _guard(kind: int, code: int, subcode: int) -> str:
    """EXC_GUARD details as minidump-stackwalk prints them (XNU's exc_guard.h bits)."""
    if kind == 0:
        return ""
    if kind == 3:
        return f"/ namespace: {code & 0xFFFFFFFF} guard identifier: {subcode}"
    flavor = MAC_GUARD_FLAVORS.get(kind, {}).get((code >> 32) & 0x1FFFFFFF)
    if flavor is None:
        return f" / {_raw(code, subcode)}"
    if kind == 1:
        tail = f" subcode: {subcode}" if subcode else ""
        return f" / {flavor} port name: {code & 0xFFFFFFF}{tail}"
    if kind == 2:
        return f" / {flavor} file descriptor: {code & 0xFFFFFFF} guard identifier: {subcode}"
    if kind == 4:
        return f" / {flavor} pid: {code & 0xFFFFFFF} guard identifier: {subcode}"
    if kind == 5:
        return f" / {flavor} offset: {subcode}"
    return f" / {flavor} syscall: {subcode}"


#: Codes minidump-stackwalk spells as words rather than names.
_WINDOWS_WORDS = {0xE06D7363: "Unhandled C++ Exception", 0xE0000008: "Out of Memory"}


def _windows(code: int, params: tuple[int, ...]) -> tuple[str, str | None, str | None, bool]:
    name = name_of_exception(code)
    if code == WINDOWS_SIMULATED:
        return "Simulated Exception", "SIMULATED", None, False
    hardware = (code >> 28) in (0x8, 0xC) and not (code >> 16) & 0xFFF
    if code in _WINDOWS_WORDS:
        return _WINDOWS_WORDS[code], name, None, hardware
    if code == 0xC0000409 and params:  # __fastfail: the FAST_FAIL_* code in parameters[0]
        from dumplib.analysis.exceptions import FAST_FAIL_CODES

        fast = params[0] & 0xFFFFFFFF
        sub = FAST_FAIL_CODES.get(fast, f"0x{fast:08x}")
        return f"EXCEPTION_STACK_BUFFER_OVERRUN / {sub}", name, sub, False
    if name is None:
        return f"unknown 0x{code:08x}", None, None, hardware
    if code == 0xC0000005 and params and params[0] in _ACCESS_WINDOWS:
        sub = _ACCESS_WINDOWS[params[0]]
        return f"{name}_{sub}", name, sub, hardware
    if code == 0xC0000006 and len(params) >= 3 and params[0] in _ACCESS_WINDOWS:
        sub = _ACCESS_WINDOWS[params[0]]
        status = params[2] & 0xFFFFFFFF
        status_name = name_of_exception(status) or f"0x{status:08x}"
        return f"{name}_{sub} / {status_name}", name, sub, hardware
    return name, name, None, hardware


def crash_reason(dump: DumpFile) -> CrashReason | None:
    """Decode ``dump.exception`` by the conventions of the OS that wrote it.

    Returns:
        The :class:`CrashReason`, or None when the dump has no exception stream.
    """
    exc = dump.exception
    if exc is None:
        return None
    system = dump.system
    family = os_family(system.platform_id) if system.present else OsFamily.WINDOWS
    code, flags = exc.code & 0xFFFFFFFF, exc.flags & 0xFFFFFFFF
    params = tuple(exc.parameters)
    address = exc.address
    access: str | None = None
    signal: str | None = None
    if family in (OsFamily.LINUX, OsFamily.ANDROID):
        reason, name, sub, hardware = _linux(code, flags)
        crashed = code != DUMP_REQUESTED
    elif family in (OsFamily.MACOS, OsFamily.IOS):
        reason, name, sub, hardware, signal = _mac(code, flags, params, system.arch)
        crashed = code != CRASHPAD_SIMULATED
    else:
        if code == DUMP_REQUESTED:
            reason, name, sub, hardware = "DUMP_REQUESTED", "DUMP_REQUESTED", None, False
        elif code == CRASHPAD_SIMULATED:
            reason, name, sub, hardware = "Simulated Exception", "SIMULATED", None, False
        else:
            reason, name, sub, hardware = _windows(code, params)
        crashed = code not in (DUMP_REQUESTED, CRASHPAD_SIMULATED, WINDOWS_SIMULATED)
        if code in (0xC0000005, 0xC0000006) and len(params) >= 2:
            address = params[1]
            access = {0: "read", 1: "write", 8: "execute"}.get(params[0])
    if system.pointer_size == 4:
        address &= 0xFFFFFFFF
    return CrashReason(
        os=family, thread_id=exc.thread_id, code=code, flags=flags, reason=reason, name=name,
        subcode_name=sub, address=address, access=access, hardware=hardware, crashed=crashed,
        signal=signal,
    )


def _instruction_access(dump: DumpFile, ip: int, fault: int | None) -> str | None:
    """The access the instruction at ``ip`` makes (read / write), from its memory operand."""
    code = dump.memory.try_read(ip, 16)
    exc = dump.exception
    ctx = exc.context if exc is not None else None
    if not code or ctx is None:
        return None
    from dumplib.unwind.disasm import FaultExplanation, explain_fault
    from dumplib.unwind.disasm_arm64 import explain_fault_arm64

    why: FaultExplanation | None
    try:
        if dump.system.arch is Arch.ARM64:
            why = explain_fault_arm64(code, ip, dict(ctx), fault_address=fault)
        elif dump.system.arch not in (Arch.X86, Arch.AMD64):
            return None
        else:
            why = explain_fault(code, ip, dict(ctx), bits=dump.system.pointer_size * 8,
                                fault_address=fault)
    except Exception:  # capstone missing or the bytes do not decode
        return None
    return None if why is None else why.access


def summarize_os_exception(dump: DumpFile) -> ExceptionSummary | None:
    """An :class:`ExceptionSummary` for a dump written on Linux, Android, macOS or iOS.

    The ``kind`` is ``"access_violation"`` for SIGSEGV/SIGBUS/EXC_BAD_ACCESS,
    ``"dump_requested"`` when nothing crashed, ``"abort"`` for SIGABRT and
    EXC_CRASH from it, ``"breakpoint"``, ``"arithmetic"``, ``"illegal_instruction"``
    or ``"other"``; the access type comes from the faulting instruction.

    Returns:
        The summary, or None when the dump has no exception stream.
    """
    why = crash_reason(dump)
    exc = dump.exception
    if why is None or exc is None:
        return None
    ctx = exc.context
    ip = ctx.ip if ctx is not None else exc.address
    name = why.name
    kind = "other"
    if not why.crashed:
        kind = "dump_requested"
    elif name in ("SIGSEGV", "SIGBUS", "EXC_BAD_ACCESS"):
        kind = "access_violation"
    elif name == "SIGABRT" or why.signal == "SIGABRT":
        kind = "abort"
    elif name in ("SIGTRAP", "EXC_BREAKPOINT"):
        kind = "breakpoint"
    elif name in ("SIGFPE", "EXC_ARITHMETIC"):
        kind = "arithmetic"
    elif name in ("SIGILL", "EXC_BAD_INSTRUCTION"):
        kind = "illegal_instruction"
    access = target = target_kind = None
    if kind == "access_violation":
        target = why.address
        access = _instruction_access(dump, ip, target)
        target_kind = "null_page" if target < 0x10000 else (
            "module" if dump.modules.find(target) is not None else "wild")
    module = dump.modules.find(ip)
    where = f"{module.name}+0x{ip - module.base:x}" if module else f"0x{ip:x}"
    if kind == "dump_requested":
        desc = f"{why.reason}: the dump was written on request, nothing crashed"
        message = "The dump was requested; the process did not crash."
    else:
        desc = f"{why.reason} at {where}"
        if target is not None:
            desc += f": {access or 'access'} of address 0x{target:x}"
        message = ""
    return ExceptionSummary(
        thread_id=exc.thread_id,
        code=why.code,
        name=name,
        message=message,
        kind=kind,
        address=ip,
        module=module.name if module else None,
        module_offset=ip - module.base if module else None,
        flags=why.flags,
        noncontinuable=why.crashed,
        parameters=tuple(exc.parameters),
        access=access,
        target=target,
        target_kind=target_kind,
        subcode=why.flags if why.subcode_name else None,
        subcode_name=why.subcode_name,
        chance="second" if why.crashed else "unknown",
        chance_source=f"{why.os.value} crash" if why.crashed else None,
        description=desc,
    )
