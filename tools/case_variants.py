"""Builder-made variants of the two field cases: positives and look-alike negatives.

Each variant is a dump made with :class:`dumplib.builder.DumpBuilder` plus the
walked stacks it stands for (module, function and recovered registers per
frame, innermost first), so whether a detector must fire follows from how
the dump was built, not from dumplib. Variants use other process names,
vendors and runtimes than the replicas in ``fixtures/wine``. Images with
version resources come from ``fixtures/wine`` (their vendor strings are set
by ``fixtures/programs/build.sh``).

Used by ``tests/test_case_detectors.py`` and ``tools/confusion.py``.
"""

from __future__ import annotations

import shutil
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dumplib
from dumplib.analysis import Report, analyze
from dumplib.builder import DumpBuilder
from dumplib.builder.handle_objects import mutant_owner_info, thread_object_info
from dumplib.dump import Dump
from dumplib.unwind.frames import Frame, Stack, StackStatus, Trust

ROOT = Path(__file__).resolve().parent.parent
WINE = ROOT / "fixtures" / "wine"
FABNET = WINE / "casea" / "fabnetinspect.dll"  # CompanyName "Fabrikam Network Security, Inc."
MRASSVC = WINE / "casea" / "MRASSvc.exe"  # CompanyName "dumplib fixture (replica)"
DATAMCU = WINE / "caseb" / "DataMCUSvc.exe"  # CompanyName "dumplib fixture (replica)"

APP = 0x1_4000_0000
APPDLL = 0x1_8000_0000
VENDOR = 0x1_9000_0000
NTDLL = 0x7FF8_2000_0000
KERNELBASE = 0x7FF8_2400_0000
KERNEL32 = 0x7FF8_4000_0000
SECHOST = 0x7FF8_4800_0000
WS2_32 = 0x7FF8_5000_0000
MSWSOCK = 0x7FF8_5400_0000
RUNTIME = 0x7FF8_3000_0000
CORELIB = 0x7FF8_1000_0000
SOCKETS = 0x7FF8_0800_0000
SVCPROC = 0x7FF8_0C00_0000
HEAP = 0x2_0000_0000
WINE_HOST_LIBRARIES = 0xFFF0  # the vendor stream only wine's dbghelp writes
DUMP_TIME = 1_700_000_000  # header TimeDateStamp of every variant
_FILETIME_UNIX = 116444736000000000

FrameSpec = tuple[str, str | None] | tuple[str, str | None, Mapping[str, int]]


@dataclass
class Variant:
    """One builder-made dump and its ground truth.

    Attributes:
        name: a slug.
        finding: the finding id this variant is about.
        positive: whether that finding must be reported at 0.5 or above.
        builder: the dump.
        stacks: walked stacks by thread id: (module, function[, registers]) innermost first.
        images: images (with version resources) to put on a symbol path.
        statuses: stack status per thread id when not "complete".
        why: what the variant shows.
    """

    name: str
    finding: str
    positive: bool
    builder: DumpBuilder
    stacks: dict[int, list[FrameSpec]]
    images: list[Path] = field(default_factory=list)
    statuses: dict[int, str] = field(default_factory=dict)
    why: str = ""

    def symbol_dir(self, directory: Path) -> list[str]:
        """Copy the variant's images into ``directory``; the symbols= list to use."""
        if not self.images:
            return []
        directory.mkdir(parents=True, exist_ok=True)
        for image in self.images:
            shutil.copy(image, directory / image.name)
        return [str(directory)]


def pe_key(path: Path) -> tuple[int, int]:
    """(TimeDateStamp, SizeOfImage) read straight from the PE headers."""
    data = path.read_bytes()[:4096]
    (lfanew,) = struct.unpack_from("<I", data, 0x3C)
    (timestamp,) = struct.unpack_from("<I", data, lfanew + 8)
    (size,) = struct.unpack_from("<I", data, lfanew + 24 + 56)
    return timestamp, size


def _filetime(seconds_before_dump: float) -> int:
    return int((DUMP_TIME - seconds_before_dump) * 10_000_000) + _FILETIME_UNIX


