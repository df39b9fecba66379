"""Symbol paths: where images, PDBs and breakpad ``.sym`` files are looked for.

A symbol path is a list of entries, each one of:

* a directory, searched in every layout at once:

  - flat: ``DIR/crash.pdb``, ``DIR/crash.exe``, ``DIR/crash.sym``, ``DIR/crash.pdb.sym``;
  - symbol store: ``DIR/crash.pdb/GUIDAGE/crash.pdb``,
    ``DIR/crash.exe/TIMESTAMPSIZE/crash.exe``; the two-tier variant
    (``DIR/cr/crash.pdb/GUIDAGE/crash.pdb``) when ``DIR/index2.txt`` exists;
    a compressed ``crash.pd_`` is reported as unsupported;
  - breakpad tree: ``DIR/crash.pdb/GUIDAGE/crash.sym``;

* a single file, used when its name is the one asked for;
* an ``_NT_SYMBOL_PATH``-style string: ``;``-joined elements, among them
  ``srv*CACHE*URL`` (download from an HTTP(S) symbol server into the CACHE store),
  ``srv*URL``, ``srv*STORE`` (a local store), ``symsrv*symsrv.dll*CACHE*URL`` and
  ``cache*DIR`` (a cache for the server elements that follow it).

Names used to build paths come from the dump, so they are sanitised
(:func:`safe_name`): only the base name of a Windows or POSIX path is used,
``..``, drive letters, NULs and separators are refused, and the joined path
must stay inside its symbol directory after resolving links.

:class:`SymbolLocator` runs the search. It never decides alone that a file
matches: the caller passes a ``verify`` callback that reads the candidate's
identity. Every candidate tried and why it was rejected is returned as
:class:`Attempt` records.
"""

from __future__ import annotations

import enum
import os
import re
import shutil
import tempfile
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from dumplib.symbols.download import (
    BudgetSpent,
    DownloadBudget,
    NotOnServer,
    ServerDown,
    fetch,
    known_missing,
    remember_missing,
)
from dumplib.symbols.errors import SOURCE_FAULTS, SymbolError, describe_fault

__all__ = [
    "Attempt",
    "EntryKind",
    "LocateResult",
    "Outcome",
    "SymbolLocator",
    "SymbolPathEntry",
    "image_key",
    "parse_symbol_path",
    "pdb_key",
    "safe_join",
    "safe_name",
    "symbol_path_from_environment",
]

#: Default limit on one downloaded file (2 GiB: the largest PDBs are around 1 GiB).
DEFAULT_MAX_DOWNLOAD = 2 << 30
#: Default network timeout, in seconds, for connecting and for each read.
DEFAULT_TIMEOUT = 20.0
_CHUNK = 1 << 20
_KEY_RE = re.compile(r"[0-9A-Fa-f]{1,64}")
_DRIVE_RE = re.compile(r"^[A-Za-z]:")

#: A callback that checks a candidate file: returns None when it matches the
#: identity asked for, or a sentence saying why not; raises a DumpError when the
#: file is corrupt.
Verifier = Callable[[str], "str | None"]


class EntryKind(enum.Enum):
    """What a :class:`SymbolPathEntry` points at."""

    DIRECTORY = "directory"
    FILE = "file"
    SERVER = "server"


class Outcome(enum.Enum):
    """What happened to one candidate in an :class:`Attempt`."""

    FOUND = "found"
    MISMATCH = "mismatch"
    ERROR = "error"
    UNSUPPORTED = "unsupported"
    NOT_FOUND = "not found"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class SymbolPathEntry:
    """One element of a parsed symbol path.

    Attributes:
        kind: directory, single file, or symbol server.
        path: the directory or file (None for a server).
        stores: for a server, the local stores searched first, best first; the
            first one receives downloads.
        url: for a server, the HTTP(S) URL, or None for a purely local store chain.
    """

    kind: EntryKind
    path: str | None = None
    stores: tuple[str, ...] = ()
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    """One candidate that was looked at.

    Attributes:
        location: the path or URL tried.
        outcome: what happened.
        detail: why (the mismatch, the error message), or ``""``.
    """

    location: str
    outcome: Outcome
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.location}: {self.outcome.value}" + (
            f" ({self.detail})" if self.detail else ""
        )


