"""Kernel dumps: the bug check report, "probably caused by", and WinDbg-style buckets.

*Probably caused by*, after WinDbg's rules (``!analyze``): walk the bugchecking
processor's stack from the innermost frame and take the first frame whose module is not
Microsoft's (CompanyName of its version resource, or -- when no image is readable -- not
one of the kernel's own images). When every frame is Microsoft's, take the module one of
the bug check's parameters points into (parameter 4 of 0xA/0xD1, parameter 2 of the
exception bug checks), and otherwise the first frame outside ``nt``/``hal``.

Buckets follow WinDbg's ``FAILURE_BUCKET_ID`` shapes: ``AV_<module>!<function>`` for
access violations at raised IRQL (0xA, 0xD1) and exception bug checks with code
0xC0000005, ``0x133_DPC_<module>!<function>`` for DPC watchdog violations,
``0x<code>_<module>!<function>`` otherwise; ``<module>+0x<offset>`` when no name is known.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dumplib.analysis.facts import AnalysisContext
from dumplib.analysis.model import Finding, JsonValue
from dumplib.analysis.patterns import module_stem
from dumplib.model.objects import Module
from dumplib.unwind.frames import Stack

__all__ = [
    "Culprit", "kernel_bucket", "kernel_report", "kernel_summary", "kernel_summary_line",
    "probably_caused_by",
]

#: Kernel images that are Windows itself, used when no version resource is readable.
KERNEL_IMAGES = frozenset({
    "ntoskrnl.exe", "ntkrnlmp.exe", "ntkrnlpa.exe", "ntkrpamp.exe", "hal.dll", "halmacpi.dll",
    "kdcom.dll", "ci.dll", "clfs.sys", "tm.sys", "fltmgr.sys", "ndis.sys", "netio.sys",
    "tcpip.sys", "fwpkclnt.sys", "afd.sys", "tdx.sys", "tdi.sys", "wfplwfs.sys", "ntfs.sys",
    "storport.sys", "volmgr.sys", "partmgr.sys", "disk.sys", "classpnp.sys", "acpi.sys",
    "pci.sys", "wdf01000.sys", "cng.sys", "ksecdd.sys", "msrpc.sys", "http.sys",
})
_NT = frozenset({"ntoskrnl.exe", "ntkrnlmp.exe", "ntkrnlpa.exe", "ntkrpamp.exe", "hal.dll"})
_AV_CODES = frozenset({0x0A, 0xD1})
_EXCEPTION_CODES = frozenset({0x1E, 0x3B, 0x7E, 0x8E, 0x1000007E, 0x1000008E})


@dataclass(frozen=True, slots=True)
class Culprit:
    """The module a kernel crash is blamed on, and why.

    Attributes:
        module: the module.
        vendor: its CompanyName, when its image is readable.
        frame: index of its first frame on the crash stack, or None.
        function: ``module!function`` (or ``module+0x...``) there.
        rule: which rule chose it.
    """

    module: Module
    vendor: str | None
    frame: int | None
    function: str | None
    rule: str

    def to_json(self) -> dict[str, JsonValue]:
        """Plain JSON values."""
        return {
            "name": self.module.name, "path": self.module.path, "base": self.module.base,
            "vendor": self.vendor,
            "version": ".".join(map(str, self.module.version)) if self.module.version else None,
            "frame": self.frame, "function": self.function, "rule": self.rule,
        }


def is_microsoft(ctx: AnalysisContext, module: Module) -> bool:
    """Microsoft's by CompanyName; with no readable version resource, by the kernel's names."""
    info = ctx.vendor(module)
    if info is not None and info.company:
        return "microsoft" in info.company.lower()
    return module.name.lower() in KERNEL_IMAGES


def crash_stack(ctx: AnalysisContext) -> Stack | None:
    """The walked stack of the bugchecking processor's thread."""
    threads = ctx.dump.threads
    return ctx.stack_of(threads[0].id) if len(threads) else None


