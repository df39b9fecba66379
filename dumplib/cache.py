"""An on-disk cache of parsed module data, shared by processes (issue #16).

Parsing an image's export table (or other per-module data) costs the same
every time the same image is met again -- in the next CLI run, or in each
triage worker. This cache keeps such results as small JSON files, keyed by
what identifies the data, so that the work is paid once per machine.

Where it lives:

* ``DUMPLIB_CACHE_DIR=/some/dir`` puts it there;
* ``DUMPLIB_CACHE_DIR=`` (empty), ``DUMPLIB_CACHE_DIR=off`` or
  ``DUMPLIB_NO_CACHE=1`` turns it off;
* otherwise ``platformdirs.user_cache_dir("dumplib")`` when platformdirs is
  installed, else ``$XDG_CACHE_HOME/dumplib`` or ``~/.cache/dumplib``.

Entries are JSON (never pickle: loading a cache file runs no code). A file
that cannot be read or does not hold what its name promises is deleted and
treated as a miss, so a corrupt entry is rebuilt by the next caller. The
cache is bounded (:data:`DEFAULT_MAX_BYTES`, ``DUMPLIB_CACHE_MAX_MB``): when a
write takes it over the bound, the least recently used entries go. Failure to
write (read-only disk, full disk) is silent: the cache is an optimisation only.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

__all__ = ["DEFAULT_MAX_BYTES", "FORMAT", "DiskCache", "cache_dir", "default_cache", "digest"]

#: Bumped whenever the layout of a cached value changes; part of every key.
FORMAT = 1
#: Default bound on the cache's total size.
DEFAULT_MAX_BYTES = 256 << 20

_OFF = {"", "0", "off", "no", "none", "false"}


def cache_dir() -> str | None:
    """The cache directory chosen by the environment, or None when caching is off."""
    if os.environ.get("DUMPLIB_NO_CACHE", "").strip().lower() not in _OFF:
        return None
    env = os.environ.get("DUMPLIB_CACHE_DIR")
    if env is not None:
        return None if env.strip().lower() in _OFF else env
    try:
        import platformdirs
    except ImportError:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return os.path.join(base, "dumplib")
    return str(platformdirs.user_cache_dir("dumplib", appauthor=False))


def digest(*parts: bytes | str | int) -> str:
    """A hex key for ``parts`` (BLAKE2b, 160 bits), with :data:`FORMAT` mixed in."""
    h = hashlib.blake2b(digest_size=20)
    h.update(f"dumplib-cache-{FORMAT}".encode())
    for part in parts:
        data = part if isinstance(part, bytes) else str(part).encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


class DiskCache:
    """JSON values on disk under ``root/<kind>/<key>.json``, bounded to ``max_bytes``.

    Args:
        root: the directory (created on first write).
        max_bytes: total size above which least recently used entries are removed.
    """

    def __init__(self, root: str, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def _path(self, kind: str, key: str) -> str:
        if not kind.isidentifier() or not key.isalnum():
            raise ValueError(f"bad cache kind/key {kind!r}/{key!r}")
        return os.path.join(self.root, kind, f"{key}.json")

    def get(self, kind: str, key: str) -> Any:
        """The value stored for ``(kind, key)``, or None (missing or unreadable)."""
        path = self._path(kind, key)
        try:
            with open(path, "rb") as fh:
                doc = json.loads(fh.read())
        except FileNotFoundError:
            return None
        except (OSError, ValueError, RecursionError):
            self._drop(path)
            return None
        if not (isinstance(doc, dict) and doc.get("format") == FORMAT
                and doc.get("kind") == kind and doc.get("key") == key and "value" in doc):
            self._drop(path)
            return None
        try:
            os.utime(path)  # recently used: evicted last
        except OSError:
            pass
        return doc["value"]

    def put(self, kind: str, key: str, value: Any) -> None:
        """Store ``value`` (JSON-serialisable) for ``(kind, key)``; errors are ignored."""
        path = self._path(kind, key)
        data = json.dumps({"format": FORMAT, "kind": kind, "key": key, "value": value},
                          separators=(",", ":")).encode()
        if len(data) > self.max_bytes // 4:
            return
        tmp = f"{path}.{os.getpid()}.tmp"
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(tmp, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)  # readers see the old file or the whole new one
        except OSError:
            self._drop(tmp)
            return
        self._trim()

    def _drop(self, path: str) -> None:
        try:
            os.unlink(path)
        except OSError:
            pass

    def entries(self) -> list[tuple[float, int, str]]:
        """``(last use, size, path)`` of every entry."""
        out = []
        try:
            kinds = os.listdir(self.root)
        except OSError:
            return []
        for kind in kinds:
            folder = os.path.join(self.root, kind)
            try:
                names = os.listdir(folder)
            except OSError:
                continue
            for name in names:
                if not name.endswith(".json"):
                    continue
                path = os.path.join(folder, name)
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                out.append((st.st_mtime, st.st_size, path))
        return out

    def _trim(self) -> None:
        entries = self.entries()
        total = sum(size for _, size, _ in entries)
        if total <= self.max_bytes:
            return
        for _, size, path in sorted(entries):  # oldest use first, down to 3/4 of the bound
            self._drop(path)
            total -= size
            if total <= self.max_bytes * 3 // 4:
                break


_default: tuple[tuple[str | None, str | None, str | None, str | None], DiskCache | None] | None
_default = None


def default_cache() -> DiskCache | None:
    """The cache the environment asks for (see the module docs), or None when off."""
    global _default
    env = (os.environ.get("DUMPLIB_CACHE_DIR"), os.environ.get("DUMPLIB_NO_CACHE"),
           os.environ.get("DUMPLIB_CACHE_MAX_MB"), os.environ.get("XDG_CACHE_HOME"))
    if _default is not None and _default[0] == env:
        return _default[1]
    root = cache_dir()
    cache = None
    if root is not None:
        try:
            max_bytes = int(float(env[2]) * (1 << 20)) if env[2] else DEFAULT_MAX_BYTES
        except ValueError:
            max_bytes = DEFAULT_MAX_BYTES
        cache = DiskCache(root, max_bytes)
    _default = (env, cache)
    return cache