@dataclass(slots=True)
class LocateResult:
    """The result of one search.

    Attributes:
        path: the matching file, or None.
        attempts: every candidate examined, in order (including the match).
    """

    path: str | None = None
    attempts: list[Attempt] = field(default_factory=list)


def _is_url(text: str) -> bool:
    return text.lower().startswith(("http://", "https://"))


def parse_symbol_path(entries: Iterable[str | os.PathLike[str]]) -> list[SymbolPathEntry]:
    """Parse ``symbols=`` entries into search entries, keeping their order.

    Args:
        entries: directories, files, or ``_NT_SYMBOL_PATH``-style strings.

    Returns:
        The parsed entries. Directories and files that do not exist are kept as
        directories (they simply hold nothing).

    Raises:
        SymbolError: a ``srv*``/``symsrv*`` element names no store and no URL, or a
            URL uses a scheme other than http/https.
    """
    result: list[SymbolPathEntry] = []
    for entry in entries:
        if not isinstance(entry, str):
            result.append(_plain(os.fspath(entry)))
            continue
        cache: str | None = None
        for element in entry.split(";"):
            element = element.strip()
            if not element:
                continue
            lower = element.lower()
            if lower.startswith("cache*"):
                cache = element[6:].strip() or None
                continue
            if lower.startswith(("srv*", "symsrv*")):
                parts = element.split("*")
                parts = parts[2:] if lower.startswith("symsrv*") else parts[1:]
                parts = [p.strip() for p in parts if p.strip()]
                url = parts.pop() if parts and _is_url(parts[-1]) else None
                if any("://" in p for p in parts) or (url is None and "://" in element[4:]):
                    raise SymbolError(f"unsupported URL in symbol path element {element!r}")
                if not parts and url is None:
                    raise SymbolError(f"symbol path element {element!r} names no store")
                if url is not None and not parts and cache is not None:
                    parts = [cache]
                result.append(SymbolPathEntry(EntryKind.SERVER, None, tuple(parts), url))
                continue
            if _is_url(element):
                stores = (cache,) if cache is not None else ()
                result.append(SymbolPathEntry(EntryKind.SERVER, None, stores, element))
                continue
            result.append(_plain(element))
    return result


def symbol_path_from_environment(environ: Mapping[str, str] | None = None) -> list[str]:
    """Return the symbol path WinDbg would use from the environment.

    ``_NT_ALT_SYMBOL_PATH`` is searched before ``_NT_SYMBOL_PATH``, as the
    debuggers do. dumplib never reads these on its own: pass the result as
    ``symbols=`` to opt in.

    Args:
        environ: the environment; ``os.environ`` when None.

    Returns:
        The non-empty variables' values, in search order.
    """
    env = os.environ if environ is None else environ
    names = ("_NT_ALT_SYMBOL_PATH", "_NT_SYMBOL_PATH")
    return [env[name] for name in names if env.get(name, "").strip()]


def _plain(path: str) -> SymbolPathEntry:
    if os.path.isfile(path):
        return SymbolPathEntry(EntryKind.FILE, path)
    return SymbolPathEntry(EntryKind.DIRECTORY, path)


def _kind_sought(names: Sequence[str]) -> str:
    """``"breakpad"``, ``"pdb"`` or ``"pe"``: what a search for ``names`` looks for."""
    lowered = [n.lower() for n in names]
    if any(n.endswith(".sym") for n in lowered):
        return "breakpad"
    if any(n.endswith(".pdb") for n in lowered):
        return "pdb"
    return "pe"


