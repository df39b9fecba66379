"""Case B, structurally: a double I/O completion on a .NET completion-port thread.

The finding rests on facts read from the dump, each reported with where it
was read, and its confidence follows the ``[rule]`` of the signature file
(``dumplib/signatures/clr-double-io-completion.toml``), whose ``[patterns]`` hold the
frame and type patterns used here:

* the exception: an access violation (from the exception stream), or a
  managed exception whose type (procdump's comment) is a
  NullReferenceException; any other managed type refutes the finding;
* the faulting thread is an I/O completion thread: its start routine (from
  the walk's outermost frame, or the ThreadInfo start address when the walk
  stopped early) is the runtime's completion-port start (.NET Framework,
  CoreCLR), or the .NET 7+ PortableThreadPool IOCompletionPoller is on it;
* a completion-callback frame on the faulting thread, and whether any
  application frame (or unattributed JIT code, which may be application
  code) sits on it;
* the OVERLAPPED, validated as a structure in every non-volatile register,
  the argument registers at the fault and every walked frame's stack area --
  every candidate is reported with its verdict.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dumplib._exc import DumpError
from dumplib.analysis.collectors import _status_name
from dumplib.analysis.evidence import EvidenceSet
from dumplib.analysis.facts import AnalysisContext, ThreadFacts
from dumplib.analysis.model import JsonValue
from dumplib.analysis.patterns import BOILERPLATE_START, compile_all
from dumplib.unwind.frames import StackStatus

if TYPE_CHECKING:
    from dumplib.analysis.signatures import Signature

__all__ = ["OverlappedCandidate", "case_b_evidence", "overlapped_candidates"]

STATUS_BUFFER_OVERFLOW = 0x80000005
STATUS_PENDING = 0x103
_NONVOLATILE = {
    8: ("rbx", "rbp", "rsi", "rdi", "r12", "r13", "r14", "r15"),
    4: ("ebx", "ebp", "esi", "edi"),
}
_ARGUMENTS = {8: ("rcx", "rdx", "r8", "r9"), 4: ("eax", "ecx", "edx")}
_FRAME_AREA = 0x400  # bytes of one frame's stack area searched
_MAX_CANDIDATES = 4096
_MAX_REPORTED = 48
_MAX_TRANSFER = 0x1000_0000  # InternalHigh: bytes transferred by one I/O
_STACK_RESERVE = 0x100000
_BOILERPLATE = compile_all(BOILERPLATE_START)


def _pats(sig: Signature, key: str) -> tuple[re.Pattern[str], ...]:
    return compile_all((sig.patterns or {}).get(key, ()))


def _int_list(sig: Signature, key: str) -> set[int]:
    """Integer codes from the signature's ``[evidence]`` (hex strings or integers)."""
    raw = (sig.evidence or {}).get(key)
    out: set[int] = set()
    for v in raw if isinstance(raw, list) else []:
        if isinstance(v, int) and not isinstance(v, bool):
            out.add(v)
        elif isinstance(v, str):
            try:
                out.add(int(v, 0))
            except ValueError:
                continue
    return out


@dataclass(frozen=True, slots=True)
class OverlappedCandidate:
    """One pointer looked at as a possible OVERLAPPED, with the verdict."""

    address: int
    where: dict[str, JsonValue]
    valid: bool
    reason: str
    internal: int | None = None
    internal_high: int | None = None
    enclosing: str | None = None

    def to_json(self) -> dict[str, JsonValue]:
        """The candidate as a JSON object."""
        out: dict[str, JsonValue] = {"address": self.address, "where": self.where,
                                     "valid": self.valid, "reason": self.reason}
        if self.internal is not None:
            out["internal"] = self.internal
            out["internal_name"] = _status_name(self.internal)
            out["internal_high"] = self.internal_high
        if self.enclosing:
            out["enclosing"] = self.enclosing
        return out


def _on_a_stack(ctx: AnalysisContext, address: int) -> bool:
    for t in ctx.dump.threads:
        rng = t.stack_range
        if rng is not None and rng[0] - _STACK_RESERVE <= address < rng[0] + rng[1]:
            return True
    return False


