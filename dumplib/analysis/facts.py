"""What the analysis knows about a dump, computed once and shared by every rule.

:class:`AnalysisContext` holds the dump, its walked stacks (when stack walking
is available), per-thread facts (:class:`ThreadFacts`: wait state, start
function, age and CPU time), module classification (system, runtime,
application) and module vendors from version resources. Signatures, collectors
and detectors read it; none of them walks a stack or opens an image itself.
"""

from __future__ import annotations

import dataclasses
import os
import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

from dumplib._exc import DumpError
from dumplib.analysis.exceptions import summarize_exception
from dumplib.analysis.model import ExceptionSummary
from dumplib.analysis.patterns import (
    BOILERPLATE_START,
    CHANCE_FRAMES,
    RUNTIME_DIRECTORIES,
    RUNTIME_MODULES,
    SYSTEM_MODULES,
    WAIT_STATES,
    compile_all,
    frame_text,
    module_stem,
    plain_name,
)
from dumplib.model.dump import DumpFile
from dumplib.model.objects import Module, Thread
from dumplib.symbols import SymbolResolver
from dumplib.unwind.frames import Stack

__all__ = ["STATE_DEPTH", "AnalysisContext", "ThreadFacts", "VendorInfo"]

#: How many innermost frames decide a thread's wait state.
STATE_DEPTH = 16

_STATES = tuple((state, compile_all(pats)) for state, pats in WAIT_STATES)
_BOILERPLATE = compile_all(BOILERPLATE_START)
_CHANCE = tuple((c, compile_all(p)) for c, p in CHANCE_FRAMES)
_RUNTIME = frozenset(RUNTIME_MODULES)
_SYSTEM = frozenset(SYSTEM_MODULES)
_RUNTIME_DIRS = compile_all(RUNTIME_DIRECTORIES)
_RUNTIME_NI = re.compile(r"^(system|microsoft)(\.[\w]+)*\.ni\.dll$", re.IGNORECASE)
_WINDOWS_DIR = re.compile(r"^(\\\\\?\\)?[a-z]:\\windows\\", re.IGNORECASE)
_MICROSOFT = re.compile(r"\bmicrosoft\b", re.IGNORECASE)
_TICKS_PER_SECOND = 10_000_000
#: What a stack walk may raise on damaged input: DumpError, and the lookup and
#: decoding errors of a walker that met data it did not anticipate.
_WALK_FAULTS: tuple[type[Exception], ...] = (
    DumpError, KeyError, IndexError, ValueError, OverflowError, struct.error,
)
_FILETIME_UNIX = 116444736000000000


@dataclass(frozen=True, slots=True)
class VendorInfo:
    """A module's version-resource strings."""

    company: str | None
    description: str | None
    product: str | None
    file_version: str | None


@dataclass(frozen=True, slots=True)
class ThreadFacts:
    """What is known about one thread.

    Attributes:
        id: the thread id.
        stack: its walked stack, or None when stacks are unavailable.
        texts: ``module!function`` of each frame, innermost first.
        state: wait state (see :data:`~dumplib.analysis.patterns.WAIT_STATES`),
            ``"running"`` when no pattern matches, ``"unknown"`` without a stack.
        state_frame: the frame text that decided the state.
        start_function: ``module!function`` of the thread's own start routine
            (outermost frame past the start boilerplate, else the symbol at the
            ThreadInfo start address), or None.
        age_seconds: dump time minus the thread's creation time (ThreadInfo), or None.
        cpu_seconds: user plus kernel time (ThreadInfo), or None.
        is_exception_thread: the thread the exception stream names.
    """

    id: int
    stack: Stack | None
    texts: tuple[str, ...]
    state: str
    state_frame: str | None
    start_function: str | None
    age_seconds: float | None
    cpu_seconds: float | None
    is_exception_thread: bool


def classify_state(texts: Sequence[str]) -> tuple[str, str | None]:
    """The wait state of a thread from its innermost frames' ``module!function`` texts."""
    top = texts[:STATE_DEPTH]
    for state, patterns in _STATES:
        for text in top:
            if any(p.search(text) for p in patterns):
                return state, text
    return "running", None


