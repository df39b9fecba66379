"""dumplib.builder: a typed writer of Windows minidumps, for tests, fixtures and benchmarks.

Describe a process in code and get a ``.dmp`` file that any minidump reader
opens. The layouts are declared here independently of :mod:`dumplib.format`
(from Microsoft's ``minidumpapiset.h`` and ``winnt.h``), so the parser's tests
cannot pass merely because reader and writer share a mistake.

Quick tour::

    import uuid
    from dumplib.builder import DumpBuilder, Sparse

    b = DumpBuilder("amd64", full_memory=False, time_date_stamp=0x5F000000,
                    os_version=(10, 0, 14393), csd_version="Service Pack 1", product_type=3)
    b.add_thread(0x1A2C, context={"rip": 0x7FF6_0000_1010, "rsp": 0x9F000},
                 stack=bytes(0x1000), teb=0x3000, name="worker")   # stack_start = rsp
    b.add_module(r"C:\\Windows\\System32\\ntdll.dll", base=0x7FF8_0000_0000, size=0x1F0000,
                 time_date_stamp=0x57899B1C, checksum=0x1F7C1E, version=(10, 0, 14393, 0),
                 pdb70=("ntdll.pdb", uuid.UUID(int=0x1234), 1))
    b.add_memory(0x2000_0000, Sparse(64 << 20, patches={0x100: b"needle"}))
    b.set_exception(0x1A2C, 0xC0000005, 0x7FF6_0000_1010, parameters=(1, 0))
    b.set_misc_info(process_id=4242, process_create_time=0x5F000000)
    b.add_comment("procdump -ma 4242")
    built = b.write("crash.dmp")       # zero runs are written as file holes
    data = b.to_bytes()                # small dumps, in memory

Streams written: ThreadList, ThreadExList, ThreadNames, ModuleList (CodeView
PDB70/PDB20, MiscRecord, VS_FIXEDFILEINFO), UnloadedModuleList, MemoryList or
Memory64List, Exception (with a nested EXCEPTION_RECORD chain in memory),
SystemInfo, MiscInfo 1-5, MemoryInfoList, ThreadInfoList, HandleData
(descriptor v1/v2 with object information), HandleOperationList,
CommentStreamA/W, FunctionTable, SystemMemoryInfo, ProcessVmCounters (v1/v2),
Token, and raw streams of any type. CPU contexts: AMD64, x86, ARM64 (see
``REGISTERS[arch]`` for register names and offsets, ``DEFAULT_CONTEXT_FLAGS``).

:func:`build_large_dump` makes multi-GB sparse full-memory dumps in seconds
and reports where it put every thread, stack and planted pattern.
"""

from __future__ import annotations

from dumplib.builder._context import CONTEXT_SIZES, DEFAULT_CONTEXT_FLAGS, REGISTERS
from dumplib.builder._layouts import DumpFlags, MiscInfoFlags, ProcessorArchitecture, StreamType
from dumplib.builder._output import Data, Sparse
from dumplib.builder.builder import Arch, Context, DumpBuilder
from dumplib.builder.large import LargeDump, build_large_dump
from dumplib.builder.records import (
    BuiltDump,
    MemoryPlacement,
    NestedException,
    StreamPlacement,
    SystemTime,
    TimeZone,
    XStateConfig,
)

__all__ = [
    "CONTEXT_SIZES",
    "DEFAULT_CONTEXT_FLAGS",
    "REGISTERS",
    "Arch",
    "BuiltDump",
    "Context",
    "Data",
    "DumpBuilder",
    "DumpFlags",
    "LargeDump",
    "MemoryPlacement",
    "MiscInfoFlags",
    "NestedException",
    "ProcessorArchitecture",
    "Sparse",
    "StreamPlacement",
    "StreamType",
    "SystemTime",
    "TimeZone",
    "XStateConfig",
    "build_large_dump",
]
