"""The error the PDB reader raises for malformed or truncated PDB files.

:class:`PdbError` derives from :class:`~dumplib.CorruptDumpError` (and so from
:class:`~dumplib.DumpError`): a symbol file that cannot be read is reported with
the stream index it was reading (``stream="pdb stream 3"``) and the byte offset
inside that stream (or the file, for the MSF superblock and directory).
"""

from __future__ import annotations

from dumplib._exc import CorruptDumpError

__all__ = ["PdbError", "stream_label"]


class PdbError(CorruptDumpError):
    """A PDB file is truncated, malformed or not an MSF 7.00 file at all.

    Attributes follow :class:`~dumplib.DumpError`: ``stream`` names the PDB
    stream (``"pdb stream 3"``, ``"MSF superblock"``...) and ``offset`` is the
    offset inside that stream where parsing failed.
    """


def stream_label(index: int | None, what: str = "") -> str:
    """Return the ``stream`` context string for a PDB stream.

    Args:
        index: the MSF stream index, or None for file-level structures.
        what: what the stream holds (``"DBI"``, ``"module 12 symbols"``...).

    Returns:
        A label such as ``"pdb stream 3 (DBI)"``.
    """
    if index is None:
        return what or "pdb"
    return f"pdb stream {index} ({what})" if what else f"pdb stream {index}"