def _base(process: str, *, main_image: Path | None = None, os_version: tuple[int, int, int]
          = (6, 3, 9600)) -> DumpBuilder:
    b = DumpBuilder("amd64", os_version=os_version, product_type=3, time_date_stamp=DUMP_TIME)
    if main_image is not None:
        ts, size = pe_key(main_image)
        b.add_module(rf"C:\Program Files\Svc\{main_image.name}", base=APP, size=size,
                     time_date_stamp=ts)
    else:
        b.add_module(rf"C:\Program Files\Svc\{process}", base=APP, size=0x40000,
                     version=(2, 0, 0, 1))
    for path, base, size in (
        (r"C:\Windows\System32\ntdll.dll", NTDLL, 0x1F0000),
        (r"C:\Windows\System32\KERNELBASE.dll", KERNELBASE, 0x200000),
        (r"C:\Windows\System32\kernel32.dll", KERNEL32, 0x100000),
        (r"C:\Windows\System32\sechost.dll", SECHOST, 0x80000),
        (r"C:\Windows\System32\ws2_32.dll", WS2_32, 0x80000),
        (r"C:\Windows\System32\mswsock.dll", MSWSOCK, 0x80000),
    ):
        b.add_module(path, base=base, size=size)
    return b


def _threads(b: DumpBuilder, ids: Sequence[int], ages: Mapping[int, float] | None = None,
             contexts: Mapping[int, Mapping[str, int]] | None = None,
             starts: Mapping[int, int] | None = None) -> None:
    for tid in ids:
        ctx = {"rip": NTDLL + 0x1000, "rsp": 0x50_0000 + tid * 0x1000}
        ctx.update((contexts or {}).get(tid, {}))
        b.add_thread(tid, context=ctx, stack=bytes(0x40))
        age = (ages or {}).get(tid)
        start = (starts or {}).get(tid, 0)
        if age is not None or start:
            b.add_thread_info(tid, create_time=_filetime(age if age is not None else 5.0),
                              start_address=start)


# -- case B ---------------------------------------------------------------------------------

STATUS_WAIT_1 = 0x1
STATUS_BUFFER_OVERFLOW = 0x80000005
STATUS_PENDING = 0x103


def _netfx(b: DumpBuilder) -> None:
    b.add_module(r"C:\Windows\Microsoft.NET\Framework64\v4.0.30319\clr.dll", base=RUNTIME,
                 size=0xA0_0000, version=(4, 0, 30319, 36331))
    b.add_module(r"C:\Windows\assembly\NativeImages_v4.0.30319_64\mscorlib\2c3d\mscorlib.ni.dll",
                 base=CORELIB, size=0x100_0000, version=(4, 0, 30319, 36331))


def _coreclr(b: DumpBuilder, version: str = "6.0.25") -> None:
    d = rf"C:\Program Files\dotnet\shared\Microsoft.NETCore.App\{version}"
    b.add_module(rf"{d}\coreclr.dll", base=RUNTIME, size=0x70_0000)
    b.add_module(rf"{d}\System.Private.CoreLib.dll", base=CORELIB, size=0xC0_0000)
    b.add_module(rf"{d}\System.Net.Sockets.dll", base=SOCKETS, size=0x10_0000)


def _overlapped(b: DumpBuilder, address: int, internal: int, high: int = 0x4000) -> None:
    b.add_memory(address, struct.pack("<QQIIQ", internal, high, 0, 0, 0))


NETFX_IOCP: list[FrameSpec] = [
    ("mscorlib.ni.dll", "System.Threading._IOCompletionCallback.PerformIOCompletionCallback"),
    ("clr.dll", "BindIoCompletionCallbackStub"),
    ("clr.dll", "ThreadpoolMgr::CompletionPortThreadStart"),
    ("kernel32.dll", "BaseThreadInitThunk"), ("ntdll.dll", "RtlUserThreadStart"),
]
CORE_IOCP: list[FrameSpec] = [
    ("System.Private.CoreLib.dll",
     "System.Threading._IOCompletionCallback.PerformIOCompletionCallback"),
    ("coreclr.dll", "BindIoCompletionCallbackStub"),
    ("coreclr.dll", "ThreadpoolMgr::CompletionPortThreadStart"),
    ("kernel32.dll", "BaseThreadInitThunk"), ("ntdll.dll", "RtlUserThreadStart"),
]
POLLER: list[FrameSpec] = [
    ("System.Net.Sockets.dll",
     "System.Net.Sockets.SocketAsyncEngine.System.Threading.IThreadPoolWorkItem.Execute"),
    ("System.Private.CoreLib.dll",
     "System.Threading.PortableThreadPool+IOCompletionPoller.Callback.Invoke"),
    ("System.Private.CoreLib.dll",
     "System.Threading.PortableThreadPool+IOCompletionPoller.Poll"),
    ("System.Private.CoreLib.dll", "System.Threading.Thread.StartCallback"),
    ("coreclr.dll", "ThreadNative::KickOffThread"),
    ("kernel32.dll", "BaseThreadInitThunk"), ("ntdll.dll", "RtlUserThreadStart"),
]
FIRST_CHANCE_NOTIFY: list[FrameSpec] = [
    ("ntdll.dll", "ZwWaitForSingleObject"), ("KERNELBASE.dll", "WaitForSingleObjectEx"),
    ("clr.dll", "Debugger::FirstChanceManagedException"),
    ("ntdll.dll", "KiUserExceptionDispatcher"), ("KERNELBASE.dll", "RaiseException"),
    ("clr.dll", "NakedThrowHelper"),
]


