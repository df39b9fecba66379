"""The Linux text streams breakpad copies from ``/proc`` and ``/etc``.

* LinuxProcStatus (0x47670004): ``/proc/PID/status``, ``Key:<tab>value`` lines;
* LinuxCpuInfo (0x47670003): ``/proc/cpuinfo``, blank-line separated processors;
* LinuxLsbRelease (0x47670005): ``/etc/lsb-release`` (``DISTRIB_ID=...``) or
  ``/etc/os-release`` (``ID=...``);
* LinuxMaps (0x47670009): ``/proc/PID/maps``, one mapping a line;
* LinuxCmdLine (0x47670006), LinuxEnviron (0x47670007): NUL-separated strings.

Text is decoded as UTF-8 with undecodable bytes replaced; nothing here raises
for odd content: a line that does not parse is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "LinuxMapping",
    "LsbRelease",
    "ProcStatus",
    "parse_cmdline",
    "parse_cpu_info",
    "parse_environ",
    "parse_lsb_release",
    "parse_maps",
    "parse_proc_status",
]


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace").rstrip("\0")


def _keyed(text: str, sep: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, found, value = line.partition(sep)
        if found and key.strip():
            out.setdefault(key.strip(), value.strip())
    return out


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    head = value.split()[0] if value.split() else ""
    return int(head) if head.lstrip("-").isdigit() else None


@dataclass(frozen=True, slots=True)
class ProcStatus:
    """``/proc/PID/status`` of the crashed process (LinuxProcStatus).

    Attributes:
        name: ``Name``; pid, ppid, tracer_pid: ``Pid``, ``PPid``, ``TracerPid``
            (None when absent); fields: every ``key: value`` line, as written.
    """

    name: str | None
    pid: int | None
    ppid: int | None
    tracer_pid: int | None
    fields: dict[str, str]


def parse_proc_status(data: bytes) -> ProcStatus:
    """Parse LinuxProcStatus."""
    fields = _keyed(_text(data), ":")
    return ProcStatus(fields.get("Name"), _int(fields.get("Pid")), _int(fields.get("PPid")),
                      _int(fields.get("TracerPid")), fields)


def parse_cpu_info(data: bytes) -> list[dict[str, str]]:
    """Parse LinuxCpuInfo: one ``key: value`` dictionary per processor block."""
    blocks: list[dict[str, str]] = []
    for block in _text(data).split("\n\n"):
        fields = _keyed(block, ":")
        if fields:
            blocks.append(fields)
    return blocks


@dataclass(frozen=True, slots=True)
class LsbRelease:
    """The distribution (LinuxLsbRelease), as minidump-stackwalk's ``lsb_release`` reports it.

    Attributes:
        id, release, codename, description: ``DISTRIB_ID``, ``DISTRIB_RELEASE``,
            ``DISTRIB_CODENAME``, ``DISTRIB_DESCRIPTION`` (or os-release's
            ``ID``, ``VERSION_ID``, ``VERSION_CODENAME``, ``PRETTY_NAME``).
        fields: every ``KEY=value`` line, quotes removed.
    """

    id: str | None
    release: str | None
    codename: str | None
    description: str | None
    fields: dict[str, str]


def parse_lsb_release(data: bytes) -> LsbRelease:
    """Parse LinuxLsbRelease (lsb-release or os-release syntax)."""
    fields = {k: v.strip().strip('"').strip("'") for k, v in _keyed(_text(data), "=").items()}

    def get(*keys: str) -> str | None:
        for k in keys:
            if k in fields:
                return fields[k]
        return None

    return LsbRelease(
        get("DISTRIB_ID", "ID"), get("DISTRIB_RELEASE", "VERSION_ID"),
        get("DISTRIB_CODENAME", "VERSION_CODENAME"), get("DISTRIB_DESCRIPTION", "PRETTY_NAME"),
        fields,
    )


@dataclass(frozen=True, slots=True)
class LinuxMapping:
    """One line of ``/proc/PID/maps``.

    Attributes:
        start, end: the address range; permissions: e.g. ``"r-xp"``;
        offset: file offset; device: ``"fd:01"``; inode; path: the mapped file
        or pseudo-name (``[stack]``), None for anonymous memory.
    """

    start: int
    end: int
    permissions: str
    offset: int
    device: str
    inode: int
    path: str | None

    @property
    def executable(self) -> bool:
        """Whether the mapping is executable."""
        return "x" in self.permissions


def parse_maps(data: bytes) -> list[LinuxMapping]:
    """Parse LinuxMaps; lines that do not parse are skipped."""
    out: list[LinuxMapping] = []
    for line in _text(data).splitlines():
        parts = line.split(None, 5)
        if len(parts) < 5 or "-" not in parts[0]:
            continue
        lo, _, hi = parts[0].partition("-")
        try:
            out.append(LinuxMapping(int(lo, 16), int(hi, 16), parts[1], int(parts[2], 16),
                                    parts[3], int(parts[4]),
                                    parts[5].strip() if len(parts) > 5 else None))
        except ValueError:
            continue
    return out


def _nul_strings(data: bytes) -> list[str]:
    return [s.decode("utf-8", "replace") for s in data.rstrip(b"\0").split(b"\0")] if (
        data.rstrip(b"\0")) else []


def parse_cmdline(data: bytes) -> list[str]:
    """Parse LinuxCmdLine: the process's arguments."""
    return _nul_strings(data)


def parse_environ(data: bytes) -> dict[str, str]:
    """Parse LinuxEnviron: ``NAME=value`` strings (the first of a repeated name wins)."""
    out: dict[str, str] = {}
    for item in _nul_strings(data):
        key, _, value = item.partition("=")
        out.setdefault(key, value)
    return out