class AnalysisContext:
    """The shared, lazily computed facts of one analysis.

    Args:
        dump: the open dump.
        symbols: ``symbols=`` entries (directories, files, symbol path strings).
        stacks: walked stacks to use instead of walking (by thread id); when
            None, ``dump.stacks``/``dump.stack`` are used if the dump has them.
    """

    def __init__(
        self,
        dump: DumpFile,
        symbols: Sequence[str | os.PathLike[str]] | None = None,
        stacks: Mapping[int, Stack] | None = None,
    ) -> None:
        self.dump = dump
        self.symbols: list[str | os.PathLike[str]] = list(symbols or [])
        self.notes: list[str] = []
        self._given_stacks = dict(stacks) if stacks is not None else None
        self._vendors: dict[tuple[str, int], VendorInfo | None] = {}
        self._owned_resolver: SymbolResolver | None = None

    # -- symbols and images ------------------------------------------------------------

    @cached_property
    def resolver(self) -> SymbolResolver | None:
        """The :class:`~dumplib.symbols.SymbolResolver` for ``symbols`` and the dump's memory.

        The dump's stack walker's resolver is shared when the dump has one, so
        images and symbols are found and parsed once for walking and analysis.
        """
        try:
            walker_of = getattr(self.dump, "stack_walker", None)
            if callable(walker_of):
                shared = getattr(walker_of(self.symbols), "resolver", None)
                if isinstance(shared, SymbolResolver):
                    return shared
            self._owned_resolver = SymbolResolver(self.symbols, memory=self.dump.memory.read)
            return self._owned_resolver
        except DumpError as exc:
            self.notes.append(f"symbols unavailable: {exc}")
            return None

    def close(self) -> None:
        """Release a symbol resolver this context made (temporary download caches)."""
        if self._owned_resolver is not None:
            self._owned_resolver.close()
            self._owned_resolver = None

    def symbol_at(self, address: int) -> str | None:
        """``module!function`` (or ``module+0x..``) of an address, or None outside modules."""
        module = self.dump.modules.find(address)
        if module is None:
            return None
        stem = module_stem(module.name)
        res = self.resolver
        if res is not None:
            try:
                info = res.lookup(module, address)
            except DumpError:
                info = None
            if info is not None and info.function:
                return f"{stem}!{plain_name(info.function)}"
        return f"{stem}+0x{address - module.base:x}"

    def vendor(self, module: Module) -> VendorInfo | None:
        """Version-resource strings of a module's image (dump memory, then symbol path).

        Returns:
            The strings, or None when no image (or no version resource) is available.
        """
        key = (module.name.lower(), module.base)
        if key in self._vendors:
            return self._vendors[key]
        info: VendorInfo | None = None
        res = self.resolver
        if res is not None:
            try:
                image = res.image(module)
                vi = image.version_info if image is not None else None
                if vi is not None:
                    strings = vi.strings
                    info = VendorInfo(
                        company=strings.get("CompanyName") or None,
                        description=strings.get("FileDescription") or None,
                        product=strings.get("ProductName") or None,
                        file_version=strings.get("FileVersion") or None,
                    )
            except DumpError as exc:
                self.notes.append(f"{module.name}: version resource unreadable: {exc}")
        self._vendors[key] = info
        return info

    # -- module classes ------------------------------------------------------------------

    def is_runtime_module(self, module: Module) -> bool:
        """A module of the .NET runtime (clr, coreclr, mscorlib, System.*.ni ...).

        Anything under a runtime's install directory counts (the framework
        assemblies of .NET Core / .NET 5+ under ``dotnet\\shared`` included);
        elsewhere a runtime file name counts unless the image's version
        resource names a vendor other than Microsoft (an application's own
        ``clr.dll`` is application code).
        """
        return self.runtime_identity(module) is not None

    def runtime_identity(self, module: Module) -> str | None:
        """How a module is known to be the .NET runtime, or None when it is not.

        Returns:
            ``"directory"`` (under a runtime install directory), ``"vendor"``
            (a runtime file name, CompanyName Microsoft), ``"name only"`` (a
            runtime file name, no version resource readable), or None.
        """
        if any(p.search(module.path) for p in _RUNTIME_DIRS):
            return "directory"
        low = module.name.lower()
        if not (low in _RUNTIME or _RUNTIME_NI.match(low)):
            return None
        info = self.vendor(module)
        if info is not None and info.company:
            return "vendor" if _MICROSOFT.search(info.company) else None
        return "name only"

    def is_system_module(self, module: Module) -> bool:
        """A module of Windows: under the Windows directory or a known system DLL name."""
        return module.name.lower() in _SYSTEM or bool(_WINDOWS_DIR.match(module.path))

    def is_microsoft(self, module: Module) -> bool:
        """Published by Microsoft: CompanyName says so, else system or runtime by name/path."""
        info = self.vendor(module)
        if info is not None and info.company:
            return bool(_MICROSOFT.search(info.company))
        return self.is_system_module(module) or self.is_runtime_module(module)

    def is_application_module(self, module: Module) -> bool:
        """The process's own code: the main image, or any module neither Windows nor runtime."""
        main = self.dump.modules.main
        if main is not None and module.base == main.base:
            return True
        return not (self.is_system_module(module) or self.is_runtime_module(module))

    # -- the exception --------------------------------------------------------------------

    @cached_property
    def exception(self) -> ExceptionSummary | None:
        """The decoded exception (None without one).

        First or second chance comes from procdump's comment; without one, from
        the exception thread's frames (:data:`~dumplib.analysis.patterns.CHANCE_FRAMES`);
        otherwise it stays ``"unknown"``.
        """
        summary = summarize_exception(self.dump)
        if summary is None or summary.chance != "unknown":
            return summary
        stack = self.stack_of(summary.thread_id)
        for f in stack.frames if stack is not None else ():
            text = frame_text(f)
            for chance, patterns in _CHANCE:
                if any(p.search(text) for p in patterns):
                    return dataclasses.replace(
                        summary, chance=chance, chance_source=f"frame {f.index}: {text}")
        return summary

    # -- stacks -----------------------------------------------------------------------------

    @cached_property
    def stacks(self) -> dict[int, Stack] | None:
        """Walked stacks by thread id, or None when stack walking is unavailable."""
        if self._given_stacks is not None:
            return self._given_stacks
        dump = self.dump
        out: dict[int, Stack] = {}
        walk_all = getattr(dump, "stacks", None)
        walk_one = getattr(dump, "stack", None)
        if not callable(walk_all) and not callable(walk_one):
            self.notes.append(
                "stack walking is not available in this build: findings that need stacks "
                "were not evaluated"
            )
            return None
        if callable(walk_all):
            try:
                result = walk_all(symbols=self.symbols)
                items: Iterable[object] = (
                    result.values() if isinstance(result, Mapping) else result
                )
                for st in items:
                    if isinstance(st, Stack):
                        out[st.thread_id] = st
                return out
            except _WALK_FAULTS as exc:
                self.notes.append(
                    f"walking all stacks failed ({type(exc).__name__}: {exc}); "
                    "walking thread by thread"
                )
                out.clear()
        if callable(walk_one):
            for thread in dump.threads:
                try:
                    st = walk_one(thread, symbols=self.symbols)
                except DumpError as exc:
                    self.notes.append(f"thread {thread.id}: stack walk failed: {exc}")
                    continue
                except _WALK_FAULTS as exc:
                    # Not DumpError: the walker met input it did not expect. One thread's
                    # stack is lost, not the analysis (STYLE: a failing rule leaves a note).
                    self.notes.append(
                        f"thread {thread.id}: stack walker fault {type(exc).__name__}: {exc}"
                    )
                    continue
                if isinstance(st, Stack):
                    out[thread.id] = st
        return out

    def stack_of(self, thread_id: int) -> Stack | None:
        """The walked stack of a thread, or None."""
        stacks = self.stacks
        return stacks.get(thread_id) if stacks is not None else None

    # -- threads -------------------------------------------------------------------------------

    def _dump_time(self) -> int:
        return int(getattr(getattr(self.dump, "header", None), "time_date_stamp", 0) or 0)

    def _facts(self, thread: Thread, exc_tid: int | None) -> ThreadFacts:
        stack = self.stack_of(thread.id)
        texts = tuple(frame_text(f) for f in stack.frames) if stack is not None else ()
        if stack is None:
            state, state_frame = "unknown", None
        else:
            state, state_frame = classify_state(texts)
        start = None
        # A walk that stopped early never reached the start routine: its last
        # frame is not where the thread started (the ThreadInfo address is).
        complete = stack is not None and str(stack.status) == "complete"
        for text in reversed(texts if complete else ()):
            if not any(p.search(text) for p in _BOILERPLATE):
                start = text
                break
        info = thread.info
        if start is None and info is not None and info.start_address:
            start = self.symbol_at(info.start_address)
        if start is None:
            for text in reversed(texts):
                if not any(p.search(text) for p in _BOILERPLATE):
                    start = text
                    break
        age = cpu = None
        if info is not None:
            cpu = (info.user_time + info.kernel_time) / _TICKS_PER_SECOND
            dump_time = self._dump_time()
            if info.create_time > _FILETIME_UNIX and dump_time:
                created = (info.create_time - _FILETIME_UNIX) / _TICKS_PER_SECOND
                if dump_time >= created:
                    age = dump_time - created
        return ThreadFacts(
            id=thread.id,
            stack=stack,
            texts=texts,
            state=state,
            state_frame=state_frame,
            start_function=start,
            age_seconds=age,
            cpu_seconds=cpu,
            is_exception_thread=exc_tid is not None and thread.id == exc_tid,
        )

    @cached_property
    def threads(self) -> list[ThreadFacts]:
        """Facts for every thread, in dump order."""
        exc = self.dump.exception
        exc_tid = exc.thread_id if exc is not None else None
        return [self._facts(t, exc_tid) for t in self.dump.threads]

    @cached_property
    def _threads_by_id(self) -> dict[int, ThreadFacts]:
        return {t.id: t for t in reversed(self.threads)}

    def thread(self, thread_id: int) -> ThreadFacts | None:
        """Facts of one thread, or None."""
        return self._threads_by_id.get(thread_id)

    def has_application_frame(self, facts: ThreadFacts) -> bool:
        """Whether any frame of the thread is in an application module."""
        if facts.stack is None:
            return False
        return any(
            f.module is not None and self.is_application_module(f.module)
            for f in facts.stack.frames
        )
