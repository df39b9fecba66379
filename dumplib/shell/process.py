"""Process: ``!teb``, ``!peb``, ``!gle``, ``!handle``, ``vertarget``, ``||``.

TEB and PEB fields are read from the dump's memory at the offsets of
Microsoft's documented layouts (``NT_TIB``, ``TEB``, ``PEB``,
``RTL_USER_PROCESS_PARAMETERS``); when the dump did not capture them the
command says so. Handles come from the HandleDataStream.
"""

from __future__ import annotations

import datetime as _dt
import struct
from typing import Any

from dumplib.model.objects import Thread
from dumplib.shell.expr import evaluate, parse_number, split_args
from dumplib.shell.session import Output, Session, ShellError

__all__ = ["gle", "handle", "peb", "peb_address", "system_status", "teb", "vertarget"]

# (label as the !teb documentation prints it, offset on x64, on x86, kind):
# kind "p" pointer, "cid" CLIENT_ID, "dec"/"hex" a ULONG.
_TEB_FIELDS = (
    ("ExceptionList", 0x0, 0x0, "p"),
    ("Stack Base", 0x8, 0x4, "p"),
    ("Stack Limit", 0x10, 0x8, "p"),
    ("SubSystemTib", 0x18, 0xC, "p"),
    ("FiberData", 0x20, 0x10, "p"),
    ("ArbitraryUser", 0x28, 0x14, "p"),
    ("Self", 0x30, 0x18, "p"),
    ("EnvironmentPtr", 0x38, 0x1C, "p"),
    ("ClientId", 0x40, 0x20, "cid"),
    ("RpcHandle", 0x50, 0x28, "p"),
    ("Tls Storage", 0x58, 0x2C, "p"),
    ("PEB Address", 0x60, 0x30, "p"),
    ("LastErrorValue", 0x68, 0x34, "dec"),
    ("LastStatusValue", 0x1250, 0xBF4, "hex"),
    ("Count Owned Locks", 0x6C, 0x38, "dec"),
    ("HardErrorsMode", 0x16B0, 0xF28, "dec"),
)
_PEB_OFFSET = {8: 0x60, 4: 0x30}
_LAST_ERROR = {8: 0x68, 4: 0x34}
_LAST_STATUS = {8: 0x1250, 4: 0xBF4}


def _ptr(session: Session, address: int) -> int | None:
    data = session.dump.memory.try_read(address, session.pointer_size)
    return None if data is None else int.from_bytes(data, "little")


def _u32(session: Session, address: int) -> int | None:
    data = session.dump.memory.try_read(address, 4)
    return None if data is None else int.from_bytes(data, "little")


def _thread_arg(session: Session, args: str) -> tuple[Thread, int]:
    """The thread whose TEB to read and the TEB address (``!teb [ADDRESS]``)."""
    if args.strip():
        address = evaluate(session, args)
        for t in session.threads:
            if t.teb == address:
                return t, address
        return session.thread, address
    t = session.thread
    if not t.teb:
        raise ShellError("the thread record gives no TEB address")
    return t, t.teb


def peb_address(session: Session, thread: Thread) -> int | None:
    """The PEB address read from a thread's TEB, or None when the TEB is not in the dump."""
    if not thread.teb:
        return None
    return _ptr(session, thread.teb + _PEB_OFFSET[session.pointer_size])


def teb(session: Session, args: str) -> Output:
    """``!teb [ADDRESS]``: the current thread's TEB (NT_TIB, client id, PEB, last error),
    in the layout of the ``!teb`` documentation."""
    _thread, address = _thread_arg(session, args)
    wide = session.pointer_size == 8
    if session.dump.memory.try_read(address, 8) is None:
        raise ShellError(f"TEB at {address:X}: not in the dump (the writer did not "
                         "capture it; procdump -ma and MiniDumpWithProcessThreadData do)")
    lines = [f"TEB at {address:X}"]
    doc: dict[str, Any] = {"address": address}
    for name, off64, off32, kind in _TEB_FIELDS:
        at = address + (off64 if wide else off32)
        label = f"    {name + ':':<18}"
        value: int | None
        if kind == "cid":
            pid, tid = _ptr(session, at), _ptr(session, at + session.pointer_size)
            if pid is None or tid is None:
                continue
            lines.append(f"{label}{pid:x}.{tid:x}")
            doc[name] = [pid, tid]
            continue
        value = _ptr(session, at) if kind == "p" else _u32(session, at)
        if value is None:
            continue
        lines.append(f"{label}{value}" if kind == "dec" else f"{label}{value:x}")
        doc[name] = value
    return Output("\n".join(lines), doc)


