"""Evidence a signature rule cannot express, gathered in code.

A signature names collectors in its ``collect`` list. Each collector gets the
shared :class:`~dumplib.analysis.facts.AnalysisContext` and the evidence the
signature's conditions gathered, and returns more evidence plus whether it
*confirms* the problem (then the signature's ``confidence_confirmed`` applies).

* ``system`` -- OS name, version and build; with ``fix_os_versions`` in the
  signature's evidence, whether the fix it names is for this OS.
* ``overlapped`` -- the OVERLAPPED / NativeOverlapped handed to an I/O
  completion callback, read from memory, with its ``Internal`` status;
  STATUS_BUFFER_OVERFLOW (0x80000005) there confirms a double completion.
* ``network_threads`` -- threads blocked in network I/O (frames, how long),
  the threads waiting on them (a service's stop handler), socket handles and
  the third-party modules on those stacks; confirms when a stop handler waits
  while others are blocked in network I/O.
* ``third_party_modules`` -- every non-Microsoft module with vendor,
  description and version.
* ``recursion`` -- the most repeated frame of the exception thread's stack.
* ``memory_usage`` -- process memory counters and the memory map's committed,
  reserved and largest free sizes; confirms when a 32-bit process has used up
  its address space (or a job its commit limit).
"""

from __future__ import annotations

import re
import struct
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from dumplib._exc import DumpError
from dumplib.analysis.facts import AnalysisContext, ThreadFacts
from dumplib.analysis.model import JsonValue
from dumplib.codes import CodeTable, lookup
from dumplib.format.context import Context

__all__ = [
    "COLLECTORS",
    "STATUS_BUFFER_OVERFLOW",
    "Collected",
    "Collector",
    "find_overlapped",
]