def _enclosing(ctx: AnalysisContext, address: int, size: int) -> str | None:
    """How the enclosing NativeOverlapped / OverlappedData is consistent, or None.

    CoreCLR / .NET 5+ allocate the NativeOverlapped natively with a GCHandle
    right after it, whose target object points back at it. .NET Framework
    embeds it in a managed OverlappedData whose header (a MethodTable pointer
    into a runtime image) precedes it.
    """
    mem = ctx.dump.memory
    ps = ctx.dump.system.pointer_size
    try:
        handle = mem.read_pointer(address + size)
        if handle and handle % ps == 0:
            obj = mem.read_pointer(handle)
            data = mem.read_available(obj, 16 * ps) if obj else None
            if data:
                fmt = "<Q" if ps == 8 else "<I"
                if any(struct.unpack_from(fmt, data, o)[0] == address
                       for o in range(0, len(data), ps)):
                    return (f"GCHandle 0x{handle:x} after it -> object 0x{obj:x} "
                            "pointing back at it (CoreCLR layout)")
    except DumpError:
        pass
    back = mem.read_available(address - 0x80, 0x80) if address > 0x80 else b""
    fmt = "<Q" if ps == 8 else "<I"
    for off in range(len(back) - ps, -1, -ps):
        value = struct.unpack_from(fmt, back, off)[0]
        module = ctx.dump.modules.find(value) if value else None
        if module is not None and ctx.is_runtime_module(module):
            return (f"MethodTable pointer into {module.name} at 0x{address - 0x80 + off:x} "
                    "(enclosing OverlappedData object, .NET Framework layout)")
    return None


def _validate(
    ctx: AnalysisContext, address: int, io_statuses: set[int]
) -> tuple[bool, str, int | None, int | None, str | None]:
    ps = ctx.dump.system.pointer_size
    if address % ps:
        return False, "not pointer-aligned", None, None, None
    if ctx.dump.modules.find(address) is not None:
        return False, "inside an image", None, None, None
    if _on_a_stack(ctx, address):
        return False, "on a thread stack (a NativeOverlapped lives on the heap)", None, None, None
    size = 32 if ps == 8 else 20
    data = ctx.dump.memory.try_read(address, size)
    if data is None:
        return False, "not in the dump", None, None, None
    if ps == 8:
        internal, high, _off, _off_high, event = struct.unpack("<QQIIQ", data)
    else:
        internal, high, _off, _off_high, event = struct.unpack("<IIIII", data)
    if not any(data):
        return False, "zeroed memory", internal, high, None
    if internal > 0xFFFFFFFF:
        return False, "Internal wider than an NTSTATUS", internal, high, None
    if internal not in io_statuses:
        return False, f"Internal 0x{internal:08x} is not an I/O status", internal, high, None
    if high > _MAX_TRANSFER:
        return False, f"InternalHigh {high} is not a plausible byte count", internal, high, None
    if event > 0xFFFFFFFF or (event & ~1) % 4:
        return False, "hEvent is not a handle value", internal, high, None
    enclosing = _enclosing(ctx, address, size)
    return True, "OVERLAPPED shape holds", internal, high, enclosing


def overlapped_candidates(
    ctx: AnalysisContext, facts: ThreadFacts, io_statuses: set[int]
) -> list[OverlappedCandidate]:
    """Validate every candidate pointer of a thread as an OVERLAPPED.

    Candidates: the non-volatile registers (and argument registers) of the
    exception and thread contexts, every walked frame's recovered non-volatile
    registers, and every pointer-sized slot of each walked frame's stack area.
    Values that are not addresses of captured memory are skipped silently;
    everything else is returned with its verdict.
    """
    ps = ctx.dump.system.pointer_size
    nonvol = _NONVOLATILE.get(ps, ())
    args = _ARGUMENTS.get(ps, ())
    raw: list[tuple[int, dict[str, JsonValue]]] = []
    exc = ctx.dump.exception
    thread = ctx.dump.threads.get(facts.id)
    contexts = []
    if exc is not None and exc.thread_id == facts.id:
        try:
            if exc.context is not None:
                contexts.append(("exception", exc.context))
        except DumpError:
            pass
    if thread is not None:
        try:
            contexts.append(("thread", thread.context))
        except DumpError:
            pass
    for label, c in contexts:
        for reg in (*nonvol, *args):
            value = c.get(reg)
            if isinstance(value, int) and value:
                raw.append((value, {"context": label, "register": reg}))
    frames = facts.stack.frames if facts.stack is not None else ()
    for f in frames:
        for reg in nonvol:
            value = f.registers.get(reg)
            if value:
                raw.append((value, {"frame": f.index, "register": reg}))
    fmt = "<Q" if ps == 8 else "<I"
    for i, f in enumerate(frames):
        end = frames[i + 1].sp if i + 1 < len(frames) else f.sp + _FRAME_AREA
        size = max(0, min(end - f.sp, _FRAME_AREA))
        data = ctx.dump.memory.read_available(f.sp, size) if size else b""
        for off in range(0, len(data) - ps + 1, ps):
            (value,) = struct.unpack_from(fmt, data, off)
            if value:
                raw.append((value, {"frame": f.index, "address": f.sp + off}))
        if len(raw) > _MAX_CANDIDATES:
            break
    out: list[OverlappedCandidate] = []
    seen: dict[int, dict[str, JsonValue]] = {}
    for value, where in raw[:_MAX_CANDIDATES]:
        if value < 0x10000:
            continue
        if value in seen:  # the same pointer in several places: say all of them
            also = seen[value].setdefault("also_in", [])
            if isinstance(also, list) and len(also) < 8:
                also.append(dict(where))
            continue
        seen[value] = where
        if ctx.dump.memory.try_read(value, 1) is None:
            continue  # not an address of captured memory: not a candidate
        ok, reason, internal, high, enclosing = _validate(ctx, value, io_statuses)
        out.append(OverlappedCandidate(value, where, ok, reason, internal, high, enclosing))
    return out


