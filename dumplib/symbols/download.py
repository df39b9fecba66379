"""Symbol-server downloads, bounded in time, bytes and requests.

A symbol server is untrusted: it may drip one byte at a time, send an endless
body, answer every request slowly, or speak broken HTTP. What one analysis
may spend on servers is held by a :class:`DownloadBudget` (one per
:class:`~dumplib.symbols.path.SymbolLocator`, so one per dump):

- a deadline per download (:data:`DEFAULT_DOWNLOAD_DEADLINE`) that covers the
  whole transfer, not one socket read;
- a deadline for all downloads together (:data:`DEFAULT_TOTAL_DEADLINE`);
- a total byte budget (:data:`DEFAULT_TOTAL_BYTES`);
- a cap on requests (:data:`DEFAULT_MAX_REQUESTS`), so the number of modules
  in a dump does not decide how many requests are made.

Lookups a server answered "not found" are remembered for the process
(:data:`NEGATIVE_TTL` seconds), so a batch of dumps with the same modules asks
once. Every fault -- an HTTP status, a timeout, ``BadStatusLine``,
``IncompleteRead``, ``LineTooLong``, any ``HTTPException`` -- ends in one of
the exceptions below, which the locator records as an attempt and a fault;
none escapes to the caller.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dumplib.symbols.errors import SymbolError

if TYPE_CHECKING:
    import http.client

__all__ = [
    "DEFAULT_DOWNLOAD_DEADLINE",
    "DEFAULT_MAX_REQUESTS",
    "DEFAULT_TOTAL_BYTES",
    "DEFAULT_TOTAL_DEADLINE",
    "NEGATIVE_TTL",
    "BudgetSpent",
    "DownloadBudget",
    "NotOnServer",
    "ServerDown",
    "fetch",
    "forget_missing",
    "known_missing",
    "remember_missing",
]

#: Seconds one download may take in all (a 1 GiB PDB at 10 MB/s takes ~100 s).
DEFAULT_DOWNLOAD_DEADLINE = 180.0
#: Seconds all downloads of one analysis may take together.
DEFAULT_TOTAL_DEADLINE = 600.0
#: Bytes all downloads of one analysis may move together.
DEFAULT_TOTAL_BYTES = 4 << 30
#: Requests one analysis may make.
DEFAULT_MAX_REQUESTS = 256
#: Seconds a "not found" answer is remembered in this process.
NEGATIVE_TTL = 3600.0
_CHUNK = 1 << 20


class NotOnServer(Exception):
    """The server answered that it does not have the file (404/410)."""


class ServerDown(Exception):
    """The server could not be used at all (unreachable, broken HTTP, endless body)."""


class BudgetSpent(Exception):
    """The analysis' download budget (time, bytes or requests) is spent."""


@dataclass
class DownloadBudget:
    """What one analysis may still spend on symbol servers.

    Attributes:
        download_deadline: seconds per download.
        total_deadline: seconds for all downloads, counted from the first.
        total_bytes: bytes for all downloads.
        max_requests: requests for all downloads.
        requests: requests made so far.
        received: bytes received so far.
    """

    download_deadline: float = DEFAULT_DOWNLOAD_DEADLINE
    total_deadline: float = DEFAULT_TOTAL_DEADLINE
    total_bytes: int = DEFAULT_TOTAL_BYTES
    max_requests: int = DEFAULT_MAX_REQUESTS
    requests: int = 0
    received: int = 0
    _started: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def begin(self) -> float:
        """Count one request; returns the monotonic deadline for it.

        Raises:
            BudgetSpent: no request, time or byte is left.
        """
        with self._lock:
            now = time.monotonic()
            if self._started is None:
                self._started = now
            end_all = self._started + self.total_deadline
            if self.requests >= self.max_requests:
                raise BudgetSpent(f"request budget spent ({self.max_requests} requests)")
            if now >= end_all:
                raise BudgetSpent(f"time budget spent ({self.total_deadline:g} s of downloads)")
            if self.received >= self.total_bytes:
                raise BudgetSpent(f"byte budget spent ({self.total_bytes} bytes downloaded)")
            self.requests += 1
            return min(now + self.download_deadline, end_all)

    def take(self, n: int) -> None:
        """Count ``n`` received bytes.

        Raises:
            BudgetSpent: the byte budget is exceeded.
        """
        with self._lock:
            self.received += n
            if self.received > self.total_bytes:
                raise BudgetSpent(f"byte budget spent ({self.total_bytes} bytes downloaded)")


# -- the negative cache (per process) --------------------------------------------------

