"""Threads and stacks: ``~``, ``~Ns``, ``~*k``, ``k``/``kn``/``kb``/``kv``/``kp``, ``.frame``,
``!runaway``.

Each function takes the :class:`~dumplib.shell.session.Session` and the text
after the command name, and returns an :class:`~dumplib.shell.session.Output`.
Stacks come from :meth:`dumplib.Dump.stack`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from dumplib.shell.expr import evaluate, parse_number
from dumplib.shell.session import Output, Session, ShellError, module_stem

if TYPE_CHECKING:
    from dumplib.model.objects import Thread
    from dumplib.unwind.frames import Frame, LogicalFrame, Stack

__all__ = ["frame", "inline", "k", "logical_frames", "runaway", "thread_header", "threads",
           "tilde"]


def thread_header(session: Session, index: int, current: int | None = None) -> str:
    """One ``~`` line: ``.  0  Id: 20.24 Suspend: 0 Teb: 00000000`7ffde000 Unfrozen``.

    ``.`` marks the current thread, ``#`` the one the exception happened on.
    """
    t = session.threads[index]
    current = session.thread_index if current is None else current
    mark = "." if index == current else (
        "#" if index == session.exception_thread_index() else " ")
    pid = session.dump.process_id or 0
    name = f' "{_printable(t.name)}"' if t.name else ""
    return (f"{mark}{index:>3}  Id: {pid:x}.{t.id:x} Suspend: {t.suspend_count} "
            f"Teb: {session.addr(t.teb)} Unfrozen{name}")


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def _thread_json(session: Session, index: int, current: int | None = None) -> dict[str, Any]:
    t = session.threads[index]
    current = session.thread_index if current is None else current
    return {"index": index, "id": t.id, "teb": t.teb, "suspend_count": t.suspend_count,
            "name": t.name, "current": index == current,
            "exception": index == session.exception_thread_index()}


def threads(session: Session, args: str) -> Output:
    """``~``: list the threads (index, process.thread id, suspend count, TEB)."""
    lines = [thread_header(session, i) for i in range(len(session.threads))]
    return Output("\n".join(lines), [_thread_json(session, i) for i in range(len(session.threads))])


_TILDE = re.compile(r"^~\s*(?P<which>\*|\.|#|\d+|~?\[[^\]]*\])?\s*(?P<rest>.*)$", re.S)


def tilde(session: Session, text: str) -> Output:
    """``~`` commands: ``~`` (list), ``~Ns`` (switch thread), ``~~[TID]s`` (by thread id),
    ``~N cmd`` and ``~* cmd`` (run a command on one or every thread without switching),
    e.g. ``~*k``, ``~2 r``, ``~#`` (the exception's thread)."""
    m = _TILDE.match(text.strip())
    if m is None:
        raise ShellError(f"Syntax error in '{text}'")
    which, rest = m.group("which"), m.group("rest").strip()
    if which is None:
        if rest:
            raise ShellError(f"Syntax error in '{text}'")
        return threads(session, "")
    if which == "*":
        indexes = list(range(len(session.threads)))
    elif which == ".":
        indexes = [session.thread_index]
    elif which == "#":
        exc = session.exception_thread_index()
        indexes = [session.thread_index if exc is None else exc]
    elif which.startswith("~["):  # ~~[TID]: the thread with that id
        tid = evaluate(session, which[2:-1])
        if tid not in session.dump.threads.ids:
            raise ShellError(f"Illegal thread error in '{text.strip()}': no thread id {tid:x}")
        indexes = [session.dump.threads.ids.index(tid)]
    elif which.startswith("["):
        indexes = [evaluate(session, which[1:-1])]
    else:
        indexes = [int(which, 10)]
    if not indexes:
        raise ShellError("the dump holds no threads")
    for i in indexes:
        session.thread_at(i)
    if rest == "s":
        if len(indexes) != 1:
            raise ShellError(f"Syntax error in '{text}': ~s needs one thread")
        from dumplib.shell.context import registers_output

        session.select_thread(indexes[0])
        return registers_output(session, "")
    if not rest:
        lines = [thread_header(session, i) for i in indexes]
        return Output("\n".join(lines), [_thread_json(session, i) for i in indexes])
    from dumplib.shell.commands import run_one

    saved = (session.thread_index, session.frame_index, session.context, session.context_label)
    texts: list[str] = []
    docs: list[Any] = []
    try:
        for i in indexes:
            session.select_thread(i)
            out = run_one(session, rest)
            header = thread_header(session, i, saved[0])
            texts.append(("\n" if len(indexes) > 1 else "") + header + "\n" + out.text)
            docs.append({"thread": _thread_json(session, i, saved[0]), "output": out.data})
    finally:
        (session.thread_index, session.frame_index, session.context,
         session.context_label) = saved
    return Output("\n".join(texts), docs if len(indexes) > 1 else docs[0])


# -- k ---------------------------------------------------------------------------------


def _args_to_child(session: Session, stack: Stack, i: int) -> list[int | None]:
    """The first four stack words above the frame's return address (x64: the home
    area of the frame's function; x86: the arguments above ebp+8)."""
    frames = stack.frames
    ps = session.pointer_size
    mem = session.dump.memory
    if ps == 8:
        if i + 1 >= len(frames):
            return [None] * 4
        base = frames[i + 1].sp
    else:
        ebp = frames[i].registers.get("ebp") if frames[i].registers else None
        if ebp is None:
            return [None] * 3
        base = ebp + 8
    count = 4 if ps == 8 else 3
    out: list[int | None] = []
    for n in range(count):
        data = mem.try_read(base + n * ps, ps)
        out.append(None if data is None else int.from_bytes(data, "little"))
    return out


def _word(session: Session, value: int | None) -> str:
    if value is None:
        return "????????`????????" if session.pointer_size == 8 else "????????"
    return session.addr(value)


