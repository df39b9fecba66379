"""Case A, structurally: a service stop that hangs on threads blocked in network I/O.

A service is stopping when one of its threads is inside a service-control
handler. That thread is found from the control dispatcher's frames (the
signature's ``control_dispatch_frames`` patterns: sechost/advapi32
ScDispatcherLoop, wine's equivalents, the managed ServiceBase path); the
handler is the first frame inner to them in a module that is neither Windows
nor the .NET runtime, whatever it is called. Then, where the dump allows:

* the handles the handler waits on, recovered from the waiting frames'
  registers (context, unwind-restored) and home slots, and validated against
  the HandleData stream;
* each handle mapped to its thread (MiniThreadInformation1 gives a thread
  handle's thread id; MiniMutantInformation2 a mutant's owner);
* how long each blocked worker has existed (ThreadInfo create time against
  the dump time);
* the third-party modules between the application and the socket call on the
  blocked threads: a module is third party when its vendor (version resource)
  differs from Microsoft *and* from the main executable's vendor.

An idle server (no control being handled) has no control-handler fact, which
the rule requires, whatever its functions are called.
"""

from __future__ import annotations

import re
import struct
from typing import TYPE_CHECKING

from dumplib._exc import DumpError
from dumplib.analysis.evidence import EvidenceSet
from dumplib.analysis.facts import AnalysisContext, ThreadFacts
from dumplib.analysis.model import JsonValue
from dumplib.analysis.patterns import BOILERPLATE_START, compile_all
from dumplib.format.handle_objects import MutantOwner, ThreadObjectInfo, decode_object_info
from dumplib.format.records import HandleDescriptor
from dumplib.model.objects import Module

if TYPE_CHECKING:
    from dumplib.analysis.signatures import Signature

__all__ = [
    "WaitedHandle", "case_a_evidence", "control_handler", "dispatcher_thread_handler",
    "waited_handles",
]

_MICROSOFT = re.compile(r"\bmicrosoft\b", re.IGNORECASE)
_WAITABLE = {"thread", "process", "event", "mutant", "semaphore", "timer", "job"}
_ARG_REGS = {8: ("r10", "rcx", "rdx", "r8", "r9"), 4: ("ecx", "edx", "eax")}
_NONVOLATILE = {
    8: ("rbx", "rbp", "rsi", "rdi", "r12", "r13", "r14", "r15"),
    4: ("ebx", "ebp", "esi", "edi"),
}
_MAX_WAIT_OBJECTS = 64  # MAXIMUM_WAIT_OBJECTS
_LONG_BLOCKED = 60.0  # seconds: a worker blocked this long is not a momentary wait
_WINE_STREAM = 0xFFF0  # WineHostLibraries: written only by wine's dbghelp, for a wine process
_BOILERPLATE = compile_all(BOILERPLATE_START)


def _pats(sig: Signature, key: str) -> tuple[re.Pattern[str], ...]:
    return compile_all((sig.patterns or {}).get(key, ()))


def _is_platform(ctx: AnalysisContext, module: Module | None) -> bool:
    """Windows, .NET runtime or other Microsoft code (not where a service's handler lives).

    Microsoft's libraries shipped beside an application (Microsoft.Extensions.Hosting,
    System.ServiceProcess.ServiceController) count by their version resource.
    """
    return module is None or ctx.is_system_module(module) or ctx.is_runtime_module(module) or (
        (info := ctx.vendor(module)) is not None and bool(info.company)
        and bool(_MICROSOFT.search(info.company or "")))


def control_handler(
    ctx: AnalysisContext, facts: ThreadFacts, dispatch: tuple[re.Pattern[str], ...]
) -> tuple[int, int] | None:
    """``(dispatcher frame, handler frame)`` indices when the thread runs a control handler.

    The handler is the first frame inner to the (innermost) dispatcher frame
    that is in neither a Windows nor a runtime module.
    """
    if facts.stack is None:
        return None
    frames = facts.stack.frames
    for d, text in enumerate(facts.texts):
        if not any(p.search(text) for p in dispatch):
            continue
        for i in range(d - 1, -1, -1):
            f = frames[i]
            if any(p.search(facts.texts[i]) for p in dispatch):
                break
            if not _is_platform(ctx, f.module):
                return d, i
        return None
    return None