_MISSING: dict[str, tuple[float, str]] = {}
_MISSING_LOCK = threading.Lock()
_MAX_MISSING = 100_000


def known_missing(url: str) -> str | None:
    """Why ``url`` was not found, if a server said so in the last :data:`NEGATIVE_TTL` s."""
    with _MISSING_LOCK:
        hit = _MISSING.get(url)
        if hit is None:
            return None
        if time.monotonic() - hit[0] > NEGATIVE_TTL:
            del _MISSING[url]
            return None
        return hit[1]


def remember_missing(url: str, why: str) -> None:
    """Remember that the server does not have ``url``."""
    with _MISSING_LOCK:
        if len(_MISSING) >= _MAX_MISSING:
            _MISSING.clear()
        _MISSING[url] = (time.monotonic(), why)


def forget_missing() -> None:
    """Empty the negative cache (for tests, or after a server was filled)."""
    with _MISSING_LOCK:
        _MISSING.clear()


# -- one download ---------------------------------------------------------------------


def _socket_of(response: http.client.HTTPResponse) -> socket.socket | None:
    raw = getattr(getattr(response, "fp", None), "raw", None)
    sock = getattr(raw, "_sock", None)
    return sock if isinstance(sock, socket.socket) else None


def fetch(
    url: str,
    directory: str,
    target: str,
    *,
    timeout: float,
    max_download: int,
    budget: DownloadBudget,
) -> None:
    """Download ``url`` to ``target`` (through a temporary file in ``directory``).

    Args:
        url: the file's URL.
        directory: where the temporary file is made (the target's directory).
        target: the final path, replaced only once the download is whole.
        timeout: seconds to connect and per socket read (never beyond the deadline).
        max_download: largest file accepted.
        budget: what the analysis may still spend.

    Raises:
        NotOnServer: 404 or 410.
        ServerDown: unreachable, broken HTTP, past the download's deadline, or
            a body beyond ``max_download``.
        BudgetSpent: the analysis' budget ran out.
        SymbolError: any other failure of this one download (status, short body).
    """
    # http.client and urllib.request (with ssl and email) cost ~25 ms to import:
    # only a run that downloads pays for them (start-up, issue #16)
    import http.client
    import urllib.error
    import urllib.request

    deadline = budget.begin()
    request = urllib.request.Request(url, headers={"User-Agent": "dumplib-symbols/1"})
    try:
        response = urllib.request.urlopen(
            request, timeout=max(0.05, min(timeout, deadline - time.monotonic()))
        )
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code in (404, 410):
            raise NotOnServer(f"HTTP {exc.code}") from exc
        raise SymbolError(f"HTTP {exc.code} {exc.reason}", stream=url) from exc
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or f"{type(exc).__name__}: {exc}"
        raise ServerDown(str(reason)) from exc
    with response:
        length = response.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > max_download:
            raise SymbolError(
                f"file of {int(length)} bytes exceeds the {max_download}-byte limit", stream=url
            )
        sock = _socket_of(response)
        fd, temp = tempfile.mkstemp(prefix=".download-", dir=directory)
        try:
            total = 0
            with os.fdopen(fd, "wb") as out:
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0:  # a server this slow is not asked again in this run
                        raise ServerDown(f"download of {url} not finished within its "
                                         f"deadline ({total} bytes received)")
                    if sock is not None:
                        with contextlib.suppress(OSError):
                            sock.settimeout(max(0.05, min(timeout, left)))
                    chunk = response.read1(_CHUNK)
                    if not chunk:
                        break
                    total += len(chunk)
                    if total > max_download:
                        raise ServerDown(f"endless body: more than the {max_download}-byte "
                                         f"limit for {url}")
                    budget.take(len(chunk))
                    out.write(chunk)
            if length is not None and length.isdigit() and total != int(length):
                raise SymbolError(f"short download: {total} of {int(length)} bytes", stream=url)
            os.replace(temp, target)
        except TimeoutError as exc:
            _unlink(temp)
            if time.monotonic() >= deadline - 0.1:  # the socket timeout was the deadline's
                raise ServerDown(f"download of {url} not finished within its deadline "
                                 f"({total} bytes received)") from exc
            raise ServerDown(f"read timed out after {timeout:g} s") from exc
        except (OSError, ValueError, http.client.HTTPException) as exc:
            _unlink(temp)
            raise SymbolError(f"download failed: {type(exc).__name__}: {exc}",
                              stream=url) from exc
        except BaseException:
            _unlink(temp)
            raise


def _unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
