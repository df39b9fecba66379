"""Small typed records the builder takes as input or hands back as a result.

Inputs: :class:`TimeZone`, :class:`XStateConfig` (misc info level 3 and 5) and
:class:`NestedException` (the chain behind ``ExceptionRecord``). Results:
:class:`BuiltDump` with a :class:`StreamPlacement` per directory entry and a
:class:`MemoryPlacement` per captured memory range, so tests can find any
structure's file offset without a parser.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import BinaryIO

from dumplib.builder._output import Assembly

__all__ = [
    "BuiltDump",
    "MemoryPlacement",
    "NestedException",
    "StreamPlacement",
    "SystemTime",
    "TimeZone",
    "XStateConfig",
]

#: SYSTEMTIME as (year, month, day_of_week, day, hour, minute, second, milliseconds).
SystemTime = tuple[int, int, int, int, int, int, int, int]
_ZERO_TIME: SystemTime = (0, 0, 0, 0, 0, 0, 0, 0)


@dataclass(frozen=True, slots=True)
class TimeZone:
    """``TIME_ZONE_INFORMATION`` for ``MINIDUMP_MISC_INFO_3`` and later.

    Attributes:
        bias: minutes, UTC = local time + bias.
        standard_name: up to 31 characters.
        standard_date: SYSTEMTIME when standard time starts.
        standard_bias: minutes added to ``bias`` during standard time.
        daylight_name: up to 31 characters.
        daylight_date: SYSTEMTIME when daylight time starts.
        daylight_bias: minutes added to ``bias`` during daylight time.
    """

    bias: int = 0
    standard_name: str = ""
    standard_date: SystemTime = _ZERO_TIME
    standard_bias: int = 0
    daylight_name: str = ""
    daylight_date: SystemTime = _ZERO_TIME
    daylight_bias: int = 0


@dataclass(frozen=True, slots=True)
class XStateConfig:
    """``XSTATE_CONFIG_FEATURE_MSC_INFO`` for ``MINIDUMP_MISC_INFO_5``.

    Attributes:
        context_size: size of the extended context.
        enabled_features: mask of enabled XSTATE features.
        features: up to 64 ``(offset, size)`` pairs, feature 0 first.
        size_of_info: the record's own size field (528 by default, its ``sizeof``).
    """

    context_size: int = 0
    enabled_features: int = 0
    features: tuple[tuple[int, int], ...] = ()
    size_of_info: int = 528


@dataclass(frozen=True, slots=True)
class NestedException:
    """One EXCEPTION_RECORD of the chain behind ``MINIDUMP_EXCEPTION.ExceptionRecord``.

    Attributes:
        code: ExceptionCode.
        address: ExceptionAddress.
        flags: ExceptionFlags.
        parameters: ExceptionInformation (at most 15).
    """

    code: int
    address: int
    flags: int = 0
    parameters: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class StreamPlacement:
    """Where one directory entry's stream landed.

    Attributes:
        index: position in the stream directory.
        stream_type: the directory entry's StreamType.
        rva: file offset of the stream's data.
        size: Location.DataSize.
    """

    index: int
    stream_type: int
    rva: int
    size: int


@dataclass(frozen=True, slots=True)
class MemoryPlacement:
    """Where one captured memory range's bytes landed.

    Attributes:
        address: StartOfMemoryRange.
        size: DataSize.
        rva: file offset of its first byte.
    """

    address: int
    size: int
    rva: int


@dataclass(frozen=True)
class BuiltDump:
    """A laid-out minidump, ready to write, with a map of where everything is.

    Attributes:
        size: the file's size in bytes.
        streams: one entry per directory slot, in directory order.
        memory: the captured memory ranges in address order.
        thread_contexts: thread id -> (file offset, size) of its CONTEXT record.
        strings: each MINIDUMP_STRING written, text -> file offset (first occurrence).
    """

    size: int
    streams: tuple[StreamPlacement, ...]
    memory: tuple[MemoryPlacement, ...]
    thread_contexts: Mapping[int, tuple[int, int]]
    strings: Mapping[str, int]
    _assembly: Assembly = field(repr=False, compare=False)

    def stream(self, stream_type: int) -> StreamPlacement:
        """Return the first placement of ``stream_type``.

        Raises:
            KeyError: the dump has no such stream.
        """
        for placement in self.streams:
            if placement.stream_type == stream_type:
                return placement
        raise KeyError(f"no stream of type {stream_type:#x}")

    def to_bytes(self) -> bytes:
        """Return the dump in memory (allocates :attr:`size` bytes; big dumps: :meth:`write`)."""
        return self._assembly.to_bytes()

    def write(self, target: str | os.PathLike[str] | BinaryIO) -> int:
        """Write the dump to a path or seekable binary file, zero runs as holes.

        Returns:
            The file size in bytes.
        """
        return self._assembly.write(target)
