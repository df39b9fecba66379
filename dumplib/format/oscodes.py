"""Exception codes of the non-Windows minidump writers (breakpad, crashpad).

A minidump's exception record keeps Windows field names everywhere, but what
the fields hold depends on the operating system that wrote it:

Linux, Android (breakpad, crashpad)
    ``ExceptionCode`` is the signal number, ``ExceptionFlags`` the ``si_code``
    (``<asm-generic/siginfo.h>``), ``ExceptionAddress`` the ``si_addr`` (the
    faulting data address for SIGSEGV/SIGBUS). Breakpad writes ``0xFFFFFFFF``
    (:data:`DUMP_REQUESTED`) when the dump was asked for without a crash.
macOS, iOS (breakpad, crashpad)
    ``ExceptionCode`` is the Mach exception type (``<mach/exception_types.h>``),
    ``ExceptionFlags`` its first code (a ``kern_return_t`` for
    EXC_BAD_ACCESS), ``ExceptionAddress`` the second code (the faulting
    address). Crashpad unwraps EXC_CRASH into the original exception and keeps
    the raw Mach exception and codes in ``ExceptionInformation``
    (``[exception, code0, code1]``); code0 of EXC_CRASH carries the signal in
    bits 24-31 and the original exception in bits 20-23.
Any OS (crashpad)
    :data:`CRASHPAD_SIMULATED` ('CPsx') marks a dump written on request
    (``DumpWithoutCrashing``); breakpad for Windows writes
    :data:`WINDOWS_SIMULATED`.

The numbers are those of the system headers; the names are the headers'
macro names, which minidump-stackwalk prints too.
"""

from __future__ import annotations

import enum
from typing import TypeVar

_E = TypeVar("_E", bound=enum.IntEnum)

__all__ = [
    "CRASHPAD_SIMULATED",
    "DUMP_REQUESTED",
    "MAC_GUARD_FLAVORS",
    "MAC_RESOURCE_FLAVORS",
    "WINDOWS_SIMULATED",
    "LinuxSignal",
    "MachException",
    "enum_name",
    "linux_si_code_name",
    "mac_subcode_name",
]

#: Breakpad's exception code for a dump written on request, without a crash.
DUMP_REQUESTED = 0xFFFFFFFF
#: Crashpad's exception code for a dump written on request ('CPsx').
CRASHPAD_SIMULATED = 0x43507378
#: Breakpad for Windows' exception code for a requested dump.
WINDOWS_SIMULATED = 0x0517A7ED


def enum_name(kind: type[_E], value: int) -> str | None:
    """The member name of ``value`` in the int enum ``kind``, or None."""
    try:
        return kind(value).name
    except ValueError:
        return None


class LinuxSignal(enum.IntEnum):
    """Linux signal numbers (x86, ARM and most other ports)."""

    SIGHUP = 1
    SIGINT = 2
    SIGQUIT = 3
    SIGILL = 4
    SIGTRAP = 5
    SIGABRT = 6
    SIGBUS = 7
    SIGFPE = 8
    SIGKILL = 9
    SIGUSR1 = 10
    SIGSEGV = 11
    SIGUSR2 = 12
    SIGPIPE = 13
    SIGALRM = 14
    SIGTERM = 15
    SIGSTKFLT = 16
    SIGCHLD = 17
    SIGCONT = 18
    SIGSTOP = 19
    SIGTSTP = 20
    SIGTTIN = 21
    SIGTTOU = 22
    SIGURG = 23
    SIGXCPU = 24
    SIGXFSZ = 25
    SIGVTALRM = 26
    SIGPROF = 27
    SIGWINCH = 28
    SIGIO = 29
    SIGPWR = 30
    SIGSYS = 31


class MachException(enum.IntEnum):
    """Mach exception types (``<mach/exception_types.h>``)."""

    EXC_BAD_ACCESS = 1
    EXC_BAD_INSTRUCTION = 2
    EXC_ARITHMETIC = 3
    EXC_EMULATION = 4
    EXC_SOFTWARE = 5
    EXC_BREAKPOINT = 6
    EXC_SYSCALL = 7
    EXC_MACH_SYSCALL = 8
    EXC_RPC_ALERT = 9
    EXC_CRASH = 10
    EXC_RESOURCE = 11
    EXC_GUARD = 12
    EXC_CORPSE_NOTIFY = 13


#: si_code values any signal can carry (sent by a process, a timer, ...).
_SI_GENERIC: dict[int, str] = {
    0: "SI_USER", 0x80: "SI_KERNEL", -1: "SI_QUEUE", -2: "SI_TIMER", -3: "SI_MESGQ",
    -4: "SI_ASYNCIO", -5: "SI_SIGIO", -6: "SI_TKILL", -7: "SI_DETHREAD", -60: "SI_ASYNCNL",
}

