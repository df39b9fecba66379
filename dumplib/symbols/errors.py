"""Errors raised by the symbols layer.

:class:`SymbolError` is the :class:`~dumplib.DumpError` subclass for every
problem with a symbol source: a malformed breakpad ``.sym`` file, an unusable
symbol path entry, a path built from dump data that would leave its symbol
directory, or a failed symbol-server download.
"""

from __future__ import annotations

import struct

from dumplib._exc import DumpError

__all__ = ["SOURCE_FAULTS", "SymbolError", "describe_fault"]

#: What a failing symbol source may raise while a module's symbols are looked
#: for. DumpError is the expected kind; the others mean a reader met input it
#: did not anticipate. Either way the fault is recorded for that module and the
#: search goes on with the next source, so one odd file cannot stop a stack walk.
SOURCE_FAULTS: tuple[type[Exception], ...] = (
    DumpError,
    OSError,
    ValueError,
    LookupError,
    ArithmeticError,
    RecursionError,
    struct.error,
)


class SymbolError(DumpError):
    """A symbol file, symbol path or symbol server could not be used.

    The ``stream`` context names the file or URL involved and ``offset`` the
    byte offset inside that file where parsing failed, when known.
    """


def describe_fault(exc: BaseException) -> str:
    """Render a fault caught from a symbol source for an error list.

    Args:
        exc: the exception.

    Returns:
        Its message; for anything but a DumpError, prefixed with ``"unexpected
        <type>:"`` so reader bugs stand out from bad input.
    """
    if isinstance(exc, DumpError):
        return str(exc)
    return f"unexpected {type(exc).__name__}: {exc}"
