"""minidump-stackwalk's ``--json`` document, built from dumplib's own reading of a dump.

:func:`stackwalk_json` returns the dictionary rust-minidump's
``minidump-stackwalk --json`` prints (its schema: ``crash_info``,
``crashing_thread``, ``threads`` with frames and trust, ``modules``,
``system_info``, ``pid``, the Linux and macOS extras), so a pipeline that
consumes that tool's output can read dumplib's instead. Addresses are the
same zero-padded hex strings (16 digits on 64-bit CPUs, 8 on 32-bit ones).

Known differences (see ``docs/stackwalk-json.md``): ``possible_bit_flips``
skips minidump-stackwalk's null-pointer and non-canonical address adjustments;
``instruction`` is capstone's Intel syntax brought close to
minidump-stackwalk's (``ptr`` dropped, immediates in hex); frames found by
dumplib's stricter, validated scanning can differ from minidump-stackwalk's;
function names from export tables appear where minidump-stackwalk has none.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dumplib._exc import DumpError
from dumplib.format.constants import Arch
from dumplib.unwind.frames import Frame, Stack, StackStatus, Trust, lookup_address

if TYPE_CHECKING:
    from dumplib.dump import Dump
    from dumplib.model.objects import Module, Thread
    from dumplib.unwind.walker import StackWalker

__all__ = ["stackwalk_json"]

_CPU = {Arch.AMD64: "amd64", Arch.X86: "x86", Arch.ARM64: "arm64", Arch.ARM: "arm"}
_REGISTERS = {
    Arch.X86: ("eax", "ebp", "ebx", "ecx", "edi", "edx", "eflags", "eip", "esi", "esp"),
    Arch.AMD64: ("r10", "r11", "r12", "r13", "r14", "r15", "r8", "r9", "rax", "rbp", "rbx",
                 "rcx", "rdi", "rdx", "rip", "rsi", "rsp"),
    Arch.ARM64: (*(f"x{i}" for i in range(29)), "fp", "lr", "sp", "pc"),
    Arch.ARM: (*(f"r{i}" for i in range(13)), "sp", "lr", "pc"),
}
_OS = {0x8201: "Linux", 0x8203: "Android", 0x8101: "Mac OS X", 0x8102: "iOS", 2: "Windows NT",
       1: "Windows", 0x8202: "Solaris", 0x8206: "Fuchsia"}
_TRUST = {Trust.CONTEXT: "context", Trust.CFI: "cfi", Trust.FRAME_POINTER: "frame_pointer",
          Trust.SCAN: "scan"}


def _hex(value: int | None, width: int) -> str | None:
    if value is None:
        return None
    return f"0x{value & ((1 << (4 * width)) - 1):0{width}x}"


def _os_ver(dump: Dump) -> str:
    system = dump.system
    csd = system.csd_version
    if system.platform_id in (0x8201, 0x8203):
        parts = csd.split(" ")
        # breakpad writes "Linux <release> <version...> <machine>"
        return " ".join(parts[1:-1]) if len(parts) > 2 else csd
    major, minor, build = system.os_version
    return f"{major}.{minor}.{build}" + (f" {csd}" if csd else "")


def _cpu_info(dump: Dump) -> str | None:
    system = dump.system
    if system.arch not in (Arch.X86, Arch.AMD64):
        return None
    family = system.processor_level
    model, stepping = system.processor_revision >> 8, system.processor_revision & 0xFF
    text = f"family {family} model {model} stepping {stepping}"
    vendor = system.cpu_vendor
    return f"{vendor} {text}" if vendor else text


def _module_json(module: Module, width: int, loaded: bool, missing: bool) -> dict[str, Any]:
    version = ".".join(str(v) for v in module.version) if module.version else None
    return {
        "base_addr": _hex(module.base, width),
        "cert_subject": None,
        "code_id": module.code_id,
        "corrupt_symbols": False,
        "debug_file": module.debug_file,
        "debug_id": module.debug_id,
        "end_addr": _hex(module.end, width),
        "filename": module.name,
        "loaded_symbols": loaded,
        "missing_symbols": missing,
        "symbol_url": None,
        "version": version,
    }


class _Symbols:
    """Which modules had symbol files (PDB or .sym) loaded."""

    def __init__(self, walker: StackWalker, searched: bool) -> None:
        self.walker = walker
        self.searched = searched
        self.used: set[int] = set()

    def loaded(self, module: Module) -> bool:
        try:
            sources = self.walker.resolver.module_symbols(module).sources
        except Exception:  # the resolver keeps its own error list
            return False
        return "pdb" in sources or "breakpad" in sources


def _frame_json(frame: Frame, index: int, width: int, symbols: _Symbols,
                registers: Sequence[str] | None) -> dict[str, Any]:
    address = lookup_address(frame.ip, frame.trust)
    module = frame.module
    function_offset: int | None = None
    if frame.function is not None and module is not None:
        function_offset = frame.offset - (frame.ip - address)
    has_symbols = False
    if module is not None:
        symbols.used.add(module.base)
        has_symbols = symbols.loaded(module)
    file, line = frame.source_file, frame.source_line
    inlines = None
    if frame.inlines:
        chain = frame.inlines
        inlines = []
        for k in range(len(chain) - 1, -1, -1):
            if k == len(chain) - 1:
                ifile, iline = file, line
            else:
                ifile, iline = chain[k + 1].call_file, chain[k + 1].call_line
            inlines.append({"file": ifile, "function": chain[k].function, "line": iline})
        file, line = chain[0].call_file, chain[0].call_line
    out: dict[str, Any] = {
        "file": file,
        "frame": index,
        "function": frame.function,
        "function_offset": _hex(function_offset, width),
        "inlines": inlines,
        "line": line,
        "missing_symbols": module is not None and not has_symbols,
        "module": module.name if module is not None else None,
        "module_offset": _hex(address - module.base, width) if module is not None else None,
        "offset": _hex(address, width),
        "trust": _TRUST.get(frame.trust, str(frame.trust)),
        "unloaded_modules": None,
    }
    if registers is not None:
        regs = frame.registers
        out["registers"] = {r: _hex(regs[r], width) for r in registers if r in regs}
    return out


def _last_error(dump: Dump, thread: Thread) -> str | None:
    """The thread's TEB LastErrorValue by name (Windows), as minidump-stackwalk gives it."""
    if dump.system.platform_id != 2 or not thread.teb:
        return None
    offset = 0x34 if dump.system.pointer_size == 4 else 0x68  # TEB.LastErrorValue
    try:
        value = dump.memory.read_u32(thread.teb + offset)
    except DumpError:
        return None
    from dumplib.codes import CodeTable, lookup

    matches = lookup(value)
    for table in (CodeTable.WIN32, CodeTable.NTSTATUS):
        for m in matches:
            if m.table is table and m.via is None:
                return m.name
    return f"unknown 0x{value:08x}"


