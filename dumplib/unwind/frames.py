"""The result types of stack walking: :class:`Frame`, :class:`Stack` and :class:`Trust`.

These are the shapes of API.md (``stack.frames[0].ip`` ...). The walkers in this
package produce them; analysis and front ends consume them.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dumplib.model.objects import Module

if TYPE_CHECKING:
    import pandas

    from dumplib.symbols.base import InlineFrame

__all__ = [
    "FRAME_COLUMNS", "Frame", "LogicalFrame", "Stack", "StackStatus", "Trust", "lookup_address",
]

#: The columns of :meth:`Stack.to_dataframe`, in order.
FRAME_COLUMNS = ("thread_id", "index", "ip", "sp", "trust", "module", "function", "offset",
                 "location", "source_file", "source_line")


class Trust(str, enum.Enum):
    """How a frame was found, from most to least reliable."""

    CONTEXT = "context"
    """The thread's (or exception's) saved registers."""
    CFI = "cfi"
    """Unwind data: UNWIND_INFO / .pdata, breakpad STACK CFI / STACK WIN."""
    FRAME_POINTER = "frame_pointer"
    """The saved frame-pointer chain."""
    SCAN = "scan"
    """A validated return address found by scanning the stack."""

    def __str__(self) -> str:
        return self.value


class StackStatus(str, enum.Enum):
    """Why a walk ended."""

    COMPLETE = "complete"
    """Reached the thread's start (or a zero return address)."""
    TRUNCATED = "truncated"
    """Stopped by a limit (frame count or scan budget)."""
    LOST = "lost"
    """No method could find a caller, or the walk left the stack."""
    NO_CONTEXT = "no_context"
    """The thread had no usable register context."""
    DUMP_WRITER = "dump_writer"
    """The thread wrote the dump (BreakpadInfo): its stack is the crash handler's
    own, so it is not walked (minidump-stackwalk does the same)."""

    def __str__(self) -> str:
        return self.value

    @property
    def meaning(self) -> str:
        """One sentence for people: what this status says about the walk."""
        return _STATUS_MEANING[self]


_STATUS_MEANING = {
    StackStatus.DUMP_WRITER: ("dump writer: this thread wrote the dump (BreakpadInfo), so its "
                              "stack is the crash handler's own and was not walked"),
    StackStatus.COMPLETE: "complete: the walk reached the thread's start",
    StackStatus.TRUNCATED: "truncated: the walk stopped at a frame or scan limit",
    StackStatus.LOST: ("lost: no caller could be found below the last frame (no unwind "
                       "data, frame pointer or valid return address on the stack), so the "
                       "outer frames are missing; images or symbols for the modules "
                       "involved (--symbols) usually help"),
    StackStatus.NO_CONTEXT: "no_context: the thread has no usable register context",
}


def lookup_address(ip: int, trust: Trust) -> int:
    """The address to use for symbol and unwind lookups of a frame.

    A caller frame's ``ip`` is a return address: the instruction after the
    CALL, which may already belong to the next function (or the next line).
    Looking up ``ip - 1`` lands inside the CALL instruction itself. The frame
    found from a context is the faulting or current instruction and is used as is.
    """
    return ip if trust is Trust.CONTEXT else ip - 1


def _module_stem(module: Module) -> str:
    """The module's name as locations show it (``ntdll``, not ``ntdll.dll``)."""
    stem = module.name
    if stem.lower().endswith((".dll", ".exe", ".sys", ".drv", ".ocx")):
        stem = stem[: stem.rfind(".")]
    return stem


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame of a stack.

    Attributes:
        index: 0 for the innermost frame.
        ip: the instruction address (a return address for every frame but the first).
        sp: the stack pointer in this frame.
        trust: how the frame was found.
        module: the module containing ``ip``, or None.
        function: the function's name, or None when no symbols name it.
        offset: ``ip`` minus the function start, or minus the module base when
            ``function`` is None (or ``ip`` when there is no module).
        source_file, source_line: where known from PDB or .sym line records.
        registers: the registers known in this frame (non-volatile ones recovered
            by unwinding, plus ip and sp).
        inlines: calls inlined at the frame's lookup address, outermost first
            (from .sym INLINE records); each is a frame of its own in
            :meth:`Stack.logical_frames`.
    """

    index: int
    ip: int
    sp: int
    trust: Trust
    module: Module | None
    function: str | None
    offset: int
    source_file: str | None = None
    source_line: int | None = None
    registers: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)
    inlines: tuple[InlineFrame, ...] = ()

    @property
    def module_name(self) -> str | None:
        """The module's file name, or None."""
        return self.module.name if self.module else None

    @property
    def lookup_address(self) -> int:
        """``ip`` adjusted for lookups; see :func:`lookup_address`."""
        return lookup_address(self.ip, self.trust)

    @property
    def location(self) -> str:
        """``module!function+0x12``, ``module+0x1234`` or ``0x7ff...``."""
        if self.module is None:
            return f"0x{self.ip:x}"
        stem = _module_stem(self.module)
        if self.function:
            return f"{stem}!{self.function}+0x{self.offset:x}"
        return f"{stem}+0x{self.offset:x}"

    def __str__(self) -> str:
        src = f" [{self.source_file}:{self.source_line}]" if self.source_file else ""
        return f"{self.location}{src}"

    def __repr__(self) -> str:
        return f"<Frame #{self.index} {self} ip=0x{self.ip:x} sp=0x{self.sp:x} {self.trust.value}>"


