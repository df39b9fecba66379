"""Mozilla's vendor streams (0x4D7A00xx), written by its crash reporter and crashpad forks.

* MozMacosCrashInfo (0x4D7A0001): macOS ``__DATA,__crash_info`` records
  (``crashreporter_annotations_t``): a header (stream type, record count, the
  fixed size of a record, 20 location descriptors), each record a fixed part
  (stream type, version, then thread and dialog mode from version 4, abort
  cause from version 5) and, at ``record_start_size``, five NUL-terminated
  strings (module path, message, signature, backtrace, message 2);
* MozMacosBootargs (0x4D7A0002): stream type and an RVA64 of a MINIDUMP_STRING;
* MozLinuxLimits (0x4D7A0003): ``/proc/PID/limits`` as text;
* MozSoftErrors (0x4D7A0004): the writer's non-fatal errors, as JSON text.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

from dumplib._exc import TruncatedError
from dumplib.format.vendor import ReadAt

__all__ = [
    "MacCrashInfo",
    "parse_mac_bootargs",
    "parse_mac_crash_info",
    "parse_soft_errors",
]

_MAX_RECORDS = 20
_MAX_STRING = 8192
_STRINGS = ("module_path", "message", "signature_string", "backtrace", "message2")


@dataclass(frozen=True, slots=True)
class MacCrashInfo:
    """One ``__crash_info`` record (MozMacosCrashInfo).

    Attributes:
        version: the record version; thread, dialog_mode, abort_cause: fixed
            fields (None before the version that added them); module_path,
            message, signature_string, backtrace, message2: the strings ('' when empty).
    """

    version: int
    thread: int | None
    dialog_mode: int | None
    abort_cause: int | None
    module_path: str
    message: str
    signature_string: str
    backtrace: str
    message2: str


def parse_mac_crash_info(data: bytes, read: ReadAt) -> list[MacCrashInfo]:
    """Parse MozMacosCrashInfo.

    Raises:
        TruncatedError: the header or a record is cut.
    """
    if len(data) < 12 + 8 * _MAX_RECORDS:
        raise TruncatedError("MozMacosCrashInfo header is cut", stream="MozMacosCrashInfo")
    _stype, count, start = struct.unpack_from("<III", data)
    out: list[MacCrashInfo] = []
    for i in range(min(count, _MAX_RECORDS)):
        size, rva = struct.unpack_from("<II", data, 12 + 8 * i)
        if size < 16 or start > size:
            continue
        raw = read(rva, min(size, start + len(_STRINGS) * _MAX_STRING))
        _rt, version = struct.unpack_from("<QQ", raw)
        fixed = [struct.unpack_from("<Q", raw, off)[0] if off + 8 <= start else None
                 for off in (16, 24, 32)]
        strings = raw[start:].split(b"\0")
        texts = [(strings[j] if j < len(strings) else b"").decode("utf-8", "replace")
                 for j in range(len(_STRINGS))]
        out.append(MacCrashInfo(version, fixed[0] if version >= 4 else None,
                                fixed[1] if version >= 4 else None,
                                fixed[2] if version >= 5 else None, *texts))
    return out


def parse_mac_bootargs(data: bytes, read: ReadAt) -> str | None:
    """Parse MozMacosBootargs: the kernel boot arguments, or None when absent."""
    if len(data) < 12:
        raise TruncatedError("MozMacosBootargs is cut", stream="MozMacosBootargs")
    _stype, rva = struct.unpack_from("<IQ", data)
    if not rva:
        return None
    (length,) = struct.unpack("<I", read(rva, 4))
    return read(rva + 4, min(length, 1 << 16)).decode("utf-16-le", "replace")


def parse_soft_errors(data: bytes) -> object:
    """Parse MozSoftErrors: the JSON value, or the text when it is not JSON."""
    text = data.decode("utf-8", "replace").rstrip("\0")
    try:
        value: object = json.loads(text)
    except (ValueError, RecursionError):  # not JSON, or nested beyond the parser's depth
        return text
    return value
