"""Regular expressions from signature files, bounded in time (issue 14).

Signature patterns are user data, and the text they run on comes from the
dump (module, function, thread and handle names). A backtracking pattern such
as ``(\\w+\\s?)+$`` takes exponential time on a 30-character name. Three bounds
apply to every pattern compiled by :func:`compile_bounded`:

- at load time: a pattern longer than :data:`MAX_PATTERN` characters, or with a
  repeated group that itself contains an unbounded repeat (the shape of every
  classic catastrophic pattern), is refused with a reason;
- at match time: the text is cut to :data:`MAX_TEXT` characters;
- when the optional ``regex`` package is installed, each match is time-boxed
  (:data:`MATCH_TIMEOUT`); a match that runs out raises :class:`PatternTimeout`
  (a DumpError), which the analysis records as a note for that signature.
"""

from __future__ import annotations

import re
from typing import Any, cast

from dumplib._exc import DumpError

try:  # Python 3.11+: re._parser; 3.10: sre_parse
    import re._parser as _sre_parse  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - Python 3.10
    import sre_parse as _sre_parse

__all__ = ["MATCH_TIMEOUT", "MAX_PATTERN", "MAX_TEXT", "PatternTimeout", "check_pattern",
           "compile_bounded"]

#: Longest pattern accepted, in characters.
MAX_PATTERN = 1000
#: Longest text a pattern is matched against, in characters.
MAX_TEXT = 4096
#: Seconds one match may take (with the optional ``regex`` package).
MATCH_TIMEOUT = 0.25
_UNBOUNDED = 0xFFFFFFFF  # sre's MAXREPEAT on every supported build is at least this


class PatternTimeout(DumpError):
    """A signature pattern took longer than :data:`MATCH_TIMEOUT` on one text."""


def _repeats(items: Any, inside_repeat: bool) -> str | None:
    for op, av in items:
        name = str(op)
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            _lo, hi, sub = av
            unbounded = hi >= min(_UNBOUNDED, _sre_parse.MAXREPEAT)
            if inside_repeat and (unbounded or hi > 1):
                return "a repeated group holds another repeat (exponential backtracking)"
            found = _repeats(sub, inside_repeat or hi > 1)
            if found:
                return found
        elif name == "SUBPATTERN":
            found = _repeats(av[-1], inside_repeat)
            if found:
                return found
        elif name == "BRANCH":
            for alt in av[1]:
                found = _repeats(alt, inside_repeat)
                if found:
                    return found
        elif name in ("ASSERT", "ASSERT_NOT"):
            found = _repeats(av[1], inside_repeat)
            if found:
                return found
    return None


def check_pattern(text: str) -> str | None:
    """Why ``text`` is refused as a signature pattern, or None when it is accepted."""
    if len(text) > MAX_PATTERN:
        return f"longer than {MAX_PATTERN} characters"
    try:
        parsed = _sre_parse.parse(text, re.IGNORECASE)
    except re.error as exc:
        return f"bad regular expression: {exc}"
    except RecursionError:
        return "nested too deeply"
    return _repeats(parsed, False)


class _Bounded:
    """A compiled pattern whose searches see at most :data:`MAX_TEXT` characters."""

    __slots__ = ("_compiled", "_timed", "flags", "pattern")

    def __init__(self, text: str, flags: int) -> None:
        self.pattern = text
        self.flags = flags
        self._timed = False
        compiled: Any = None
        try:
            import regex  # type: ignore[import-untyped, unused-ignore]

            compiled = regex.compile(text, flags | regex.V0)
            self._timed = True
        except ImportError:
            compiled = re.compile(text, flags)
        except Exception:  # regex's dialect differs: the stdlib decides
            compiled = re.compile(text, flags)
        self._compiled = compiled

    def _run(self, how: str, text: str, *args: Any) -> Any:
        text = text[:MAX_TEXT]
        if not self._timed:
            return getattr(self._compiled, how)(text, *args)
        try:
            return getattr(self._compiled, how)(text, *args, timeout=MATCH_TIMEOUT)
        except TimeoutError:
            raise PatternTimeout(
                f"pattern {self.pattern[:80]!r} took over {MATCH_TIMEOUT:g} s on a "
                f"{len(text)}-character text"
            ) from None

    def search(self, text: str, *args: Any) -> Any:
        """``re.Pattern.search`` on the first :data:`MAX_TEXT` characters, time-boxed."""
        return self._run("search", text, *args)

    def match(self, text: str, *args: Any) -> Any:
        """``re.Pattern.match``, bounded like :meth:`search`."""
        return self._run("match", text, *args)

    def fullmatch(self, text: str, *args: Any) -> Any:
        """``re.Pattern.fullmatch``, bounded like :meth:`search`."""
        return self._run("fullmatch", text, *args)

    def __repr__(self) -> str:
        return f"bounded_re({self.pattern!r})"


def compile_bounded(text: str, flags: int = 0) -> re.Pattern[str]:
    """Compile a signature pattern with the bounds of this module.

    Returns:
        An object with ``re.Pattern``'s ``search``/``match``/``fullmatch``,
        ``pattern`` and ``flags`` (typed as ``re.Pattern`` for its callers).

    Raises:
        re.error: the pattern is refused (see :func:`check_pattern`) or invalid.
    """
    reason = check_pattern(text)
    if reason is not None:
        raise re.error(reason)
    return cast("re.Pattern[str]", _Bounded(text, flags))
