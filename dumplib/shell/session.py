"""The state a shell keeps between commands, and the text helpers every command shares.

A :class:`Session` is one open dump seen the way WinDbg sees it: a current
thread (``~Ns``), a current frame (``.frame N``), a register context that
``.ecxr`` and ``.cxr`` can replace, a symbol path that ``.sympath+`` extends,
and where the last ``d*``/``u`` command stopped (so a bare ``dq`` goes on).
Commands read the dump only through dumplib's public API.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dumplib.format.constants import Arch

if TYPE_CHECKING:
    from dumplib.dump import Dump
    from dumplib.model.objects import Module, Thread
    from dumplib.symbols import SymbolResolver
    from dumplib.unwind.frames import Frame, Stack

__all__ = ["Output", "Session", "ShellError", "hex_address", "module_stem"]


class ShellError(Exception):
    """A command that cannot run as typed (bad syntax, unknown thread, memory absent).

    The shell prints the message the way WinDbg prints its errors and goes on
    with the next command.
    """


@dataclass(frozen=True, slots=True)
class Output:
    """What one command produced.

    Attributes:
        text: the lines WinDbg would print (no trailing newline).
        data: the same facts as plain JSON values (integers stay integers), for ``--json``.
    """

    text: str
    data: Any = None


def hex_address(value: int, pointer_size: int = 8) -> str:
    """An address the way WinDbg prints it: ``00007ff6`12345678`` (64-bit) or ``0040100a``."""
    if pointer_size == 8:
        value &= (1 << 64) - 1
        return f"{value >> 32:08x}`{value & 0xFFFFFFFF:08x}"
    return f"{value & 0xFFFFFFFF:08x}"


