"""The public :class:`Dump` and :func:`open`.

:class:`Dump` is the front of the library: it is the model layer's
:class:`~dumplib.model.dump.DumpFile` (streams, threads, modules, memory) plus
the capabilities built above it (stack walking, symbols, analysis), which are
imported lazily so that opening a dump stays cheap and the lower layers never
import the higher ones.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from dumplib._exc import TYPE_CHECKING
from dumplib.format.constants import Arch
from dumplib.model.dump import DumpFile
from dumplib.model.objects import Thread
from dumplib.source import Source, SourceLike

if TYPE_CHECKING:
    from rich.console import RenderableType

    from dumplib._kernel_dump import KernelDump
    from dumplib.unwind.disasm import FaultExplanation, Instruction
    from dumplib.unwind.frames import Stack
    from dumplib.unwind.walker import StackWalker

__all__ = ["Dump", "KernelDump", "open"]

#: Frames walked per thread by default (see dumplib.unwind.walker.DEFAULT_MAX_FRAMES).
_DEFAULT_MAX_FRAMES = 100_000

SymbolsArg = Sequence["str | os.PathLike[str]"] | None


class Dump(DumpFile):
    """An opened minidump. See :class:`~dumplib.model.dump.DumpFile` for the stream API."""

    def close(self) -> None:
        """Release the file mapping and the stack walkers' symbol resolvers.

        A resolver for a ``srv*URL`` path without a cache made a temporary
        download directory; it is removed here.
        """
        walkers = self.__dict__.pop("_walkers", {})
        for walker in walkers.values():
            walker.close()
        super().close()

    # -- stacks (dumplib.unwind, imported on first use) ------------------------------

    def stack_walker(self, symbols: SymbolsArg = None) -> StackWalker:
        """The stack walker for ``symbols`` (one per distinct value, kept for the dump's life).

        It caches each module's image, unwind table and symbols, so walking
        more threads with the same ``symbols`` parses nothing twice.

        Raises:
            SymbolError: a ``symbols=`` entry cannot be parsed.
        """
        from dumplib.unwind.walker import StackWalker

        key = tuple(os.fspath(s) for s in symbols or ())
        walkers: dict[tuple[str, ...], StackWalker] = self.__dict__.setdefault("_walkers", {})
        walker = walkers.get(key)
        if walker is None:
            walker = walkers[key] = StackWalker(self, list(key))
        return walker

    def stack(
        self,
        thread: Thread | int,
        symbols: SymbolsArg = None,
        *,
        max_frames: int = _DEFAULT_MAX_FRAMES,
        from_exception: bool = True,
    ) -> Stack:
        """Walk one thread's stack.

        Args:
            thread: a :class:`Thread` of this dump or a thread id.
            symbols: directories, files or symbol-path strings with images,
                PDBs and breakpad ``.sym`` files (images inside the dump are used
                first; names fall back to exports).
            max_frames: most frames to return (the walk also ends when the stack does).
            from_exception: start the faulting thread from the exception's context
                (the state at the fault) rather than the thread list's.

        Returns:
            The frames innermost first, each with its trust, and why the walk ended.

        Raises:
            KeyError: no thread has that id.
            ValueError: ``max_frames`` is below 1.
            SymbolError: a ``symbols=`` entry cannot be parsed.
        """
        if max_frames < 1:
            raise ValueError(f"max_frames must be at least 1, not {max_frames}")
        if isinstance(thread, int):
            found = self.threads.get(thread)
            if found is None:
                raise KeyError(f"no thread with id {thread} (0x{thread:x}) in the dump")
            thread = found
        walker = self.stack_walker(symbols)
        return walker.walk(thread, max_frames=max_frames, from_exception=from_exception)

    def stacks(
        self, symbols: SymbolsArg = None, *, max_frames: int = _DEFAULT_MAX_FRAMES
    ) -> list[Stack]:
        """Walk every thread's stack, in thread-list order (see :meth:`stack`)."""
        walker = self.stack_walker(symbols)
        return [walker.walk(t, max_frames=max_frames) for t in self.threads]

    def disassemble(
        self, address: int | None = None, count: int = 10, *, symbols: SymbolsArg = None
    ) -> list[Instruction]:
        """Disassemble ``count`` instructions from ``address`` (capstone).

        Code bytes come from the dump's memory, else from the module's image
        found through ``symbols``.

        Args:
            address: where to start; by default the exception's faulting ip.
            count: how many instructions.
            symbols: where to find images when the dump lacks the code bytes.

        Returns:
            The instructions (fewer when the bytes run out or stop decoding).

        Raises:
            ValueError: no address was given and the dump has no exception.
        """
        from dumplib.unwind.disasm import disassemble

        if address is None:
            exc = self.exception
            if exc is None:
                raise ValueError("no address given and the dump has no exception")
            ctx = exc.context
            address = ctx.ip if ctx is not None else exc.address
        walker = self.stack_walker(symbols)
        code = walker.code(address, 16 * count) or _prefix(walker, address, 16 * count)
        if walker.arch not in (Arch.X86, Arch.AMD64):
            if walker.arch is not Arch.ARM64:
                return []  # no decoder for this CPU: better nothing than x86 garbage
            from dumplib.unwind.disasm_arm64 import disassemble_arm64

            return disassemble_arm64(code, address, count=count)
        return disassemble(code, address, bits=walker.bits, count=count)

    def explain_fault(self, symbols: SymbolsArg = None) -> FaultExplanation | None:
        """Explain the exception's faulting instruction (access violations above all).

        Returns:
            e.g. ``write to [rax + 0x10] with rax = 0x0 -> address 0x10``, or None
            when the dump has no exception or its code bytes are not available.
        """
        from dumplib.unwind.disasm import explain_fault

        exc = self.exception
        if exc is None:
            return None
        ctx = exc.context
        ip = ctx.ip if ctx is not None else exc.address
        walker = self.stack_walker(symbols)
        code = walker.code(ip, 16) or _prefix(walker, ip, 16)
        if not code:
            return None
        from dumplib.analysis.oscrash import crash_reason

        reason = crash_reason(self)
        assert reason is not None
        # The crash reason knows each OS's convention: NTSTATUS hardware faults,
        # kernel-sent signals, Mach hardware exceptions; others were raised in software.
        access_code = {"read": 0, "write": 1, "execute": 8}.get(reason.access or "")
        fault = reason.address if reason.name in (
            "EXCEPTION_ACCESS_VIOLATION", "EXCEPTION_IN_PAGE_ERROR", "SIGSEGV", "SIGBUS",
            "EXC_BAD_ACCESS") else None
        if walker.arch is Arch.ARM64:
            from dumplib.unwind.disasm_arm64 import explain_fault_arm64

            return explain_fault_arm64(code, ip, dict(ctx) if ctx is not None else {},
                                       fault_address=fault, software=not reason.hardware)
        if walker.arch not in (Arch.X86, Arch.AMD64):
            return None  # no decoder for this CPU
        why = explain_fault(
            code, ip, dict(ctx) if ctx is not None else {}, bits=walker.bits,
            access_code=access_code, fault_address=fault, software=not reason.hardware,
        )
        if why is not None and exc.code == 0xC00000FD:
            import dataclasses

            why = dataclasses.replace(why, text=why.text + " -- the stack is exhausted")
        return why

    # -- views for people (dumplib.views, imported on first use) ---------------------

    def _repr_html_(self) -> str:
        """The summary card in Jupyter: process, OS, arch, dump type, exception, counts."""
        from dumplib.views.html import dump_html

        return dump_html(self)

    def __rich__(self) -> RenderableType:
        """The summary card on a rich console."""
        from dumplib.views.console import dump_renderable

        return dump_renderable(self)


def _prefix(walker: StackWalker, address: int, size: int) -> bytes:
    """The longest run of code bytes at ``address`` (halving the size until some exist)."""
    while size >= 1:
        data = walker.code(address, size)
        if data:
            return data
        size //= 2
    return b""


def open(source: SourceLike | Source) -> Dump:
    """Open a minidump from a path, bytes or a seekable binary file object.

    Only the header and stream directory are read; streams are decoded on first use.

    Raises:
        SourceError: the path cannot be opened.
        NotADumpError: the data is not a minidump.
        DumpError: the directory is unusable.
    """
    src = source if isinstance(source, Source) else Source.open(source)
    if src.size >= 8 and src.read(0, 8) in (b"PAGEDU64", b"PAGEDUMP"):
        from dumplib._kernel_dump import KernelDump

        return KernelDump(src)
    return Dump(src)


def __getattr__(name: str) -> object:
    """:class:`KernelDump`, imported on first use: the kernel model (page tables,
    bug checks) loads only for kernel dumps, not for every process dump (issue #16)."""
    if name == "KernelDump":
        from dumplib._kernel_dump import KernelDump

        return KernelDump
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