def call_site(session: Session, f: Frame, *, source: bool = True, params: bool = False,
              line: tuple[str | None, int | None] | None = None) -> str:
    """``module!function+0xoff [file @ line]`` for a frame, as ``k`` prints it; with
    ``params`` (``kp``) the function's parameter types when its PDB gives them
    (``clr!ThreadpoolMgr::CompletionPortThreadStart(void*)+0xa2``). ``line``
    replaces the frame's own source line (a frame holding inlined calls is at the
    line of the call)."""
    if f.module is None:
        text = session.addr(f.ip)
    else:
        stem = module_stem(f.module.name)
        if f.function:
            name = (_signature(session, f) or f.function) if params else f.function
            text = f"{stem}!{name}" + (f"+0x{f.offset:x}" if f.offset else "")
        else:
            text = f"{stem}+0x{f.offset:x}"
    file, number = line if line is not None else (f.source_file, f.source_line)
    if source and file:
        text += f" [{file} @ {number}]"
    return text


def logical_frames(session: Session, stack: Stack) -> tuple[LogicalFrame, ...]:
    """The frames ``k`` numbers: inlined calls as frames of their own, as WinDbg
    shows them, unless ``.inline 0`` turned that off."""
    return stack.logical_frames(physical_only=not session.cache.get("inline", True))


def _inline_row(session: Session, lf: LogicalFrame, n: int, opts: str) -> str:
    """An inlined call as WinDbg's ``k`` prints it: ``(Inline Function)`` and dashes
    where a physical frame has its stack pointer and return address (and the
    argument words of ``kb``/``kv``), then ``module!function [file @ line]``."""
    wide = session.pointer_size == 8
    dashes = "--------`--------" if wide else "--------"
    row = f"{n:02x} " if "n" in opts else ""
    row += "(Inline Function) " if wide else "(Inline) "
    row += f"{dashes} "
    if "b" in opts or "v" in opts:
        words = " ".join([dashes] * (4 if wide else 3))
        row += f": {words} : " if wide else f"{words} "
    elif wide:
        row += "    "
    f = lf.frame
    where = lf.function or "?"
    if f.module is not None:
        where = f"{module_stem(f.module.name)}!{where}"
    if lf.source_file:
        where += f" [{lf.source_file} @ {lf.source_line}]"
    return row + where


def _signature(session: Session, f: Frame) -> str | None:
    """The frame function's name with its parameter list, from the module's PDB."""
    from dumplib._exc import DumpError

    if f.module is None:
        return None
    try:
        pdb = session.resolver.module_symbols(f.module).pdb
        fn = pdb.function_at(f.lookup_address - f.module.base) if pdb is not None else None
    except DumpError:
        return None
    if fn is None or fn.name != f.function or "(" not in fn.signature:
        return None
    return fn.signature


def _frame_row(session: Session, stack: Stack, i: int, opts: str, *,
               number: int | None = None,
               line: tuple[str | None, int | None] | None = None) -> str:
    frames = stack.frames
    f = frames[i]
    ret = frames[i + 1].ip if i + 1 < len(frames) else 0
    wide = session.pointer_size == 8
    args = "b" in opts or "v" in opts
    row = f"{f.index if number is None else number:02x} " if "n" in opts else ""
    base = f.sp if wide else (f.registers.get("ebp", f.sp) if f.registers else f.sp)
    row += f"{session.addr(base)} {session.addr(ret)} "
    if args:
        words = " ".join(_word(session, a) for a in _args_to_child(session, stack, i))
        row += f": {words} : " if wide else f"{words} "
    elif wide:
        row += "    "
    return row + call_site(session, f, params="p" in opts, line=line)


