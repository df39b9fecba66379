"""Turning model objects into JSON-ready values and rich tables.

Analysis code never prints; the command line renders what it gets through the
functions here. JSON values keep integers as integers (no hex strings).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dumplib._exc import DumpError
from dumplib.format.constants import MemoryProtect, MemoryState, MemoryType
from dumplib.model.dump import DumpFile as Dump
from dumplib.model.objects import ExceptionInfo, Module, Thread

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
    "streams_json",
    "streams_table",
    "threads_json",
    "threads_table",
]

JSON = dict[str, Any]


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
    return {
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
        "dump_type": dump.dump_type_names,
        "file_size": dump.file_size,
        "memory_ranges": len(dump.memory),
        "memory_bytes": dump.memory.total_size,
        "comments": dump.comments,
        "warnings": list(dump.warnings),
    }


def info_table(dump: Dump) -> Table:
    """A two-column summary of the dump for people."""
    from rich.table import Table

    doc = info_json(dump)
    t = Table(show_header=False, box=None, pad_edge=False)
    t.add_column(style="bold cyan")
    t.add_column()
    t.add_row("file", dump.name)
    t.add_row("process", f"{doc['process_name'] or '?'} (pid {doc['process_id'] or '?'})")
    ver = ".".join(map(str, doc["os_version"]))
    csd = f" {doc['csd_version']}" if doc["csd_version"] else ""
    t.add_row("system", f"{doc['os_name']} {ver}{csd}, {doc['arch']}")
    t.add_row("written", dump.time.strftime("%Y-%m-%d %H:%M:%S UTC"))
    t.add_row("dump type", ", ".join(doc["dump_type"]))
    t.add_row("threads", str(doc["thread_count"]))
    t.add_row("modules", str(doc["module_count"]))
    t.add_row("memory", f"{doc['memory_ranges']} ranges, {doc['memory_bytes']:,} bytes")
    exc = dump.exception
    if exc is not None:
        t.add_row(
            "exception",
            f"0x{exc.code:08x} {exc.name or ''} at {hx(exc.address)} on thread {exc.thread_id}",
        )
    else:
        t.add_row("exception", "none")
    for c in doc["comments"]:
        t.add_row("comment", c)
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


def threads_table(dump: Dump) -> Table:
    """Threads with their ip, module and stack for people."""
    from rich.table import Table

    t = Table(title=f"{len(dump.threads)} threads")
    for col in ("", "id", "name", "ip", "module", "sp", "stack"):
        t.add_column(col, no_wrap=True)
    for th, doc in zip(dump.threads, threads_json(dump), strict=True):
        mod = dump.modules.find(doc["ip"]) if doc["ip"] is not None else None
        where = f"{mod.name}+0x{doc['ip'] - mod.base:x}" if mod else "-"
        st = th.stack_range
        t.add_row(
            "*" if doc["faulting"] else "",
            f"{th.id} (0x{th.id:x})",
            th.name or "",
            hx(doc["ip"]),
            where,
            hx(doc["sp"]),
            f"{hx(st[0])} +{st[1]:#x}" if st else "-",
        )
    return t


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


def modules_table(dump: Dump, details: dict[int, JSON] | None = None) -> Table:
    """Loaded (and unloaded) modules for people, with vendor and symbols when known."""
    from rich.table import Table

    details = details or {}
    t = Table(title=f"{len(dump.modules)} modules")
    for col in ("base", "end", "name", "version", "vendor", "timestamp", "pdb", "symbols"):
        t.add_column(col, no_wrap=col not in ("pdb", "vendor"))
    for m in dump.modules:
        extra = details.get(m.base, {})
        ident = m.pdb or extra.get("pdb_identity")
        pdb = f"{ident[0]} {ident[1]}{ident[2]:X}" if ident else "-"
        t.add_row(
            hx(m.base), hx(m.end), m.name,
            ".".join(map(str, m.version)) if m.version else "-",
            extra.get("vendor") or "-",
            f"{m.timestamp:08x}", pdb,
            ", ".join(extra.get("symbols") or []) or "-",
        )
    for u in dump.unloaded_modules:
        t.add_row(hx(u.base), hx(u.end), f"[dim]{u.name} (unloaded)[/dim]", "-", "-",
                  f"{u.timestamp:08x}", "-", "-")
    return t


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


def memory_table(dump: Dump, limit: int | None = None) -> Table:
    """Captured memory ranges for people (at most ``limit`` rows)."""
    from rich.table import Table

    rows = memory_json(dump)
    title = f"{len(rows)} memory ranges, {dump.memory.total_size:,} bytes"
    t = Table(title=title)
    for col in ("address", "end", "size", "protect", "state", "type", "module"):
        t.add_column(col, no_wrap=True)
    shown: Sequence[JSON] = rows if limit is None else rows[:limit]
    for r in shown:
        t.add_row(
            hx(r["address"]), hx(r["address"] + r["size"]), f"{r['size']:#x}",
            flag_names(r["protect"] or 0, MemoryProtect),
            flag_names(r["state"] or 0, MemoryState),
            flag_names(r["type"] or 0, MemoryType),
            r["module"] or "",
        )
    if limit is not None and len(rows) > limit:
        t.caption = f"{len(rows) - limit} more; use --all or --json"
    return t


def streams_json(dump: Dump) -> list[JSON]:
    """The document of ``dumplib streams --json``: the directory."""
    return [
        {"index": e.index, "type": e.stream_type, "name": e.name, "size": e.data_size,
         "rva": e.rva}
        for e in dump.streams
    ]


def streams_table(dump: Dump) -> Table:
    """The stream directory for people."""
    from rich.table import Table

    t = Table(title=f"{len(dump.streams)} streams")
    for col in ("#", "type", "name", "offset", "size"):
        t.add_column(col, no_wrap=True)
    for e in dump.streams:
        t.add_row(str(e.index), f"0x{e.stream_type:x}", e.name, hx(e.rva), f"{e.data_size:,}")
    return t