def probably_caused_by(ctx: AnalysisContext) -> Culprit | None:
    """The module to blame, by the rules in the module docstring (None without modules)."""
    stack = crash_stack(ctx)
    frames = stack.frames if stack is not None else ()
    for i, f in enumerate(frames):
        if f.module is not None and not is_microsoft(ctx, f.module):
            info = ctx.vendor(f.module)
            return Culprit(f.module, info.company if info else None, i,
                           ctx.symbol_at(f.ip if i == 0 else f.ip - 1),
                           "first non-Microsoft module on the crash stack")
    bc = ctx.dump.bugcheck
    params: tuple[int, ...] = getattr(bc, "parameters", ())
    code = getattr(bc, "code", 0)
    order = (3,) if code in _AV_CODES else (1,) if code in _EXCEPTION_CODES else (0, 1, 2, 3)
    for idx in order:
        if idx < len(params):
            m = ctx.dump.modules.find(params[idx])
            if m is not None and m.name.lower() not in _NT:
                info = ctx.vendor(m)
                return Culprit(m, info.company if info else None, None,
                               ctx.symbol_at(params[idx]),
                               f"bug check parameter {idx + 1} points into it")
    for i, f in enumerate(frames):
        if f.module is not None and f.module.name.lower() not in _NT:
            info = ctx.vendor(f.module)
            return Culprit(f.module, info.company if info else None, i,
                           ctx.symbol_at(f.ip if i == 0 else f.ip - 1),
                           "first module outside nt/hal on the crash stack")
    for f in frames:
        if f.module is not None:
            info = ctx.vendor(f.module)
            return Culprit(f.module, info.company if info else None, 0,
                           ctx.symbol_at(f.ip), "only the kernel is on the crash stack")
    return None


def kernel_bucket(ctx: AnalysisContext, culprit: Culprit | None) -> str:
    """The WinDbg-style failure bucket of a kernel dump."""
    bc = ctx.dump.bugcheck
    code: int = getattr(bc, "code", 0)
    params: tuple[int, ...] = getattr(bc, "parameters", (0, 0, 0, 0))
    where = "nt!Unknown"
    if culprit is not None:
        where = culprit.function or module_stem(culprit.module.name)
    if code in _AV_CODES or (code in _EXCEPTION_CODES and params and params[0] == 0xC0000005):
        return f"AV_{where}"
    if code == 0x133:
        return f"0x133_{'ISR' if params and params[0] == 0 and _isr(ctx) else 'DPC'}_{where}"
    if code in _EXCEPTION_CODES and params:
        return f"0x{code:X}_{params[0]:x}_{where}"
    return f"0x{code:X}_{where}"


def _isr(ctx: AnalysisContext) -> bool:
    stack = crash_stack(ctx)
    texts = [ctx.symbol_at(f.ip) or "" for f in (stack.frames if stack else ())]
    return any("!KiInterruptDispatch" in t for t in texts)


def kernel_summary(ctx: AnalysisContext, culprit: Culprit | None) -> dict[str, JsonValue]:
    """The bug check report: code, parameters explained, culprit, third-party drivers."""
    bc = ctx.dump.bugcheck
    code: int = getattr(bc, "code", 0)
    params: tuple[int, ...] = getattr(bc, "parameters", ())
    meanings: tuple[str, ...] = getattr(bc, "parameter_meanings", ("", "", "", ""))
    drivers: list[JsonValue] = []
    for m in ctx.dump.modules:
        if is_microsoft(ctx, m):
            continue
        info = ctx.vendor(m)
        drivers.append({"name": m.name, "path": m.path, "base": m.base,
                        "vendor": info.company if info else None,
                        "version": ".".join(map(str, m.version)) if m.version else None})
    return {
        "code": code,
        "name": getattr(bc, "name", None),
        "meaning": getattr(bc, "meaning", ""),
        "parameters": [{"value": v, "meaning": meanings[i] if i < len(meanings) else ""}
                       for i, v in enumerate(params)],
        "source": getattr(bc, "source", ""),
        "kind": ctx.dump.kind,
        "probably_caused_by": culprit.to_json() if culprit is not None else None,
        "third_party_drivers": drivers,
    }


def kernel_report(ctx: AnalysisContext) -> tuple[Stack | None, str, dict[str, JsonValue]]:
    """The crash stack, the bucket and the bug check report of a kernel dump."""
    culprit = probably_caused_by(ctx)
    ctx.notes.append(
        "processes and threads (EPROCESS/ETHREAD) not listed: their offsets change with every "
        "build; give the kernel's PDB to KernelDump.processes(pdb=...)"
    )
    return crash_stack(ctx), kernel_bucket(ctx, culprit), kernel_summary(ctx, culprit)


def kernel_summary_line(report: dict[str, JsonValue], findings: Sequence[Finding]) -> str:
    """One line for people: the bug check, the culprit and the top finding."""
    code = report.get("code")
    line = f"bug check 0x{code:X}" if isinstance(code, int) else "bug check"
    if report.get("name"):
        line += f" {report['name']}"
    culprit = report.get("probably_caused_by")
    if isinstance(culprit, dict):
        line += f"; probably caused by {culprit.get('name')}"
        if culprit.get("vendor"):
            line += f" ({culprit.get('vendor')})"
    if findings:
        line += f"; most likely: {findings[0].title}"
    return line