def stack_header(session: Session, opts: str) -> str:
    """The column line of ``k`` with options ``opts`` (``n``, ``b``, ``v``, ``p``)."""
    head = " # " if "n" in opts else ""
    args = "b" in opts or "v" in opts
    if session.pointer_size == 8:
        head += "Child-SP          RetAddr           "
        head += ": " + "Args to Child".ljust(72) + ": Call Site" if args else "    Call Site"
    else:
        head += "ChildEBP RetAddr  " + ("Args to Child" if args else "")
    return head


class _Layout:
    """Where each physical frame stands among the stack's frames and which inlined
    calls (with their ``k`` numbers) belong to it, worked out once per command:
    looking them up per frame made ``k`` quadratic (17 s for 4,063 frames)."""

    def __init__(self, stack: Stack, logical: tuple[LogicalFrame, ...]) -> None:
        self.position = {id(f): i for i, f in enumerate(stack.frames)}
        self.inlines: dict[int, list[tuple[int, LogicalFrame]]] = {}
        for n, lf in enumerate(logical):
            if lf.inline:
                self.inlines.setdefault(id(lf.frame), []).append((n, lf))


def _frame_json(session: Session, stack: Stack, i: int, layout: _Layout) -> dict[str, Any]:
    f = stack.frames[i]
    nxt = stack.frames[i + 1].ip if i + 1 < len(stack.frames) else 0
    inlines = [{"number": n, "function": lf.function, "source_file": lf.source_file,
                "source_line": lf.source_line}
               for n, lf in layout.inlines.get(id(f), ())]
    return {"index": f.index, "child_sp": f.sp, "ip": f.ip, "return_address": nxt,
            "module": f.module.name if f.module else None, "function": f.function,
            "offset": f.offset, "call_site": call_site(session, f, source=False),
            "source_file": f.source_file, "source_line": f.source_line,
            "trust": f.trust.value, "inlines": inlines}


def _logical_row(session: Session, stack: Stack, logical: tuple[LogicalFrame, ...], n: int,
                 opts: str, layout: _Layout) -> str:
    lf = logical[n]
    if lf.inline:
        return _inline_row(session, lf, n, opts)
    return _frame_row(session, stack, layout.position[id(lf.frame)], opts, number=n,
                      line=(lf.source_file, lf.source_line))


def k(session: Session, args: str, opts: str = "") -> Output:
    """``k`` (and ``kn``, ``kb``, ``kv``, ``kp``, combinations like ``kbn``): the current
    thread's stack, innermost first: Child-SP, return address, call site.

    ``n`` numbers the frames, ``b``/``v`` add the first four stack words of each
    frame (x64: its home area), ``p`` the parameter types a PDB gives (not their
    values). Source file and line are shown when known. A number after the
    command limits the frames shown.

    Calls inlined into a frame (PDB inline sites, ``.sym`` INLINE records) are
    frames of their own, numbered with the others as WinDbg numbers them, with
    ``(Inline Function) --------`--------`` where a physical frame shows its
    stack pointer and return address; ``.inline 0`` leaves them out. The JSON
    ``frames`` are the physical frames shown, each with its ``inlines``.
    """
    stack = session.stack()
    logical = logical_frames(session, stack)
    count = len(logical)
    if args.strip():
        count = min(count, parse_number(args.strip()))
    layout = _Layout(stack, logical)
    lines = [stack_header(session, opts)]
    lines += [_logical_row(session, stack, logical, n, opts, layout) for n in range(count)]
    if not stack.frames:
        lines.append(f"(no frames: {stack.status.value})")
    for note in stack.notes:
        lines.append(f"WARNING: {note}")
    shown: list[int] = []
    for lf in logical[:count]:
        if not shown or stack.frames[shown[-1]] is not lf.frame:
            shown.append(layout.position[id(lf.frame)])
    return Output("\n".join(lines), {
        "thread_id": stack.thread_id, "status": stack.status.value,
        "frames": [_frame_json(session, stack, i, layout) for i in shown],
        "notes": list(stack.notes)})


def inline(session: Session, args: str) -> Output:
    """``.inline 0`` / ``.inline 1``: leave inlined calls out of ``k`` and ``.frame``
    numbering, or show them as frames of their own (the default), as in WinDbg."""
    text = args.strip()
    if text not in ("", "0", "1"):
        raise ShellError(f"Syntax error in '.inline {text}': use .inline 0 or .inline 1")
    if text:
        session.cache["inline"] = text == "1"
    on = session.cache.get("inline", True)
    return Output(f"Inline function debugging {'enabled' if on else 'disabled'}",
                  {"inline": on})