def _unicode_string(session: Session, at: int) -> str | None:
    ps = session.pointer_size
    head = session.dump.memory.try_read(at, 2 * ps)
    if head is None:
        return None
    length = int.from_bytes(head[:2], "little")
    buffer = int.from_bytes(head[ps: 2 * ps], "little")
    data = session.dump.memory.read_available(buffer, min(length, 0x8000))
    text = data[: len(data) & ~1].decode("utf-16-le", errors="replace")
    return "".join(c if c.isprintable() else "?" for c in text)


def peb(session: Session, args: str) -> Output:
    """``!peb [ADDRESS]``: the PEB (image base, loader data, heap, process parameters),
    in the layout of the ``!peb`` documentation."""
    wide = session.pointer_size == 8
    digits = 2 * session.pointer_size
    address = evaluate(session, args) if args.strip() else peb_address(session, session.thread)
    if address is None:
        raise ShellError("PEB address unknown: the TEB is not in the dump")
    if session.dump.memory.try_read(address, 4) is None:
        raise ShellError(f"PEB at {address:x}: not in the dump")
    flags = session.dump.memory.read_available(address, 3)
    lines = [f"PEB at {address:x}"]
    doc: dict[str, Any] = {"address": address}
    for i, name in enumerate(("InheritedAddressSpace", "ReadImageFileExecOptions",
                              "BeingDebugged")):
        if i < len(flags):
            lines.append(f"    {name + ':':<26}{'Yes' if flags[i] else 'No'}")
            doc[name] = bool(flags[i])
    # (label, offset on x64, on x86, label width or 0 for the unpadded form)
    fields = (("ImageBaseAddress:", 0x10, 0x8, 0), ("Ldr", 0x18, 0xC, 0),
              ("SubSystemData:", 0x28, 0x14, 1), ("ProcessHeap:", 0x30, 0x18, 1),
              ("ProcessParameters:", 0x20, 0x10, 1))
    for label, o64, o32, padded in fields:
        value = _ptr(session, address + (o64 if wide else o32))
        if value is None:
            continue
        if padded:
            lines.append(f"    {label:<19}{value:0{digits}x}")
        else:
            lines.append(f"    {label:<26}{value:x}")
        doc[label.rstrip(":")] = value
    params = doc.get("ProcessParameters")
    if isinstance(params, int) and params:
        for label, key, o64, o32 in (("ImageFile:", "ImagePathName", 0x60, 0x38),
                                     ("CommandLine:", "CommandLine", 0x70, 0x40)):
            text = _unicode_string(session, params + (o64 if wide else o32))
            if text is not None:
                lines.append(f"    {label:<14}'{text}'")
                doc[key] = text
    return Output("\n".join(lines), doc)


def _message(code: int, table: str) -> str:
    from dumplib.codes import lookup

    for match in lookup(code):
        if match.table.value.lower().startswith(table):
            return match.message or match.name  # WinDbg prints the message text
    return "<Unable to get error code text>"


def gle(session: Session, args: str) -> Output:
    """``!gle``: the current thread's last Win32 error and last NTSTATUS, read from its TEB."""
    t = session.thread
    err = _u32(session, t.teb + _LAST_ERROR[session.pointer_size]) if t.teb else None
    status = _u32(session, t.teb + _LAST_STATUS[session.pointer_size]) if t.teb else None
    if err is None:
        raise ShellError("LastErrorValue: the TEB is not in the dump")
    lines = [f"LastErrorValue: (Win32) 0x{err:x} ({err}) - {_message(err, 'win32')}"]
    if status is not None:
        lines.append(f"LastStatusValue: (NTSTATUS) 0x{status:x} - {_message(status, 'ntstatus')}")
    return Output("\n".join(lines), {"last_error": err, "last_status": status})