def module_stem(name: str) -> str:
    """WinDbg's module name: the file name without its extension (``ntdll`` for ntdll.dll)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    if "." in base:
        stem = base[: base.rfind(".")]
        # "mscorlib.ni.dll" -> "mscorlib_ni", as WinDbg names native images.
        return stem.replace(".", "_")
    return base


@dataclass
class _Display:
    """Where the last display command stopped, so repeating it goes on."""

    kind: str = ""
    address: int = 0


@dataclass
class Session:
    """One dump under the shell, with WinDbg's notion of current thread, frame and context.

    Args:
        dump: the open dump (the caller keeps ownership and closes it).
        symbols: ``symbols=`` entries (directories, files, symbol-path strings).

    Attributes:
        thread_index: index of the current thread in ``dump.threads`` (the prompt's ``0:007``).
        frame_index: the frame chosen with ``.frame`` (0 by default).
        context: registers set by ``.ecxr``/``.cxr``, or None for the thread's own.
        context_label: where ``context`` came from (``"exception"``, ``"cxr"``) or None.
        loaded: bases of the modules whose symbols were used (the others are
            ``(deferred)`` in ``lm``, as in WinDbg, so listing modules downloads nothing).
    """

    dump: Dump
    symbols: list[str] = field(default_factory=list)
    thread_index: int = 0
    frame_index: int = 0
    context: Mapping[str, int] | None = None
    context_label: str | None = None
    display: _Display = field(default_factory=_Display)
    cache: dict[str, Any] = field(default_factory=dict, repr=False)
    loaded: set[int] = field(default_factory=set, repr=False)
    _stacks: dict[tuple[int, bool], Stack] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.symbols = [os.fspath(s) for s in self.symbols]
        exc = self.dump.exception
        if exc is not None:
            ids = self.dump.threads.ids
            if exc.thread_id in ids:
                self.thread_index = ids.index(exc.thread_id)

    # -- the target ---------------------------------------------------------------------

    @property
    def pointer_size(self) -> int:
        """8 on 64-bit targets, 4 on 32-bit ones."""
        return self.dump.system.pointer_size

    @property
    def arch(self) -> Arch:
        """The dump's CPU architecture."""
        return self.dump.system.arch

    def addr(self, value: int) -> str:
        """``value`` as a WinDbg address of the target's width."""
        return hex_address(value, self.pointer_size)

    @property
    def threads(self) -> Sequence[Thread]:
        """The dump's threads, in thread-list order (their indexes are WinDbg's ``~N``)."""
        return self.dump.threads

    @property
    def thread(self) -> Thread:
        """The current thread.

        Raises:
            ShellError: the dump has no threads.
        """
        threads = self.dump.threads
        if not threads:
            raise ShellError("the dump holds no threads")
        return threads[min(self.thread_index, len(threads) - 1)]

    def thread_at(self, index: int) -> Thread:
        """The thread ``~index``.

        Raises:
            ShellError: no thread has that index.
        """
        threads = self.dump.threads
        if not 0 <= index < len(threads):
            raise ShellError(f"Illegal thread error in '~{index}' "
                             f"(threads are 0 to {len(threads) - 1})")
        return threads[index]

    def exception_thread_index(self) -> int | None:
        """Index of the thread the exception happened on, or None."""
        exc = self.dump.exception
        if exc is None or exc.thread_id not in self.dump.threads.ids:
            return None
        return self.dump.threads.ids.index(exc.thread_id)

    def select_thread(self, index: int) -> None:
        """Make ``~index`` current (as ``~Ns``): frame 0, the thread's own context."""
        self.thread_at(index)
        self.thread_index = index
        self.frame_index = 0
        self.context = None
        self.context_label = None

    # -- stacks and symbols ---------------------------------------------------------------

    @property
    def resolver(self) -> SymbolResolver:
        """The symbol resolver for the current symbol path (one per session and path;
        parsed files are shared through the resolver's process-wide cache)."""
        from dumplib.symbols import SymbolResolver

        found: SymbolResolver | None = self.cache.get("resolver")
        if found is None:
            found = SymbolResolver(self.symbols, memory=self.dump.memory.read)
            self.cache["resolver"] = found
        return found

    def stack(self, thread: Thread | None = None) -> Stack:
        """The walked stack of ``thread`` (default: the current one), cached.

        The current thread walks from ``.ecxr``'s context when one is set, as
        WinDbg's ``k`` does; other threads from their own context.
        """
        current = thread is None or thread.id == self.thread.id
        t = self.thread if thread is None else thread
        from_exc = current and self.context_label == "exception"
        key = (t.id, from_exc)
        found = self._stacks.get(key)
        if found is None:
            found = self.dump.stack(t, self.symbols, from_exception=from_exc)
            self._stacks[key] = found
            self.loaded.update(f.module.base for f in found.frames if f.module is not None)
        return found

    def forget(self) -> None:
        """Drop cached stacks, symbol tables and the resolver (after the symbol path
        changes); they are found again on next use."""
        self._stacks.clear()
        self.close()
        self.cache.clear()
        self.loaded.clear()

    def close(self) -> None:
        """Release the resolver's temporary download cache, if one was made."""
        resolver = self.cache.pop("resolver", None)
        if resolver is not None:
            resolver.close()

    def frame(self) -> Frame | None:
        """The current frame (``.frame``) of the current thread, or None without frames."""
        frames = self.stack().frames
        if not frames:
            return None
        return frames[min(self.frame_index, len(frames) - 1)]

    def registers(self) -> Mapping[str, int]:
        """The registers in scope: ``.cxr``/``.ecxr``'s context or the thread's, with the
        current frame's recovered registers on top when ``.frame`` chose a caller."""
        base: Mapping[str, int] = self.context if self.context is not None else (
            self.thread.context)
        if self.frame_index:
            f = self.frame()
            if f is not None and f.index:
                merged = dict(base)
                merged.update(f.registers)
                return merged
        return base

    def symbol(self, address: int) -> str:
        """``module!function+0xoff`` for ``address`` (``module+0xoff`` without a name,
        the bare address outside modules), as WinDbg names an address."""
        from dumplib._exc import DumpError

        m = self.dump.modules.find(address)
        if m is None:
            return self.addr(address)
        stem = module_stem(m.name)
        self.loaded.add(m.base)
        try:
            info = self.resolver.lookup(m, address)
        except DumpError:
            info = None
        if info is not None:
            off = address - (m.base + info.start_rva)
            return f"{stem}!{info.function}+0x{off:x}" if off else f"{stem}!{info.function}"
        off = address - m.base
        return f"{stem}+0x{off:x}" if off else stem

    def module_by_name(self, name: str) -> Module | None:
        """The module named ``name`` (``ntdll``, ``ntdll.dll``, any case), or None."""
        want = name.lower()
        for m in self.dump.modules:
            if want in (m.name.lower(), module_stem(m.name).lower()):
                return m
        return None
