"""Layer 5: stack walking. See :mod:`dumplib.unwind.frames` for the result types."""

from __future__ import annotations

from dumplib.unwind.frames import Frame, Stack, StackStatus, Trust, lookup_address

__all__ = ["Frame", "Stack", "StackStatus", "Trust", "lookup_address"]