def case_b_variants() -> list[Variant]:
    """Positives and negatives of clr-double-io-completion."""
    out: list[Variant] = []

    # + .NET Framework, second chance AV; the real OVERLAPPED is in rbx, r8 points at an
    #   unrelated object whose first field is 1 (STATUS_WAIT_1).
    b = _base("DataRelaySvc.exe")
    _netfx(b)
    _overlapped(b, HEAP + 0x1000, STATUS_WAIT_1, 0)
    _overlapped(b, HEAP + 0x2000, STATUS_BUFFER_OVERFLOW)
    _threads(b, [0x10, 0x14], contexts={0x10: {"r8": HEAP + 0x1000, "rbx": HEAP + 0x2000}})
    b.set_exception(0x10, 0xC0000005, CORELIB + 0x5450D4, parameters=(0, 0))
    out.append(Variant("b-netfx-av-overlapped-in-rbx", "clr-double-io-completion", True, b,
                       {0x10: list(NETFX_IOCP)},
                       why="AV in PerformIOCompletionCallback; OVERLAPPED valid only in rbx"))

    # + .NET 6 (CoreCLR under dotnet\shared), first chance NullReferenceException named by
    #   procdump; the framework's System.Net.Sockets frame is runtime code, not the app's.
    b = _base("Contoso.Gateway.exe", os_version=(10, 0, 17763))
    _coreclr(b)
    _threads(b, [0x20, 0x24])
    b.set_exception(0x20, 0xE0434352, KERNELBASE + 0x3000, parameters=(0x80004003, 0, 0, 0))
    b.add_comment("*** procdump -ma -e 1 -f NullReferenceException Contoso.Gateway.exe\r\n"
                  "*** First chance exception: E0434352.System.NullReferenceException")
    out.append(Variant("b-coreclr6-first-chance-nre", "clr-double-io-completion", True, b,
                       {0x20: [("KERNELBASE.dll", "RaiseException"),
                               ("System.Net.Sockets.dll",
                                "System.Net.Sockets.SocketAsyncEventArgs.CompletionCallback"),
                               *CORE_IOCP]}))

    # + .NET 8 PortableThreadPool IOCompletionPoller (no ThreadpoolMgr start), AV, OVERLAPPED
    #   in r14 of the poller frame with a GCHandle back-reference (CoreCLR layout).
    b = _base("Fabrikam.Relay.exe", os_version=(6, 3, 9600))
    _coreclr(b, "8.0.4")
    ov = HEAP + 0x3000
    _overlapped(b, ov, STATUS_BUFFER_OVERFLOW)
    b.add_memory(ov + 32, struct.pack("<Q", HEAP + 0x4000))  # GCHandle slot after it
    b.add_memory(HEAP + 0x4000, struct.pack("<Q", HEAP + 0x5000))  # handle -> object
    b.add_memory(HEAP + 0x5000, struct.pack("<QQQ", CORELIB + 0x100, 0, ov))  # object -> ov
    _threads(b, [0x30, 0x34])
    b.set_exception(0x30, 0xC0000005, CORELIB + 0x7000, parameters=(0, 8))
    poller = [POLLER[0], (POLLER[1][0], POLLER[1][1], {"r14": ov}), *POLLER[2:]]
    out.append(Variant("b-net8-poller-av", "clr-double-io-completion", True, b,
                       {0x30: poller}))

    # + first chance as CASES.md's field dump shows it (debugger notification frames above).
    b = _base("IMMCUSvc.exe")
    _netfx(b)
    _threads(b, [0x40])
    b.set_exception(0x40, 0xE0434F4D, KERNELBASE + 0x3000)
    b.add_comment("*** procdump -ma -e 1 -f NullReferenceException IMMCUSvc.exe")
    out.append(Variant("b-netfx-first-chance-cases-md", "clr-double-io-completion", True, b,
                       {0x40: [*FIRST_CHANCE_NOTIFY, *NETFX_IOCP]}))

    # + exports-only CoreCLR (no PDBs: names are the nearest exports): the runtime started
    #   the thread (ThreadInfo), only runtime code is on it, the OVERLAPPED in rsi says
    #   STATUS_BUFFER_OVERFLOW.
    exports_only: list[FrameSpec] = [
        ("System.Private.CoreLib.dll", None), ("coreclr.dll", "coreclr_execute_assembly"),
        ("coreclr.dll", "coreclr_initialize"), ("kernel32.dll", "BaseThreadInitThunk"),
    ]
    b = _base("Tailwind.Edge.exe")
    _coreclr(b, "5.0.17")
    _overlapped(b, HEAP + 0x6000, STATUS_BUFFER_OVERFLOW)
    _threads(b, [0x90], contexts={0x90: {"rsi": HEAP + 0x6000}},
             starts={0x90: RUNTIME + 0x2000})
    b.set_exception(0x90, 0xC0000005, CORELIB + 0x9000, parameters=(0, 0x10))
    out.append(Variant("b-exports-only-coreclr-overlapped", "clr-double-io-completion", True,
                       b, {0x90: exports_only}))

    # - the same exports-only runtime thread faulting without an OVERLAPPED: some runtime
    #   thread crashed; nothing says an I/O completed twice.
    b = _base("Wingtip.Toys.exe")
    _coreclr(b, "5.0.17")
    _threads(b, [0xA0], starts={0xA0: RUNTIME + 0x2000})
    b.set_exception(0xA0, 0xC0000005, CORELIB + 0x9000, parameters=(0, 0x10))
    out.append(Variant("b-neg-exports-only-no-overlapped", "clr-double-io-completion", False,
                       b, {0xA0: list(exports_only)}))

    # + no comment: E0434352's parameters carry E_POINTER and coreclr's base (the
    #   runtime's layout), on a .NET 6 completion-port thread.
    b = _base("Lucerne.Pub.exe")
    _coreclr(b, "6.0.25")
    _threads(b, [0xB0])
    b.set_exception(0xB0, 0xE0434352, KERNELBASE + 0x3000,
                    parameters=(0x80004003, 0, 0, 0, RUNTIME))
    out.append(Variant("b-coreclr6-hresult-nre", "clr-double-io-completion", True, b,
                       {0xB0: [("KERNELBASE.dll", "RaiseException"), *CORE_IOCP]}))

    # - no comment: the parameters say COR_E_INVALIDOPERATION.
    b = _base("Alpine.Ski.exe")
    _coreclr(b, "6.0.25")
    _threads(b, [0xC0])
    b.set_exception(0xC0, 0xE0434352, KERNELBASE + 0x3000,
                    parameters=(0x80131509, 0, 0, 0, RUNTIME))
    out.append(Variant("b-neg-hresult-invalid-operation", "clr-double-io-completion", False, b,
                       {0xC0: [("KERNELBASE.dll", "RaiseException"), *CORE_IOCP]}))

    # - an ordinary .NET bug: InvalidOperationException thrown in a socket callback.
    b = _base("Northwind.Api.exe")
    _netfx(b)
    _threads(b, [0x50])
    b.set_exception(0x50, 0xE0434352, KERNELBASE + 0x3000, parameters=(0x80131509, 0, 0, 0))
    b.add_comment("*** Unhandled exception: E0434352.System.InvalidOperationException")
    out.append(Variant("b-neg-invalid-operation", "clr-double-io-completion", False, b,
                       {0x50: [("KERNELBASE.dll", "RaiseException"), *NETFX_IOCP]},
                       why="issue item 1: E0434352 of another managed type"))

    # - NullReferenceException thrown by the app's own (JIT-compiled) callback code.
    b = _base("Tailspin.Chat.exe", os_version=(10, 0, 20348))
    _coreclr(b, "6.0.25")
    _threads(b, [0x60])
    b.set_exception(0x60, 0xE0434352, KERNELBASE + 0x3000, parameters=(0x80004003, 0, 0, 0))
    b.add_comment("*** First chance exception: E0434352.System.NullReferenceException")
    out.append(Variant("b-neg-jit-callback-nre", "clr-double-io-completion", False, b,
                       {0x60: [("KERNELBASE.dll", "RaiseException"), ("<jit>", None),
                               ("<jit>", None), *CORE_IOCP]},
                       why="JIT frames (no module) between the callback and the throw"))

    # - AV in the app's own DLL called from the completion callback.
    b = _base("Litware.Sync.exe")
    _netfx(b)
    b.add_module(r"C:\Program Files\Litware\Litware.Net.dll", base=APPDLL, size=0x20000)
    _threads(b, [0x70])
    b.set_exception(0x70, 0xC0000005, APPDLL + 0x1234, parameters=(0, 0x18))
    out.append(Variant("b-neg-app-dll-av", "clr-double-io-completion", False, b,
                       {0x70: [("Litware.Net.dll", "Litware::Net::OnReceive"),
                               *NETFX_IOCP]}))

    # - AV on an ordinary worker thread that happens to run PerformIOCompletionCallback's
    #   module (not a completion-port thread: started by the app).
    b = _base("AdventureWorks.Batch.exe")
    _netfx(b)
    _threads(b, [0x80])
    b.set_exception(0x80, 0xC0000005, CORELIB + 0x5450D4, parameters=(0, 0))
    out.append(Variant("b-neg-worker-thread", "clr-double-io-completion", False, b,
                       {0x80: [NETFX_IOCP[0], NETFX_IOCP[1],
                               ("AdventureWorks.Batch.exe", "WorkerMain"),
                               ("kernel32.dll", "BaseThreadInitThunk")]}))
    return out