@dataclass(frozen=True, slots=True)
class LogicalFrame:
    """One frame as a reader sees it: an inlined call, or the physical frame holding it.

    Attributes:
        frame: the physical frame (registers, trust, module).
        inline: True for an inlined call, False for the physical frame itself.
        function: the function (the inlined one for an inlined call).
        source_file, source_line: where in ``function`` execution is: the
            address's line for the innermost call, else the call site of the
            next inner one.
    """

    frame: Frame
    inline: bool
    function: str | None
    source_file: str | None
    source_line: int | None

    @property
    def location(self) -> str:
        """The physical frame's :attr:`Frame.location`; for an inlined call
        ``module!function`` (it has no address of its own, so no offset)."""
        f = self.frame
        if not self.inline:
            return f.location
        name = self.function or "?"
        return f"{_module_stem(f.module)}!{name}" if f.module is not None else name


@dataclass(frozen=True, slots=True)
class Stack:
    """The walked stack of one thread.

    Attributes:
        thread_id: the thread walked.
        frames: innermost first.
        status: why the walk ended.
        notes: what went wrong or was guessed along the way.
    """

    thread_id: int
    frames: tuple[Frame, ...]
    status: StackStatus
    notes: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.frames)

    def logical_frames(self, *, physical_only: bool = False) -> tuple[LogicalFrame, ...]:
        """The frames with every inlined call as a frame of its own, innermost first.

        Args:
            physical_only: leave inlined calls out (one entry per physical frame).
        """
        out: list[LogicalFrame] = []
        for f in self.frames:
            chain = f.inlines
            if physical_only or not chain:
                out.append(LogicalFrame(f, False, f.function, f.source_file, f.source_line))
                continue
            for k in range(len(chain) - 1, -1, -1):
                if k == len(chain) - 1:
                    file, line = f.source_file, f.source_line
                else:
                    file, line = chain[k + 1].call_file, chain[k + 1].call_line
                out.append(LogicalFrame(f, True, chain[k].function, file, line))
            out.append(LogicalFrame(f, False, f.function, chain[0].call_file, chain[0].call_line))
        return tuple(out)

    def to_dataframe(self) -> pandas.DataFrame:
        """One row per frame, innermost first (columns :data:`FRAME_COLUMNS`).

        Raises:
            ImportError: pandas is not installed (``pip install 'dumplib[dataframe]'``).
        """
        from dumplib.model.tables import frame_from_rows

        rows = [
            {
                "thread_id": self.thread_id, "index": f.index, "ip": f.ip, "sp": f.sp,
                "trust": f.trust.value, "module": f.module_name, "function": f.function,
                "offset": f.offset, "location": f.location, "source_file": f.source_file,
                "source_line": f.source_line,
            }
            for f in self.frames
        ]
        return frame_from_rows(rows, FRAME_COLUMNS, u64=["thread_id", "index", "ip", "sp"],
                               nullable_u64=["source_line"])

    def __str__(self) -> str:
        lines = [f"thread {self.thread_id} ({self.status})"]
        lines += [f"  #{f.index:02d} {f} ({f.trust})" for f in self.frames]
        return "\n".join(lines)

    #: Most frames :meth:`__repr__` lists.
    REPR_LIMIT = 20

    def __repr__(self) -> str:
        n = len(self.frames)
        lines = [f"<Stack of thread {self.thread_id} (0x{self.thread_id:x}): {n} frame"
                 f"{'' if n == 1 else 's'}, {self.status.value}>"]
        lines += [f"  #{f.index:02d} {f} ({f.trust.value})" for f in self.frames[: self.REPR_LIMIT]]
        if n > self.REPR_LIMIT:
            lines.append(f"  ... {n - self.REPR_LIMIT} more frames")
        lines += [f"  note: {note}" for note in self.notes[:5]]
        if len(self.notes) > 5:
            lines.append(f"  ... {len(self.notes) - 5} more notes")
        return "\n".join(lines)
