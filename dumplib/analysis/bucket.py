"""Crash buckets: one stable string per distinct crash.

The bucket is ``KIND/module/frame|frame|frame``: the exception kind, the
module of the frame that faulted or raised, and the top meaningful frames of
the crashing thread -- skipping exception dispatch, debugger notification and
raise helpers, so a first-chance dump (taken inside the debugger
notification) and a second-chance dump of the same crash agree.

Stability rules (issue 12):

* first and second chance of one crash share a bucket: a managed
  NullReferenceException (E0434F4D / E0434352) is the access violation on a
  NULL page the runtime turned into it, so both are ``NULL_DEREFERENCE``;
* a frame is keyed on its module and its function's start RVA from the
  image's ``.pdata`` when the image is available, else on its own RVA, never
  on a name: giving or withholding PDBs does not change the bucket
  (:func:`bucket_label` keeps the names). A dump whose images are only on the
  symbol path still buckets differently with and without that path (function
  start vs return-address RVA);
* software exceptions (RaiseException, C++ throw, CLR throw) are bucketed at
  the frame that raised them: the module part is that frame's module, not
  kernelbase's;
* frames found by stack scanning are left out (they may be stale return
  addresses); when any were skipped the bucket ends in ``~weak``.

Hang dumps (no exception) bucket on the stack of the thread the top finding
is about (else the main thread's).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from dumplib.analysis.model import ExceptionSummary
from dumplib.analysis.patterns import (
    BOILERPLATE_START,
    DISPATCH_NOISE,
    SYSTEM_MODULES,
    compile_all,
    frame_text,
    module_stem,
)
from dumplib.unwind.frames import Frame, Stack, Trust

__all__ = [
    "BUCKET_FRAMES",
    "FunctionStart",
    "bucket",
    "bucket_kind",
    "bucket_label",
    "meaningful_frames",
]

#: Gives a frame's function start RVA from its image's .pdata, or None.
FunctionStart = Callable[[Frame], "int | None"]

#: Frames that go into a bucket.
BUCKET_FRAMES = 3

_NOISE = compile_all(DISPATCH_NOISE)
_BOILERPLATE = compile_all(BOILERPLATE_START)
_SYSTEM = frozenset(SYSTEM_MODULES)
_MANAGED_NULL = {"NullReferenceException"}
_DISPATCHER = re.compile(r"!KiUserExceptionDispatch(er)?$", re.IGNORECASE)


def _meaningful(stack: Stack | Sequence[Frame]) -> tuple[list[tuple[Frame, str]], bool]:
    """The frames that say where a crash is, and whether scanned frames were skipped."""
    frames = list(stack.frames if isinstance(stack, Stack) else stack)
    texts = [frame_text(f) for f in frames]
    start = 0
    for i, text in enumerate(texts):
        if _DISPATCHER.search(text):
            start = i + 1
    out = []
    weak = False
    for f, t in zip(frames[start:], texts[start:], strict=True):
        if any(p.search(t) for p in _NOISE) or any(p.search(t) for p in _BOILERPLATE):
            continue
        if f.function is None and f.module is not None and f.module.name.lower() in _SYSTEM:
            continue  # an unnamed offset in a Windows DLL changes with every patch
        if f.trust == Trust.SCAN:
            weak = True  # a scanned return address may be stale: not a bucket key
            continue
        out.append((f, t))
    return out, weak


def meaningful_frames(stack: Stack | Sequence[Frame]) -> list[str]:
    """``module!function`` of the frames that say where a crash is.

    Everything inside the exception dispatcher (frames inner to
    ``KiUserExceptionDispatcher``) is dropped, then raise/dispatch/debugger
    frames, thread-start boilerplate, unnamed offsets in Windows DLLs and
    frames found by stack scanning.
    """
    return [t for _, t in _meaningful(stack)[0]]


def _key(frame: Frame, text: str, start_of: FunctionStart | None) -> str:
    """A frame's bucket key: module + function start RVA when the image tells, else
    module + the frame's own RVA -- never a name, so symbols cannot move a bucket.

    Without ``start_of`` (:func:`bucket_label`) the frame's name is used.
    """
    if frame.module is None or start_of is None:
        return text
    rva = start_of(frame)
    if rva is None:
        rva = frame.ip - frame.module.base  # the address itself: equal in a context frame
        # and in the return address a runtime fakes for a translated fault
    return f"{module_stem(frame.module.name)}+0x{rva:x}"


def bucket_kind(exc: ExceptionSummary | None) -> str:
    """The kind part of a bucket: ``AV_READ_NULL``, ``STACK_OVERFLOW``, ``CXX_std::bad_alloc``..."""
    if exc is None:
        return "HANG"
    if exc.kind == "access_violation" and exc.target_kind == "null_page":
        return "NULL_DEREFERENCE"
    if exc.kind == "clr" and (exc.managed_type or "").rsplit(".", 1)[-1] in _MANAGED_NULL:
        return "NULL_DEREFERENCE"  # the runtime's translation of a NULL-page access violation
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


def bucket(
    exc: ExceptionSummary | None,
    stack: Stack | None,
    fallback_module: str | None,
    start_of: FunctionStart | None = None,
) -> str:
    """The bucket string of a crash (or hang).

    Args:
        exc: the decoded exception, or None for a hang dump.
        stack: the crashing (or chosen) thread's walked stack, or None.
        fallback_module: the module to name without an exception (the main image).
        start_of: a frame's function start RVA from its image's .pdata (None when
            the image is not available); with it, keys do not depend on PDBs.
    """
    kind = bucket_kind(exc)
    picked, weak = _meaningful(stack) if stack is not None else ([], False)
    picked = picked[:BUCKET_FRAMES]
    frames = [_key(f, t, start_of) for f, t in picked]
    module = (exc.module if exc is not None else fallback_module) or "unknown"
    if exc is not None and picked and picked[0][0].module is not None:
        # The frame that faulted or raised (RaiseException's caller, not kernelbase).
        module = picked[0][0].module.name
    if not frames and exc is not None:
        if exc.module is not None and exc.module_offset is not None:
            frames = [f"{module_stem(exc.module)}+0x{exc.module_offset:x}"]
        else:
            frames = ["0x?"]
    out = f"{kind}/{module.lower()}/{'|'.join(frames) or '-'}"
    return out + "~weak" if weak else out


def bucket_label(exc: ExceptionSummary | None, stack: Stack | None,
                 fallback_module: str | None) -> str:
    """The bucket with frame names instead of RVAs: for people, not for grouping."""
    return bucket(exc, stack, fallback_module, None)
