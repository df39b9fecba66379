"""A triage worker process: ``python -m dumplib.triage._child``.

It speaks JSON Lines with its supervisor (:class:`~dumplib.triage.pool.WorkerPool`):

- in (stdin): first the :class:`~dumplib.triage.worker.WorkerConfig` as one
  JSON object, then one task per line, ``{"id": N, "ref": {...DumpRef...}}``;
  end of input ends the process;
- out (stdout): ``{"event": "ready"}`` once started, then per task
  ``{"id": N, "event": "start", "sha256": ..., "size": ...}`` after the dump
  is hashed and ``{"id": N, "event": "row", "row": {...}}`` or
  ``{"id": N, "event": "skip", "sha256": ..., "size": ...}``.

Anything else that would write on stdout is sent to stderr so it cannot
corrupt the protocol.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, BinaryIO

from dumplib.triage.discover import DumpRef
from dumplib.triage.worker import Skipped, WorkerConfig, _analysis, analyse

__all__ = ["limit_memory", "main", "unlimit_memory"]


def _sender(out: BinaryIO) -> Any:
    def send(doc: dict[str, Any]) -> None:
        out.write(json.dumps(doc, separators=(",", ":")).encode() + b"\n")
        out.flush()

    return send


def limit_memory(size: int, limit: int | None) -> None:
    """Cap this process's address space for a dump of ``size`` bytes (Linux, POSIX).

    The cap is what the process maps now (interpreter, libraries, any spill
    mapping) plus the dump's size (the parser maps the file) plus ``limit``.
    Past it, allocations raise MemoryError, which the analysis reports as a
    "memory-limit" row; the supervisor's time limit still applies.
    """
    if limit is None:
        return
    try:
        import resource

        with open("/proc/self/statm") as f:
            mapped = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        global _ORIGINAL_LIMIT
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if _ORIGINAL_LIMIT is None:
            _ORIGINAL_LIMIT = (soft, hard)
        want = mapped + size + limit
        if hard != resource.RLIM_INFINITY:
            want = min(want, hard)
        resource.setrlimit(resource.RLIMIT_AS, (want, hard))
    except (ImportError, OSError, ValueError):  # not Linux: no address-space cap
        pass


_ORIGINAL_LIMIT: tuple[int, int] | None = None


def unlimit_memory() -> None:
    """Restore the address-space limit this process started with."""
    if _ORIGINAL_LIMIT is None:
        return
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, _ORIGINAL_LIMIT)
    except (ImportError, OSError, ValueError):
        pass


def main() -> int:
    """Serve tasks from stdin until it closes; returns the exit status."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    send = _sender(out)
    inp = sys.stdin.buffer
    first = inp.readline()
    if not first:
        return 0
    cfg = WorkerConfig.from_json(json.loads(first))
    _analysis()  # import the analysis and load the signatures once, before timing starts
    send({"event": "ready", "pid": os.getpid()})
    for line in inp:
        task = json.loads(line)
        ident = task["id"]
        ref = DumpRef(**task["ref"])

        def hashed(sha: str, size: int, ident: int = ident) -> None:
            send({"id": ident, "event": "start", "sha256": sha, "size": size})
            limit_memory(size, cfg.memory_limit)

        try:
            row = analyse(ref, cfg, on_hashed=hashed)
        finally:
            unlimit_memory()  # the next dump may be larger: its cap is set once it is read
        if isinstance(row, Skipped):
            send({"id": ident, "event": "skip", "sha256": row.sha256, "size": row.size})
        else:
            send({"id": ident, "event": "row", "row": row.to_json()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
