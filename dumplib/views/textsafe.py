"""Text read from a dump, made safe to print on a terminal.

Names in a dump (threads, modules, PDB paths, comments, version strings,
function names from its symbols) are attacker-controlled data. Printed as
is, ``[/x]`` in a name is rich markup (a ``MarkupError`` or a hijacked
style) and ``\\x1b[2J`` is a terminal escape sequence. Every renderer passes
such text through :func:`shown` (plain strings) or :func:`data` (a rich
``Text``, never parsed as markup), so one function decides how it looks:
control characters (C0, DEL, C1), format characters (bidirectional
overrides, zero-width marks) and line/paragraph separators are written as
Python escapes (``\\x1b``, ``\\u202e``); everything else is kept.
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.text import Text

__all__ = ["data", "markup", "shown"]

_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
_cache: dict[str, str] = {}


def _escape_char(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def shown(value: object) -> str:
    """``value`` as text with every control/format character written as an escape.

    ``None`` becomes the empty string. Plain printable text is returned unchanged.
    """
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable() and text.isascii():
        return text
    hit = _cache.get(text)
    if hit is not None:
        return hit
    out = "".join(
        _escape_char(ch) if (ch != " " and unicodedata.category(ch) in _UNSAFE_CATEGORIES)
        else ch
        for ch in text
    )
    if len(_cache) < 4096:
        _cache[text] = out
    return out


def data(value: object, style: str = "", *, lines: bool = False) -> Text:
    """A rich ``Text`` of :func:`shown` ``value``: printed literally, never parsed as markup.

    Args:
        value: the text (or any object, shown by ``str``).
        style: a rich style for the whole text.
        lines: keep ``\\n`` as line breaks (for multi-line text composed by dumplib,
            such as the WER view); each line is still shown as data.
    """
    from rich.text import Text

    if lines and value is not None:
        return Text("\n".join(shown(ln) for ln in str(value).split("\n")), style=style)
    return Text(shown(value), style=style)


def markup(value: object) -> str:
    """:func:`shown` ``value`` with rich markup escaped, for embedding in a markup string."""
    from rich.markup import escape

    return escape(shown(value))