def _thread_json(thread: Thread, stack: Stack, width: int, symbols: _Symbols,
                 registers: Sequence[str] | None, name: str | None,
                 last_error: str | None = None) -> dict[str, Any]:
    frames = [
        _frame_json(f, i, width, symbols, registers if i == 0 else None)
        for i, f in enumerate(stack.frames)
    ]
    return {
        "frame_count": len(frames),
        "frames": frames,
        "last_error_value": last_error,
        "thread_id": thread.id,
        "thread_name": name,
    }


def _bit_flips(dump: Dump, address: int, access: str | None,
               accesses: list[dict[str, Any]] | None, used: dict[str, int],
               width: int) -> list[dict[str, Any]] | None:
    """minidump-stackwalk's ``possible_bit_flips`` (null when there are none)."""
    from dumplib.analysis.bitflip import possible_bit_flips

    exc = dump.exception
    ctx = exc.context if exc is not None else None
    regs = {r: ctx[r] for r in _REGISTERS.get(dump.system.arch, ()) if ctx is not None
            and r in ctx}
    size = accesses[0]["size"] if accesses else None
    found = possible_bit_flips(dump, address, operation=access, access_size=size,
                               registers=regs)
    for name, value in used.items():
        found += possible_bit_flips(dump, value, operation=access, access_size=size,
                                    registers=regs, source_register=name)
    return [{
        "address": _hex(f.address, width),
        "confidence": f.confidence,
        "details": {"is_null": f.is_null, "nearby_registers": f.nearby_registers,
                    "poison_registers": f.poison_registers, "was_low": f.was_low,
                    "was_non_canonical": False},
        "source_register": f.source_register,
    } for f in found] or None


