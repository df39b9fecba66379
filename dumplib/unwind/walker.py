"""The stack walker: every thread, frame by frame, each frame with how it was found.

:class:`StackWalker` is the CPU-agnostic driver. Each CPU has its own module
(:mod:`dumplib.unwind.amd64`, :mod:`dumplib.unwind.x86`,
:mod:`dumplib.unwind.arm64`, :mod:`dumplib.unwind.arm`) exposing one ``step``
function for the unwind-data rung of the ladder and its register names
(:class:`~dumplib.unwind.state.CpuRegisters`); the driver adds the frame
pointer and validated scanning, checks every caller and ends the walk. For
each frame it tries, in order:

AMD64
    1. a frame in ``ntdll!KiUserExceptionDispatcher``: the CONTEXT the kernel
       pushed at its rsp gives the faulting frame (trust ``context``);
    2. the RUNTIME_FUNCTION / UNWIND_INFO of the module image (from the dump's
       memory, else from the symbol path) or of a dynamic function table
       (FunctionTableStream): :func:`dumplib.unwind.amd64.virtual_unwind`, and
       a function without an entry in an image that has ``.pdata`` is a leaf
       (return address at ``[rsp]``) (trust ``cfi``);
    3. breakpad ``STACK CFI`` rules when a ``.sym`` was found (trust ``cfi``);
x86
    1. breakpad ``STACK WIN`` programs, then ``STACK CFI`` (trust ``cfi``);
ARM64
    1. Windows ``.pdata``/``.xdata`` (packed and full unwind codes), then
       ``STACK CFI`` (trust ``cfi``);
ARM
    1. ``STACK CFI`` (trust ``cfi``);
all
    4. the frame-pointer chain (trust ``frame_pointer``): rbp/ebp, ARM64's
       frame records through fp, ARM's through r11;
    5. stack scanning (trust ``scan``): a pointer-sized stack value counts as
       a return address only when it points into executable module memory
       right after a call (CALL, BL/BLR, BL/BLX; decoded when the code bytes
       are in the dump or in the image file), within a bounded window, and
       when no unwind table or symbol file places it in no function. On x86 a
       scanned frame gets its caller's ebp back so the next frame can use the
       frame-pointer chain or STACK WIN again.

A caller is accepted only when its stack pointer is above the callee's (the
stack grows down), its ip is plausible, and it was not seen before (cycles).
The walk ends when the return address is 0 (the thread's start), no method
finds a caller, the stack leaves its range, or ``max_frames`` is reached;
:class:`~dumplib.unwind.frames.StackStatus` says which.

Parsed unwind tables, chains and symbols are cached per module for the life
of the walker; :class:`dumplib.Dump` keeps one walker per ``symbols=`` value.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from dumplib._exc import DumpError, MemoryNotInDump
from dumplib.format.constants import Arch
from dumplib.format.context import Context
from dumplib.model.dump import DumpFile
from dumplib.model.objects import Module, Thread
from dumplib.pe.layout import MemoryLayout
from dumplib.pe.unwind import FunctionTable, RuntimeFunction, UnwindInfo, parse_unwind_info
from dumplib.symbols.breakpad import BreakpadSymbols
from dumplib.symbols.resolver import SymbolResolver
from dumplib.unwind import amd64, arm, arm64, x86
from dumplib.unwind.budget import WalkBudget, pack_registers
from dumplib.unwind.disasm import follows_call
from dumplib.unwind.frames import Frame, Stack, StackStatus, Trust
from dumplib.unwind.postfix import PostfixError, evaluate_expression
from dumplib.unwind.state import (
    CpuRegisters,
    FrameSymbol,
    ModuleUnwind,
    StepResult,
    WalkState,
    root_begin,
)

__all__ = [
    "DEFAULT_MAX_FRAMES",
    "MAX_RECOVERY_CANDIDATES",
    "SCAN_WORDS",
    "SCAN_WORDS_FIRST",
    "FrameSymbol",
    "ModuleUnwind",
    "StackWalker",
]

#: Frames walked per thread unless the caller says otherwise. Every caller
#: must sit higher on the stack than its callee, so a walk also ends when
#: the captured stack is used up: this cap is only a safety net.
DEFAULT_MAX_FRAMES = 100_000
#: Stack words examined when scanning for the caller of an ordinary frame.
SCAN_WORDS = 256
#: Stack words examined when scanning for the caller of the context frame.
SCAN_WORDS_FIRST = 2048
#: Return-address candidates tried when a thread's context is unusable.
MAX_RECOVERY_CANDIDATES = 512
#: Longest chained-unwind-info chain followed in a dynamic function table.
MAX_DYNAMIC_CHAIN = 32

_IMAGE_SCN_CNT_CODE = 0x20
_IMAGE_SCN_MEM_EXECUTE = 0x20000000
_PAGE_EXECUTE_ANY = 0x10 | 0x20 | 0x40 | 0x80
_THREAD_START_FUNCTIONS = frozenset(
    {"RtlUserThreadStart", "RtlpUserThreadStart", "BaseProcessStart", "BaseThreadStart"}
)


@dataclass(slots=True)
class _DynamicTable:
    """A dynamic function table from the FunctionTableStream."""

    minimum: int
    maximum: int
    base: int
    table: FunctionTable
    layout: MemoryLayout
    chains: dict[int, tuple[UnwindInfo, ...] | None] = field(default_factory=dict)


class StackWalker:
    """Walks the threads of one dump, caching module unwind data and symbols.

    Args:
        dump: the opened dump.
        symbols: ``symbols=`` entries (directories, files, symbol-path strings)
            for images, PDBs and breakpad ``.sym`` files.
        resolver: an existing resolver to share (``symbols`` is then ignored).

    Raises:
        SymbolError: a ``symbols=`` entry cannot be parsed.
    """

    def __init__(
        self,
        dump: DumpFile,
        symbols: Sequence[str | os.PathLike[str]] | None = None,
        *,
        resolver: SymbolResolver | None = None,
    ) -> None:
        self.dump = dump
        self.arch = dump.system.arch
        self.memory = dump.memory
        self.modules = dump.modules
        cpu = _CPUS.get(self.arch)
        self.cpu: CpuRegisters | None = cpu[1] if cpu is not None else None
        self.bits = self.cpu.bits if self.cpu is not None else 64
        self.ipn, self.spn, self.fpn = (
            (self.cpu.ip, self.cpu.sp, self.cpu.fp) if self.cpu else ("rip", "rsp", "rbp"))
        self.resolver = resolver or SymbolResolver(
            [os.fspath(s) for s in symbols or ()], memory=self.memory.read
        )
        self._mods: dict[int, ModuleUnwind] = {}
        self._syms: dict[int, FrameSymbol] = {}
        self._returns: dict[int, bool] = {}
        self._dynamic: list[_DynamicTable] | None = None
        self._dynamic_starts: list[int] = []
        self.notes: list[str] = []
        self._code_mask: int | None = None
        #: Frames and work left for this dump (see dumplib.unwind.budget).
        self.budget = WalkBudget(dump.file_size)
        self._walked: dict[tuple[object, ...], Stack] = {}
        self._read_ptr = self.memory.read_u32 if self.bits == 32 else self.memory.read_u64

    def close(self) -> None:
        """Release the resolver's temporary download directory, if any."""
        self.resolver.close()

    # -- module data ------------------------------------------------------------------

    def module_unwind(self, module: Module) -> ModuleUnwind:
        """Find (once) the image, unwind table and breakpad file of ``module``."""
        found = self._mods.get(module.base)
        if found is not None:
            return found
        mu = ModuleUnwind(module)
        try:
            mu.image = self.resolver.image(module)
        except DumpError as exc:
            self.notes.append(f"{module.name}: image: {exc}")
        if mu.image is not None:
            try:
                if mu.image.is_amd64 and self.arch is Arch.AMD64:
                    table = mu.image.runtime_functions
                    mu.table = table if len(table) else None
                ranges = []
                for sec in mu.image.sections:
                    if sec.characteristics & (_IMAGE_SCN_MEM_EXECUTE | _IMAGE_SCN_CNT_CODE):
                        start = module.base + sec.virtual_address
                        ranges.append((start, start + max(sec.mapped_size, 1)))
                mu.code_ranges = ranges or None
            except DumpError as exc:
                self.notes.append(f"{module.name}: unwind table: {exc}")
        try:
            mu.breakpad = self.resolver.module_symbols(module).breakpad
        except DumpError as exc:  # pragma: no cover - the resolver records its own errors
            self.notes.append(f"{module.name}: symbols: {exc}")
        self._mods[module.base] = mu
        return mu

    def _chain(self, mu: ModuleUnwind, rf: RuntimeFunction) -> tuple[UnwindInfo, ...] | None:
        key = rf.begin
        if key in mu.chains:
            return mu.chains[key]
        chain: tuple[UnwindInfo, ...] | None = None
        if mu.image is not None:
            try:
                chain = mu.image.unwind_chain(rf)
            except DumpError as exc:
                self.notes.append(f"{mu.module.name}: unwind info at RVA 0x{rf.begin:x}: {exc}")
        mu.chains[key] = chain
        return chain

    def _dynamic_tables(self) -> list[_DynamicTable]:
        if self._dynamic is None:
            tables: list[_DynamicTable] = []
            if self.arch is Arch.AMD64:
                try:
                    descriptors = self.dump.function_tables
                except DumpError as exc:
                    self.notes.append(f"function tables: {exc}")
                    descriptors = []
                for d in descriptors:
                    entries = [RuntimeFunction(b, e, u) for b, e, u in d.runtime_functions()
                               if b < e]
                    if not entries or d.maximum_address <= d.minimum_address:
                        continue
                    layout = MemoryLayout(self.memory.read, d.base_address, 1 << 32)
                    tables.append(_DynamicTable(
                        d.minimum_address, d.maximum_address, d.base_address,
                        FunctionTable(entries), layout,
                    ))
            tables.sort(key=lambda t: t.minimum)
            self._dynamic = tables
            self._dynamic_starts = [t.minimum for t in tables]
        return self._dynamic

    def _dynamic_entry(
        self, address: int
    ) -> tuple[int, RuntimeFunction, tuple[UnwindInfo, ...]] | None:
        tables = self._dynamic_tables()
        if not tables:
            return None
        i = bisect.bisect_right(self._dynamic_starts, address) - 1
        if i < 0 or address >= tables[i].maximum:
            return None
        t = tables[i]
        rva = address - t.base
        if not 0 <= rva < 1 << 32:
            return None
        rf = t.table.function_for(rva)
        if rf is None:
            return None
        if rf.begin not in t.chains:
            chain: list[UnwindInfo] = []
            current: RuntimeFunction | None = rf
            try:
                while current is not None and len(chain) < MAX_DYNAMIC_CHAIN:
                    info = parse_unwind_info(t.layout, current.unwind_rva & ~1)
                    chain.append(info)
                    current = info.chained
                t.chains[rf.begin] = tuple(chain) if current is None else None
            except DumpError as exc:
                self.notes.append(f"dynamic unwind info at 0x{t.base + rf.unwind_rva:x}: {exc}")
                t.chains[rf.begin] = None
        found = t.chains[rf.begin]
        return None if found is None else (t.base, rf, found)

    # -- memory -----------------------------------------------------------------------

    def code(self, address: int, size: int) -> bytes | None:
        """Instruction bytes at ``address``: from the dump, else from the module's image file.

        Returns:
            ``size`` bytes, or None when neither holds them.
        """
        data = self.memory.try_read(address, size)
        if data is not None:
            return data
        module = self.modules.find(address)
        if module is None:
            return None
        mu = self.module_unwind(module)
        if mu.image is None:
            return None
        rva = address - module.base
        size = min(size, max(0, module.size - rva))
        try:
            return mu.image.read(rva, size) if size else None
        except (DumpError, MemoryNotInDump):
            return None

    def _is_code(self, address: int) -> bool:
        """Whether ``address`` is in executable module memory (or JIT code with unwind data)."""
        module = self.modules.find(address)
        if module is not None:
            ranges = self.module_unwind(module).code_ranges
            if ranges is None:
                info = self.memory.info(address)
                return info is None or bool(info.protect & _PAGE_EXECUTE_ANY)
            return any(s <= address < e for s, e in ranges)
        if self._dynamic_entry(address) is not None:
            return True
        info = self.memory.info(address)
        return info is not None and bool(info.protect & _PAGE_EXECUTE_ANY) and (
            info.state == 0x1000
        )

    def _is_return_address(self, address: int) -> bool:
        """A plausible return address: executable module memory right after a CALL (cached)."""
        found = self._returns.get(address)
        if found is None:
            found = self._check_return_address(address)
            if len(self._returns) < 1 << 20:
                self._returns[address] = found
        return found

    def _check_return_address(self, address: int) -> bool:
        if address < 0x10000 or not self._is_code(address):
            return False
        module = self.modules.find(address)
        if module is not None and address == module.base:
            return False  # the CALL would lie before the module's first byte
        before = self.code(address - 8, 8)
        if before is None:
            before = b""
            for n in range(7, 1, -1):
                got = self.code(address - n, n)
                if got is not None:
                    before = got
                    break
        if not before:
            called = module is not None  # no code bytes: module memory only
        elif self.arch is Arch.ARM64:
            called = arm64.follows_call(before)
        elif self.arch is Arch.ARM:
            called = arm.follows_call(self.code, address)
        else:
            called = follows_call(before, address, bits=self.bits)
        # the cheap test first: symbols are consulted only for what looks like a call site
        return called and not (module is not None and self._in_no_function(module, address - 1))

    def _in_no_function(self, module: Module, address: int) -> bool:
        """Whether unwind tables or symbols show that ``address`` lies in no function
        that can make a call: outside every x64 RUNTIME_FUNCTION of an image with
        ``.pdata`` (functions without one are leaves and call nothing), or outside
        every function of a loaded PDB or .sym."""
        mu = self.module_unwind(module)
        if mu.table is not None and mu.table.function_for(address - module.base) is None:
            return True
        try:
            found = self.resolver.module_symbols(module)
        except DumpError:
            return False
        if found.pdb is None and found.breakpad is None:
            return False
        try:
            info = self.resolver.lookup(module, address)
        except DumpError:
            return False
        if info is None or info.source not in ("pdb", "breakpad"):
            return True
        return info.size is not None and not (
            info.start_rva <= address - module.base < info.start_rva + max(info.size, 1))

    # -- symbols ----------------------------------------------------------------------

    def symbolize(self, address: int) -> FrameSymbol:
        """Module, function, offset and source line of a lookup address (cached)."""
        found = self._syms.get(address)
        if found is not None:
            return found
        module = self.modules.find(address)
        sym = FrameSymbol(module, None, address, None, None)
        if module is not None:
            sym.offset = address - module.base
            try:
                info = self.resolver.lookup(module, address)
            except DumpError as exc:
                self.notes.append(f"{module.name}: symbol lookup: {exc}")
                info = None
            if info is not None and info.size is None and not self._public_covers(
                module, info.start_rva, address
            ):
                info = None  # a public/export name, but .pdata shows another function starts
            if info is not None:
                sym.function = info.function
                sym.offset = address - module.base - info.start_rva
                sym.file, sym.line = info.file, info.line
                sym.inlines = info.inlines
        self._syms[address] = sym
        return sym

    def _public_covers(self, module: Module, start_rva: int, address: int) -> bool:
        """False when unwind data proves that a function other than the symbol's starts
        between the symbol (a public or export, which has no size) and ``address``."""
        if self.arch is not Arch.AMD64:
            return True
        mu = self.module_unwind(module)
        if mu.table is None:
            return True
        rf = mu.table.function_for(address - module.base)
        if rf is None:
            return True
        chain = self._chain(mu, rf)
        begin = root_begin(rf, chain) if chain else rf.begin
        return begin <= start_rva

    # -- walking ----------------------------------------------------------------------

    def start_context(self, thread: Thread, *, from_exception: bool = True) -> Context:
        """The context a walk of ``thread`` starts from.

        The faulting thread starts from the exception stream's context (the
        thread list may hold a later, live context when another thread, or the
        faulting thread's own filter, wrote the dump).

        Raises:
            DumpError: the context is missing or corrupt.
        """
        if from_exception:
            exc = self.dump.exception
            if exc is not None and exc.thread_id == thread.id:
                ctx = exc.context
                if ctx is not None:
                    return ctx
        return thread.context

    def _bounds(self, thread: Thread, sp: int) -> tuple[int, int]:
        lo, hi = sp, sp
        rng = thread.stack_range
        if rng is not None:
            lo = min(lo, rng[0])
            hi = max(hi, rng[0] + rng[1])
        if thread.teb:
            try:
                base = self._read_ptr(thread.teb + (4 if self.bits == 32 else 8))
            except MemoryNotInDump:
                base = 0
            if hi < base <= hi + (64 << 20):
                hi = base
        return lo, hi

    def walk(
        self,
        thread: Thread,
        *,
        max_frames: int = DEFAULT_MAX_FRAMES,
        context: Mapping[str, int] | None = None,
        from_exception: bool = True,
    ) -> Stack:
        """Walk one thread's stack.

        Args:
            thread: the thread.
            max_frames: most frames to produce (status TRUNCATED when reached).
            context: registers to start from instead of the thread's.
            from_exception: start the faulting thread from the exception context.

        Returns:
            The :class:`Stack`; a thread without a usable context gives an empty
            stack with status NO_CONTEXT.
        """
        notes: list[str] = []
        if self.arch not in _CPUS:
            return Stack(thread.id, (), StackStatus.NO_CONTEXT,
                         (f"no stack walker for {self.arch.value}",))
        if context is None and self._dump_writer() == thread.id:
            return Stack(thread.id, (), StackStatus.DUMP_WRITER, (
                f"thread {thread.id} wrote the dump (BreakpadInfo); its stack is the "
                "handler's own and was not walked",))
        if context is None:
            try:
                context = self.start_context(thread, from_exception=from_exception)
            except DumpError as exc:
                return Stack(thread.id, (), StackStatus.NO_CONTEXT, (str(exc),))
        ipn, spn = self.ipn, self.spn
        try:
            regs = {k: int(v) for k, v in context.items()}
            ip, sp = regs[ipn], regs[spn]
        except (KeyError, TypeError, ValueError):
            return Stack(thread.id, (), StackStatus.NO_CONTEXT, ("context has no ip/sp",))
        lo, hi = self._bounds(thread, sp)
        alias = (tuple(sorted(regs.items())), lo, hi, thread.stack_range, max_frames)
        prior = self._walked.get(alias)
        if prior is not None and prior.thread_id == thread.id:
            return prior  # walked before: the same answer, no budget spent again
        if prior is not None:  # threads aliasing one stack from one context: walked once
            return self.budget.alias(thread.id, prior)
        frames: list[Frame] = []
        trust = Trust.CONTEXT
        exact = True
        rng = thread.stack_range
        if rng is not None and not rng[0] - 0x10000 <= sp <= rng[0] + rng[1]:
            # The context cannot be this thread's (wine's writer substitutes the
            # exception context into its own entry): scan the captured stack instead.
            notes.append(
                f"context sp 0x{sp:x} lies outside the thread's stack "
                f"0x{rng[0]:x}-0x{rng[0] + rng[1]:x}; its stack was scanned instead"
            )
            lo, hi = rng[0], rng[0] + rng[1]
            found = self._recover_start(WalkState(lo, hi)) if not self.budget.spent else None
            if found is None:
                if self.budget.spent:
                    notes.append(self.budget.note())
                lost = self._walked[alias] = Stack(thread.id, (), StackStatus.LOST, tuple(notes))
                return lost
            ip, sp = found
            regs = {ipn: ip, spn: sp}
            context = regs
            trust, exact = Trust.SCAN, False
        seen: set[tuple[int, int]] = set()
        status = StackStatus.LOST
        state = WalkState(lo, hi)
        keep = self.cpu.nonvolatile if self.cpu is not None else ()
        while True:
            lookup = ip if exact else ip - 1
            sym = self.symbolize(lookup)
            offset = sym.offset if sym.module is not None else ip
            if sym.module is not None:
                offset += ip - lookup
            frames.append(Frame(
                len(frames), ip, sp, trust, sym.module, sym.function, offset,
                sym.file, sym.line, pack_registers(regs) if frames else dict(context), sym.inlines,
            ))
            if not self.budget.frame() or self.budget.work_left <= 0:
                status = StackStatus.TRUNCATED
                notes.append(self.budget.note())
                break
            if len(frames) >= max_frames:
                status = StackStatus.TRUNCATED
                notes.append(f"stopped at max_frames={max_frames}")
                break
            step = self._step(regs, ip, sp, exact, sym, state, notes, first=len(frames) == 1)
            if step is None:
                if sym.function in _THREAD_START_FUNCTIONS:
                    status = StackStatus.COMPLETE
                break
            new_regs, trust, exact = step
            new_ip, new_sp = new_regs.get(ipn, 0), new_regs.get(spn, 0)
            if new_ip == 0:
                status = StackStatus.COMPLETE
                break
            if (new_ip, new_sp) in seen:
                notes.append(f"cycle at ip 0x{new_ip:x} sp 0x{new_sp:x}")
                break
            seen.add((new_ip, new_sp))
            if trust is Trust.CONTEXT:
                regs = dict(new_regs)  # a whole CONTEXT record: every register is known
            else:
                regs = {k: new_regs[k] for k in keep if k in new_regs}
            regs[ipn], regs[spn] = new_ip, new_sp
            ip, sp = new_ip, new_sp
        stack = self._walked[alias] = Stack(thread.id, tuple(frames), status, tuple(notes))
        return stack

    def strip_code_pointer(self, value: int) -> int:
        """A code address without ARM64 pointer-authentication bits (identity elsewhere).

        Signed return addresses (arm64e) carry a PAC in their high bits; the
        bits above the highest module address cannot be part of a code address.
        """
        if self.arch is not Arch.ARM64:
            return value
        mask = self._code_mask
        if mask is None:
            top = max((m.end for m in self.modules), default=0)
            mask = self._code_mask = (1 << max(top.bit_length(), 32)) - 1 if top else -1
        return value & mask if mask != -1 else value

    def _dump_writer(self) -> int | None:
        """The id of the thread that wrote the dump (BreakpadInfo), or None."""
        info = self.dump.vendor.breakpad_info
        return info.dump_thread_id if info is not None else None

    def _recover_start(self, state: WalkState) -> tuple[int, int] | None:
        """Find where to start walking a stack whose context is unusable.

        Candidates are validated return addresses, from the lowest stack
        address up (at most :data:`MAX_RECOVERY_CANDIDATES`); the first one from
        which unwind data alone reaches the thread's start is taken (deeper
        leftovers of earlier calls rarely chain that far).

        Returns:
            ``(ip, sp)`` of the frame to start from, or None.
        """
        width = self.bits // 8
        ipn, spn = self.ipn, self.spn
        at = state.lo
        fallback: tuple[int, int] | None = None
        for _ in range(MAX_RECOVERY_CANDIDATES):
            found = self._scan_from(at, state, (state.hi - at) // width)
            if found is None:
                return fallback
            ip, slot = found
            regs = {ipn: ip, spn: slot + width}
            for _depth in range(256):
                if self.budget.spent:
                    return fallback
                cur_ip, cur_sp = regs[ipn], regs[spn]
                sym = self.symbolize(cur_ip - 1)
                if sym.function in _THREAD_START_FUNCTIONS:
                    return ip, slot + width
                step = self._step(regs, cur_ip, cur_sp, False, sym, state, [], first=False,
                                  cfi_only=True)
                if step is None:
                    break
                regs = step[0]
                if regs.get(ipn, 0) == 0:
                    if fallback is None and _depth >= 1:
                        fallback = (ip, slot + width)  # no thread-start name seen: keep looking
                    break
            at = slot + width
        return fallback

    # -- one step ---------------------------------------------------------------------

    def _accept(
        self, new: dict[str, int], sp: int, state: WalkState, *, check_ip: bool = True
    ) -> bool:
        spn, ipn = self.spn, self.ipn
        new_sp, new_ip = new.get(spn, 0), new.get(ipn, 0)
        if new_ip == 0:
            return new_sp > sp
        # On ARM a leaf keeps its return address in lr and need not move sp: the
        # caller may share the callee's sp (the walk's (ip, sp) set stops cycles).
        low_ok = sp <= new_sp if self.arch in (Arch.ARM64, Arch.ARM) else sp < new_sp
        if not (low_ok and new_sp <= state.hi + 8):
            return False
        return not check_ip or self._is_code(new_ip)

    def _step(
        self,
        regs: dict[str, int],
        ip: int,
        sp: int,
        exact: bool,
        sym: FrameSymbol,
        state: WalkState,
        notes: list[str],
        *,
        first: bool,
        cfi_only: bool = False,
    ) -> StepResult | None:
        lookup = ip if exact else ip - 1
        self.budget.work()
        found = _CPUS[self.arch][0](self, regs, ip, sp, lookup, sym, state, notes)
        if found is not None or cfi_only:
            return found
        if sym.function in _THREAD_START_FUNCTIONS and not first:
            return None
        new = self._frame_pointer(regs, sp, state)
        if new is not None:
            return new, Trust.FRAME_POINTER, False
        new = self._scan(regs, sp, state, SCAN_WORDS_FIRST if first else SCAN_WORDS)
        if new is not None:
            return new, Trust.SCAN, False
        return None

    def _step_cfi(
        self, bp: BreakpadSymbols, rva: int, regs: dict[str, int], sp: int, state: WalkState
    ) -> dict[str, int] | None:
        try:
            rules = bp.cfi_rules(rva)
        except DumpError:
            return None
        if rules is None or ".cfa" not in rules.rules or ".ra" not in rules.rules:
            return None
        variables: dict[str, int] = {f"${k}": v for k, v in regs.items()}
        aliases = self.cpu.cfi_aliases if self.cpu is not None else ()
        if aliases:  # ARM .sym files name registers without '$' (x29, sp, pc)
            variables.update(regs)
            for cfi_name, name in aliases:
                if name in regs:
                    variables[f"${cfi_name}"] = variables[cfi_name] = regs[name]
        try:
            cfa = evaluate_expression(rules.rules[".cfa"], variables, self._read_ptr,
                                      bits=self.bits)
            variables[".cfa"] = cfa
            new = dict(regs)
            for name, expr in rules.rules.items():
                if name in (".cfa",):
                    continue
                value = evaluate_expression(expr, variables, self._read_ptr, bits=self.bits)
                if name == ".ra":
                    new[self.ipn] = self.strip_code_pointer(value)
                elif name.startswith("$") or not name.startswith("."):
                    reg = name.lstrip("$")
                    new[dict(aliases).get(reg, reg)] = value
        except PostfixError:
            return None
        new[self.spn] = cfa
        return new if self._accept(new, sp, state) else None

    def _frame_pointer(
        self, regs: dict[str, int], sp: int, state: WalkState
    ) -> dict[str, int] | None:
        width = self.bits // 8
        fpn, ipn, spn = self.fpn, self.ipn, self.spn
        fp = regs.get(fpn)
        if fp is None or not sp <= fp < state.hi or fp % width:
            return None
        try:
            saved_fp = self._read_ptr(fp)
            ret = self.strip_code_pointer(self._read_ptr(fp + width))
        except MemoryNotInDump:
            return None
        new_sp = fp + 2 * width
        if saved_fp == 0 and ret == 0:
            # the outermost frame: the chain ends with a zero frame pointer and return address
            new = dict(regs)
            new[fpn], new[ipn], new[spn] = 0, 0, new_sp
            return new
        if saved_fp and not (new_sp <= saved_fp < state.hi):
            return None
        if not self._is_return_address(ret):
            return None
        new = dict(regs)
        new[fpn], new[ipn], new[spn] = saved_fp, ret, new_sp
        return new

    def _scan_from(self, start: int, state: WalkState, words: int) -> tuple[int, int] | None:
        width = self.bits // 8
        addr = start + (-start) % width
        end = min(state.hi, addr + words * width)
        data = self.memory.read_available(addr, max(0, end - addr))
        fmt = "<I" if width == 4 else "<Q"
        import struct

        strip = self.strip_code_pointer if self.arch is Arch.ARM64 else None
        for i, (value,) in enumerate(struct.iter_unpack(fmt, data[: len(data) // width * width])):
            if strip is not None:
                value = strip(value)
            if value >= 0x10000 and self._is_return_address(value):
                self.budget.scanned(i)
                return value, addr + i * width
        self.budget.scanned(len(data) // width)
        return None

    def _scan(
        self, regs: dict[str, int], sp: int, state: WalkState, words: int
    ) -> dict[str, int] | None:
        width = self.bits // 8
        ipn, spn = self.ipn, self.spn
        found = self._scan_from(sp, state, words)
        if found is None:
            return None
        ret, slot = found
        new = dict(regs)
        new[ipn], new[spn] = ret, slot + width
        if self.arch is Arch.X86:
            x86.frame_pointer_after_scan(self, new, regs, sp, slot, state)
        return new if new[spn] > sp else None


#: Each CPU's unwind-data step and registers; the driver adds frame pointer and scanning.
_CPUS: dict[Arch, tuple[Callable[..., StepResult | None], CpuRegisters]] = {
    Arch.AMD64: (amd64.step, amd64.REGISTERS),
    Arch.X86: (x86.step, x86.REGISTERS),
    Arch.ARM64: (arm64.step, arm64.REGISTERS),
    Arch.ARM: (arm.step, arm.REGISTERS),
}
