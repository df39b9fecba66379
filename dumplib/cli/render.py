"""Turning model objects into JSON-ready values and rich tables.

Analysis code never prints; the command line renders what it gets through the
functions here. JSON values keep integers as integers (no hex strings).
"""

from __future__ import annotations

from dumplib._exc import TYPE_CHECKING, DumpError
from dumplib.format.constants import MemoryProtect, MemoryState, MemoryType
from dumplib.model.dump import DumpFile as Dump
from dumplib.model.objects import ExceptionInfo, Module, Thread

if TYPE_CHECKING:
    from typing import Any

    from rich.console import RenderableType
    from rich.table import Table

if TYPE_CHECKING:  # rich is imported by the *_table functions only (issue #16)
    from rich.table import Table

__all__ = [
    "exception_json",
    "flag_names",
    "info_json",
    "info_table",
    "memory_json",
    "memory_table",
    "modules_json",
    "modules_table",
    "process_uptime",
    "streams_json",
    "streams_table",
    "threads_json",
    "threads_table",
    "uptime_text",
]

JSON = dict[str, "Any"]


def hx(value: int | None) -> str:
    """Format an address or code for people: ``0x...`` or ``-``."""
    return "-" if value is None else f"0x{value:x}"


def flag_names(value: int, enum_type: type[MemoryProtect | MemoryState | MemoryType]) -> str:
    """``PAGE_EXECUTE_READ|PAGE_GUARD``-style text for a flags value (``-`` for 0)."""
    if not value:
        return "-"
    names = [m.name for m in enum_type if m.value and value & m.value and m.name]
    rest = value & ~sum(m.value for m in enum_type)
    if rest:
        names.append(f"0x{rest:x}")
    return "|".join(names)


def exception_json(exc: ExceptionInfo | None) -> JSON | None:
    """The ``exception`` object of ``dumplib info --json``."""
    if exc is None:
        return None
    return {
        "code": exc.code,
        "name": exc.name,
        "address": exc.address,
        "thread_id": exc.thread_id,
        "flags": exc.flags,
        "parameters": list(exc.parameters),
    }


def info_json(dump: Dump) -> JSON:
    """The document of ``dumplib info --json``."""
    sysinfo = dump.system
    main = dump.modules.main
    mem = getattr(dump, "physical", None) or dump.memory  # kernel dumps: count physical pages
    return {
        "kind": dump.kind,
        "bugcheck": kernel_bugcheck_json(dump),
        "arch": sysinfo.arch.value,
        "os_version": list(sysinfo.os_version),
        "os_name": sysinfo.os_name,
        "csd_version": sysinfo.csd_version,
        "process_id": dump.process_id,
        "process_name": main.name if main else None,
        "thread_count": len(dump.threads),
        "module_count": len(dump.modules),
        "exception": exception_json(dump.exception),
        "dump_time": dump.header.time_date_stamp,
        "cpu_count": sysinfo.number_of_processors or None,
        "process_create_time": (dump.misc_info.process_create_time
                                if dump.process_create_time is not None and dump.misc_info
                                else None),
        "process_uptime": process_uptime(dump),
        "handle_count": (len(dump.handles)
                         if any(e.name == "HandleDataStream" for e in dump.streams) else None),
        "dump_type": dump.dump_type_names,
        "file_size": dump.file_size,
        "memory_ranges": len(mem),
        "memory_bytes": mem.total_size,
        "comments": dump.comments,
        "warnings": list(dump.warnings),
    }