# -- !handle ---------------------------------------------------------------------------


def _object_info(type_name: str | None, info_type: int, data: bytes,
                 session: Session) -> list[str]:
    """``Object Specific Information`` lines for one MINIDUMP_HANDLE_OBJECT_INFORMATION."""
    try:
        if info_type == 6 and len(data) >= 8:  # MiniEventInformation1: EVENT_BASIC_INFORMATION
            kind, state = struct.unpack_from("<Ii", data)
            return [f"    Event Type {'Auto Reset' if kind == 1 else 'Manual Reset'}",
                    f"    Event is {'Set' if state else 'Waiting'}"]
        if info_type == 2 and len(data) >= 6:  # MiniMutantInformation1: MUTANT_BASIC_INFORMATION
            count, _owned, abandoned = struct.unpack_from("<iBB", data)
            lines = [f"    Mutex is {'Free' if count > 0 else 'Owned'}"]
            if abandoned:
                lines.append("    Mutex is Abandoned")
            return lines
        if info_type == 3 and len(data) >= 8:  # MiniMutantInformation2: owner client id
            pid, tid = struct.unpack_from("<II", data)
            return [f"    Mutant Owner {pid:x}.{tid:x}"] if tid else []
        if info_type == 8 and len(data) >= 8:  # MiniSemaphoreInformation1
            cur, maximum = struct.unpack_from("<ii", data)
            return [f"    Semaphore Count {cur}", f"    Semaphore Limit {maximum}"]
        if info_type == 1:  # MiniThreadInformation1: THREAD_BASIC_INFORMATION
            ps = session.pointer_size
            fmt = "<i4xQQQQii" if ps == 8 else "<iIIIIii"
            if len(data) >= struct.calcsize(fmt):
                _st, _teb, pid, tid, _aff, prio, base = struct.unpack_from(fmt, data)
                return [f"    Thread Id   {pid:x}.{tid:x}", f"    Priority    {prio}",
                        f"    Base Priority {base}"]
    except struct.error:
        pass
    return [f"    ({len(data)} bytes of information type {info_type}: {data[:32].hex()})"]


_STANDARD_RIGHTS = ((0x10000, "Delete"), (0x20000, "ReadControl"), (0x40000, "WriteDac"),
                    (0x80000, "WriteOwner"), (0x100000, "Synch"))
_SPECIFIC_RIGHTS = {
    "Event": ((0x1, "QueryState"), (0x2, "ModifyState")),
    "Mutant": ((0x1, "QueryState"),),
    "Semaphore": ((0x1, "QueryState"), (0x2, "ModifyState")),
}


def _access_lines(type_name: str | None, access: int) -> list[str]:
    """The granted access decoded into WinDbg's two lines: standard, then type-specific rights."""
    standard = [n for bit, n in _STANDARD_RIGHTS if access & bit]
    specific = [n for bit, n in _SPECIFIC_RIGHTS.get(type_name or "", ()) if access & bit]
    return [" " * 9 + ",".join(names) for names in (standard, specific) if names]