def _clr_hresult(ctx: AnalysisContext, params: tuple[int, ...]) -> int | None:
    """The managed exception's HRESULT from E0434352's parameters, when their layout holds."""
    if len(params) < 5 or not 0x80000000 <= params[0] <= 0xFFFFFFFF:
        return None
    module = ctx.dump.modules.find(params[4])
    if module is None or module.base != params[4] or not ctx.is_runtime_module(module):
        return None
    return params[0]


def _start_function(ctx: AnalysisContext, facts: ThreadFacts) -> tuple[str | None, str]:
    """The thread's start routine and where it was read.

    A complete walk gives it as the outermost frame past the start boilerplate;
    a walk that stopped early does not reach it, so the ThreadInfo start
    address decides then.
    """
    thread = ctx.dump.threads.get(facts.id)
    info = thread.info if thread is not None else None
    complete = facts.stack is not None and facts.stack.status == StackStatus.COMPLETE
    if complete:
        for text in reversed(facts.texts):
            if not any(p.search(text) for p in _BOILERPLATE):
                return text, "outermost frame"
    if info is not None and info.start_address:
        sym = ctx.symbol_at(info.start_address)
        if sym is not None:
            return sym, "ThreadInfoList start address"
    return facts.start_function, "outermost frame reached"


def case_b_evidence(
    ctx: AnalysisContext, sig: Signature
) -> tuple[EvidenceSet, dict[str, JsonValue]] | None:
    """Gather case B's facts; None when the dump has no exception at all."""
    exc = ctx.exception
    if exc is None:
        return None
    ev = EvidenceSet()
    extra: dict[str, JsonValue] = {}
    tid = exc.thread_id
    ev.add("exception_code", exc.code, thread=tid, stream="ExceptionStream")
    managed_codes = _int_list(sig, "managed_exception_codes")
    av_codes = _int_list(sig, "access_violation_codes")
    wanted_types = _pats(sig, "managed_types")
    if exc.code in av_codes:
        ev.add("null_reference_or_av", exc.name, thread=tid, stream="ExceptionStream")
    elif exc.code in managed_codes:
        if exc.managed_type:
            name = ("null_reference_or_av" if any(p.search(exc.managed_type) for p in wanted_types)
                    else "managed_type_other")
            ev.add(name, exc.managed_type, stream="CommentStreamA/W", thread=tid)
        elif (hr := _clr_hresult(ctx, exc.parameters)) is not None:
            # The CLR raises E0434352 with (HRESULT, 0, 0, 0, runtime base): the HRESULT
            # is the exception's; the runtime base checks the layout.
            name = ("null_reference_or_av" if hr in _int_list(sig, "managed_null_hresults")
                    else "managed_type_other")
            ev.add(name, f"HRESULT 0x{hr:08x}", stream="ExceptionStream", thread=tid)
        else:
            ev.miss("managed_exception_type",
                    "procdump's comment (no type named) and the exception parameters "
                    "(no HRESULT with the runtime's base); the exception object's type needs "
                    "the runtime's data structures (SOS)")
    else:
        ev.add("exception_not_av_or_managed", exc.code, thread=tid, stream="ExceptionStream")
    if exc.chance != "unknown":
        ev.add("chance", exc.chance, stream=exc.chance_source or "")
    facts = ctx.thread(tid)
    if facts is None or facts.stack is None:
        ev.miss("faulting_thread_stack", f"thread {tid}: no walked stack")
        where_fn = ctx.symbol_at(exc.address)
        if where_fn and any(p.search(where_fn) for p in _pats(sig, "callback_frames")):
            ev.add("fault_in_completion_callback", where_fn, thread=tid, address=exc.address)
        return ev, extra
    start, start_where = _start_function(ctx, facts)
    extra["start_function"] = start
    if facts.stack.status != StackStatus.COMPLETE:
        ev.add("walk_stopped_early", str(facts.stack.status), thread=tid)
    if start and any(p.search(start) for p in _pats(sig, "completion_thread_start")):
        ev.add("completion_port_thread", start, thread=tid, stream=(
            "ThreadInfoListStream" if start_where.startswith("ThreadInfo") else None),
            frame=None if start_where.startswith("ThreadInfo") else len(facts.texts) - 1)
    if not ev.has("completion_port_thread") and facts.stack.status != StackStatus.COMPLETE:
        # The walk went past (or stopped short of) the thread's start without ThreadInfo
        # to say where it began: a start-routine frame on the stack still tells.
        starts = _pats(sig, "completion_thread_start")
        hit = next((i for i, t in enumerate(facts.texts) if any(p.search(t) for p in starts)),
                   None)
        if hit is not None:
            ev.add("completion_port_thread", facts.texts[hit], thread=tid, frame=hit)
    poller = next((i for i, t in enumerate(facts.texts)
                   if any(p.search(t) for p in _pats(sig, "completion_poller_frames"))), None)
    if poller is not None:
        ev.add("completion_port_thread", facts.texts[poller], thread=tid, frame=poller)
    thread = ctx.dump.threads.get(tid)
    start_address = thread.info.start_address if thread is not None and thread.info else 0
    start_module = ctx.dump.modules.find(start_address) if start_address else None
    if start_module is not None and ctx.is_runtime_module(start_module):
        # Exports-only runtimes name nothing; the ThreadInfo start address still says
        # the runtime created this thread.
        ev.add("runtime_started_thread", start_module.name, thread=tid, address=start_address,
               stream="ThreadInfoListStream")
    if not ev.has("completion_port_thread"):
        if ev.has("runtime_started_thread"):
            ev.add("completion_by_structure_only", start_module.name if start_module else None,
                   thread=tid)
        ev.miss("completion_port_thread",
                f"thread {tid}: start routine {start!r} ({start_where}) and its frames")
    callbacks = [i for i, t in enumerate(facts.texts)
                 if any(p.search(t) for p in _pats(sig, "callback_frames"))]
    for i in callbacks[:2]:
        ev.add("completion_callback_frame", facts.texts[i], thread=tid, frame=i,
               address=facts.stack.frames[i].ip)
    if not callbacks:
        ev.miss("completion_callback_frame", f"thread {tid}: {len(facts.texts)} walked frames")
    app_frames = [(i, t) for i, (f, t) in enumerate(zip(facts.stack.frames, facts.texts,
                                                        strict=True))
                  if f.module is not None and ctx.is_application_module(f.module)]
    jit_frames = [i for i, f in enumerate(facts.stack.frames)
                  if f.module is None and f.index > 0]
    for i, t in app_frames[:3]:
        ev.add("application_frame", t, thread=tid, frame=i)
    for i in jit_frames[:3]:
        ev.add("unattributed_code_frame", facts.texts[i], thread=tid, frame=i)
    if not app_frames and not jit_frames:
        ev.add("no_application_frame", len(facts.texts), thread=tid)
        if any(f.module is not None and ctx.is_runtime_module(f.module)
               for f in facts.stack.frames):
            ev.add("runtime_frames_only", len(facts.texts), thread=tid)
    runtime = [f.module for f in facts.stack.frames
               if f.module is not None and ctx.is_runtime_module(f.module)]
    for m in {m.base: m for m in runtime}.values():
        how = ctx.runtime_identity(m)
        ev.add("runtime_module", {"name": m.name, "identified_by": how},
               stream="ModuleListStream", address=m.base)
        if how == "name only":
            ev.add("runtime_by_name_only", m.name, stream="ModuleListStream", address=m.base)
    candidates = overlapped_candidates(ctx, facts, _int_list(sig, "io_statuses"))
    valid = [c for c in candidates if c.valid]
    extra["overlapped_candidates"] = [c.to_json() for c in candidates[:_MAX_REPORTED]]
    extra["overlapped_candidates_examined"] = len(candidates)
    if valid:
        best = sorted(valid, key=lambda c: (c.enclosing is None, "register" not in c.where))[0]
        where: dict[str, JsonValue] = {"thread": tid}
        where.update((k, v) for k, v in best.where.items()
                     if k in ("frame", "register", "address"))
        ev.add("overlapped", best.address, **where)
        extra["overlapped"] = best.to_json()
        if best.enclosing:
            ev.add("overlapped_enclosing_consistent", best.enclosing, address=best.address)
        statuses = {c.internal for c in valid}
        if best.internal == STATUS_BUFFER_OVERFLOW:
            ev.add("overlapped_status_buffer_overflow", best.internal, address=best.address)
        elif best.internal in (0, STATUS_PENDING):
            ev.add("overlapped_status_normal", best.internal, address=best.address)
        if len(statuses) > 1:
            ambiguous: list[JsonValue] = [s for s in sorted(x for x in statuses if x is not None)]
            ev.add("overlapped_ambiguous", ambiguous, thread=tid)
    else:
        ev.miss("overlapped", f"{len(candidates)} candidate pointer(s) in thread {tid}'s "
                "registers and frame stack areas; none holds a valid OVERLAPPED "
                "(a full-memory dump, procdump -ma, holds the heap)")
    return ev, extra