def uptime_text(seconds: int | None) -> str:
    """A duration in seconds as ``3d 04:05:06`` (``-`` for None)."""
    if seconds is None or seconds < 0:
        return "-"
    days, rest = divmod(seconds, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    return (f"{days}d " if days else "") + f"{h:02d}:{m:02d}:{s:02d}"


def process_uptime(dump: Dump) -> int | None:
    """Seconds from process start (MiscInfo) to the dump's time stamp, or None."""
    started = dump.process_create_time
    if started is None or not dump.header.time_date_stamp:
        return None
    return int((dump.time - started).total_seconds())


def kernel_bugcheck_json(dump: Dump) -> JSON | None:
    """The bug check of a kernel dump as JSON (None for process dumps)."""
    bc = dump.bugcheck
    if bc is None:
        return None
    return {
        "code": getattr(bc, "code", None), "name": getattr(bc, "name", None),
        "parameters": list(getattr(bc, "parameters", ())),
        "meaning": getattr(bc, "meaning", ""),
        "parameter_meanings": list(getattr(bc, "parameter_meanings", ())),
    }


def info_table(dump: Dump) -> Table:
    """A two-column summary of the dump for people (text from the dump shown as data)."""
    from rich.table import Table

    from dumplib.views.textsafe import data

    doc = info_json(dump)
    t = Table(show_header=False, box=None, pad_edge=False)
    t.add_column(style="bold cyan", no_wrap=True)
    t.add_column(overflow="fold")
    t.add_row("file", data(dump.name))
    if doc["kind"] == "user":
        pid = doc["process_id"]
        t.add_row("process", data(f"{doc['process_name'] or '?'} (pid "
                                  f"{pid if pid is not None else '?'})"))
    ver = ".".join(map(str, doc["os_version"]))
    csd = f" {doc['csd_version']}" if doc["csd_version"] else ""
    t.add_row("system", data(f"{doc['os_name']} {ver}{csd}, {doc['arch']}"))
    cpus = doc["cpu_count"]
    t.add_row("cpus", str(cpus) if cpus else "-")
    t.add_row("written", dump.time.strftime("%Y-%m-%d %H:%M:%S UTC"))
    if doc["kind"] == "user":
        started = dump.process_create_time
        if started is not None:
            t.add_row("started", started.strftime("%Y-%m-%d %H:%M:%S UTC"))
        t.add_row("uptime", uptime_text(doc["process_uptime"])
                  if doc["process_uptime"] is not None
                  else "unknown (the dump records no process start time)")
    t.add_row("dump type", ", ".join([doc["kind"], *doc["dump_type"]]))
    bc = doc["bugcheck"]
    if bc is not None:
        t.add_row("bug check", data(f"0x{bc['code']:x} {bc['name'] or ''} "
                                    f"({', '.join(hx(p) for p in bc['parameters'])})"))
    t.add_row("threads", str(doc["thread_count"]))
    t.add_row("modules", str(doc["module_count"]))
    handles = doc["handle_count"]
    t.add_row("handles", str(handles) if handles is not None
              else "not recorded (written without handle data)")
    t.add_row("memory", f"{doc['memory_ranges']} ranges, {doc['memory_bytes']:,} bytes")
    exc = dump.exception
    if exc is not None:
        t.add_row("exception", data(
            f"0x{exc.code:08x} {exc.name or ''} at {hx(exc.address)} on thread {exc.thread_id} "
            f"(0x{exc.thread_id:x})"))
    elif any(e.name == "ExceptionStream" for e in dump.streams):
        t.add_row("exception", "unavailable: the ExceptionStream is cut by the end of the file")
    else:
        t.add_row("exception", "none")
    for c in doc["comments"]:
        t.add_row("comment", data(c))
    return t


def thread_json(dump: Dump, t: Thread) -> JSON:
    """One entry of ``dumplib threads --json``."""
    ip = sp = None
    error = None
    try:
        ctx = t.context
        ip, sp = ctx.ip, ctx.sp
    except DumpError as exc:
        error = str(exc)
    info = t.info
    out: JSON = {
        "id": t.id,
        "name": t.name,
        "ip": ip,
        "sp": sp,
        "stack_range": list(t.stack_range) if t.stack_range else None,
        "teb": t.teb,
        "suspend_count": t.suspend_count,
        "priority": t.priority,
        "priority_class": t.priority_class,
        "start_address": info.start_address if info else None,
        "create_time": info.create_time if info else None,
        "user_time": info.user_time if info else None,
        "kernel_time": info.kernel_time if info else None,
        "faulting": dump.exception is not None and dump.exception.thread_id == t.id,
    }
    if error:
        out["error"] = error
    return out


def threads_json(dump: Dump) -> list[JSON]:
    """The document of ``dumplib threads --json``."""
    return [thread_json(dump, t) for t in dump.threads]


def threads_table(dump: Dump) -> RenderableType:
    """Threads with their ip, module and stack for people
    (:func:`dumplib.views.tables.threads_table`)."""
    from dumplib.views.tables import threads_table as table

    exc = dump.exception
    return table(dump.threads, modules=dump.modules,
                 faulting=exc.thread_id if exc is not None else None)


def module_json(m: Module) -> JSON:
    """One entry of ``dumplib modules --json``."""
    return {
        "name": m.name,
        "path": m.path,
        "base": m.base,
        "size": m.size,
        "end": m.end,
        "timestamp": m.timestamp,
        "checksum": m.checksum,
        "version": list(m.version) if m.version else None,
        "pdb": list(m.pdb) if m.pdb else None,
        "debug_file": m.debug_file,
        "debug_id": m.debug_id,
        "code_id": m.code_id,
    }


def modules_json(dump: Dump, details: dict[int, JSON] | None = None) -> list[JSON]:
    """The document of ``dumplib modules --json`` (loaded modules).

    Args:
        details: extra fields per module base (vendor, description, symbols), merged in.
    """
    out = []
    for m in dump.modules:
        doc = module_json(m)
        if details is not None:
            doc.update(details.get(m.base, {}))
        out.append(doc)
    return out


def unloaded_json(dump: Dump) -> list[JSON]:
    """Unloaded modules as JSON entries."""
    return [
        {"name": u.name, "path": u.path, "base": u.base, "size": u.size, "end": u.end,
         "timestamp": u.timestamp, "checksum": u.checksum}
        for u in dump.unloaded_modules
    ]


def modules_table(dump: Dump, details: dict[int, JSON] | None = None, *,
                  unloaded: bool = True) -> RenderableType:
    """Loaded (and unloaded) modules by base for people, main module marked, with vendor
    and symbols when known (:func:`dumplib.views.tables.modules_table`)."""
    from dumplib.views.tables import modules_table as table

    return table(dump.modules, details, main=dump.modules.main,
                 unloaded=dump.unloaded_modules if unloaded else ())


def memory_json(dump: Dump) -> list[JSON]:
    """The document of ``dumplib memory --json``: captured ranges with page info."""
    out = []
    for r in dump.memory.regions():
        info = r.info
        out.append({
            "address": r.start,
            "size": r.size,
            "file_offset": r.file_offset,
            "protect": info.protect if info else None,
            "state": info.state if info else None,
            "type": info.type if info else None,
            "module": _module_name(dump, r.start),
        })
    return out


def _module_name(dump: Dump, address: int) -> str | None:
    m = dump.modules.find(address)
    return m.name if m else None


def memory_table(dump: Dump, limit: int | None = None) -> RenderableType:
    """Captured memory ranges for people (at most ``limit`` rows)."""
    from dumplib.views.tables import memory_table as table

    return table(list(dump.memory.regions()), modules=dump.modules, limit=limit)


def streams_json(dump: Dump) -> list[JSON]:
    """The document of ``dumplib streams --json``: the directory."""
    return [
        {"index": e.index, "type": e.stream_type, "name": e.name, "size": e.data_size,
         "rva": e.rva}
        for e in dump.streams
    ]


def streams_table(dump: Dump) -> RenderableType:
    """The stream directory for people."""
    from dumplib.views.fit import Col, FittedTable

    rows = [[str(e.index), f"0x{e.stream_type:x}", e.name, hx(e.rva), f"{e.data_size:,}"]
            for e in dump.streams]
    return FittedTable([Col("#", justify="right"), Col("type"), Col("name", keep=False),
                        Col("offset"), Col("size", justify="right")], rows,
                       title=f"{len(dump.streams)} streams")
