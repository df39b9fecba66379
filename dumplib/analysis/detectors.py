"""Detectors that read process structures from memory: critical-section
deadlocks, orphaned critical sections and a held loader lock.

These need more than patterns: the RTL_CRITICAL_SECTION a waiting thread is
blocked on is found among its registers and stack and validated (its owner is
a thread of the dump, its DebugInfo points back at it); the loader lock is
found through TEB -> PEB -> LoaderLock.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from dumplib._exc import DumpError
from dumplib.analysis.evidence import EvidenceSet
from dumplib.analysis.facts import AnalysisContext, ThreadFacts
from dumplib.analysis.model import Finding, JsonValue

__all__ = [
    "CriticalSection",
    "detect_deadlocks",
    "detect_loader_lock",
    "read_critical_section",
    "run_detectors",
    "waited_critical_section",
]

# DebugInfo, LockCount, RecursionCount, OwningThread, LockSemaphore, SpinCount
_CS64 = struct.Struct("<QiiQQQ")
_CS32 = struct.Struct("<IiiIII")
_MAX_SCAN = 0x800  # stack bytes searched for the waited critical section
_REGS = {
    8: ("rcx", "rbx", "rdi", "rsi", "r12", "r13", "r14", "r15", "rbp", "rdx", "r8", "rax"),
    4: ("ecx", "ebx", "edi", "esi", "ebp", "eax", "edx"),
}
# TEB -> PEB and PEB -> LoaderLock offsets (x64, x86).
_TEB_PEB = {8: 0x60, 4: 0x30}
_PEB_LOADER_LOCK = {8: 0x110, 4: 0xA0}
_MAX_CHAIN = 256


@dataclass(frozen=True, slots=True)
class CriticalSection:
    """An RTL_CRITICAL_SECTION read from memory."""

    address: int
    debug_info: int
    lock_count: int
    recursion_count: int
    owning_thread: int
    lock_semaphore: int
    spin_count: int

    @property
    def held(self) -> bool:
        """Whether some thread owns it."""
        return self.owning_thread != 0 and self.recursion_count > 0


def read_critical_section(ctx: AnalysisContext, address: int) -> CriticalSection | None:
    """Read an RTL_CRITICAL_SECTION at ``address``, or None when it is not in the dump."""
    ps = ctx.dump.system.pointer_size
    layout = _CS64 if ps == 8 else _CS32
    if address % 4:
        return None
    data = ctx.dump.memory.try_read(address, layout.size)
    if data is None:
        return None
    return CriticalSection(address, *layout.unpack(data))


def _valid_waited(ctx: AnalysisContext, cs: CriticalSection, waiter: int) -> bool:
    """A held critical section owned by another thread, its DebugInfo consistent.

    An owner that is not a thread of the dump is accepted only when DebugInfo
    points back at the section (so stray stack values do not pass as locks).
    """
    ps = ctx.dump.system.pointer_size
    owner = cs.owning_thread
    if not cs.held or owner == waiter or owner % 4 or owner > 0xFFFFFFFF:
        return False
    if cs.recursion_count > 0x10000:
        return False
    all_ones = (1 << (8 * ps)) - 1
    verified = False
    if cs.debug_info not in (0, all_ones):
        try:
            back = ctx.dump.memory.read_pointer(cs.debug_info + ps)
        except DumpError:
            back = None
        if back is not None and back != cs.address:
            return False
        verified = back == cs.address
    return verified or ctx.dump.threads.get(owner) is not None


def waited_critical_section(ctx: AnalysisContext, facts: ThreadFacts) -> CriticalSection | None:
    """The critical section a thread in the ``critical_section`` state waits for."""
    if facts.state != "critical_section":
        return None
    ps = ctx.dump.system.pointer_size
    candidates: list[int] = []
    if facts.stack is not None:
        for f in facts.stack.frames[:8]:
            candidates += [v for r in _REGS.get(ps, ()) if (v := f.registers.get(r))]
    thread = ctx.dump.threads.get(facts.id)
    if thread is not None:
        try:
            c = thread.context
            candidates += [v for r in _REGS.get(ps, ()) if isinstance(v := c.get(r), int) and v]
            data = ctx.dump.memory.read_available(c.sp, _MAX_SCAN)
            if data:
                fmt = "<Q" if ps == 8 else "<I"
                candidates += [
                    struct.unpack_from(fmt, data, o)[0] for o in range(0, len(data) - ps + 1, ps)
                ]
        except DumpError:
            pass
    seen: set[int] = set()
    for address in candidates:
        if address in seen or address < 0x10000:
            continue
        seen.add(address)
        cs = read_critical_section(ctx, address)
        if cs is not None and _valid_waited(ctx, cs, facts.id):
            return cs
    return None


def _cs_json(cs: CriticalSection) -> dict[str, JsonValue]:
    return {
        "address": cs.address,
        "owning_thread": cs.owning_thread,
        "lock_count": cs.lock_count,
        "recursion_count": cs.recursion_count,
    }


def detect_deadlocks(ctx: AnalysisContext) -> list[Finding]:
    """Cycles of threads waiting on critical sections owned by each other, and
    critical sections owned by threads that no longer exist."""
    waits: dict[int, CriticalSection] = {}
    for t in ctx.threads:
        cs = waited_critical_section(ctx, t)
        if cs is not None:
            waits[t.id] = cs
    findings: list[Finding] = []
    reported: set[frozenset[int]] = set()
    for start in waits:
        path: list[int] = []
        tid = start
        while tid in waits and tid not in path and len(path) < _MAX_CHAIN:
            path.append(tid)
            tid = waits[tid].owning_thread
        if tid in path:
            cycle = path[path.index(tid):]
            key = frozenset(cycle)
            if key in reported:
                continue
            reported.add(key)
            chain: list[JsonValue] = []
            for w in cycle:
                facts = ctx.thread(w)
                chain.append({
                    "thread": w,
                    "waits_for": _cs_json(waits[w]),
                    "blocked_in": facts.state_frame if facts else None,
                    "frames": list(facts.texts[:8]) if facts else [],
                })
            cycle_ev = EvidenceSet()
            for w in cycle:
                cycle_ev.add("waits_for_critical_section", waits[w].address, thread=w,
                             address=waits[w].address)
                cycle_ev.add("owner", waits[w].owning_thread, address=waits[w].address + 16)
            findings.append(Finding(
                id="deadlock-critical-section",
                title=f"Deadlock: {len(cycle)} threads wait on critical sections "
                "owned by each other",
                confidence=0.9,
                evidence={"cycle": chain, "threads": list(cycle), **cycle_ev.to_json()},
                advice="Each thread holds a lock the next one needs. Acquire these locks in one "
                       "global order everywhere (or hold only one at a time); the frames show "
                       "where each lock is taken.",
                source="detector:deadlock",
            ))
    for waiter, cs in waits.items():
        if ctx.dump.threads.get(cs.owning_thread) is None:
            orphan = EvidenceSet()
            orphan.add("waits_for_critical_section", cs.address, thread=waiter, address=cs.address)
            orphan.add("owner_not_a_thread", cs.owning_thread, stream="ThreadListStream")
            findings.append(Finding(
                id="orphaned-critical-section",
                title=f"Thread {waiter} waits on a critical section owned by thread "
                      f"{cs.owning_thread}, which no longer exists",
                confidence=0.8,
                evidence={"waiter": waiter, "critical_section": _cs_json(cs),
                          **orphan.to_json()},
                advice="The owner exited (or was terminated) while holding the lock; look for "
                       "TerminateThread, ExitThread or an exception escaping a locked region.",
                source="detector:deadlock",
            ))
    return findings


def detect_loader_lock(ctx: AnalysisContext) -> list[Finding]:
    """The loader lock (PEB.LoaderLock, ntdll!LdrpLoaderLock) held at dump time."""
    ps = ctx.dump.system.pointer_size
    address = None
    for t in ctx.dump.threads:
        if not t.teb:
            continue
        try:
            peb = ctx.dump.memory.read_pointer(t.teb + _TEB_PEB[ps])
            address = ctx.dump.memory.read_pointer(peb + _PEB_LOADER_LOCK[ps])
            break
        except (DumpError, KeyError):
            continue
    if not address:
        return []
    cs = read_critical_section(ctx, address)
    if cs is None or not cs.held:
        return []
    owner = ctx.thread(cs.owning_thread)
    waiters = [
        t.id for t in ctx.threads
        if t.id != cs.owning_thread and (w := waited_critical_section(ctx, t)) is not None
        and w.address == address
    ]
    facts = EvidenceSet()
    facts.add("loader_lock_held", cs.owning_thread, address=cs.address,
              stream="TEB -> PEB.LoaderLock")
    for waiter in waiters:
        facts.add("waits_for_loader_lock", cs.address, thread=waiter)
    if not waiters:
        facts.miss("waits_for_loader_lock", "every thread's registers and stack")
    evidence: dict[str, JsonValue] = {
        **facts.to_json(),
        "loader_lock": _cs_json(cs),
        "owner": cs.owning_thread,
        "owner_frames": list(owner.texts[:12]) if owner else [],
        "waiters": list(waiters),
    }
    return [Finding(
        id="loader-lock-held",
        title=f"The loader lock is held by thread {cs.owning_thread}"
              + (f" while {len(waiters)} other thread(s) wait for it" if waiters else ""),
        confidence=0.85 if waiters else 0.5,
        evidence=evidence,
        advice="Code running under the loader lock (DllMain, TLS callbacks, LoadLibrary) must not "
               "wait on other threads, take other locks or load libraries; move that work out "
               "of DllMain.",
        source="detector:loader-lock",
    )]


def run_detectors(ctx: AnalysisContext) -> list[Finding]:
    """Every code detector; a detector that fails on bad memory leaves a note instead."""
    out: list[Finding] = []
    for name, detector in (("deadlock", detect_deadlocks), ("loader-lock", detect_loader_lock)):
        try:
            out += detector(ctx)
        except DumpError as exc:
            ctx.notes.append(f"detector {name} failed: {exc}")
    return out
