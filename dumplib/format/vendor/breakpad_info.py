"""BreakpadInfo (0x47670001): which thread wrote the dump and which asked for it.

``MDRawBreakpadInfo``: ``validity`` (bit 0: ``dump_thread_id`` valid, bit 1:
``requesting_thread_id`` valid), then the two thread ids. An out-of-process
or in-process handler thread writes the dump; its own stack is handler noise,
which minidump-stackwalk leaves out of the thread list.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from dumplib._exc import TruncatedError

__all__ = ["BreakpadInfo", "parse_breakpad_info"]


@dataclass(frozen=True, slots=True)
class BreakpadInfo:
    """The BreakpadInfo stream.

    Attributes:
        validity: the raw validity bits.
        dump_thread_id: the thread that wrote the dump, or None when not valid.
        requesting_thread_id: the thread that crashed or asked for the dump, or None.
    """

    validity: int
    dump_thread_id: int | None
    requesting_thread_id: int | None


def parse_breakpad_info(data: bytes) -> BreakpadInfo:
    """Parse BreakpadInfo.

    Raises:
        TruncatedError: fewer than 12 bytes.
    """
    if len(data) < 12:
        raise TruncatedError(f"BreakpadInfo needs 12 bytes, has {len(data)}",
                             stream="BreakpadInfo")
    validity, dump_tid, req_tid = struct.unpack_from("<III", data)
    return BreakpadInfo(validity, dump_tid if validity & 1 else None,
                        req_tid if validity & 2 else None)