# -- case A ---------------------------------------------------------------------------------

RECV: list[FrameSpec] = [
    ("ntdll.dll", "NtWaitForSingleObject"), ("mswsock.dll", "SockWaitForSingleObject"),
    ("mswsock.dll", "WSPRecv"), ("ws2_32.dll", "WSARecv"),
]
ACCEPT: list[FrameSpec] = [
    ("ntdll.dll", "NtWaitForSingleObject"), ("mswsock.dll", "SockWaitForSingleObject"),
    ("mswsock.dll", "WSPAccept"), ("ws2_32.dll", "accept"),
]
DISPATCHER: list[FrameSpec] = [
    ("sechost.dll", "ScDispatcherLoop"), ("sechost.dll", "StartServiceCtrlDispatcherW"),
]


def _add_image(b: DumpBuilder, image: Path, base: int, directory: str) -> None:
    ts, size = pe_key(image)
    b.add_module(rf"{directory}\{image.name}", base=base, size=size, time_date_stamp=ts)


def _thread_handles(b: DumpBuilder, pairs: Sequence[tuple[int, int]]) -> None:
    for handle, tid in pairs:
        b.add_handle(handle, type_name="Thread", object_name=None,
                     object_info=[thread_object_info(tid, 0x1234)])


def case_a_variants() -> list[Variant]:
    """Positives and negatives of hung-stop-network-io."""
    out: list[Variant] = []

    # + Windows names: ScDispatcherLoop calls the handler, which waits (WaitForMultipleObjects,
    #   handle array in rdx) on two thread handles; both threads are in recv() through the
    #   Fabrikam inspection DLL for ten minutes.
    b = _base("RelayAuthSvc.exe")
    _add_image(b, FABNET, VENDOR, r"C:\Program Files\Fabrikam")
    b.add_memory(HEAP + 0x100, struct.pack("<QQ", 0x104, 0x108))
    _thread_handles(b, [(0x104, 0x14), (0x108, 0x18)])
    b.add_handle(0x10C, type_name="Event", object_name=None)
    _threads(b, [0x10, 0x14, 0x18], ages={0x10: 3600, 0x14: 600, 0x18: 600},
             contexts={0x10: {"r10": 2, "rdx": HEAP + 0x100}})
    worker: list[FrameSpec] = [*RECV, ("fabnetinspect.dll", "FabInspectRecv"),
                               ("RelayAuthSvc.exe", "RelayWorker"),
                               ("kernel32.dll", "BaseThreadInitThunk")]
    out.append(Variant("a-windows-dispatcher-handle-array", "hung-stop-network-io", True, b, {
        0x10: [("ntdll.dll", "NtWaitForMultipleObjects"),
               ("KERNELBASE.dll", "WaitForMultipleObjectsEx"),
               ("RelayAuthSvc.exe", "Svc_Control"), *DISPATCHER,
               ("RelayAuthSvc.exe", "main")],
        0x14: worker, 0x18: worker}, images=[FABNET]))

    # + the managed ServiceBase path: DeferredStop -> the app's OnStop (in its own DLL),
    #   waiting on a mutant owned by a thread blocked in closesocket.
    b = _base("Contoso.Media.exe")
    _netfx(b)
    b.add_module(r"C:\Windows\assembly\NativeImages_v4.0.30319_64\System.ServiceP#"
                 r"\a1\System.ServiceProcess.ni.dll", base=SVCPROC, size=0x80000)
    b.add_module(r"C:\Program Files\Contoso\Contoso.Media.Core.dll", base=APPDLL, size=0x40000)
    b.add_handle(0x220, type_name="Mutant", object_name=None,
                 object_info=[mutant_owner_info(0x28, 0x1234)])
    _threads(b, [0x20, 0x24, 0x28], ages={0x24: 900, 0x28: 900},
             contexts={0x24: {"r10": 0x220}})
    out.append(Variant("a-servicebase-mutant-owner", "hung-stop-network-io", True, b, {
        0x20: [("ntdll.dll", "NtRemoveIoCompletion"),
               ("clr.dll", "ThreadpoolMgr::WorkerThreadStart")],
        0x24: [("ntdll.dll", "NtWaitForSingleObject"),
               ("KERNELBASE.dll", "WaitForSingleObjectEx"),
               ("Contoso.Media.Core.dll", "Contoso.Media.Host.Shutdown"),
               ("System.ServiceProcess.ni.dll",
                "System.ServiceProcess.ServiceBase.DeferredStop"),
               ("clr.dll", "ThreadpoolMgr::WorkerThreadStart")],
        0x28: [("ntdll.dll", "NtDeviceIoControlFile"), ("mswsock.dll", "WSPCloseSocket"),
               ("ws2_32.dll", "closesocket"),
               ("Contoso.Media.Core.dll", "Contoso.Media.Channel.Close")],
    }))

    # + wine's sechost names; the handler waits on one thread handle (home slot of
    #   WaitForSingleObject), the thread is in recv() through the Fabrikam DLL.
    b = _base("Woodgrove.Feed.exe")
    _add_image(b, FABNET, VENDOR, r"C:\Program Files\Fabrikam")
    _thread_handles(b, [(0x44, 0x34)])
    _threads(b, [0x30, 0x34], ages={0x30: 400, 0x34: 300}, contexts={0x30: {"rcx": 0x44}})
    out.append(Variant("a-wine-sechost-single-handle", "hung-stop-network-io", True, b, {
        0x30: [("ntdll.dll", "NtWaitForSingleObject"),
               ("KERNELBASE.dll", "WaitForSingleObject"),
               ("Woodgrove.Feed.exe", "feed_ctrl"),
               ("sechost.dll", "service_handle_control"),
               ("sechost.dll", "service_control_dispatcher")],
        0x34: [*RECV, ("fabnetinspect.dll", "FabInspectRecv"),
               ("Woodgrove.Feed.exe", "pump")]}, images=[FABNET]))

    # + wine, exports only (the shape of fixtures/wine/casea): the main thread is inside
    #   StartServiceCtrlDispatcherW; wine's dispatcher thread (entry routine in sechost,
    #   no name) calls the handler, which waits; a worker is in recv() through Fabrikam.
    tail: list[FrameSpec] = [("kernel32.dll", "BaseThreadInitThunk"),
                             ("ntdll.dll", "RtlUserThreadStart")]

    def main_in_dispatcher(exe: str) -> list[FrameSpec]:
        return [("ntdll.dll", "NtWaitForMultipleObjects"),
                ("KERNELBASE.dll", "WaitForMultipleObjects"), ("sechost.dll", None),
                ("sechost.dll", "StartServiceCtrlDispatcherW"), (exe, "main"), *tail]

    def service_main(exe: str) -> list[FrameSpec]:
        return [("ntdll.dll", "NtWaitForSingleObject"), ("KERNELBASE.dll", "WaitForSingleObject"),
                (exe, "ServiceStopHandlerEx"), ("sechost.dll", None), *tail]

    def relay(exe: str) -> list[FrameSpec]:
        return [*RECV, ("fabnetinspect.dll", "FabInspectRecv"), (exe, "relay"), *tail]

    b = _base("Tailspin.Relay.exe")
    b.add_raw_stream(WINE_HOST_LIBRARIES, bytes(16))
    _add_image(b, FABNET, VENDOR, r"C:\Program Files\Fabrikam")
    _threads(b, [0xA0, 0xA4, 0xA8])
    out.append(Variant("a-wine-exports-dispatcher-thread", "hung-stop-network-io", True, b, {
        0xA0: main_in_dispatcher("Tailspin.Relay.exe"),
        0xA4: [("ntdll.dll", "NtWaitForSingleObject"), ("KERNELBASE.dll", "WaitForSingleObject"),
               ("Tailspin.Relay.exe", "on_control"), ("sechost.dll", None), *tail],
        0xA8: relay("Tailspin.Relay.exe")}, images=[FABNET]))

    # + .NET 6 worker service: System.ServiceProcess.ServiceController (a package beside
    #   the app) runs DeferredStop -> the app's OnStop, which waits (handle array in rdx)
    #   on a thread blocked in WSARecv for an hour.
    b = _base("Northwind.Worker.exe")
    _coreclr(b, "6.0.25")
    b.add_module(r"C:\Program Files\Northwind\System.ServiceProcess.ServiceController.dll",
                 base=SVCPROC, size=0x40000)
    b.add_memory(HEAP + 0x700, struct.pack("<Q", 0x3A0))
    _thread_handles(b, [(0x3A0, 0x94)])
    _threads(b, [0x90, 0x94], ages={0x90: 30, 0x94: 3600},
             contexts={0x90: {"rdx": HEAP + 0x700, "r10": 1}})
    out.append(Variant("a-dotnet6-servicecontroller", "hung-stop-network-io", True, b, {
        0x90: [("ntdll.dll", "NtWaitForMultipleObjects"),
               ("KERNELBASE.dll", "WaitForMultipleObjectsEx"),
               ("System.Private.CoreLib.dll", "System.Threading.WaitHandle.WaitMultiple"),
               ("Northwind.Worker.exe", "Northwind.Worker.Service.OnStop"),
               ("System.ServiceProcess.ServiceController.dll",
                "System.ServiceProcess.ServiceBase.DeferredStop"),
               ("coreclr.dll", "ThreadNative::KickOffThread")],
        0x94: [*RECV, ("System.Net.Sockets.dll", "System.Net.Sockets.Socket.Receive"),
               ("Northwind.Worker.exe", "Northwind.Worker.Session.Read")]}))

    # - an idle socket server: a listener in accept(), a worker in recv(), and a thread
    #   waiting in a function called WaitForStopEvent. No control is being handled.
    b = _base("Proseware.Listen.exe")
    _add_image(b, FABNET, VENDOR, r"C:\Program Files\Fabrikam")
    _threads(b, [0x40, 0x44, 0x48], ages={0x40: 86400, 0x44: 86400, 0x48: 86400})
    out.append(Variant("a-neg-idle-server", "hung-stop-network-io", False, b, {
        0x40: [("ntdll.dll", "NtWaitForSingleObject"), ("KERNELBASE.dll", "WaitForSingleObjectEx"),
               ("Proseware.Listen.exe", "WaitForStopEvent"), ("Proseware.Listen.exe", "main")],
        0x44: [*ACCEPT, ("Proseware.Listen.exe", "AcceptLoop")],
        0x48: [*RECV, ("fabnetinspect.dll", "FabInspectRecv"),
               ("Proseware.Listen.exe", "GracefulShutdownMonitor")]}, images=[FABNET]))

    # - an idle service: the dispatcher waits for controls (no handler frame), a
    #   ServiceStop-named thread waits, a worker sits in recv().
    b = _base("Fourth.Coffee.Svc.exe")
    _threads(b, [0x50, 0x54, 0x58], ages={0x54: 7200, 0x58: 7200})
    out.append(Variant("a-neg-idle-service", "hung-stop-network-io", False, b, {
        0x50: [("ntdll.dll", "NtReadFile"), ("KERNELBASE.dll", "ReadFile"), *DISPATCHER,
               ("Fourth.Coffee.Svc.exe", "main")],
        0x54: [("ntdll.dll", "NtWaitForSingleObject"),
               ("Fourth.Coffee.Svc.exe", "ServiceStopHandlerEx")],
        0x58: [*RECV, ("Fourth.Coffee.Svc.exe", "Session::Read")]}))

    # - wine, exports only, an idle service: wine's dispatcher thread (the first thread
    #   whose entry routine is in sechost) waits for controls in ReadFile; a later
    #   sechost-started thread runs ServiceMain, which waits in a function named like a
    #   stop handler; a worker is in recv() through Fabrikam. No control is being handled.
    b = _base("Adatum.Relay.exe")
    b.add_raw_stream(WINE_HOST_LIBRARIES, bytes(16))
    _add_image(b, FABNET, VENDOR, r"C:\Program Files\Fabrikam")
    _threads(b, [0xB0, 0xB4, 0xB8, 0xBC])
    out.append(Variant("a-neg-wine-idle-dispatcher-thread", "hung-stop-network-io", False, b, {
        0xB0: main_in_dispatcher("Adatum.Relay.exe"),
        0xB4: [("ntdll.dll", "NtReadFile"), ("KERNELBASE.dll", "ReadFile"),
               ("sechost.dll", None), *tail],
        0xB8: service_main("Adatum.Relay.exe"), 0xBC: relay("Adatum.Relay.exe")},
        images=[FABNET]))

    # - the same threads in a Windows dump (no WineHostLibraries stream): there the
    #   dispatcher is the main thread, so a sechost-started thread runs ServiceMain.
    b = _base("Litware.Relay.exe")
    _add_image(b, FABNET, VENDOR, r"C:\Program Files\Fabrikam")
    _threads(b, [0xC0, 0xC4, 0xC8])
    out.append(Variant("a-neg-windows-exports-service-main", "hung-stop-network-io", False, b, {
        0xC0: main_in_dispatcher("Litware.Relay.exe"), 0xC4: service_main("Litware.Relay.exe"),
        0xC8: relay("Litware.Relay.exe")}, images=[FABNET]))

    # - a service stopping cleanly: the handler waits on a worker that is finishing
    #   (sleeping), while an unrelated listener sits in accept().
    b = _base("Margie.Travel.exe")
    _thread_handles(b, [(0x64, 0x64)])
    _threads(b, [0x60, 0x64, 0x68], ages={0x60: 600, 0x64: 2, 0x68: 600},
             contexts={0x60: {"r10": 0x64}})
    out.append(Variant("a-neg-clean-stop", "hung-stop-network-io", False, b, {
        0x60: [("ntdll.dll", "NtWaitForSingleObject"), ("KERNELBASE.dll", "WaitForSingleObjectEx"),
               ("Margie.Travel.exe", "OnStop"), *DISPATCHER],
        0x64: [("ntdll.dll", "NtDelayExecution"), ("KERNELBASE.dll", "SleepEx"),
               ("Margie.Travel.exe", "FlushAndExit")],
        0x68: [*ACCEPT, ("Margie.Travel.exe", "Listener")]}))

    # - the application's own DLL (same vendor as the main image) between the app and recv:
    #   not third party; the handler waits on an event nobody is known to set.
    b = _base("MRASSvc.exe", main_image=MRASSVC)
    _add_image(b, DATAMCU, APPDLL, r"C:\Program Files\Svc")
    b.add_handle(0x70, type_name="Event", object_name=None)
    _threads(b, [0x70, 0x74], ages={0x70: 30, 0x74: 30}, contexts={0x70: {"r10": 0x70}})
    out.append(Variant("a-neg-own-dll-event-wait", "hung-stop-network-io", False, b, {
        0x70: [("ntdll.dll", "NtWaitForSingleObject"), ("KERNELBASE.dll", "WaitForSingleObjectEx"),
               ("MRASSvc.exe", None), *DISPATCHER],
        0x74: [*RECV, ("DataMCUSvc.exe", None), ("MRASSvc.exe", None)]},
        images=[MRASSVC, DATAMCU]))
    return out