def handle(session: Session, args: str) -> Output:
    """``!handle [HANDLE [FLAGS [TYPE]]]``: the handle table from HandleDataStream.

    Without arguments: each handle's type, then counts per type. ``FLAGS`` ``f``
    (any of bits 1-3) adds attributes, granted access, counts, name and object
    information; HANDLE 0 means every handle.
    """
    handles = session.dump.handles
    if session.dump.stream(0xC) is None:
        raise ShellError("the dump has no handle data (no HandleDataStream); "
                         "procdump -ma and MiniDumpWithHandleData write it")
    parts = split_args(args)
    which = evaluate(session, parts[0]) if parts else 0
    flags = parse_number(parts[1]) if len(parts) > 1 else (0xF if which else 0x1)
    type_filter = parts[2] if len(parts) > 2 else None
    chosen = [h for h in handles if (not which or h.handle == which)
              and (type_filter is None or h.type_name == type_filter)]
    if which and not chosen:
        raise ShellError(f"Handle {which:x} is not in the handle table")
    lines: list[str] = []
    docs: list[dict[str, Any]] = []
    for h in chosen:
        lines.append(f"Handle {h.handle:x}")
        lines.append(f"  {'Type':<14}{h.type_name or '<unknown>'}")
        doc: dict[str, Any] = {"handle": h.handle, "type": h.type_name}
        if flags & 0xE:
            rights = _access_lines(h.type_name, h.granted_access)
            name = _printable(h.object_name) if h.object_name else "<none>"
            lines += [
                f"  {'Attributes':<14}{h.attributes:x}",
                f"  {'GrantedAccess':<14}0x{h.granted_access:x}" + (":" if rights else ""),
                *rights,
                f"  {'HandleCount':<14}{h.handle_count}",
                f"  {'PointerCount':<14}{h.pointer_count}",
                f"  {'Name':<14}{name}",
            ]
            if h.object_info:
                lines.append("  Object Specific Information")
                for info in h.object_info:
                    lines += _object_info(h.type_name, info.info_type, info.data, session)
            else:
                lines.append("  No object specific information available")
            doc.update(attributes=h.attributes, granted_access=h.granted_access,
                       handle_count=h.handle_count, pointer_count=h.pointer_count,
                       name=h.object_name,
                       object_info=[{"type": i.info_type, "data": i.data.hex()}
                                    for i in h.object_info])
        docs.append(doc)
    if not which:
        counts: dict[str, int] = {}
        for h in chosen:
            counts[h.type_name or "<unknown>"] = counts.get(h.type_name or "<unknown>", 0) + 1
        lines.append(f"{len(chosen)} Handles")
        lines.append(f"{'Type':<16}Count")
        for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"{name:<16}{n}")
    return Output("\n".join(lines), docs)


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


# -- vertarget / || --------------------------------------------------------------------


def _kind(session: Session) -> str:
    names = session.dump.dump_type_names
    full = any("FullMemory" in n for n in names)
    return "User mini dump" if not full else "User full dump (MiniDumpWithFullMemory)"


def system_status(session: Session, args: str) -> Output:
    """``||``: the dump being debugged and its kind."""
    kind = _kind(session)
    return Output(f".  0 {kind}: {session.dump.name}",
                  {"name": session.dump.name, "kind": kind,
                   "flags": session.dump.dump_type_names})


def vertarget(session: Session, args: str) -> Output:
    """``vertarget``: the OS, CPU, dump time and process uptime the dump records."""
    s = session.dump.system
    major, minor, build = s.os_version
    procs = s.number_of_processors
    arch = {"amd64": "x64", "x86": "x86", "arm64": "ARM64"}.get(s.arch.value, s.arch.value)
    sp = f" ({s.csd_version})" if s.csd_version else ""
    lines = [f"{s.os_name} Version {build}{sp} {'MP' if procs > 1 else 'UP'} ({procs} procs) "
             f"Free {arch}"]
    lines.append(f"Product: {'Server' if s.product_type in (2, 3) else 'WinNt'}, "
                 f"suite: 0x{s.suite_mask:x}")
    lines.append(f"Version: {major}.{minor}.{build}")
    doc: dict[str, Any] = {"os": s.os_name, "os_version": [major, minor, build],
                           "processors": procs, "arch": s.arch.value}
    try:
        when = session.dump.time
        lines.append(f"Debug session time: {when:%a %b %d %H:%M:%S.000 %Y} (UTC + 0:00)")
        doc["time"] = when.isoformat()
    except (ValueError, OverflowError, OSError):
        when = None
    lines.append("System Uptime: not available")
    created = session.dump.process_create_time
    if created is not None and when is not None:
        up = when - created
        if up >= _dt.timedelta(0):
            secs = int(up.total_seconds())
            d, rest = divmod(secs, 86400)
            h, rest = divmod(rest, 3600)
            m, sec = divmod(rest, 60)
            lines.append(f"Process Uptime: {d} days {h}:{m:02d}:{sec:02d}.000")
            doc["process_uptime_seconds"] = secs
    else:
        lines.append("Process Uptime: not available")
    lines.append(f"Dump type: {_kind(session)} ({', '.join(session.dump.dump_type_names)})")
    return Output("\n".join(lines), doc)
