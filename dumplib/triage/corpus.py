"""A corpus of small synthetic crash dumps with known answers, for triage tests and benchmarks.

:func:`build_corpus` writes ``count`` AMD64 minidumps with
:mod:`dumplib.builder`. Each dump is one of a few crash *kinds* (process and
version, faulting module, exception code and offset); which kind, the
exception, the process id and the dump time are recorded in the returned
:class:`CorpusDump` from how the file was built, not read back, so tests can
compare triage's rows against them. Sizes are spread log-uniformly between
``min_size`` and ``max_size`` by a captured memory range (mostly zero bytes,
written as file holes, with a per-dump marker so every file hashes
differently).
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["KINDS", "CorpusDump", "CrashKind", "build_corpus"]


@dataclass(frozen=True, slots=True)
class CrashKind:
    """One distinct crash: what every dump of this kind shares.

    Attributes:
        process: main module file name.
        version: its file version.
        fault_module: file name of the module holding the exception address.
        code: exception code.
        offset: exception address minus the faulting module's base.
        parameters: ExceptionInformation.
    """

    process: str
    version: tuple[int, int, int, int]
    fault_module: str
    code: int
    offset: int
    parameters: tuple[int, ...] = ()


#: The crash kinds of the corpus (access violations, a stack overflow, a fail-fast, a C++ throw).
KINDS: tuple[CrashKind, ...] = (
    CrashKind("OrderSvc.exe", (5, 0, 8308, 0), "vendorhook.dll", 0xC0000005, 0x1373, (0, 0x10)),
    CrashKind("OrderSvc.exe", (5, 0, 8308, 0), "OrderSvc.exe", 0xC0000005, 0x4A2F, (1, 0)),
    CrashKind("Reporter.exe", (2, 1, 7, 3), "Reporter.exe", 0xC00000FD, 0x2210, (1, 0x9F000)),
    CrashKind("Reporter.exe", (2, 1, 8, 0), "ntdll.dll", 0xC0000409, 0x9E5C1, (7,)),
    CrashKind("Gateway.exe", (11, 4, 0, 120), "kernelbase.dll", 0xE06D7363, 0x3A2F9,
              (0x19930520, 0x9F800, 0x7FF7_0005_0000, 0x7FF7_0000_0000)),
)

_MAIN_BASE = 0x7FF7_0000_0000
_SYSTEM = (
    ("ntdll.dll", 0x7FF8_4000_0000, 0x1F5000, (10, 0, 19041, 3636)),
    ("kernel32.dll", 0x7FF8_3E00_0000, 0xBE000, (10, 0, 19041, 3636)),
    ("kernelbase.dll", 0x7FF8_3C00_0000, 0x2D4000, (10, 0, 19041, 3693)),
)
_VENDOR_BASE = 0x7FF8_1000_0000
_PAD_ADDRESS = 0x2000_0000
_STACK_BASE = 0x9F000
_OVERHEAD = 8 << 10


@dataclass(frozen=True, slots=True)
class CorpusDump:
    """What was written into one corpus dump.

    Attributes:
        path: the file.
        kind: index into the kinds the corpus was built from.
        process, process_version: the main module and its version.
        fault_module, fault_offset, code, address: the exception.
        thread_id: the faulting thread.
        process_id: from the misc info stream.
        dump_time: the header's TimeDateStamp.
        size: bytes in the file.
    """

    path: str
    kind: int
    process: str
    process_version: tuple[int, int, int, int]
    fault_module: str
    fault_offset: int
    code: int
    address: int
    thread_id: int
    process_id: int
    dump_time: int
    size: int


def build_corpus(
    directory: str | os.PathLike[str],
    count: int,
    *,
    min_size: int = 50_000,
    max_size: int = 5_000_000,
    kinds: Sequence[CrashKind] = KINDS,
    seed: int = 7,
    start_time: int = 1_700_000_000,
) -> list[CorpusDump]:
    """Write ``count`` dumps named ``crash-00000.dmp``... into ``directory``.

    Args:
        directory: where to write (created if missing).
        count: how many dumps.
        min_size, max_size: file size range in bytes (log-uniform).
        kinds: the crash kinds, used round-robin.
        seed: for sizes, thread and process ids.
        start_time: dump time of the first dump; each next one is a minute later.

    Returns:
        One record per dump, in file-name order.
    """
    from dumplib.builder import DumpBuilder, Sparse

    os.makedirs(directory, exist_ok=True)
    rng = random.Random(seed)
    out: list[CorpusDump] = []
    lo, hi = math.log(max(min_size, _OVERHEAD)), math.log(max(max_size, min_size, _OVERHEAD))
    for i in range(count):
        k = i % len(kinds)
        kind = kinds[k]
        t = start_time + 60 * i
        b = DumpBuilder("amd64", time_date_stamp=t, os_version=(10, 0, 19045))
        b.add_module(rf"C:\Program Files\Contoso\{kind.process}", base=_MAIN_BASE, size=0x80000,
                     time_date_stamp=0x5F000000 + k, version=kind.version)
        bases = {kind.process.lower(): _MAIN_BASE}
        for name, base, size, version in _SYSTEM:
            b.add_module(rf"C:\Windows\System32\{name}", base=base, size=size,
                         time_date_stamp=0x57899B1C, version=version)
            bases[name] = base
        if kind.fault_module.lower() not in bases:
            b.add_module(rf"C:\Program Files\Vendor\{kind.fault_module}", base=_VENDOR_BASE,
                         size=0x40000, time_date_stamp=0x60000000, version=(3, 2, 1, 0))
            bases[kind.fault_module.lower()] = _VENDOR_BASE
        address = bases[kind.fault_module.lower()] + kind.offset
        tid = rng.randrange(0x100, 0x8000, 4)
        stack = bytearray(0x1000)
        stack[0x10:0x18] = (_MAIN_BASE + 0x1000 + k).to_bytes(8, "little")
        b.add_thread(tid, context={"rip": address, "rsp": _STACK_BASE, "rbp": _STACK_BASE + 0x80},
                     stack=bytes(stack), teb=0x3000)
        b.add_thread(tid + 4, context={"rip": bases["ntdll.dll"] + 0x9D4A4,
                                       "rsp": _STACK_BASE + 0x10000},
                     stack=bytes(0x800), teb=0x5000)
        b.set_exception(tid, kind.code, address, parameters=kind.parameters)
        pid = rng.randrange(0x100, 0x10000, 4)
        b.set_misc_info(process_id=pid, process_create_time=t - 3600)
        target = int(math.exp(rng.uniform(lo, hi)))
        pad = max(0x1000, target - _OVERHEAD) & ~0xFFF
        marker = f"corpus dump {i} seed {seed}".encode()
        b.add_memory(_PAD_ADDRESS, Sparse(pad, patches={0x40: marker}))
        path = os.path.join(os.fspath(directory), f"crash-{i:05d}.dmp")
        b.write(path)
        out.append(CorpusDump(
            path=os.path.abspath(path), kind=k, process=kind.process,
            process_version=kind.version, fault_module=kind.fault_module,
            fault_offset=kind.offset, code=kind.code, address=address, thread_id=tid,
            process_id=pid, dump_time=t, size=os.path.getsize(path),
        ))
    return out