def _entry_frame(facts: ThreadFacts) -> int | None:
    """Index of the thread's entry routine: the outermost frame past the start thunks.

    None when the walk did not reach the thread's start (the entry is then unknown).
    """
    if facts.stack is None or str(facts.stack.status) != "complete":
        return None
    for i in range(len(facts.texts) - 1, -1, -1):
        if not any(p.search(facts.texts[i]) for p in _BOILERPLATE):
            return i
    return None


def dispatcher_thread_handler(
    ctx: AnalysisContext, sig: Signature
) -> tuple[ThreadFacts, int, int] | None:
    """``(thread, dispatcher frame, handler frame)``: wine's dispatcher thread in a handler.

    Wine's sechost does not run the dispatcher loop on the thread that called
    StartServiceCtrlDispatcher (as Windows' ScDispatcherLoop does): that call
    creates one dispatcher thread, whose entry routine is in sechost, and which
    calls every control handler directly; ServiceMain threads are created later,
    by that thread, when the start control arrives. So, in a dump of a wine
    process (the WineHostLibraries stream) in which a thread is inside
    StartServiceCtrlDispatcher (``service_dispatcher_start_frames``), the
    control dispatcher is the first thread of the thread list (creation order)
    whose entry routine lies in a ``control_dispatcher_modules`` module; it runs
    a handler when the frame inner to its dispatcher-module frames is service
    code. A ServiceMain thread is never that first thread, and on Windows the
    rule does not apply (its dispatcher is the main thread, named frames).
    """
    if ctx.dump.stream(_WINE_STREAM) is None:
        return None
    starts = _pats(sig, "service_dispatcher_start_frames")
    modules = _pats(sig, "control_dispatcher_modules")
    threads = ctx.threads
    if not any(p.search(text) for t in threads for text in t.texts for p in starts):
        return None
    for t in threads:
        e = _entry_frame(t)
        if e is None or t.stack is None:
            continue
        frames = t.stack.frames
        m = frames[e].module
        if m is None or not any(p.search(m.name) for p in modules):
            continue
        # The first such thread is the dispatcher: the handler, if any, is the
        # frame its dispatcher-module frames call.
        j = e
        while j > 0 and (fm := frames[j - 1].module) is not None and any(
                p.search(fm.name) for p in modules):
            j -= 1
        if j > 0 and not _is_platform(ctx, frames[j - 1].module):
            return t, j, j - 1
        return None
    return None


class WaitedHandle:
    """A handle the waiting thread passes to a wait function, with where it was read."""

    __slots__ = ("descriptor", "where")

    def __init__(self, descriptor: HandleDescriptor, where: dict[str, JsonValue]) -> None:
        self.descriptor = descriptor
        self.where = where


def _candidate_values(
    ctx: AnalysisContext, facts: ThreadFacts, upto: int
) -> list[tuple[int, dict[str, JsonValue]]]:
    """Values in the wait frames' registers and home slots (frames 0..upto)."""
    ps = ctx.dump.system.pointer_size
    out: list[tuple[int, dict[str, JsonValue]]] = []
    thread = ctx.dump.threads.get(facts.id)
    if thread is not None:
        try:
            c = thread.context
            for reg in (*_ARG_REGS.get(ps, ()), *_NONVOLATILE.get(ps, ())):
                value = c.get(reg)
                if isinstance(value, int) and value:
                    out.append((value, {"thread": facts.id, "frame": 0, "register": reg}))
        except DumpError:
            pass
    frames = facts.stack.frames if facts.stack is not None else ()
    fmt = "<Q" if ps == 8 else "<I"
    for i, f in enumerate(frames[: upto + 1]):
        for reg in _NONVOLATILE.get(ps, ()):
            value = f.registers.get(reg)
            if value:
                out.append((value, {"thread": facts.id, "frame": i, "register": reg}))
        # Home (x64) / argument (x86) slots of frame i are at its caller's stack pointer.
        if i + 1 < len(frames):
            base = frames[i + 1].sp + (0 if ps == 8 else -4 * ps)
            data = ctx.dump.memory.read_available(base, 4 * ps + (0 if ps == 8 else 8 * ps))
            for off in range(0, len(data) - ps + 1, ps):
                (value,) = struct.unpack_from(fmt, data, off)
                if value:
                    out.append((value, {"thread": facts.id, "frame": i,
                                        "address": base + off}))
    return out


