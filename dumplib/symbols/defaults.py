"""The symbol path the command line uses when none is given, and its download cache.

WinDbg's convention: without an explicit symbol path, ``_NT_ALT_SYMBOL_PATH``
and ``_NT_SYMBOL_PATH`` are used. A server element without a local store
(``srv*https://...``) downloads into one per-user cache directory (from
platformdirs: ``~/.cache/dumplib/symbols`` on Linux,
``%LOCALAPPDATA%\\dumplib\\Cache\\symbols`` on Windows), so files are fetched once
and nothing is left in the temporary directory. The library itself reads no
environment: :func:`dumplib.analyze` and ``dump.stack`` use exactly the
``symbols=`` they are given; the command line calls :func:`cli_symbol_path`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from dumplib.symbols.path import symbol_path_from_environment

__all__ = ["ENV_VARS", "cli_symbol_path", "default_cache_dir", "with_default_cache"]

#: The environment variables read, in search order.
ENV_VARS = ("_NT_ALT_SYMBOL_PATH", "_NT_SYMBOL_PATH")


def default_cache_dir() -> str:
    """The per-user download cache for symbol servers (platformdirs' user cache + ``symbols``).

    Falls back to ``~/.cache/dumplib/symbols`` when platformdirs is not installed.
    """
    try:
        import platformdirs
    except ImportError:  # pragma: no cover - platformdirs is a dependency
        base = os.path.join(os.path.expanduser("~"), ".cache", "dumplib")
    else:
        base = platformdirs.user_cache_dir("dumplib", appauthor=False)
    return os.path.join(base, "symbols")


def _needs_cache(element: str) -> bool:
    lower = element.strip().lower()
    if lower.startswith(("http://", "https://")):
        return True
    if lower.startswith("srv*"):
        parts = [p for p in element.strip()[4:].split("*") if p.strip()]
        return len(parts) == 1 and parts[0].strip().lower().startswith(("http://", "https://"))
    return False


def with_default_cache(entry: str, cache: str) -> str:
    """``entry`` with ``cache*CACHE;`` in front when it has a server element without a
    store and no ``cache*`` of its own before it; else unchanged."""
    for element in entry.split(";"):
        if element.strip().lower().startswith("cache*"):
            return entry
        if _needs_cache(element):
            return f"cache*{cache};{entry}"
    return entry


def cli_symbol_path(given: Sequence[str] | None,
                    environ: Mapping[str, str] | None = None) -> tuple[list[str], str | None]:
    """The symbol path for a command: ``given`` (``--symbols``), else the environment.

    Returns:
        ``(entries, source)``: the entries with the default cache applied, and the
        environment variable they came from (None when given on the command line or empty).
    """
    cache = default_cache_dir()
    if given:
        return [with_default_cache(os.fspath(g), cache) for g in given], None
    from_env = symbol_path_from_environment(environ)
    if not from_env:
        return [], None
    env = os.environ if environ is None else environ
    names = [n for n in ENV_VARS if env.get(n, "").strip()]
    return [with_default_cache(e, cache) for e in from_env], " and ".join(names)
