"""Windows error and exception codes, looked up the way ``err.exe`` does.

This is the public face of :mod:`dumplib.codes` (tables generated from
mingw-w64's headers and [MS-ERREF]): :func:`lookup` lists every meaning of a
code across the NTSTATUS, HRESULT, Win32 and exception tables::

    >>> from dumplib import errors
    >>> [m.name for m in errors.lookup(0xC0000005)][:1]
    ['STATUS_ACCESS_VIOLATION']
"""

from __future__ import annotations

from dumplib.codes import (
    CodeMatch,
    CodeTable,
    HResultParts,
    NtStatusParts,
    decode_hresult,
    decode_ntstatus,
    format_lookup,
    lookup,
    lookup_name,
    name_of_exception,
    parse_code,
    to_json,
)

__all__ = [
    "CodeMatch",
    "CodeTable",
    "HResultParts",
    "NtStatusParts",
    "decode_hresult",
    "decode_ntstatus",
    "format_lookup",
    "lookup",
    "lookup_name",
    "name_of_exception",
    "parse_code",
    "to_json",
]