def waited_handles(
    ctx: AnalysisContext, facts: ThreadFacts, upto: int
) -> list[WaitedHandle]:
    """Handles of waitable objects the thread's wait frames hold, validated by HandleData.

    A value counts when it is a handle of a waitable object in the HandleData
    stream, or points at an array of such handles (WaitForMultipleObjects).
    """
    by_value = {h.handle: h for h in ctx.dump.handles
                if (h.type_name or "").lower() in _WAITABLE}
    if not by_value:
        return []
    ps = ctx.dump.system.pointer_size
    fmt = "<Q" if ps == 8 else "<I"
    found: dict[int, WaitedHandle] = {}
    arrays: dict[int, WaitedHandle] = {}
    for value, where in _candidate_values(ctx, facts, upto):
        data = ctx.dump.memory.read_available(value, _MAX_WAIT_OBJECTS * ps) if (
            value >= 0x10000 and value % ps == 0) else b""
        run = []
        for off in range(0, len(data) - ps + 1, ps):
            (h,) = struct.unpack_from(fmt, data, off)
            if h not in by_value:
                break
            run.append(h)
        for n, h in enumerate(run):
            arrays.setdefault(h, WaitedHandle(by_value[h], {**where, "array": value, "index": n}))
        # A single handle is an argument: an argument register at the wait (a small
        # value in a callee-saved register is as likely a count or an index).
        if (value in by_value and where.get("frame") == 0
                and where.get("register") in _ARG_REGS.get(ps, ())):
            found.setdefault(value, WaitedHandle(by_value[value], where))
        elif value in by_value and "address" in where:
            found.setdefault(value, WaitedHandle(by_value[value], where))
    # Arrays are the stronger evidence (a run of valid handles at one address).
    return list(arrays.values()) if arrays else list(found.values())


def _handle_target(h: HandleDescriptor) -> tuple[str, int | None]:
    """(kind, thread id) a handle leads to: a thread handle's thread, a mutant's owner."""
    for info in h.object_info:
        decoded = decode_object_info(info)
        if isinstance(decoded, ThreadObjectInfo):
            return "thread", decoded.thread_id
        if isinstance(decoded, MutantOwner) and decoded.thread_id:
            return "mutant owner", decoded.thread_id
    return (h.type_name or "unknown").lower(), None


def _vendor(ctx: AnalysisContext, module: Module) -> str | None:
    info = ctx.vendor(module)
    return info.company if info is not None and info.company else None