def all_variants() -> list[Variant]:
    """Every builder-made variant."""
    return case_b_variants() + case_a_variants()


def walked_stacks(dump: Dump, variant: Variant) -> dict[int, Stack]:
    """The variant's stacks as :class:`Stack` objects of the opened dump."""
    out: dict[int, Stack] = {}
    for tid, specs in variant.stacks.items():
        frames = []
        for i, spec in enumerate(specs):
            module_name, function = spec[0], spec[1]
            registers = dict(spec[2]) if len(spec) > 2 else {}  # type: ignore[misc]
            m = dump.modules.by_name(module_name) if module_name != "<jit>" else None
            if module_name != "<jit>" and m is None:
                raise ValueError(f"{variant.name}: no module {module_name}")
            ip = (m.base if m else 0x7FF0_0000_0000) + 0x1000 + 0x40 * i
            offset = 0x40 * i if function else ip - (m.base if m else 0)
            frames.append(Frame(i, ip, 0x50_0000 + tid * 0x1000 + 0x40 * i, Trust.CFI, m,
                                function, offset, registers=registers))
        status = StackStatus(variant.statuses.get(tid, "complete"))
        out[tid] = Stack(tid, tuple(frames), status)
    return out


def analyze_variant(variant: Variant, workdir: Path) -> Report:
    """Analyze a variant with its stacks and images."""
    symbols = variant.symbol_dir(workdir / variant.name)
    with dumplib.open(variant.builder.to_bytes()) as dump:
        return analyze(dump, symbols=symbols, stacks=walked_stacks(dump, variant))


Runner = Callable[[Variant, Path], Report]