def _instruction(dump: Dump, width: int) -> tuple[str | None, list[dict[str, Any]] | None]:
    """The faulting instruction's text and memory accesses, when its bytes are in the dump."""
    exc = dump.exception
    ctx = exc.context if exc is not None else None
    if exc is None or ctx is None:
        return None, None
    if dump.system.arch not in (Arch.X86, Arch.AMD64):
        return None, None  # minidump-stackwalk decodes x86 instructions only
    code = dump.memory.try_read(ctx.ip, 16)
    if not code:
        return None, None
    try:
        import capstone
        from capstone import x86 as cs_x86

        from dumplib.unwind.disasm import explain_fault
    except ImportError:  # pragma: no cover - capstone is a core dependency
        return None, None
    bits = 64 if width == 16 else 32
    mode = capstone.CS_MODE_64 if bits == 64 else capstone.CS_MODE_32
    md = capstone.Cs(capstone.CS_ARCH_X86, mode)
    md.detail = True
    insn = next(iter(md.disasm(code, ctx.ip, 1)), None)
    if insn is None:
        return None, None
    text = _nasm_like(insn.mnemonic, insn.op_str, insn, bits)
    why = explain_fault(code, ctx.ip, dict(ctx), bits=bits)
    accesses: list[dict[str, Any]] | None = None
    if why is not None and why.address is not None:
        size = next((op.size for op in insn.operands if op.type == cs_x86.X86_OP_MEM), None)
        accesses = [{"access_type": why.access, "address": _hex(why.address, width),
                     "size": size}]
    return text, accesses


def _nasm_like(mnemonic: str, op_str: str, insn: Any, bits: int) -> str:
    """capstone's Intel syntax close to the one minidump-stackwalk prints."""
    from capstone import x86 as cs_x86

    ops = op_str.replace(" ptr ", " ")
    for op in insn.operands:
        if op.type == cs_x86.X86_OP_MEM and not op.mem.base and not op.mem.index and bits == 64:
            disp = op.mem.disp & 0xFFFFFFFFFFFFFFFF
            ops = ops.replace(f"[0x{disp:x}]", f"[0x{op.mem.disp & 0xFFFFFFFF:x}]")
    ops = re.sub(r"(?<![\w\[x])(\d+)(?![\w\]])", lambda m: hex(int(m.group(1))), ops)
    return f"{mnemonic} {ops}".strip()