def _sniff(path: str) -> str | None:
    """The kind of a file from its first bytes (``"breakpad"``, ``"pdb"``, ``"pe"``), or None."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(32)
    except OSError:
        return None
    if head.startswith(b"MODULE "):
        return "breakpad"
    if head.startswith(b"Microsoft C/C++ MSF 7.00"):
        return "pdb"
    return "pe" if head.startswith(b"MZ") else None


def safe_name(name: str) -> str:
    """Reduce a file name taken from a dump to a safe single path component.

    The base name of a Windows or POSIX path is taken (``C:\\build\\crash.pdb`` ->
    ``crash.pdb``).

    Args:
        name: the name as recorded in the dump or image.

    Returns:
        The base name.

    Raises:
        SymbolError: the base name is empty, ``.`` or ``..``, holds a NUL or other
            control character, or starts with a drive letter (``C:x.pdb``).
    """
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    if base in ("", ".", ".."):
        raise SymbolError(f"unusable file name {name!r} for a symbol lookup")
    if any(ord(c) < 32 or c == "\x7f" for c in base):
        raise SymbolError(f"control character in file name {name!r}")
    if _DRIVE_RE.match(base) or ":" in base:
        raise SymbolError(f"drive letter or stream name in file name {name!r}")
    return base


def _check_key(key: str) -> str:
    if not _KEY_RE.fullmatch(key):
        raise SymbolError(f"symbol-store key {key!r} is not hexadecimal")
    return key


def safe_join(root: str, *parts: str) -> str:
    """Join path components under ``root`` and check the result stays inside it.

    Args:
        root: the symbol directory.
        parts: components, each already a single name (see :func:`safe_name`).

    Returns:
        The joined path.

    Raises:
        SymbolError: a component is absolute, ``..``, holds a separator, or the
            resolved path (following links) leaves ``root``.
    """
    for part in parts:
        if (
            part in ("", ".", "..")
            or "/" in part
            or "\\" in part
            or "\0" in part
            or os.path.isabs(part)
            or _DRIVE_RE.match(part)
        ):
            raise SymbolError(f"path component {part!r} is not a plain name")
    joined = os.path.join(root, *parts)
    real_root = os.path.realpath(root)
    real = os.path.realpath(joined)
    try:
        inside = os.path.commonpath([real_root, real]) == real_root
    except ValueError:
        inside = False
    if not inside:
        raise SymbolError(f"{joined!r} resolves outside the symbol directory {root!r}")
    return joined


def pdb_key(guid: str, age: int) -> str:
    """Symbol-store key of a PDB or breakpad file: the GUID, then the age in hex.

    Args:
        guid: 32 hex digits, no dashes (an 8-digit NB10 signature also works).
        age: the PDB age.

    Returns:
        e.g. ``"3249D99D0C4049318610F4E4FB0B69361"``.
    """
    return f"{guid.upper()}{age:X}"


def image_key(timestamp: int, size: int) -> str:
    """Symbol-store key of an image: ``%08X`` timestamp, then ``%x`` SizeOfImage.

    Args:
        timestamp: the image's TimeDateStamp.
        size: the image's SizeOfImage.

    Returns:
        e.g. ``"5AB380779000"``.
    """
    return f"{timestamp:08X}{size:x}"


class SymbolLocator:
    """Searches a symbol path for files matching an identity.

    One locator is meant to live for one run (one resolver): it remembers the
    directory listings it made and every URL that failed, so a missing file is
    asked for only once.

    Args:
        entries: ``symbols=`` entries (see :func:`parse_symbol_path`).
        timeout: network timeout in seconds for each request.
        max_download: largest file accepted from a server, in bytes.
        default_cache: where ``srv*URL`` entries without a cache store downloads;
            a temporary directory is created on first need when None.
        budget: what all downloads of this locator may spend (time, bytes,
            requests); see :mod:`dumplib.symbols.download`.

    Attributes:
        faults: one line per symbol-server fault met (unreachable server, broken
            HTTP, spent budget), for a report's notes.

    Raises:
        SymbolError: an entry cannot be parsed.
    """

    def __init__(
        self,
        entries: Iterable[str | os.PathLike[str]],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_download: int = DEFAULT_MAX_DOWNLOAD,
        default_cache: str | None = None,
        budget: DownloadBudget | None = None,
    ) -> None:
        self.entries = parse_symbol_path(entries)
        self.budget = budget if budget is not None else DownloadBudget()
        self.faults: list[str] = []
        self._spent: str | None = None
        self.timeout = timeout
        self.max_download = max_download
        self._default_cache = default_cache
        self._temp_cache: str | None = None
        self._listings: dict[str, dict[str, str]] = {}
        self._failed_urls: dict[str, str] = {}
        self._dead_servers: dict[str, str] = {}

    def close(self) -> None:
        """Remove the temporary download cache, if one was made."""
        if self._temp_cache is not None:
            shutil.rmtree(self._temp_cache, ignore_errors=True)
            self._temp_cache = None

    # -- directory helpers ------------------------------------------------------------

    def _listing(self, directory: str) -> dict[str, str]:
        listing = self._listings.get(directory)
        if listing is None:
            try:
                names = os.listdir(directory)
            except OSError:
                names = []
            listing = {}
            for name in names:
                listing.setdefault(name.lower(), name)
            self._listings[directory] = listing
        return listing

    def _child(self, directory: str, name: str, result: LocateResult) -> str | None:
        """Find ``name`` in ``directory`` (case-insensitively, as Windows stores are).

        A child that resolves outside ``directory`` (a symbolic link) is refused
        and recorded in ``result``.
        """
        actual = self._listing(directory).get(name.lower())
        if actual is None:
            return None
        try:
            return safe_join(directory, actual)
        except SymbolError as exc:
            result.attempts.append(
                Attempt(os.path.join(directory, actual), Outcome.REFUSED, exc.message)
            )
            return None

    def _walk(self, root: str, parts: Sequence[str], result: LocateResult) -> str | None:
        current = root
        for part in parts:
            found = self._child(current, part, result)
            if found is None:
                return None
            current = found
        return current

    # -- the search -------------------------------------------------------------------

    def find(
        self,
        names: Sequence[str],
        key: str,
        verify: Verifier,
        *,
        folder: str | None = None,
        download: bool = True,
    ) -> LocateResult:
        """Search every entry for a file with one of ``names`` that ``verify`` accepts.

        Args:
            names: acceptable file names, best first (e.g. ``["crash.sym",
                "crash.pdb.sym"]``); reduced with :func:`safe_name`.
            key: the symbol-store key (:func:`pdb_key` or :func:`image_key`).
            verify: checks a candidate; returns None on a match or the reason for
                a mismatch; may raise a DumpError for a corrupt file.
            folder: the store folder name (``crash.pdb`` for a ``.sym`` file);
                defaults to each name itself.
            download: whether symbol servers may be asked.

        Returns:
            The first match (or None) and every attempt made.

        Raises:
            SymbolError: a name or key from the dump is unusable (path traversal,
                drive letter, non-hex key).
        """
        clean = [safe_name(n) for n in names]
        key = _check_key(key)
        store_folder = safe_name(folder) if folder is not None else None
        result = LocateResult()
        for entry in self.entries:
            if entry.kind is EntryKind.FILE:
                assert entry.path is not None
                named = os.path.basename(entry.path).lower() in {n.lower() for n in clean}
                # A file named directly is used whatever its name when its content is
                # of the kind sought; ``verify`` still checks its identity.
                if named or _sniff(entry.path) == _kind_sought(clean):
                    if self._try(entry.path, verify, result):
                        return result
            elif entry.kind is EntryKind.DIRECTORY:
                assert entry.path is not None
                if self._search_dir(entry.path, clean, key, store_folder, verify, result, True):
                    return result
            else:
                for store in entry.stores:
                    if self._search_dir(store, clean, key, store_folder, verify, result, False):
                        return result
                if entry.url is not None and download:
                    target = entry.stores[0] if entry.stores else self._fallback_cache()
                    for name in clean:
                        if self._download(
                            entry.url, target, store_folder or name, key, name, verify, result
                        ):
                            return result
        return result

    def _try(self, path: str, verify: Verifier, result: LocateResult) -> bool:
        try:
            reason = verify(path)
        except SOURCE_FAULTS as exc:
            result.attempts.append(Attempt(path, Outcome.ERROR, describe_fault(exc)))
            return False
        if reason is not None:
            result.attempts.append(Attempt(path, Outcome.MISMATCH, reason))
            return False
        result.attempts.append(Attempt(path, Outcome.FOUND))
        result.path = path
        return True

    def _search_dir(
        self,
        root: str,
        names: Sequence[str],
        key: str,
        folder: str | None,
        verify: Verifier,
        result: LocateResult,
        flat: bool,
    ) -> bool:
        if not os.path.isdir(root):
            return False
        two_tier = self._child(root, "index2.txt", result) is not None
        for name in names:
            store = folder or name
            candidates: list[str | None] = []
            if flat:
                candidates.append(self._child(root, name, result))
            candidates.append(self._walk(root, (store, key, name), result))
            if two_tier:
                candidates.append(self._walk(root, (store[:2], store, key, name), result))
            for candidate in candidates:
                if candidate is not None and os.path.isfile(candidate):
                    if self._try(candidate, verify, result):
                        return True
            compressed = name[:-1] + "_"
            for parts in ((store, key, compressed), (store[:2], store, key, compressed)):
                packed = self._walk(root, parts, result)
                if packed is not None and os.path.isfile(packed):
                    result.attempts.append(
                        Attempt(packed, Outcome.UNSUPPORTED, "compressed (CAB) store file")
                    )
        return False

    # -- downloads --------------------------------------------------------------------

    def _fallback_cache(self) -> str:
        if self._default_cache is not None:
            return self._default_cache
        if self._temp_cache is None:
            self._temp_cache = tempfile.mkdtemp(prefix="dumplib-symbols-")
        return self._temp_cache

    def _download(
        self,
        base_url: str,
        store: str,
        folder: str,
        key: str,
        name: str,
        verify: Verifier,
        result: LocateResult,
    ) -> bool:
        quote = urllib.parse.quote
        url = f"{base_url.rstrip('/')}/{quote(folder)}/{quote(key)}/{quote(name)}"
        dead = self._dead_servers.get(base_url)
        if dead is not None:
            result.attempts.append(Attempt(url, Outcome.ERROR, f"server unreachable: {dead}"))
            return False
        failed = self._failed_urls.get(url) or known_missing(url)
        if failed is not None:
            result.attempts.append(Attempt(url, Outcome.NOT_FOUND, f"{failed} (earlier)"))
            return False
        if self._spent is not None:
            result.attempts.append(Attempt(url, Outcome.ERROR, self._spent))
            return False
        try:
            os.makedirs(store, exist_ok=True)
            directory = safe_join(store, folder, key)
            os.makedirs(directory, exist_ok=True)
            target = safe_join(store, folder, key, name)
        except (OSError, SymbolError) as exc:
            result.attempts.append(Attempt(url, Outcome.ERROR, f"cache {store!r}: {exc}"))
            self._failed_urls[url] = "cache unusable"
            return False
        self._listings.clear()
        try:
            fetch(url, directory, target, timeout=self.timeout, max_download=self.max_download,
                  budget=self.budget)
        except NotOnServer as exc:
            self._failed_urls[url] = str(exc)
            remember_missing(url, str(exc))
            result.attempts.append(Attempt(url, Outcome.NOT_FOUND, str(exc)))
            return False
        except SymbolError as exc:
            self._failed_urls[url] = exc.message
            result.attempts.append(Attempt(url, Outcome.ERROR, exc.message))
            self._fault(f"symbol server {base_url}: {exc.message}")
            return False
        except ServerDown as exc:
            self._dead_servers[base_url] = str(exc)
            result.attempts.append(Attempt(url, Outcome.ERROR, f"server unreachable: {exc}"))
            self._fault(f"symbol server {base_url} not used further: {exc}")
            return False
        except BudgetSpent as exc:
            self._spent = f"no download: {exc}"
            result.attempts.append(Attempt(url, Outcome.ERROR, self._spent))
            self._fault(f"symbol servers not asked further: {exc}")
            return False
        if self._try(target, verify, result):
            return True
        # Do not leave a file that does not match in the cache under a key it lies about.
        try:
            os.unlink(target)
        except OSError:
            pass
        self._failed_urls[url] = "downloaded file did not match"
        return False

    def _fault(self, line: str) -> None:
        if line not in self.faults and len(self.faults) < 100:
            self.faults.append(line)
