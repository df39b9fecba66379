"""Vendor streams of breakpad, crashpad and Mozilla's writers, one module each.

* :mod:`~dumplib.format.vendor.linux_proc`: the ``/proc`` and ``/etc`` text
  streams (LinuxProcStatus, LinuxCpuInfo, LinuxLsbRelease, LinuxMaps,
  LinuxCmdLine, LinuxEnviron);
* :mod:`~dumplib.format.vendor.linux_auxv`: LinuxAuxv;
* :mod:`~dumplib.format.vendor.linux_dso`: LinuxDsoDebug (the ``r_debug`` link map);
* :mod:`~dumplib.format.vendor.breakpad_info`: BreakpadInfo (which thread wrote the dump);
* :mod:`~dumplib.format.vendor.crashpad_info`: CrashpadInfo and its annotations;
* :mod:`~dumplib.format.vendor.mozilla`: MozMacosCrashInfo, MozSoftErrors,
  MozLinuxLimits, MozMacosBootargs.

Each parser takes the stream's bytes (and, where the stream points elsewhere
in the file, a bounded ``read(rva, size)``) and returns frozen records. Counts
are checked against the bytes that exist before anything is allocated.
"""

from __future__ import annotations

from collections.abc import Callable

#: Reads ``size`` bytes at file offset ``rva``; raises a DumpError past the end.
ReadAt = Callable[[int, int], bytes]

__all__ = ["ReadAt"]
