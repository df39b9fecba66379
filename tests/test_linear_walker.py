"""Walking crafted dumps costs time and memory in proportion to the file (issue 14).

The inputs are builder-made dumps reshaped by ``tests/_crafted.py``: thousands
of 48-byte thread entries pointing at one captured stack, with one shared
context or many. The expected bounds come from the budget's definition in
``dumplib/unwind/budget.py`` (frames: MIN_FRAMES + size / BYTES_PER_FRAME);
the walks are run in a fresh interpreter to measure peak RSS.
"""

from __future__ import annotations

import dumplib
from dumplib.unwind.budget import BYTES_PER_FRAME, MIN_FRAMES, PackedRegisters, WalkBudget
from tests._crafted import aliased_stack_dump
from tests._limits import measure

_WALK = """
import dumplib
from tests._crafted import aliased_stack_dump
data = aliased_stack_dump({threads}, distinct={distinct}, outside={outside})
with dumplib.open(data) as dump:
    stacks = dump.stacks()
    frames = sum(len(s) for s in stacks)
    same = sum(1 for s in stacks if s.frames is stacks[0].frames)
    notes = sorted({{n for s in stacks for n in s.notes}})
    report = dumplib.analyze(dump)
result(size=len(data), stacks=len(stacks), frames=frames, same=same, notes=notes,
       first=len(stacks[0]), bucket=report.bucket)
"""


def test_threads_aliasing_one_stack_are_walked_once() -> None:
    """12,000 threads on one stack (old code: 100 threads took 22 s and 600 MB)."""
    m = measure(_WALK.format(threads=12_000, distinct=1, outside=False), timeout=120)
    assert m.fields["stacks"] == 12_000
    assert m.fields["first"] == 8193  # the context frame + one per stack word
    assert m.fields["same"] > 1  # later threads share the first one's frames
    # frames handed out (which analysis names and matches) stay within the budget
    cap = MIN_FRAMES + m.fields["size"] // BYTES_PER_FRAME
    assert m.fields["frames"] <= cap + m.fields["stacks"]
    assert any("same registers and stack as thread" in n for n in m.fields["notes"])
    assert any("per-dump walking budget spent" in n for n in m.fields["notes"])
    assert m.fields["size"] < 700_000
    # walk and analyze (old code: 100 threads 22 s and 600 MB; 12,000 went to 7 GB)
    assert m.seconds < 30 and m.rss_mb < 250, m


def test_distinct_contexts_on_one_stack_meet_the_per_dump_budget() -> None:
    m = measure(_WALK.format(threads=1000, distinct=1000, outside=False), timeout=120)
    cap = MIN_FRAMES + m.fields["size"] // BYTES_PER_FRAME
    assert m.fields["frames"] <= cap + m.fields["stacks"]  # + one context frame each
    assert any("per-dump walking budget spent" in n for n in m.fields["notes"])
    assert m.seconds < 30 and m.rss_mb < 250, m


def test_recovery_scans_of_many_threads_meet_the_budget() -> None:
    """Every context outside its stack: each thread goes to the recovery scan."""
    m = measure(_WALK.format(threads=4000, distinct=4000, outside=True), timeout=120)
    assert m.fields["stacks"] == 4000
    assert m.seconds < 30 and m.rss_mb < 150, m


def test_budget_is_proportional_to_the_file() -> None:
    small, large = WalkBudget(1 << 20), WalkBudget(1 << 30)
    assert small.initial_frames == MIN_FRAMES + (1 << 20) // BYTES_PER_FRAME
    assert large.initial_frames - small.initial_frames == ((1 << 30) - (1 << 20)) // 32


def test_honest_stacks_are_unchanged_and_registers_compact() -> None:
    data = aliased_stack_dump(1, stack_words=64)
    with dumplib.open(data) as dump:
        (stack,) = dump.stacks()
    assert len(stack) == 65  # the context frame + one frame per word (see _crafted)
    caller = stack.frames[1]
    assert isinstance(caller.registers, PackedRegisters)
    assert caller.registers["rsp"] == caller.sp and caller.registers["rip"] == caller.ip
    assert dict(caller.registers) == caller.registers
    assert not any("budget" in n for n in stack.notes)


def test_walking_a_thread_again_gives_the_same_stack_without_notes() -> None:
    data = aliased_stack_dump(2, stack_words=16)
    with dumplib.open(data) as dump:
        first = dump.stack(dump.threads[0])
        again = dump.stack(dump.threads[0])
        other = dump.stack(dump.threads[1])
    assert again == first and again.notes == first.notes
    assert other.frames == first.frames
    assert other.notes[-1] == f"same registers and stack as thread {first.thread_id}"