STATUS_BUFFER_OVERFLOW = 0x80000005
STATUS_PENDING = 0x00000103
_MAX_STACK_SCAN = 0x2000  # bytes of stack searched for an OVERLAPPED pointer
_ARG_ORDER = {
    8: ("r8", "rdx", "rcx", "r9", "rbx", "rbp", "rsi", "rdi", "r12", "r13", "r14", "r15",
        "rax", "r10", "r11"),
    4: ("ebx", "esi", "edi", "ebp", "eax", "ecx", "edx"),
}
_STOP_HANDLER = re.compile(
    r"(stop|shutdown|ScSvcCtrl|ServiceCtrl|ControlHandler|HandlerEx|ServiceBase)", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class Collected:
    """What a collector found: evidence, whether it confirms, and notes."""

    evidence: dict[str, JsonValue]
    confirmed: bool = False
    notes: tuple[str, ...] = ()


Collector = Callable[[AnalysisContext, Mapping[str, JsonValue]], Collected]


def _first_thread_id(ctx: AnalysisContext, ev: Mapping[str, JsonValue]) -> int | None:
    groups = ev.get("threads")
    if isinstance(groups, list):
        for group in groups:
            if isinstance(group, list):
                for t in group:
                    if isinstance(t, dict) and isinstance(t.get("id"), int):
                        tid = t["id"]
                        assert isinstance(tid, int)
                        return tid
    exc = ctx.dump.exception
    return exc.thread_id if exc is not None else None


# -- system --------------------------------------------------------------------------------


def _system(ctx: AnalysisContext, ev: Mapping[str, JsonValue]) -> Collected:
    s = ctx.dump.system
    major, minor, build = s.os_version
    out: dict[str, JsonValue] = {
        "os_name": s.os_name,
        "os_version": f"{major}.{minor}.{build}",
        "os_build": build,
        "csd_version": s.csd_version,
        "arch": s.arch.value,
    }
    # A signature's fixed evidence may name the OS versions its fix is for
    # (fix_os_versions = ["6.3"]): say whether this dump's OS is one of them.
    wanted = ev.get("fix_os_versions")
    if isinstance(wanted, list):
        version = (major, minor, build)
        out["fix_applies_to_this_os"] = any(
            isinstance(w, str) and version[: len(w.split("."))] == tuple(
                int(p) for p in w.split(".") if p.isdigit())
            for w in wanted
        )
    return Collected(out)


# -- overlapped ----------------------------------------------------------------------------


def _status_name(code: int) -> str | None:
    for m in lookup(code):
        if m.table is CodeTable.NTSTATUS and m.via is None:
            return m.name
    return None


_STACK_RESERVE = 0x100000  # below the captured part of a stack lies its reserved region


def _on_a_stack(ctx: AnalysisContext, address: int) -> bool:
    for t in ctx.dump.threads:
        rng = t.stack_range
        if rng is not None and rng[0] - _STACK_RESERVE <= address < rng[0] + rng[1]:
            return True
    return False


def _plausible_overlapped(
    ctx: AnalysisContext, address: int
) -> tuple[int, int, int] | None:
    """(Internal, InternalHigh, hEvent) when ``address`` looks like an OVERLAPPED."""
    ps = ctx.dump.system.pointer_size
    if address < 0x10000 or address % ps or ctx.dump.modules.find(address) is not None:
        return None
    if _on_a_stack(ctx, address):
        return None  # a NativeOverlapped is allocated from the heap
    size = 32 if ps == 8 else 20
    data = ctx.dump.memory.try_read(address, size)
    if data is None:
        return None
    if ps == 8:
        internal, high, _off, _off_high, event = struct.unpack("<QQIIQ", data)
    else:
        internal, high, _off, _off_high, event = struct.unpack("<IIIII", data)
    if internal > 0xFFFFFFFF or high > 0xFFFFFFFF or event > 0xFFFFFFFF:
        return None
    if internal != STATUS_PENDING and _status_name(internal) is None:
        return None
    return internal, high, event


def _candidates(ctx: AnalysisContext, facts: ThreadFacts) -> list[tuple[int, str]]:
    ps = ctx.dump.system.pointer_size
    order = _ARG_ORDER.get(ps, ())
    out: list[tuple[int, str]] = []
    contexts: list[tuple[str, Context]] = []
    exc = ctx.dump.exception
    if exc is not None and exc.thread_id == facts.id:
        try:
            ectx = exc.context
        except DumpError:
            ectx = None
        if ectx is not None:
            contexts.append(("exception context", ectx))
    thread = ctx.dump.threads.get(facts.id)
    if thread is not None:
        try:
            contexts.append(("thread context", thread.context))
        except DumpError:
            pass
    for label, c in contexts:
        for reg in order:
            value = c.get(reg)
            if isinstance(value, int) and value:
                out.append((value, f"{label} {reg}"))
    if facts.stack is not None:
        for f in facts.stack.frames[:8]:
            for reg in order:
                value = f.registers.get(reg)
                if value:
                    out.append((value, f"frame {f.index} {reg}"))
    sp = None
    if facts.stack is not None and facts.stack.frames:
        sp = facts.stack.frames[0].sp
    elif contexts:
        sp = contexts[0][1].sp
    if sp:
        data = ctx.dump.memory.read_available(sp, _MAX_STACK_SCAN)
        if data:
            fmt = "<Q" if ps == 8 else "<I"
            for off in range(0, len(data) - ps + 1, ps):
                (value,) = struct.unpack_from(fmt, data, off)
                if value:
                    out.append((value, f"stack slot 0x{sp + off:x}"))
    seen: set[int] = set()
    unique = []
    for value, where in out:
        if value not in seen:
            seen.add(value)
            unique.append((value, where))
    return unique


def find_overlapped(ctx: AnalysisContext, thread_id: int) -> dict[str, JsonValue] | None:
    """Find the OVERLAPPED a completion-port thread is handling, from registers and stack.

    Candidates are pointer values in the thread's registers (the third argument
    first: ``r8`` on x64), its frames' recovered registers and its stack; the
    first that points at captured heap memory (not an image, not a stack) shaped
    like an OVERLAPPED (Internal a known non-zero NTSTATUS, InternalHigh and
    hEvent 32-bit) wins. Zeroed memory is not taken for an OVERLAPPED.

    Returns:
        ``{"address", "internal", "internal_name", "internal_high", "found_in"}``,
        or None when nothing plausible was readable.
    """
    facts = ctx.thread(thread_id)
    if facts is None:
        return None
    for address, where in _candidates(ctx, facts):
        got = _plausible_overlapped(ctx, address)
        if got is None:
            continue
        internal, high, event = got
        if internal == 0:
            continue  # zeroed memory looks like a successful OVERLAPPED; not evidence
        return {
            "address": address,
            "internal": internal,
            "internal_name": _status_name(internal),
            "internal_high": high,
            "event": event,
            "found_in": where,
        }
    return None


def _overlapped(ctx: AnalysisContext, ev: Mapping[str, JsonValue]) -> Collected:
    tid = _first_thread_id(ctx, ev)
    if tid is None:
        return Collected({"overlapped": None}, notes=("no thread to read an OVERLAPPED from",))
    found = find_overlapped(ctx, tid)
    if found is None:
        return Collected(
            {"overlapped": None,
             "overlapped_note": "no OVERLAPPED readable from this thread's registers and stack: "
                                "it lives on the heap, which only a full-memory dump "
                                "(procdump -ma) holds"},
        )
    internal = found["internal"]
    confirmed = internal == STATUS_BUFFER_OVERFLOW
    evidence: dict[str, JsonValue] = {"overlapped": found}
    if confirmed:
        evidence["overlapped_tell"] = (
            "OVERLAPPED.Internal is STATUS_BUFFER_OVERFLOW (0x80000005): CloseHandle returned it "
            "to the issuer, which then expected no completion, yet the packet completed (twice)"
        )
    return Collected(evidence, confirmed=confirmed)


# -- network threads (hung stop) -------------------------------------------------------------


def _thread_json(t: ThreadFacts, depth: int = 8) -> dict[str, JsonValue]:
    out: dict[str, JsonValue] = {
        "id": t.id,
        "state": t.state,
        "blocked_in": t.state_frame,
        "start_function": t.start_function,
        "frames": list(t.texts[:depth]),
    }
    if t.age_seconds is not None:
        out["age_seconds"] = round(t.age_seconds, 3)
    if t.cpu_seconds is not None:
        out["cpu_seconds"] = round(t.cpu_seconds, 3)
    return out


def _network_threads(ctx: AnalysisContext, ev: Mapping[str, JsonValue]) -> Collected:
    from dumplib.analysis.thirdparty import third_party_modules

    blocked = [t for t in ctx.threads if t.state in ("network_io", "device_io")]
    waiting = [t for t in ctx.threads if t.state == "wait"]
    stop = [t for t in waiting if any(_STOP_HANDLER.search(x) for x in t.texts)]
    blocked_ids = {t.id for t in blocked}
    tp = third_party_modules(ctx)
    main = ctx.dump.modules.main
    main_base = main.base if main is not None else None
    on_path: list[JsonValue] = [
        {"name": m.name, "vendor": m.vendor, "description": m.description,
         "version": m.version, "path": m.path, "threads": list(m.on_threads)}
        for m in tp if blocked_ids & set(m.on_threads) and m.base != main_base
    ]
    evidence: dict[str, JsonValue] = {
        "blocked_threads": [_thread_json(t) for t in blocked],
        "stop_handler_threads": [_thread_json(t) for t in stop],
        "waiting_threads": [t.id for t in waiting],
        "network_path_modules": on_path,
        "third_party_modules": [
            {"name": m.name, "vendor": m.vendor, "description": m.description,
             "version": m.version, "path": m.path}
            for m in tp
        ],
    }
    ages = [t.age_seconds for t in blocked if t.age_seconds is not None]
    if ages:
        evidence["longest_blocked_seconds"] = round(max(ages), 3)
        evidence["blocked_time_note"] = (
            "thread age (dump time minus creation time) bounds how long each has been blocked; "
            "near-zero CPU time means it spent that time waiting"
        )
    if ctx.dump.handles:
        evidence["socket_handles"] = sum(
            1 for h in ctx.dump.handles
            if h.object_name and "\\device\\afd" in h.object_name.lower()
        )
    return Collected(evidence, confirmed=bool(stop) and bool(on_path))


def _third_party(ctx: AnalysisContext, ev: Mapping[str, JsonValue]) -> Collected:
    from dumplib.analysis.thirdparty import third_party_modules

    return Collected({"third_party_modules": [m.to_json() for m in third_party_modules(ctx)]})


# -- recursion -------------------------------------------------------------------------------


def _recursion(ctx: AnalysisContext, ev: Mapping[str, JsonValue]) -> Collected:
    tid = _first_thread_id(ctx, ev)
    facts = ctx.thread(tid) if tid is not None else None
    if facts is None or not facts.texts:
        return Collected({}, notes=("no stack of the faulting thread to look for recursion",))
    counts = Counter(facts.texts)
    text, n = counts.most_common(1)[0]
    evidence: dict[str, JsonValue] = {
        "frames_walked": len(facts.texts),
        "most_repeated_frame": text,
        "repeats": n,
    }
    return Collected(evidence, confirmed=n >= 16)


# -- memory usage ------------------------------------------------------------------------------

_MEM_COMMIT, _MEM_RESERVE, _MEM_FREE = 0x1000, 0x2000, 0x10000
_GIB = 1 << 30


def _memory_usage(ctx: AnalysisContext, ev: Mapping[str, JsonValue]) -> Collected:
    dump = ctx.dump
    evidence: dict[str, JsonValue] = {}
    vm = dump.process_vm_counters
    if vm is not None:
        for name in ("private_usage", "pagefile_usage", "peak_pagefile_usage", "virtual_size",
                     "peak_virtual_size", "working_set_size", "job_private_commit_usage",
                     "job_private_commit_limit"):
            value = getattr(vm, name, None)
            if value:
                evidence[name] = value
    infos = dump.memory_info
    confirmed = False
    if infos:
        committed = sum(i.region_size for i in infos if i.state == _MEM_COMMIT)
        reserved = sum(i.region_size for i in infos if i.state == _MEM_RESERVE)
        free = [i.region_size for i in infos if i.state == _MEM_FREE]
        evidence["committed_bytes"] = committed
        evidence["reserved_bytes"] = reserved
        evidence["largest_free_region"] = max(free) if free else 0
        if dump.system.pointer_size == 4:
            top = max(i.end for i in infos)
            space = 4 * _GIB if top > 2 * _GIB else 2 * _GIB
            used = committed + reserved
            evidence["address_space_bytes"] = space
            evidence["address_space_used"] = round(used / space, 3)
            # A 32-bit process with (almost) no room left: allocations fail for want of
            # address space, whatever the machine's free memory.
            confirmed = used >= 0.9 * space or (bool(free) and max(free) < 16 * (1 << 20))
    if vm is not None and vm.job_private_commit_limit and vm.job_private_commit_usage:
        confirmed = confirmed or vm.job_private_commit_usage >= 0.95 * vm.job_private_commit_limit
    if not evidence:
        return Collected({}, notes=("the dump records no memory counters or memory map",))
    return Collected(evidence, confirmed=confirmed)


COLLECTORS: dict[str, Collector] = {
    "system": _system,
    "overlapped": _overlapped,
    "network_threads": _network_threads,
    "third_party_modules": _third_party,
    "recursion": _recursion,
    "memory_usage": _memory_usage,
}
"""Collector functions by the name signatures use in ``collect``."""
