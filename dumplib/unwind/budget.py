"""What walking one dump's stacks may cost, in proportion to the dump's size.

A crafted dump can make many threads share one stack (a thread costs 48 bytes
of thread list), or send each thread into the recovery scan. Per-thread caps
then multiply by the thread count. :class:`WalkBudget` caps the whole dump
instead:

- frames: :data:`MIN_FRAMES` plus one per :data:`BYTES_PER_FRAME` bytes of
  the file (a real frame needs at least a return address of captured stack);
- work: :data:`MIN_WORK` plus one unit per :data:`BYTES_PER_WORK` bytes, where
  a unit is one unwind step or :data:`WORDS_PER_UNIT` stack words scanned.

When either runs out, the walk in progress ends TRUNCATED with a note, and
later threads get only their context frame. Threads whose walks would start
from identical registers on the same stack are walked once (the walker keys
its walks) and share the frames, which still count against the budget, since
callers work per frame and per thread. Frames keep their registers in
:class:`PackedRegisters`, a tuple with a shared key tuple, not a dict each.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from dumplib.unwind.frames import Stack, StackStatus

__all__ = [
    "BYTES_PER_FRAME",
    "BYTES_PER_WORK",
    "MIN_FRAMES",
    "MIN_WORK",
    "WORDS_PER_UNIT",
    "PackedRegisters",
    "WalkBudget",
    "pack_registers",
]

#: Frames always allowed per dump.
MIN_FRAMES = 50_000
#: File bytes per further frame.
BYTES_PER_FRAME = 32
#: Work units always allowed per dump (a few seconds of walking).
MIN_WORK = 200_000
#: File bytes per further work unit.
BYTES_PER_WORK = 8
#: Stack words scanned per work unit.
WORDS_PER_UNIT = 16


class WalkBudget:
    """Frames and work left for walking one dump.

    Args:
        file_size: the dump's size in bytes.
    """

    __slots__ = ("frames_left", "initial_frames", "initial_work", "work_left")

    def __init__(self, file_size: int) -> None:
        self.initial_frames = MIN_FRAMES + max(0, file_size) // BYTES_PER_FRAME
        self.initial_work = MIN_WORK + max(0, file_size) // BYTES_PER_WORK
        self.frames_left = self.initial_frames
        self.work_left = self.initial_work

    @property
    def spent(self) -> bool:
        """Whether frames or work ran out."""
        return self.frames_left <= 0 or self.work_left <= 0

    def frame(self) -> bool:
        """Count one frame; False when none was left."""
        self.frames_left -= 1
        return self.frames_left >= 0

    def work(self, units: int = 1) -> bool:
        """Count ``units`` of work; False when the work budget is spent."""
        self.work_left -= units
        return self.work_left > 0

    def scanned(self, words: int) -> None:
        """Count ``words`` stack words examined by a scan."""
        self.work_left -= 1 + words // WORDS_PER_UNIT

    def alias(self, thread_id: int, prior: Stack) -> Stack:
        """The stack of a thread that aliases ``prior``'s stack and registers.

        No walking is done, but its frames count against the budget like walked
        ones: what callers do per frame (naming, matching, printing) must stay
        in proportion to the file too. Past the budget the thread gets its
        first frame only.
        """
        notes = (*prior.notes, f"same registers and stack as thread {prior.thread_id}")
        n = len(prior.frames)
        if self.frames_left >= n:
            self.frames_left -= n
            return Stack(thread_id, prior.frames, prior.status, notes)
        keep = max(1, self.frames_left)
        self.frames_left -= keep
        return Stack(thread_id, prior.frames[:keep], StackStatus.TRUNCATED,
                     (*notes, self.note()))

    def note(self) -> str:
        """Why a walk stopped, for :attr:`Stack.notes`."""
        return (f"per-dump walking budget spent ({self.initial_frames} frames, "
                f"{self.initial_work} steps for this file size); later frames not walked")


_KEYS: dict[tuple[str, ...], tuple[str, ...]] = {}


class PackedRegisters(Mapping[str, int]):
    """A read-only register mapping stored as two tuples (names shared between frames)."""

    __slots__ = ("_names", "_values")

    def __init__(self, names: tuple[str, ...], values: tuple[int, ...]) -> None:
        self._names = names
        self._values = values

    def __getitem__(self, key: str) -> int:
        try:
            return self._values[self._names.index(key)]
        except ValueError:
            raise KeyError(key) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return dict(self.items()) == dict(other.items())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(dict(zip(self._names, self._values, strict=True)))


def pack_registers(regs: Mapping[str, int]) -> PackedRegisters:
    """``regs`` as :class:`PackedRegisters`; equal name sets share one name tuple."""
    names = tuple(regs)
    shared = _KEYS.get(names)
    if shared is None:
        shared = names if len(_KEYS) > 4096 else _KEYS.setdefault(names, names)
    return PackedRegisters(shared, tuple(regs.values()))
