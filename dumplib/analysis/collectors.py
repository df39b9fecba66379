"""Evidence a signature rule cannot express, gathered in code.

A signature names collectors in its ``collect`` list. Each collector gets the
shared :class:`~dumplib.analysis.facts.AnalysisContext` and the evidence the
signature's conditions gathered, and returns more evidence plus whether it
*confirms* the problem (then the signature's ``confidence_confirmed`` applies).

* ``system`` -- OS name, version and build; with ``fix_os_versions`` in the
  signature's evidence, whether the fix it names is for this OS.
* ``overlapped`` -- the OVERLAPPED / NativeOverlapped handed to an I/O
  completion callback, validated as a structure among every register and
  frame-stack candidate (the case B detector's reader), with its ``Internal``
  status; STATUS_BUFFER_OVERFLOW (0x80000005) there confirms a double completion.
* ``network_threads`` -- threads blocked in network I/O (frames, how long),
  the threads inside a service-control handler (found from the dispatcher's
  frames, as the case A detector does) and the third-party modules on the
  blocked stacks; confirms when a handler runs while others are blocked.
* ``third_party_modules`` -- every non-Microsoft module with vendor,
  description and version.
* ``recursion`` -- the most repeated frame of the exception thread's stack.
* ``memory_usage`` -- process memory counters and the memory map's committed,
  reserved and largest free sizes; confirms when a 32-bit process has used up
  its address space (or a job its commit limit).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dumplib.analysis.facts import AnalysisContext, ThreadFacts
from dumplib.analysis.model import JsonValue
from dumplib.codes import CodeTable, lookup

if TYPE_CHECKING:
    from dumplib.analysis.signatures import Signature

__all__ = [
    "COLLECTORS",
    "STATUS_BUFFER_OVERFLOW",
    "Collected",
    "Collector",
    "find_overlapped",
]

STATUS_BUFFER_OVERFLOW = 0x80000005
STATUS_PENDING = 0x00000103


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


def _builtin(sig_id: str) -> Signature | None:
    """A built-in signature, for collectors that share its data (one copy of each list)."""
    from dumplib.analysis.signatures import SignatureError, load_signatures

    try:
        return next((s for s in load_signatures() if s.id == sig_id), None)
    except SignatureError:
        return None


def _io_statuses(ev: Mapping[str, JsonValue]) -> set[int]:
    raw = ev.get("io_statuses")
    if not isinstance(raw, list):
        sig = _builtin("clr-double-io-completion")
        raw = (sig.evidence or {}).get("io_statuses") if sig is not None else None
    return {v for v in raw if isinstance(v, int)} if isinstance(raw, list) else set()


def find_overlapped(
    ctx: AnalysisContext, thread_id: int, io_statuses: set[int] | None = None
) -> dict[str, JsonValue] | None:
    """The OVERLAPPED a completion-port thread is handling, validated as a structure.

    Every candidate in the thread's non-volatile registers, argument registers
    at the fault and walked frames' stack areas is checked (see
    :func:`dumplib.analysis.case_b.overlapped_candidates`): Internal must be an
    I/O status (``io_statuses``, by default the list in
    ``dumplib/signatures/clr-double-io-completion.toml``), InternalHigh a plausible byte
    count, the memory on the heap. Candidates whose enclosing NativeOverlapped /
    OverlappedData is consistent are preferred, then registers.

    Returns:
        The chosen candidate's JSON (``address``, ``where``, ``internal``,
        ``internal_name``, ``internal_high`` ...), or None.
    """
    from dumplib.analysis.case_b import overlapped_candidates

    facts = ctx.thread(thread_id)
    if facts is None:
        return None
    statuses = io_statuses if io_statuses is not None else _io_statuses({})
    valid = [c for c in overlapped_candidates(ctx, facts, statuses) if c.valid]
    if not valid:
        return None
    best = sorted(valid, key=lambda c: (c.enclosing is None, "register" not in c.where))[0]
    return best.to_json()


def _overlapped(ctx: AnalysisContext, ev: Mapping[str, JsonValue]) -> Collected:
    tid = _first_thread_id(ctx, ev)
    if tid is None:
        return Collected({"overlapped": None}, notes=("no thread to read an OVERLAPPED from",))
    found = find_overlapped(ctx, tid, _io_statuses(ev))
    if found is None:
        return Collected(
            {"overlapped": None,
             "overlapped_note": "no OVERLAPPED readable from this thread's registers and stack: "
                                "it lives on the heap, which only a full-memory dump "
                                "(procdump -ma) holds"},
        )
    confirmed = found.get("internal") == STATUS_BUFFER_OVERFLOW
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
    """Threads blocked in network I/O and threads inside a service-control handler.

    The handler threads are found structurally (the control dispatcher's frames
    of ``dumplib/signatures/hung-stop-network-io.toml``), not by words in function names.
    """
    from dumplib.analysis.case_a import control_handler
    from dumplib.analysis.patterns import compile_all
    from dumplib.analysis.thirdparty import third_party_modules

    sig = _builtin("hung-stop-network-io")
    dispatch = compile_all((sig.patterns or {}).get("control_dispatch_frames", ())
                           if sig is not None else ())
    blocked = [t for t in ctx.threads if t.state in ("network_io", "device_io")]
    handlers = [t for t in ctx.threads if control_handler(ctx, t, dispatch) is not None]
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
        "stop_handler_threads": [_thread_json(t) for t in handlers],
        "network_path_modules": on_path,
    }
    ages = [t.age_seconds for t in blocked if t.age_seconds is not None]
    if ages:
        evidence["longest_blocked_seconds"] = round(max(ages), 3)
    return Collected(evidence, confirmed=bool(handlers) and bool(on_path) and bool(blocked))


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
