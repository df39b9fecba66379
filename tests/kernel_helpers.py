"""Shared builders for the kernel-dump tests: one crashed machine, described once."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from dumplib.builder.kernel import BuiltKernelDump, Function, KernelDumpBuilder

if TYPE_CHECKING:
    from dumplib.analysis import Report

NT_FUNCS = [Function("KeBugCheckEx", 0x28), Function("KiBugCheckDispatch", 0x138),
            Function("KiStartSystemThread", 0x38)]
NDIS_FUNCS = [Function("ndisMIndicateNetBufferListsToOpen", 0x58),
              Function("NdisMIndicateReceiveNetBufferLists", 0x78)]
FLT_FUNCS = [Function("VsepClassifyPacket", 0x48, push_rbx=True), Function("VsepInit", 0x28)]

#: Where the builder puts the extra mappings of :func:`machine`.
LARGE_VA, LARGE_PA = 0xFFFF_C000_0020_0000, 0x0060_0000
HUGE_VA, HUGE_PA = 0xFFFF_C001_0000_0000, 0x4000_0000
TRANSITION_VA = 0xFFFF_C000_0100_0000
HOLE = (0x2000, 0x100)


def machine(bugcheck: int = 0xD1, culprit: str = "vsepflt.sys", *, huge: bool = True,
            company: str = "Symantec Corporation", caller: str = "ndis.sys",
            extra: tuple[str, ...] = (),
            imports: dict[str, list[str]] | None = None) -> KernelDumpBuilder:
    """A machine that bugchecked with ``culprit``'s function in the middle of the stack."""
    kb = KernelDumpBuilder(build=19041, bugcheck=bugcheck, processors=4,
                           physical_pages=0x40400 if huge else 0x4000, holes=[HOLE])
    kb.add_driver("ntoskrnl.exe", NT_FUNCS, path="\\SystemRoot\\system32\\ntoskrnl.exe")
    kb.add_driver(caller, NDIS_FUNCS)
    for name in extra:
        kb.add_driver(name, [Function("Dummy")], company="Contoso Ltd.")
    if imports is None:  # what a WFP callout / NDIS filter driver imports
        imports = {"fwpkclnt.sys": ["FwpsCalloutRegister1", "FwpsFlowAssociateContext0"],
                   "ndis.sys": ["NdisFRegisterFilterDriver"],
                   "ntoskrnl.exe": ["ExAllocatePoolWithTag", "KeAcquireSpinLockRaiseToDpc"]}
    kb.add_driver(culprit, FLT_FUNCS, company=company, version=(14, 3, 3580, 1100),
                  description="Network filter driver", imports=imports)
    frames = kb.set_crash_stack([
        ("ntoskrnl.exe", "KeBugCheckEx", 0x40),
        ("ntoskrnl.exe", "KiBugCheckDispatch", 0x69),
        (culprit, "VsepClassifyPacket", 0x63),
        (caller, "ndisMIndicateNetBufferListsToOpen", 0x81),
        (caller, "NdisMIndicateReceiveNetBufferLists", 0x4A),
        ("ntoskrnl.exe", "KiStartSystemThread", 0x36),
    ])
    fault_ip = frames[2][0] - 5  # the faulting instruction: the call before the return
    kb.parameters = (0x18, 2, 0, fault_ip)
    kb.map_large(LARGE_VA, LARGE_PA)
    kb.write_physical(LARGE_PA + 0x1234, b"large-page-data")
    if huge:
        kb.map_large(HUGE_VA, HUGE_PA, huge=True)
        kb.write_physical(HUGE_PA + 0x12_3456, b"huge-page-data")
    pfn = kb.map_page(TRANSITION_VA, transition=True)
    kb.write_physical(pfn << 12, b"standby-list-page")
    return kb


def build(tmp: Path, kind: str, **kw: object) -> BuiltKernelDump:
    """Write :func:`machine` as ``kind`` under ``tmp``."""
    kb = machine(**kw)  # type: ignore[arg-type]
    return kb.write(tmp / f"{kind}.dmp", kind=kind)


def oracle(name: str) -> ModuleType | None:
    """Import an oracle package, saying so loudly when it is missing."""
    try:
        return __import__(name)
    except ImportError:
        msg = f"ORACLE MISSING: {name} is not installed; its cross-checks are skipped"
        print(msg, file=sys.stderr)
        warnings.warn(msg, stacklevel=2)
        return None


def analyze_machine(kind: str = "bitmap", **kw: object) -> Report:
    """Build :func:`machine` (without the 1 GB mapping) into a temporary file and analyze it."""
    import tempfile

    import dumplib
    from dumplib.analysis import analyze

    kw.setdefault("huge", False)
    with tempfile.TemporaryDirectory(prefix="dumplib-kernel-") as tmp:
        built = machine(**kw).write(Path(tmp) / "k.dmp", kind=kind)  # type: ignore[arg-type]
        with dumplib.open(built.path) as dump:
            return analyze(dump)
