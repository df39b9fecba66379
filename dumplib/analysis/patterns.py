"""Frame and module patterns the analysis classifies threads and frames with.

These are data: regular expressions over ``module!function`` text (module
name without its extension, lower case; see :func:`frame_text`), matched with
``re.search`` and case-insensitively. Extend them here, not in the code that
uses them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from dumplib.unwind.frames import Frame

__all__ = [
    "BOILERPLATE_START",
    "CHANCE_FRAMES",
    "DISPATCH_NOISE",
    "RUNTIME_DIRECTORIES",
    "RUNTIME_MODULES",
    "SYSTEM_MODULES",
    "WAIT_STATES",
    "compile_all",
    "frame_text",
    "module_stem",
    "plain_name",
]


def module_stem(name: str) -> str:
    """``"mscorlib.ni.dll"`` -> ``"mscorlib.ni"``: the name without its last extension."""
    low = name.lower()
    if low.endswith((".dll", ".exe", ".sys", ".drv", ".ocx", ".cpl", ".so")):
        return low[: low.rfind(".")]
    return low


def plain_name(name: str) -> str:
    """Reduce an Itanium-mangled name (mingw/clang exports) to its qualified name.

    ``_ZN6System9Threading4Task3RunEv`` -> ``System::Threading::Task::Run``, so
    patterns and buckets agree whether a name came from a PDB or an export.
    Other names are returned unchanged.
    """
    if not name.startswith("_Z"):
        return name
    pos = 2
    nested = name.startswith("_ZN")
    if nested:
        pos = 3
        while pos < len(name) and name[pos] in "KVr":
            pos += 1
    parts: list[str] = []
    while pos < len(name) and name[pos].isdigit():
        end = pos
        while end < len(name) and name[end].isdigit():
            end += 1
        length = int(name[pos:end])
        if length <= 0 or end + length > len(name):
            return name
        parts.append(name[end : end + length])
        pos = end + length
        if not nested:
            break
    if not parts or (nested and not name.startswith("E", pos)):
        return name
    return "::".join(parts)


def frame_text(frame: Frame) -> str:
    """``module!function`` of a frame.

    ``module+0x12`` without a function, ``0x...`` without a module.
    """
    if frame.module is None:
        return f"0x{frame.ip:x}"
    stem = module_stem(frame.module.name)
    if frame.function:
        return f"{stem}!{plain_name(frame.function)}"
    return f"{stem}+0x{frame.offset:x}"


def compile_all(patterns: Sequence[str]) -> tuple[re.Pattern[str], ...]:
    """Compile case-insensitive patterns."""
    return tuple(re.compile(p, re.IGNORECASE) for p in patterns)


_NS = r"(?:[\w:.`<>]+(?:::|\.))?"  # optional class/namespace qualifier

#: Thread wait states, highest precedence first: the first state any of a thread's
#: innermost frames matches is the thread's state. Network I/O comes before plain
#: waits because a blocking recv() ends in a wait on the socket's event.
WAIT_STATES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "network_io",
        (
            r"^(ws2_32|wsock32|mswsock|wshtcpip|wship6|afd)!",
            r"!(recv|recvfrom|WSARecv|WSARecvFrom|WSARecvMsg|WSARecvDisconnect|send|sendto|"
            r"WSASend|WSASendTo|WSASendMsg|accept|WSAAccept|AcceptEx|connect|WSAConnect|ConnectEx|"
            r"select|WSAPoll|closesocket|shutdown|WSAIoctl|ioctlsocket|"
            r"WSP(Recv|RecvFrom|Send|SendTo|Select|Accept|Connect|CloseSocket|Ioctl|Shutdown)|"
            r"SockWaitForSingleObject|Afd\w+)$",
        ),
    ),
    (
        "critical_section",
        (
            r"!(Rtlp?EnterCriticalSection\w*|RtlpWait(On|For)CriticalSection|EnterCriticalSection|"
            r"RtlpWaitOnAddress\w*CriticalSection\w*)$",
        ),
    ),
    (
        "device_io",
        (r"!(Nt|Zw)DeviceIoControlFile$", r"!DeviceIoControl$"),
    ),
    (
        "io_completion",
        (r"!(GetQueuedCompletionStatus(Ex)?|(Nt|Zw)RemoveIoCompletion(Ex)?)$",),
    ),
    (
        "sleep",
        (r"!(Sleep|SleepEx|(Nt|Zw)DelayExecution)$",),
    ),
    (
        "wait",
        (
            r"!(WaitForSingleObject(Ex)?|WaitForMultipleObjects(Ex)?|MsgWaitForMultipleObjects(Ex)?|"
            r"SignalObjectAndWait|(Nt|Zw)WaitFor(Single|Multiple)Object(s)?(32)?|"
            r"(Nt|Zw)WaitForAlertByThreadId|(Nt|Zw)WaitForKeyedEvent|"
            r"(Nt|Zw)WaitForWorkViaWorkerFactory|(Nt|Zw)SignalAndWaitForSingleObject|"
            r"Rtl\w*SleepConditionVariable\w*|SleepConditionVariable\w*|WaitOnAddress|"
            r"RtlWaitOnAddress|NtUserMsgWaitForMultipleObjectsEx|NtUserGetMessage|GetMessage[AW]?|"
            r"WaitForDebugEvent(Ex)?|(Nt|Zw)ReplyWaitReceivePort(Ex)?|(Nt|Zw)AlpcSendWaitReceivePort)$",
        ),
    ),
)

#: Frames of exception dispatch, debugger notification and raising: not where a
#: crash is, so buckets skip them.
DISPATCH_NOISE: tuple[str, ...] = (
    r"!(Ki|Rtl|Rtlp)?UserExceptionDispatch(er)?$",
    r"!KiUserExceptionDispatcher$",
    r"!Rtlp?DispatchException\w*$",
    r"!Rtlp?(Raise|Report)Exception\w*$",
    r"!RtlpExecuteHandlerForException$",
    r"!RtlpExecuteHandlerForUnwind$",
    r"!Rtl(p)?Unwind\w*$",
    r"!RaiseException$",
    r"!RaiseFailFastException$",
    r"!_?CxxThrowException$",
    r"!(Nt|Zw)(Raise|Continue)Exception$",
    r"!(Nt|Zw)WaitFor(Single|Multiple)Object(s)?$",
    r"!WaitFor(Single|Multiple)Object(s)?(Ex)?$",
    r"!(Nt|Zw)(Terminate|Suspend)Process$",
    r"!UnhandledExceptionFilter$",
    r"!_?_?C_specific_handler$",
    r"!_?_?CxxFrameHandler\d*$",
    r"!__InternalCxxFrameHandler\w*$",
    r"!WerpReportFault\w*$",
    r"!(Debugger|ExceptionTracker|EEPolicy|CLRException|ExceptionNotifications)::",
    r"!(RaiseTheExceptionInternalOnly|IL_Throw|IL_Rethrow|NakedThrowHelper\w*|"
    r"ProcessCLRException|COMPlusFrameHandler|CPFH_\w+|HandleManagedFault|"
    r"FirstChanceManagedException\w*|NotifyDebuggerOfException|SafeRaise\w*)$",
    r"!(std::)?_?(Xbad_alloc|Xlength_error|Xout_of_range|Throw_bad_\w+)$",
    r"!_Unwind_(RaiseException\w*|Resume\w*|ForcedUnwind)$",
    r"!__cxa_(re)?throw$",
    r"!_?_?gxx_personality\w*$",
    r"!_GCC_specific_handler$",
    r"!_?_?report_gsfailure$",
    r"!_?_?fastfail$",
    r"!_?invoke_watson$",
    r"!_?invalid_parameter\w*$",
    r"!(abort|raise|_?_?crt_debugger_hook|terminate)$",
)

#: Frames on the exception thread that tell first from second chance when no comment
#: does: the runtime's first-chance debugger notification, or the unhandled-exception
#: filter and error reporting (the exception found no handler).
CHANCE_FRAMES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("first", (r"!Debugger::FirstChance\w*$", r"!FirstChanceManagedException\w*$")),
    ("second", (r"!UnhandledExceptionFilter$", r"!WerpReportFault\w*$",
                r"!RtlReportException\w*$", r"!_?_?scrt_unhandled_exception_filter\w*$")),
)

#: The frames every thread starts with (or that wrap a thread's real start routine).
BOILERPLATE_START: tuple[str, ...] = (
    r"!RtlUserThreadStart$",
    r"!_?RtlUserThreadStart\w*$",
    r"!BaseThreadInitThunk$",
    r"!BaseThreadStart\w*$",
    r"!(Thread::)?intermediateThreadProc$",
    r"!ThreadNative::KickOffThread\w*$",
    r"!_?_?thread_start\w*$",
    r"!_?threadstart(ex)?$",
    r"!_?callthreadstart(ex)?$",
    r"!_?_?(scrt_common_main|tmainCRTStartup|mainCRTStartup|wmainCRTStartup)\w*$",
    r"!(Tpp|Tp)\w*(Worker|Callback)\w*$",
    r"!Tpp\w+$",
    r"!RtlpTpWorkCallback$",
    r"!Rtl(p)?(Worker|Wait)ThreadCallback\w*$",
)

#: Modules of the .NET runtime: their frames are not "application frames".
RUNTIME_MODULES: tuple[str, ...] = (
    "clr.dll",
    "coreclr.dll",
    "mscorwks.dll",
    "mscorsvr.dll",
    "clrjit.dll",
    "mscorjit.dll",
    "mscoree.dll",
    "mscoreei.dll",
    "mscorlib.dll",
    "mscorlib.ni.dll",
    "system.private.corelib.dll",
    "hostfxr.dll",
    "hostpolicy.dll",
    "msvcr80.dll",
    "msvcr90.dll",
    "msvcr100_clr0400.dll",
    "msvcr120_clr0400.dll",
)

#: Directories the .NET runtimes install into (regular expressions on the full
#: path): every module there -- the runtime, its native images and the framework
#: assemblies of .NET Core / .NET 5+ under ``dotnet\shared`` -- is runtime code,
#: never an application frame.
RUNTIME_DIRECTORIES: tuple[str, ...] = (
    r"\\Microsoft\.NET\\Framework(64)?\\v\d",
    r"\\assembly\\(NativeImages_v|GAC_)",
    r"\\dotnet\\shared\\Microsoft\.(NETCore|AspNetCore|WindowsDesktop)\.App\\",
)

#: Modules that are part of Windows whatever their path says (wine installs some
#: under other folders; dumps sometimes record short names).
SYSTEM_MODULES: tuple[str, ...] = (
    "ntdll.dll",
    "kernel32.dll",
    "kernelbase.dll",
    "user32.dll",
    "gdi32.dll",
    "advapi32.dll",
    "sechost.dll",
    "rpcrt4.dll",
    "combase.dll",
    "ole32.dll",
    "oleaut32.dll",
    "ws2_32.dll",
    "mswsock.dll",
    "msvcrt.dll",
    "ucrtbase.dll",
    "dbghelp.dll",
    "win32u.dll",
    "wow64.dll",
    "wow64win.dll",
    "wow64cpu.dll",
)