#: si_code values the kernel sets for faults, per signal.
_SI_BY_SIGNAL: dict[int, dict[int, str]] = {
    LinuxSignal.SIGILL: {
        1: "ILL_ILLOPC", 2: "ILL_ILLOPN", 3: "ILL_ILLADR", 4: "ILL_ILLTRP", 5: "ILL_PRVOPC",
        6: "ILL_PRVREG", 7: "ILL_COPROC", 8: "ILL_BADSTK", 9: "ILL_BADIADDR",
    },
    LinuxSignal.SIGTRAP: {
        1: "TRAP_BRKPT", 2: "TRAP_TRACE", 3: "TRAP_BRANCH", 4: "TRAP_HWBKPT", 5: "TRAP_UNK",
        6: "TRAP_PERF",
    },
    LinuxSignal.SIGFPE: {
        1: "FPE_INTDIV", 2: "FPE_INTOVF", 3: "FPE_FLTDIV", 4: "FPE_FLTOVF", 5: "FPE_FLTUND",
        6: "FPE_FLTRES", 7: "FPE_FLTINV", 8: "FPE_FLTSUB",
    },
    LinuxSignal.SIGSEGV: {1: "SEGV_MAPERR", 2: "SEGV_ACCERR", 3: "SEGV_BNDERR", 4: "SEGV_PKUERR"},
    LinuxSignal.SIGBUS: {
        1: "BUS_ADRALN", 2: "BUS_ADRERR", 3: "BUS_OBJERR", 4: "BUS_MCEERR_AR", 5: "BUS_MCEERR_AO",
    },
    LinuxSignal.SIGSYS: {1: "SYS_SECCOMP", 2: "SYS_USER_DISPATCH"},
}


def linux_si_code_name(signal: int, si_code: int) -> str | None:
    """The name of ``si_code`` for ``signal``: a fault kind first, else a generic sender.

    Args:
        signal: the signal number.
        si_code: the value as written (the 32-bit ExceptionFlags, read as signed).

    Returns:
        e.g. ``"SEGV_MAPERR"`` or ``"SI_TKILL"``; None when unknown.
    """
    si_code = si_code - (1 << 32) if si_code & 0x80000000 else si_code
    found = _SI_BY_SIGNAL.get(signal, {}).get(si_code)
    return found if found is not None else _SI_GENERIC.get(si_code)


#: kern_return_t values of EXC_BAD_ACCESS's first code.
_KERN: dict[int, str] = {
    1: "KERN_INVALID_ADDRESS", 2: "KERN_PROTECTION_FAILURE", 5: "KERN_FAILURE",
    8: "KERN_NO_ACCESS", 9: "KERN_MEMORY_FAILURE", 10: "KERN_MEMORY_ERROR",
    50: "KERN_CODESIGN_ERROR",
}

#: First codes by (exception, CPU family): "x86" covers x86 and amd64, "arm" ARM and ARM64.
_MAC_CODES: dict[tuple[int, str], dict[int, str]] = {
    (MachException.EXC_BAD_ACCESS, "x86"): {13: "EXC_I386_GPFLT"},
    (MachException.EXC_BAD_ACCESS, "arm"): {
        0x101: "EXC_ARM_DA_ALIGN", 0x102: "EXC_ARM_DA_DEBUG", 0x103: "EXC_ARM_SP_ALIGN",
        0x104: "EXC_ARM_SWP", 0x105: "EXC_ARM_PAC_FAIL",
    },
    (MachException.EXC_BAD_INSTRUCTION, "x86"): {
        1: "EXC_I386_INVOP", 10: "EXC_I386_INVTSSFLT", 11: "EXC_I386_SEGNPFLT",
        12: "EXC_I386_STKFLT", 13: "EXC_I386_GPFLT", 17: "EXC_I386_ALIGNFLT",
    },
    (MachException.EXC_BAD_INSTRUCTION, "arm"): {1: "EXC_ARM_UNDEFINED"},
    (MachException.EXC_ARITHMETIC, "x86"): {
        1: "EXC_I386_DIV", 2: "EXC_I386_INTO", 3: "EXC_I386_NOEXT", 4: "EXC_I386_EXTOVR",
        5: "EXC_I386_EXTERR", 6: "EXC_I386_EMERR", 7: "EXC_I386_BOUND", 8: "EXC_I386_SSEEXTERR",
    },
    (MachException.EXC_ARITHMETIC, "arm"): {
        1: "EXC_ARM_FP_IO", 2: "EXC_ARM_FP_DZ", 3: "EXC_ARM_FP_OF", 4: "EXC_ARM_FP_UF",
        5: "EXC_ARM_FP_IX", 6: "EXC_ARM_FP_ID",
    },
    (MachException.EXC_BREAKPOINT, "x86"): {1: "EXC_I386_SGL", 2: "EXC_I386_BPT"},
    (MachException.EXC_BREAKPOINT, "arm"): {1: "EXC_ARM_BREAKPOINT"},
}
_MAC_SOFTWARE: dict[int, str] = {
    0x00010002: "SIGABRT", 0xDEADC0DE: "UNCAUGHT_NS_EXCEPTION",
}
#: EXC_RESOURCE and EXC_GUARD: the kind in bits 61-63 of code0 (29-31 of the 32-bit flags).
_MAC_RESOURCE = {1: "RESOURCE_TYPE_CPU", 2: "RESOURCE_TYPE_WAKEUPS", 3: "RESOURCE_TYPE_MEMORY",
                 4: "RESOURCE_TYPE_IO", 5: "RESOURCE_TYPE_THREADS"}
