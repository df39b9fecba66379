"""Crash buckets: one stable string per distinct crash.

The bucket is ``KIND/faulting-module/frame|frame|frame``: the exception kind
(access violations split by access and NULL vs other targets), the module
holding the exception address, and the top meaningful frames of the crashing
thread as ``module!function`` -- skipping exception dispatch, debugger
notification and raise helpers, so a first-chance dump (taken inside the
debugger notification) and a second-chance dump of the same crash agree.
Offsets are left out where a function name exists, so rebuilds that move
code do not split a bucket. Hang dumps (no exception) bucket on the stack of
the thread the top finding is about (else the main thread's).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from dumplib.analysis.model import ExceptionSummary
from dumplib.analysis.patterns import (
    BOILERPLATE_START,
    DISPATCH_NOISE,
    SYSTEM_MODULES,
    compile_all,
    frame_text,
    module_stem,
)
from dumplib.unwind.frames import Frame, Stack

__all__ = ["BUCKET_FRAMES", "bucket", "bucket_kind", "meaningful_frames"]

#: Frames that go into a bucket.
BUCKET_FRAMES = 3

_NOISE = compile_all(DISPATCH_NOISE)
_BOILERPLATE = compile_all(BOILERPLATE_START)
_SYSTEM = frozenset(SYSTEM_MODULES)
_DISPATCHER = re.compile(r"!KiUserExceptionDispatch(er)?$", re.IGNORECASE)


def meaningful_frames(stack: Stack | Sequence[Frame]) -> list[str]:
    """``module!function`` of the frames that say where a crash is.

    Everything inside the exception dispatcher (frames inner to
    ``KiUserExceptionDispatcher``) is dropped, then raise/dispatch/debugger
    frames, thread-start boilerplate and unnamed offsets in Windows DLLs.
    """
    frames = list(stack.frames if isinstance(stack, Stack) else stack)
    texts = [frame_text(f) for f in frames]
    start = 0
    for i, text in enumerate(texts):
        if _DISPATCHER.search(text):
            start = i + 1
    out = []
    for f, t in zip(frames[start:], texts[start:], strict=True):
        if any(p.search(t) for p in _NOISE) or any(p.search(t) for p in _BOILERPLATE):
            continue
        if f.function is None and f.module is not None and f.module.name.lower() in _SYSTEM:
            continue  # an unnamed offset in a Windows DLL changes with every patch
        out.append(t)
    return out


def bucket_kind(exc: ExceptionSummary | None) -> str:
    """The kind part of a bucket: ``AV_READ_NULL``, ``STACK_OVERFLOW``, ``CXX_std::bad_alloc``..."""
    if exc is None:
        return "HANG"
    if exc.kind == "access_violation":
        access = (exc.access or "unknown").upper().replace(" ", "_")
        target = "NULL" if exc.target_kind == "null_page" else "BAD_PTR"
        return f"AV_{access}_{target}"
    if exc.kind == "fail_fast":
        sub = exc.subcode_name or (f"0x{exc.subcode:x}" if exc.subcode is not None else "?")
        return f"FAIL_FAST_{sub.removeprefix('FAST_FAIL_')}"
    if exc.kind == "cxx":
        return f"CXX_{exc.thrown_types[0]}" if exc.thrown_types else "CXX"
    if exc.kind == "clr":
        return f"CLR_{exc.managed_type}" if exc.managed_type else "CLR"
    name = exc.name or f"0x{exc.code:08X}"
    return name.removeprefix("EXCEPTION_").removeprefix("STATUS_")


def bucket(exc: ExceptionSummary | None, stack: Stack | None, fallback_module: str | None) -> str:
    """The bucket string of a crash (or hang).

    Args:
        exc: the decoded exception, or None for a hang dump.
        stack: the crashing (or chosen) thread's walked stack, or None.
        fallback_module: the module to name without an exception (the main image).
    """
    kind = bucket_kind(exc)
    module = (exc.module if exc is not None else fallback_module) or "unknown"
    frames: list[str] = meaningful_frames(stack)[:BUCKET_FRAMES] if stack is not None else []
    if not frames and exc is not None:
        if exc.module is not None and exc.module_offset is not None:
            frames = [f"{module_stem(exc.module)}+0x{exc.module_offset:x}"]
        else:
            frames = ["0x?"]
    return f"{kind}/{module.lower()}/{'|'.join(frames) or '-'}"
