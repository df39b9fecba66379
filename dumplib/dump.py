"""The public :class:`Dump` and :func:`open`.

:class:`Dump` is the front of the library: it is the model layer's
:class:`~dumplib.model.dump.DumpFile` (streams, threads, modules, memory) plus
the capabilities built above it (stack walking, symbols, analysis), which are
imported lazily so that opening a dump stays cheap and the lower layers never
import the higher ones.
"""

from __future__ import annotations

from dumplib.model.dump import DumpFile
from dumplib.source import Source, SourceLike

__all__ = ["Dump", "open"]


class Dump(DumpFile):
    """An opened minidump. See :class:`~dumplib.model.dump.DumpFile` for the stream API."""


def open(source: SourceLike | Source) -> Dump:
    """Open a minidump from a path, bytes or a seekable binary file object.

    Only the header and stream directory are read; streams are decoded on first use.

    Raises:
        SourceError: the path cannot be opened.
        NotADumpError: the data is not a minidump.
        DumpError: the directory is unusable.
    """
    return Dump(source)