def case_a_evidence(
    ctx: AnalysisContext, sig: Signature
) -> tuple[EvidenceSet, dict[str, JsonValue]] | None:
    """Gather case A's facts; None for dumps with an exception or without stacks."""
    if ctx.exception is not None or ctx.stacks is None:
        return None  # a crash dump is not a hang; without stacks no thread state is known
    ev = EvidenceSet()
    extra: dict[str, JsonValue] = {}
    dispatch = _pats(sig, "control_dispatch_frames")
    blocked = [t for t in ctx.threads if t.state in ("network_io",)]
    blocked_ids = {t.id for t in blocked}
    for t in blocked:
        idx = t.texts.index(t.state_frame) if t.state_frame in t.texts else None
        ev.add("network_blocked_thread", t.state_frame, thread=t.id, frame=idx)
        if t.age_seconds is not None:
            ev.add("thread_age_seconds", round(t.age_seconds, 3), thread=t.id,
                   stream="ThreadInfoListStream")
            if t.age_seconds >= _LONG_BLOCKED:
                ev.add("blocked_long", round(t.age_seconds, 3), thread=t.id,
                       stream="ThreadInfoListStream")
        else:
            ev.miss("thread_age_seconds", f"thread {t.id}: no ThreadInfoList entry")
    if not blocked:
        ev.miss("network_blocked_thread", "every thread's innermost frames")
    chain: list[JsonValue] = []
    handlers = []
    for t in ctx.threads:
        got = control_handler(ctx, t, dispatch)
        if got is not None:
            handlers.append((t, *got))
    if not handlers and (wine := dispatcher_thread_handler(ctx, sig)) is not None:
        t, d, i = wine
        ev.add("wine_process", True, stream="WineHostLibraries")
        ev.add("control_dispatcher_thread", t.texts[d], thread=t.id, frame=d,
               stream="ThreadListStream")
        handlers.append(wine)
    if not handlers:
        ev.miss("control_handler_running",
                "every thread's frames for a service-control dispatcher calling a handler")
    has_handles = bool(ctx.dump.handles)
    if handlers and not has_handles:
        ev.miss("waited_handles", "HandleDataStream (not in this dump: procdump -ma writes it)")
    for t, d, i in handlers:
        ev.add("control_handler_running", t.texts[i], thread=t.id, frame=i)
        ev.add("control_dispatcher_frame", t.texts[d], thread=t.id, frame=d)
        link: dict[str, JsonValue] = {
            "thread": t.id, "role": "service-control handler", "handler": t.texts[i],
            "state": t.state, "blocked_in": t.state_frame,
        }
        if t.age_seconds is not None:
            link["age_seconds"] = round(t.age_seconds, 3)
        waits_on: list[JsonValue] = []
        if t.state in ("wait", "network_io", "critical_section") and has_handles:
            for wh in waited_handles(ctx, t, i):
                kind, target = _handle_target(wh.descriptor)
                item: dict[str, JsonValue] = {
                    "handle": wh.descriptor.handle, "type": wh.descriptor.type_name,
                    "name": wh.descriptor.object_name, "found_in": wh.where, "leads_to": kind,
                }
                ev.add("waited_handle", wh.descriptor.handle, stream="HandleDataStream",
                       **{k: v for k, v in wh.where.items()
                          if k in ("thread", "frame", "register", "address")})
                if target is not None:
                    item["thread"] = target
                    tf = ctx.thread(target)
                    if tf is not None:
                        item["thread_state"] = tf.state
                        item["thread_blocked_in"] = tf.state_frame
                        if tf.age_seconds is not None:
                            item["thread_age_seconds"] = round(tf.age_seconds, 3)
                    if target in blocked_ids:
                        ev.add("handler_waits_on_blocked_thread", target,
                               thread=t.id, stream="HandleDataStream")
                waits_on.append(item)
            if not waits_on:
                ev.miss("waited_handles",
                        f"thread {t.id}: wait frames' registers and home slots hold no "
                        "handle of the HandleData stream")
        link["waits_on"] = waits_on
        chain.append(link)
    for t in blocked:
        link = {"thread": t.id, "role": "blocked in network I/O", "state": t.state,
                "blocked_in": t.state_frame}
        if t.age_seconds is not None:
            link["age_seconds"] = round(t.age_seconds, 3)
        if t.cpu_seconds is not None:
            link["cpu_seconds"] = round(t.cpu_seconds, 3)
        chain.append(link)
    extra["wait_chain"] = chain
    group: list[JsonValue] = [{"id": t.id} for t, _, _ in handlers]
    group += [{"id": t.id} for t in blocked]
    extra["threads"] = [group]
    # Third-party modules between the application and the socket call.
    main = ctx.dump.modules.main
    main_vendor = _vendor(ctx, main) if main is not None else None
    if main is not None and main_vendor is None:
        ev.miss("main_executable_vendor", f"{main.name}: version resource")
    on_path: dict[int, dict[str, JsonValue]] = {}
    for t in blocked:
        assert t.stack is not None
        s = t.texts.index(t.state_frame) if t.state_frame in t.texts else 0
        frames = t.stack.frames
        main_base = main.base if main is not None else None
        app = next((j for j in range(s + 1, len(frames))
                    if (fm := frames[j].module) is not None and fm.base == main_base),
                   len(frames))
        for j in range(s + 1, app):
            m = frames[j].module
            if m is None or _is_platform(ctx, m):
                continue
            vendor = _vendor(ctx, m)
            if vendor is None:
                ev.miss("module_vendor", f"{m.name}: version resource")
                continue
            if _MICROSOFT.search(vendor) or (main_vendor is not None and vendor == main_vendor):
                continue
            info = ctx.vendor(m)
            entry = on_path.setdefault(m.base, {
                "name": m.name, "vendor": vendor, "path": m.path,
                "description": info.description if info is not None else None,
                "version": ".".join(map(str, m.version)) if m.version else (
                    info.file_version if info is not None else None),
                "frames": [],
            })
            frames_list = entry["frames"]
            assert isinstance(frames_list, list)
            frames_list.append({"thread": t.id, "frame": j, "text": t.texts[j],
                                "between": [t.texts[s], t.texts[app] if app < len(frames)
                                            else None]})
            ev.add("third_party_on_network_path", m.name, thread=t.id, frame=j,
                   address=frames[j].ip)
    extra["network_path_modules"] = list(on_path.values())
    if has_handles:
        extra["socket_handles"] = sum(
            1 for h in ctx.dump.handles
            if h.object_name and "\\device\\afd" in h.object_name.lower())
    return ev, extra
