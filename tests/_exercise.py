"""Touch every public property of a dump, tolerating only DumpError.

Used by the malformed-input, truncation and corruption tests: any exception
other than a DumpError escaping from here is a bug.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import dumplib
from dumplib.cli import render

PROPS = (
    "system", "misc_info", "threads", "modules", "unloaded_modules", "exception",
    "memory", "memory_info", "thread_infos", "thread_names", "handles",
    "handle_operations", "comments", "function_tables", "tokens",
    "system_memory_info", "process_vm_counters", "process_id", "process_create_time",
    "dump_type_names",
)


def _try(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except dumplib.DumpError:
        return None


def open_or_error(data: bytes) -> dumplib.Dump | None:
    """Open ``data``; None when it raises DumpError (anything else propagates)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return dumplib.open(data)
        except dumplib.DumpError:
            return None


def exercise(d: dumplib.Dump) -> None:
    """Access everything; only DumpError may be raised along the way (and is swallowed)."""
    for name in PROPS:
        _try(lambda name=name: getattr(d, name))
    threads = _try(lambda: d.threads) or []
    for t in threads:
        _try(lambda t=t: (t.context.ip, t.context.sp, dict(t.context)))
        _try(lambda t=t: d.thread_stack_bytes(t))
    exc = _try(lambda: d.exception)
    if exc is not None:
        _try(lambda: exc.context)
        _ = (exc.name, exc.parameters, exc.chained)
    mem = _try(lambda: d.memory)
    if mem is not None:
        for start, size in mem.ranges[:50]:
            _try(lambda start=start, size=size: mem.read(start, min(size, 64)))
            _try(lambda start=start: mem.read_pointer(start))
        _try(lambda: list(mem.find(b"\x00\x00", end=(mem.ranges[0][0] + 256) if mem.ranges else 0)))
        _try(lambda: list(mem.regions()))
    for fn in (render.info_json, render.threads_json, render.modules_json,
               render.memory_json, render.streams_json):
        _try(lambda fn=fn: fn(d))
    _try(d.check)
    vendor = _try(lambda: d.vendor)
    for name in ("breakpad_info", "proc_status", "cpu_info", "lsb_release", "maps", "cmdline",
                 "environ", "auxv", "dso_debug", "crashpad_info", "mac_crash_info",
                 "mac_boot_args", "linux_limits", "soft_errors"):
        _try(lambda name=name: getattr(vendor, name))
    from dumplib.analysis.oscrash import crash_reason

    _try(lambda: crash_reason(d))
