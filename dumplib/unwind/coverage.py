"""What the stack walk lacked: modules without an image or symbols, and the guesses it made.

A small dump never holds its modules' images. Without them (and without
PDBs or breakpad files on the symbol path) the walker has no unwind data for
those modules, so it finds their callers by scanning the stack: such frames
are guesses (trust ``scan``), and names are bare ``module+offset``.
:func:`symbol_coverage` says so in words a user can act on:

* which modules on the walked stacks had no image and no symbols;
* which frames were only found by scanning because of that;
* what on the symbol path did not work (a directory that does not exist, a
  symbol server that could not be reached);
* the one thing that fixes it (``--symbols`` / ``symbols=`` or
  ``_NT_SYMBOL_PATH``).

It reads only public records: the stacks' frames, the resolver's
:class:`~dumplib.symbols.resolver.ModuleSymbols` and the parsed symbol path.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dumplib._exc import DumpError
from dumplib.unwind.frames import Stack, Trust

if TYPE_CHECKING:
    from dumplib.model.objects import Module
    from dumplib.symbols.path import Attempt
    from dumplib.symbols.resolver import SymbolResolver

__all__ = ["FIX_HINT", "MissingModule", "SymbolCoverage", "symbol_coverage", "symbol_path_problems"]

#: The advice given when modules lack images and symbols and no symbol path was given.
FIX_HINT = (
    "give the folder holding these modules' .exe/.dll and .pdb files with --symbols DIR, or "
    "set _NT_SYMBOL_PATH (srv*CACHE*https://msdl.microsoft.com/download/symbols for "
    "Windows' own modules); in Python pass symbols=[DIR] (the library reads no environment: "
    "dumplib.symbols.symbol_path_from_environment() gives the variable's entries)"
)
#: The advice when a symbol path was given but did not hold them.
FIX_HINT_GIVEN = (
    "the symbol path does not hold them: add the folder with their .exe/.dll and .pdb files "
    "to --symbols (symbols=[...] in Python) or to _NT_SYMBOL_PATH"
)


@dataclass(frozen=True, slots=True)
class MissingModule:
    """A module on a walked stack with neither image nor symbols.

    Attributes:
        name: the module's file name.
        base: its base address.
        frames: ``(thread_id, frame_index)`` of the frames in this module.
        guessed: ``(thread_id, frame_index)`` of the frames found by scanning because
            this module (the callee) could not be unwound.
    """

    name: str
    base: int
    frames: tuple[tuple[int, int], ...]
    guessed: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class SymbolCoverage:
    """What the walk lacked and how to fix it.

    Attributes:
        missing: modules with no image and no symbols, in stack order.
        guessed: ``(thread_id, frame_index)`` of every frame found by scanning.
        path_problems: symbol path entries that did not work, one sentence each.
        fix: the advice, or None when nothing is missing.
    """

    missing: tuple[MissingModule, ...]
    guessed: tuple[tuple[int, int], ...]
    path_problems: tuple[str, ...]
    fix: str | None

    def notes(self) -> list[str]:
        """The coverage as sentences for a report's notes."""
        out = list(self.path_problems)
        if self.missing:
            names = ", ".join(m.name for m in self.missing)
            out.append(f"no image and no symbols for {names}: their frames are named "
                       "module+offset and their callers could only be found by scanning")
        if self.guessed:
            out.append(f"{len(self.guessed)} frame(s) are guesses found by scanning the stack: "
                       + _frame_list(self.guessed))
        if self.fix:
            out.append(f"to fix: {self.fix}")
        return out

    def to_json(self) -> dict[str, object]:
        """A JSON-ready view (integers stay integers)."""
        return {
            "missing": [{"name": m.name, "base": m.base,
                         "frames": [list(f) for f in m.frames],
                         "guessed_frames": [list(f) for f in m.guessed]} for m in self.missing],
            "guessed_frames": [list(f) for f in self.guessed],
            "path_problems": list(self.path_problems),
            "fix": self.fix,
        }


