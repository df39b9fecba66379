"""Errors raised by the symbols layer.

:class:`SymbolError` is the :class:`~dumplib.DumpError` subclass for every
problem with a symbol source: a malformed breakpad ``.sym`` file, an unusable
symbol path entry, a path built from dump data that would leave its symbol
directory, or a failed symbol-server download.
"""

from __future__ import annotations

from dumplib._exc import DumpError

__all__ = ["SymbolError"]


class SymbolError(DumpError):
    """A symbol file, symbol path or symbol server could not be used.

    The ``stream`` context names the file or URL involved and ``offset`` the
    byte offset inside that file where parsing failed, when known.
    """