def stackwalk_json(
    dump: Dump, symbols: Sequence[str | os.PathLike[str]] | None = None
) -> dict[str, Any]:
    """minidump-stackwalk's ``--json`` document for ``dump``.

    Args:
        dump: the opened dump.
        symbols: as for :meth:`dumplib.Dump.stack`.

    Returns:
        A dictionary of plain JSON values, keyed as minidump-stackwalk keys it.

    Raises:
        SymbolError: a ``symbols=`` entry cannot be parsed.
    """
    from dumplib.analysis.oscrash import crash_reason

    arch = dump.system.arch
    width = 8 if dump.system.pointer_size == 4 else 16
    walker = dump.stack_walker(symbols)
    syms = _Symbols(walker, bool(symbols))
    names = dump.thread_names
    reason = crash_reason(dump)
    crashing_index: int | None = None
    threads_json: list[dict[str, Any]] = []
    for i, thread in enumerate(dump.threads):
        stack = walker.walk(thread)
        crashed = reason is not None and thread.id == reason.thread_id
        if crashed and crashing_index is None:
            crashing_index = i
        regs = _REGISTERS.get(arch) if crashed else None
        entry = _thread_json(thread, stack, width, syms, regs, names.get(thread.id),
                             _last_error(dump, thread))
        if stack.status is StackStatus.DUMP_WRITER:
            entry["frames"], entry["frame_count"] = [], 0
        threads_json.append(entry)
    crashing: dict[str, Any] | None = None
    if crashing_index is not None:
        crashing = dict(threads_json[crashing_index])
        crashing["frames"] = [dict(f) for f in crashing["frames"]]
        crashing["threads_index"] = crashing_index
        for entry in threads_json:  # registers are shown for the crashing thread's top only
            for frame in entry["frames"]:
                frame.pop("registers", None)
    crash_info: dict[str, Any] | None = None
    if reason is not None:
        instruction, accesses = _instruction(dump, width)
        used: dict[str, int] = {}
        if instruction is not None:
            why = dump.explain_fault(symbols)
            used = dict(why.registers) if why is not None else {}
        flips = _bit_flips(dump, reason.address, reason.access, accesses, used, width)
        crash_info = {
            "address": _hex(reason.address, width),
            "adjusted_address": None,
            "assertion": None,
            "crash_inconsistencies": [],
            "crashing_thread": crashing_index,
            "instruction": instruction,
            "instruction_pointer_update": None,
            "memory_accesses": accesses,
            "possible_bit_flips": flips,
            "type": reason.reason,
        }
    modules = []
    for m in dump.modules:
        loaded = syms.loaded(m) if m.base in syms.used else False
        missing = syms.searched and m.base in syms.used and not loaded
        modules.append(_module_json(m, width, loaded, missing))
    vendor = dump.vendor
    lsb = vendor.lsb_release
    maps = vendor.maps
    uptime = None
    mi = dump.misc_info
    if mi is not None and mi.flags1 & 2 and mi.process_create_time:
        uptime = max(0, dump.header.time_date_stamp - mi.process_create_time)
    mac = vendor.mac_crash_info
    system = dump.system
    return {
        "crash_info": crash_info,
        "crashing_thread": crashing,
        "handles": None,
        "linux_memory_map_count": len(maps) if maps is not None else None,
        "lsb_release": None if lsb is None else {
            "codename": lsb.codename, "description": lsb.description, "id": lsb.id,
            "release": lsb.release,
        },
        "mac_boot_args": vendor.mac_boot_args,
        "mac_crash_info": None if not mac else {
            "num_records": len(mac),
            "records": [{k: getattr(r, k) for k in (
                "thread", "dialog_mode", "abort_cause", "module_path", "message",
                "signature_string", "backtrace", "message2")} for r in mac],
        },
        "main_module": 0 if len(dump.modules) else None,
        "modules": modules,
        "modules_contains_cert_info": False,
        "pid": dump.process_id,
        "proc_limits": None,
        "process_uptime": uptime,
        "soft_errors": vendor.soft_errors,
        "status": "OK",
        "system_info": {
            "cpu_arch": _CPU.get(arch, arch.value),
            "cpu_count": system.number_of_processors,
            "cpu_info": _cpu_info(dump),
            "cpu_microcode_version": None,
            "os": _OS.get(system.platform_id, system.os_name),
            "os_ver": _os_ver(dump),
        },
        "thread_count": len(threads_json),
        "threads": threads_json,
        "unloaded_modules": [
            {"base_addr": _hex(u.base, width), "code_id": f"{u.timestamp:08x}{u.size:x}",
             "end_addr": _hex(u.end, width), "filename": u.name}
            for u in dump.unloaded_modules
        ],
    }
