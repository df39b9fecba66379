"""The text cursor shared by the two name demanglers (:mod:`.undname`, :mod:`.itanium`)."""

from __future__ import annotations

__all__ = ["Cursor", "DemangleFail"]


class DemangleFail(Exception):
    """The name does not follow the grammar the demangler knows; callers keep it as is."""


class Cursor:
    """A position in a mangled name, with the primitive reads both grammars use."""

    __slots__ = ("pos", "s")

    def __init__(self, s: str, pos: int = 0) -> None:
        self.s = s
        self.pos = pos

    def peek(self, n: int = 1) -> str:
        """The next ``n`` characters, without moving."""
        return self.s[self.pos : self.pos + n]

    def take(self, n: int = 1) -> str:
        """Read ``n`` characters.

        Raises:
            DemangleFail: fewer than ``n`` are left.
        """
        if self.pos + n > len(self.s):
            raise DemangleFail("unexpected end")
        out = self.s[self.pos : self.pos + n]
        self.pos += n
        return out

    def consume(self, text: str) -> bool:
        """Read ``text`` if it comes next; say whether it did."""
        if self.s.startswith(text, self.pos):
            self.pos += len(text)
            return True
        return False
