"""Field encoders and private records shared by the builder and its stream writer.

Range-checked integer helpers, fixed-size UTF-16 arrays, the native
EXCEPTION_RECORD chain, TIME_ZONE_INFORMATION and XSTATE_CONFIG_FEATURE_MSC_INFO
encoders, and the frozen records :class:`~dumplib.builder.DumpBuilder` keeps
until layout time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dumplib.builder import _layouts as L
from dumplib.builder._output import Data
from dumplib.builder.records import NestedException, TimeZone, XStateConfig

__all__ = [
    "ExceptionRec",
    "FunctionTableRec",
    "HandleRec",
    "ModuleRec",
    "ThreadRec",
    "nested_chain",
    "sint",
    "time_zone_bytes",
    "uint",
    "version_words",
    "wchar_array",
    "xstate_bytes",
]


def uint(name: str, value: int, bits: int = 32) -> int:
    """Return ``value`` if it fits an unsigned ``bits``-bit field, else raise ValueError."""
    if not isinstance(value, int) or not 0 <= value < 1 << bits:
        raise ValueError(f"{name}={value!r} does not fit an unsigned {bits}-bit field")
    return value


def sint(name: str, value: int, bits: int = 32) -> int:
    """Return ``value`` if it fits a signed ``bits``-bit field, else raise ValueError."""
    if not isinstance(value, int) or not -(1 << (bits - 1)) <= value < 1 << (bits - 1):
        raise ValueError(f"{name}={value!r} does not fit a signed {bits}-bit field")
    return value


def wchar_array(name: str, text: str, chars: int) -> bytes:
    """Encode ``text`` as a NUL-padded WCHAR[chars] array (room for a terminator)."""
    raw = text.encode("utf-16-le")
    if len(raw) > 2 * (chars - 1):
        raise ValueError(f"{name} longer than {chars - 1} UTF-16 code units")
    return raw.ljust(2 * chars, b"\0")


def version_words(name: str, version: tuple[int, int, int, int]) -> tuple[int, int]:
    """Return (MS, LS) DWORDs of a four-part version for VS_FIXEDFILEINFO."""
    a, b, c, d = (uint(name, v, 16) for v in version)
    return (a << 16) | b, (c << 16) | d


@dataclass(frozen=True)
class ThreadRec:
    """A thread as given to add_thread, with its CONTEXT already encoded."""

    thread_id: int
    context: bytes
    stack_start: int
    stack: Data | None
    teb: int
    suspend_count: int
    priority_class: int
    priority: int
    name: str | None
    backing_store: tuple[int, int, int]


@dataclass(frozen=True)
class ModuleRec:
    """A module as given to add_module, records encoded."""

    path: str
    base: int
    size: int
    checksum: int
    time_date_stamp: int
    version_info: bytes
    cv_record: bytes | None
    misc_record: bytes | None


@dataclass(frozen=True)
class ExceptionRec:
    """The ExceptionStream's contents."""

    thread_id: int
    code: int
    flags: int
    record: int
    address: int
    parameters: tuple[int, ...]
    context: bytes | None


@dataclass(frozen=True)
class HandleRec:
    """One handle descriptor's contents."""

    handle: int
    type_name: str | None
    object_name: str | None
    attributes: int
    granted_access: int
    handle_count: int
    pointer_count: int
    object_info: tuple[tuple[int, bytes], ...]


@dataclass(frozen=True)
class FunctionTableRec:
    """One dynamic function table's contents."""

    minimum_address: int
    maximum_address: int
    base_address: int
    native_descriptor: bytes
    entries: bytes
    entry_count: int


def nested_chain(pointer_size: int, nested: Sequence[NestedException], at: int) -> bytes:
    """Encode a chain of native EXCEPTION_RECORDs (64- or 32-bit) starting at address ``at``."""
    shape = L.EXCEPTION_RECORD64 if pointer_size == 8 else L.EXCEPTION_RECORD32
    bits = 8 * pointer_size
    out = bytearray()
    for i, rec in enumerate(nested):
        nxt = at + (i + 1) * shape.size if i + 1 < len(nested) else 0
        params = tuple(uint("parameter", p, bits) for p in rec.parameters)
        if len(params) > L.EXCEPTION_MAXIMUM_PARAMETERS:
            raise ValueError("at most 15 exception parameters")
        info = params + (0,) * (L.EXCEPTION_MAXIMUM_PARAMETERS - len(params))
        if pointer_size == 8:
            out += shape.pack(uint("code", rec.code), uint("flags", rec.flags), nxt,
                              uint("address", rec.address, 64), len(params), 0, *info)
        else:
            out += shape.pack(uint("code", rec.code), uint("flags", rec.flags), nxt,
                              uint("address", rec.address), len(params), *info)
    return bytes(out)



def time_zone_bytes(tz: TimeZone) -> bytes:
    """Encode a TIME_ZONE_INFORMATION (172 bytes)."""
    return L.TIME_ZONE_INFORMATION.pack(
        sint("bias", tz.bias), wchar_array("standard_name", tz.standard_name, 32),
        L.SYSTEMTIME.pack(*(uint("standard_date", v, 16) for v in tz.standard_date)),
        sint("standard_bias", tz.standard_bias),
        wchar_array("daylight_name", tz.daylight_name, 32),
        L.SYSTEMTIME.pack(*(uint("daylight_date", v, 16) for v in tz.daylight_date)),
        sint("daylight_bias", tz.daylight_bias),
    )

def xstate_bytes(x: XStateConfig) -> bytes:
    """Encode an XSTATE_CONFIG_FEATURE_MSC_INFO (528 bytes)."""
    if len(x.features) > L.MAXIMUM_XSTATE_FEATURES:
        raise ValueError("at most 64 XSTATE features")
    out = L.XSTATE_CONFIG_HEAD.pack(uint("size_of_info", x.size_of_info),
                                    uint("context_size", x.context_size),
                                    uint("enabled_features", x.enabled_features, 64))
    features = list(x.features) + [(0, 0)] * (L.MAXIMUM_XSTATE_FEATURES - len(x.features))
    return out + b"".join(L.XSTATE_FEATURE.pack(uint("feature offset", o),
                                                uint("feature size", s))
                          for o, s in features)