def frame(session: Session, args: str) -> Output:
    """``.frame [N]``: show (or with N, choose) the current frame; ``r`` and ``$ip``
    then give that frame's registers. N is the number ``kn`` shows: an inlined
    call's number chooses it and the physical frame it is inlined into (whose
    registers it shares)."""
    stack = session.stack()
    logical = logical_frames(session, stack)
    layout = _Layout(stack, logical)
    if args.strip():
        n = parse_number(args.strip())
        if not 0 <= n < len(logical):
            raise ShellError(f"Frame {n:x} is not in the stack (0 to {len(logical) - 1:x})")
        session.frame_index = layout.position[id(logical[n].frame)]
        session.cache["frame_number"] = (stack.thread_id, session.frame_index, n)
        return Output(_logical_row(session, stack, logical, n, "n", layout),
                      _frame_json(session, stack, session.frame_index, layout))
    i = min(session.frame_index, max(0, len(stack.frames) - 1))
    if not stack.frames:
        raise ShellError("the thread has no frames")
    # the innermost call in the frame (frame 00 is the inlined call when there is one)
    n = next(m for m, lf in enumerate(logical) if lf.frame is stack.frames[i])
    chosen = session.cache.get("frame_number")  # an inlined call chosen by number stays shown
    if (chosen is not None and chosen[:2] == (stack.thread_id, i) and chosen[2] < len(logical)
            and logical[chosen[2]].frame is stack.frames[i]):
        n = chosen[2]
    return Output(_logical_row(session, stack, logical, n, "n", layout),
                  _frame_json(session, stack, i, layout))


# -- !runaway --------------------------------------------------------------------------


def _duration(hundred_ns: int) -> str:
    """``H:MM:SS.ffff`` as in the ``!runaway`` documentation (days first when there are any)."""
    ticks = hundred_ns // 1000  # units of 0.1 ms
    days, rest = divmod(ticks, 864_000_000)
    h, rest = divmod(rest, 36_000_000)
    m, rest = divmod(rest, 600_000)
    s, frac = divmod(rest, 10_000)
    text = f"{h}:{m:02d}:{s:02d}.{frac:04d}"
    return f"{days} days {text}" if days else text


def runaway(session: Session, args: str) -> Output:
    """``!runaway [flags]``: thread times from the ThreadInfoList stream, longest first.

    Flags (hex, default 1): 1 user time, 2 kernel time, 4 time since the thread was created.
    """
    flags = parse_number(args.strip()) if args.strip() else 1
    infos = {ti.thread_id: ti for ti in session.dump.thread_infos}
    if not infos:
        raise ShellError("the dump has no thread times (no ThreadInfoListStream); "
                         "procdump -ma and MiniDumpWithThreadInfo write them")
    index = {t.id: i for i, t in enumerate(session.threads)}
    dump_time = _filetime(session)
    sections: list[tuple[str, str, dict[int, int]]] = []
    if flags & 1:
        sections.append(("user", "User Mode Time", {t: v.user_time for t, v in infos.items()}))
    if flags & 2:
        sections.append(("kernel", "Kernel Mode Time",
                         {t: v.kernel_time for t, v in infos.items()}))
    if flags & 4 and dump_time is not None:
        sections.append(("elapsed", "Elapsed Time", {
            t: max(0, dump_time - v.create_time) for t, v in infos.items() if v.create_time}))
    lines: list[str] = []
    doc: dict[str, Any] = {}
    for key, title, times in sections:
        lines += ["", f" {title}", " Thread       Time"]
        rows = sorted(times.items(), key=lambda kv: (-kv[1], kv[0]))
        for tid, value in rows:
            idx = index.get(tid)
            label = f"{idx if idx is not None else '?'}:{tid:x}"
            lines.append(f" {label:<13}{_duration(value)}")
        doc[key] = [{"thread_id": tid, "index": index.get(tid), "time_100ns": v}
                    for tid, v in rows]
    return Output("\n".join(lines[1:]), doc)


def _filetime(session: Session) -> int | None:
    """The dump's time as a FILETIME (100 ns since 1601), or None."""
    try:
        t = session.dump.time
    except Exception:  # a header time out of range
        return None
    import datetime as _dt

    epoch = _dt.datetime(1601, 1, 1, tzinfo=_dt.timezone.utc)
    when = t if t.tzinfo else t.replace(tzinfo=_dt.timezone.utc)
    return int((when - epoch).total_seconds()) * 10_000_000


def thread_of(session: Session, thread_id: int) -> Thread | None:
    """The thread with id ``thread_id``, or None."""
    return session.dump.threads.get(thread_id)
