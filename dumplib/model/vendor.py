"""Breakpad, crashpad and Mozilla vendor streams of one dump, parsed on first access.

``dump.vendor`` is a :class:`VendorStreams`: each attribute parses its stream
once (see :mod:`dumplib.format.vendor`) and is None (or empty) when the
stream is absent. A stream that does not parse adds a line to
``dump.warnings`` and reads as absent, so one bad vendor stream never hides
the rest of the dump.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, TypeVar

from dumplib._exc import DumpError
from dumplib.format.vendor import breakpad_info as _bp
from dumplib.format.vendor import crashpad_info as _cp
from dumplib.format.vendor import linux_auxv as _auxv
from dumplib.format.vendor import linux_dso as _dso
from dumplib.format.vendor import linux_proc as _proc
from dumplib.format.vendor import mozilla as _moz

if TYPE_CHECKING:
    from dumplib.model.dump import DumpFile

__all__ = ["STREAM_IDS", "VendorStreams"]

#: The vendor stream types read here.
STREAM_IDS: dict[str, int] = {
    "BreakpadInfo": 0x47670001,
    "LinuxCpuInfo": 0x47670003,
    "LinuxProcStatus": 0x47670004,
    "LinuxLsbRelease": 0x47670005,
    "LinuxCmdLine": 0x47670006,
    "LinuxEnviron": 0x47670007,
    "LinuxAuxv": 0x47670008,
    "LinuxMaps": 0x47670009,
    "LinuxDsoDebug": 0x4767000A,
    "CrashpadInfo": 0x43500001,
    "MozMacosCrashInfo": 0x4D7A0001,
    "MozMacosBootargs": 0x4D7A0002,
    "MozLinuxLimits": 0x4D7A0003,
    "MozSoftErrors": 0x4D7A0004,
}

T = TypeVar("T")


class VendorStreams:
    """The vendor streams of one dump (``dump.vendor``).

    Args:
        dump: the dump whose streams these are.
    """

    def __init__(self, dump: DumpFile) -> None:
        self._dump = dump

    def _get(self, name: str, parse: Callable[[bytes], T]) -> T | None:
        try:
            data = self._dump.raw_stream(STREAM_IDS[name])
            return None if data is None else parse(data)
        except DumpError as exc:
            self._dump.warnings.append(f"{name}: {exc}")
            return None

    def _read(self, name: str) -> Callable[[int, int], bytes]:
        src = self._dump.source
        return lambda rva, size: src.read(rva, size, what=name)

    @cached_property
    def breakpad_info(self) -> _bp.BreakpadInfo | None:
        """BreakpadInfo: the thread that wrote the dump and the one that asked for it."""
        return self._get("BreakpadInfo", _bp.parse_breakpad_info)

    @cached_property
    def proc_status(self) -> _proc.ProcStatus | None:
        """LinuxProcStatus: name, pid, ppid of the process."""
        return self._get("LinuxProcStatus", _proc.parse_proc_status)

    @cached_property
    def cpu_info(self) -> list[dict[str, str]] | None:
        """LinuxCpuInfo: one dictionary per processor."""
        return self._get("LinuxCpuInfo", _proc.parse_cpu_info)

    @cached_property
    def lsb_release(self) -> _proc.LsbRelease | None:
        """LinuxLsbRelease: the distribution."""
        return self._get("LinuxLsbRelease", _proc.parse_lsb_release)

    @cached_property
    def maps(self) -> list[_proc.LinuxMapping] | None:
        """LinuxMaps: the process's memory mappings."""
        return self._get("LinuxMaps", _proc.parse_maps)

    @cached_property
    def cmdline(self) -> list[str] | None:
        """LinuxCmdLine: the process's arguments."""
        return self._get("LinuxCmdLine", _proc.parse_cmdline)

    @cached_property
    def environ(self) -> dict[str, str] | None:
        """LinuxEnviron: the process's environment."""
        return self._get("LinuxEnviron", _proc.parse_environ)

    @cached_property
    def auxv(self) -> list[_auxv.AuxvEntry] | None:
        """LinuxAuxv: the ELF auxiliary vector."""
        size = self._dump.system.pointer_size
        return self._get("LinuxAuxv", lambda d: _auxv.parse_auxv(d, size))

    @cached_property
    def dso_debug(self) -> _dso.DsoDebug | None:
        """LinuxDsoDebug: the dynamic linker's link map."""
        size = self._dump.system.pointer_size
        read = self._read("LinuxDsoDebug")
        return self._get("LinuxDsoDebug", lambda d: _dso.parse_dso_debug(d, read, size))

    @cached_property
    def crashpad_info(self) -> _cp.CrashpadInfo | None:
        """CrashpadInfo: report and client ids, process and module annotations."""
        read = self._read("CrashpadInfo")
        return self._get("CrashpadInfo", lambda d: _cp.parse_crashpad_info(d, read))

    @cached_property
    def mac_crash_info(self) -> list[_moz.MacCrashInfo] | None:
        """MozMacosCrashInfo: macOS ``__crash_info`` records."""
        read = self._read("MozMacosCrashInfo")
        return self._get("MozMacosCrashInfo", lambda d: _moz.parse_mac_crash_info(d, read))

    @cached_property
    def mac_boot_args(self) -> str | None:
        """MozMacosBootargs: the kernel boot arguments."""
        read = self._read("MozMacosBootargs")
        return self._get("MozMacosBootargs", lambda d: _moz.parse_mac_bootargs(d, read))

    @cached_property
    def linux_limits(self) -> str | None:
        """MozLinuxLimits: ``/proc/PID/limits`` as text."""
        return self._get("MozLinuxLimits", lambda d: d.decode("utf-8", "replace"))

    @cached_property
    def soft_errors(self) -> object:
        """MozSoftErrors: the writer's non-fatal errors (JSON value), or None."""
        return self._get("MozSoftErrors", _moz.parse_soft_errors)