_MAC_GUARD = {0: "GUARD_TYPE_NONE", 1: "GUARD_TYPE_MACH_PORT", 2: "GUARD_TYPE_FD",
              3: "GUARD_TYPE_USER", 4: "GUARD_TYPE_VN", 5: "GUARD_TYPE_VIRT_MEMORY",
              6: "GUARD_TYPE_REJECTED_SC"}


def mac_subcode_name(exception: int, code: int, cpu_family: str) -> str | None:
    """The name of a Mach exception's first code.

    Args:
        exception: the Mach exception type.
        code: its first code (ExceptionFlags).
        cpu_family: ``"x86"`` (x86, amd64) or ``"arm"`` (ARM, ARM64).

    Returns:
        e.g. ``"KERN_INVALID_ADDRESS"``; None when unknown.
    """
    if exception == MachException.EXC_BAD_ACCESS and code in _KERN:
        return _KERN[code]
    if exception == MachException.EXC_SOFTWARE:
        return _MAC_SOFTWARE.get(code)
    if exception == MachException.EXC_RESOURCE:
        return _MAC_RESOURCE.get((code >> 29) & 7)
    if exception == MachException.EXC_GUARD:
        return _MAC_GUARD.get((code >> 29) & 7)
    return _MAC_CODES.get((exception, cpu_family), {}).get(code)


#: EXC_RESOURCE flavours (bits 58-60 of code0), per resource type.
MAC_RESOURCE_FLAVORS: dict[int, dict[int, str]] = {
    1: {1: "FLAVOR_CPU_MONITOR", 2: "FLAVOR_CPU_MONITOR_FATAL"},
    2: {1: "FLAVOR_WAKEUPS_MONITOR"},
    3: {1: "FLAVOR_HIGH_WATERMARK"},
    4: {1: "FLAVOR_IO_PHYSICAL_WRITES", 2: "FLAVOR_IO_LOGICAL_WRITES"},
    5: {1: "FLAVOR_THREADS_HIGH_WATERMARK"},
}

#: EXC_GUARD flavours (bits 32-60 of code0), per guard type.
MAC_GUARD_FLAVORS: dict[int, dict[int, str]] = {
    1: {1: "GUARD_EXC_DESTROY", 2: "GUARD_EXC_MOD_REFS", 3: "GUARD_EXC_INVALID_OPTIONS",
        4: "GUARD_EXC_SET_CONTEXT", 5: "GUARD_EXC_THREAD_SET_STATE", 0x8: "GUARD_EXC_UNGUARDED",
        0x10: "GUARD_EXC_INCORRECT_GUARD", 0x20: "GUARD_EXC_IMMOVABLE",
        0x40: "GUARD_EXC_STRICT_REPLY", 0x80: "GUARD_EXC_MSG_FILTERED",
        0x100: "GUARD_EXC_INVALID_RIGHT", 0x200: "GUARD_EXC_INVALID_NAME",
        0x400: "GUARD_EXC_INVALID_VALUE", 0x800: "GUARD_EXC_INVALID_ARGUMENT",
        0x1000: "GUARD_EXC_RIGHT_EXISTS", 0x2000: "GUARD_EXC_KERN_NO_SPACE",
        0x4000: "GUARD_EXC_KERN_FAILURE", 0x8000: "GUARD_EXC_KERN_RESOURCE",
        0x10000: "GUARD_EXC_SEND_INVALID_REPLY", 0x20000: "GUARD_EXC_SEND_INVALID_VOUCHER",
        0x40000: "GUARD_EXC_SEND_INVALID_RIGHT", 0x80000: "GUARD_EXC_RCV_INVALID_NAME",
        0x100000: "GUARD_EXC_RCV_GUARDED_DESC", 0x200000: "GUARD_EXC_MOD_REFS_NON_FATAL",
        0x400000: "GUARD_EXC_IMMOVABLE_NON_FATAL",
        0x800000: "GUARD_EXC_REQUIRE_REPLY_PORT_SEMANTICS",
        0x1000000: "GUARD_EXC_EXCEPTION_BEHAVIOR_ENFORCE"},
    2: {1: "GUARD_EXC_CLOSE", 2: "GUARD_EXC_DUP", 4: "GUARD_EXC_NOCLOEXEC",
        8: "GUARD_EXC_SOCKET_IPC", 0x10: "GUARD_EXC_FILEPORT", 0x20: "GUARD_EXC_MISMATCH",
        0x40: "GUARD_EXC_WRITE"},
    4: {1: "GUARD_EXC_RENAME_TO", 2: "GUARD_EXC_RENAME_FROM", 4: "GUARD_EXC_UNLINK",
        8: "GUARD_EXC_WRITE_OTHER", 0x10: "GUARD_EXC_TRUNC_OTHER", 0x20: "GUARD_EXC_LINK",
        0x40: "GUARD_EXC_EXCHDATA"},
    5: {1: "GUARD_EXC_DEALLOC_GAP"},
    6: {0: "GUARD_EXC_MACH_TRAP"},
}