def _frame_list(frames: Sequence[tuple[int, int]], limit: int = 12) -> str:
    by_thread: dict[int, list[int]] = {}
    for tid, idx in frames:
        by_thread.setdefault(tid, []).append(idx)
    parts = [f"thread {tid} frame(s) {_ranges(idxs)}"
             for tid, idxs in list(by_thread.items())[:limit]]
    if len(by_thread) > limit:
        parts.append(f"and {len(by_thread) - limit} more threads")
    return "; ".join(parts)


def _ranges(idxs: Sequence[int]) -> str:
    out: list[str] = []
    start = prev = idxs[0]
    for i in [*idxs[1:], None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        out.append(f"{start:02d}" if start == prev else f"{start:02d}-{prev:02d}")
        if i is not None:
            start = prev = i
    return ", ".join(out)


def symbol_path_problems(symbols: Iterable[str | os.PathLike[str]],
                         attempts: Iterable[Attempt] = ()) -> list[str]:
    """Entries of ``symbols`` that cannot help: directories or files that do not exist,
    and symbol servers that could not be reached (from a search's ``attempts``)."""
    from dumplib.symbols.path import EntryKind, Outcome, parse_symbol_path

    out: list[str] = []
    try:
        entries = parse_symbol_path(list(symbols))
    except DumpError as exc:
        return [f"symbol path: {exc}"]
    for e in entries:
        if e.kind is not EntryKind.SERVER and e.path is not None and not os.path.exists(e.path):
            out.append(f"symbol path entry {e.path!r} does not exist")
    seen: set[str] = set()
    for a in attempts:
        if a.outcome is Outcome.ERROR and "unreachable" in a.detail:
            server = a.location.split("/")[2] if "://" in a.location else a.location
            if server not in seen:
                seen.add(server)
                out.append(f"symbol server {server} could not be reached ({a.detail})")
    return out


def _has_nothing(resolver: SymbolResolver, module: Module) -> bool:
    try:
        found = resolver.module_symbols(module)
        image = resolver.image(module)
    except DumpError:
        return True
    return image is None and found.pdb is None and found.breakpad is None


def symbol_coverage(stacks: Iterable[Stack], resolver: SymbolResolver,
                    symbols: Sequence[str | os.PathLike[str]] = ()) -> SymbolCoverage:
    """Say which modules on ``stacks`` lacked image and symbols and which frames are guesses.

    Args:
        stacks: walked stacks.
        resolver: the resolver the walk used (``dump.stack_walker(symbols).resolver``).
        symbols: the symbol path the walk used (to say whether one was given and check it).
    """
    missing: dict[int, tuple[Module, list[tuple[int, int]], list[tuple[int, int]]]] = {}
    verdict: dict[int, bool] = {}
    guessed: list[tuple[int, int]] = []

    modules_seen: list[Module] = []

    def lacks(module: Module) -> bool:
        got = verdict.get(module.base)
        if got is None:
            modules_seen.append(module)
            got = verdict[module.base] = _has_nothing(resolver, module)
        return got

    for stack in stacks:
        frames = stack.frames
        for i, f in enumerate(frames):
            if f.module is not None and lacks(f.module):
                missing.setdefault(f.module.base, (f.module, [], []))[1].append(
                    (stack.thread_id, f.index))
            if f.trust is Trust.SCAN:
                guessed.append((stack.thread_id, f.index))
                callee = frames[i - 1].module if i else None
                if callee is not None and lacks(callee):
                    missing.setdefault(callee.base, (callee, [], []))[2].append(
                        (stack.thread_id, f.index))
    attempts = []
    for base in verdict:
        module = next(m for m in modules_seen if m.base == base)
        try:
            attempts.extend(resolver.module_symbols(module).attempts)
        except DumpError:
            continue
    problems = symbol_path_problems(symbols, attempts)
    gone = tuple(MissingModule(m.name, m.base, tuple(fr), tuple(gu))
                 for m, fr, gu in missing.values())
    fix = None
    if gone:
        fix = FIX_HINT_GIVEN if list(symbols) and not problems else FIX_HINT
    return SymbolCoverage(gone, tuple(guessed), tuple(problems), fix)
