"""Run a snippet in a fresh interpreter and measure its wall time and peak RSS.

The linear-in-the-input tests (issue 14) assert on these numbers: a hostile
input must end in bounded time and memory, with the exception type expected.
The snippet runs from the worktree root (so ``import dumplib`` works) and
reports what it wants through ``result(...)``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Measured", "measure"]

ROOT = Path(__file__).resolve().parent.parent

_PRELUDE = """
import json, resource, sys, time
_t0 = time.perf_counter()
def result(**kw):
    kw["_seconds"] = time.perf_counter() - _t0
    # VmHWM belongs to this process image; ru_maxrss would carry the parent's
    # peak across fork + exec on Linux.
    with open("/proc/self/status") as f:
        hwm = [ln for ln in f if ln.startswith("VmHWM:")]
    kw["_rss_mb"] = (int(hwm[0].split()[1]) if hwm else
                     resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024
    sys.__stdout__.write("\\n@@" + json.dumps(kw) + "\\n")
    sys.__stdout__.flush()
"""


@dataclass(frozen=True)
class Measured:
    """What one run gave: its ``result(...)`` fields, seconds and peak RSS in MB."""

    fields: dict[str, Any]
    seconds: float
    rss_mb: float
    wall: float


def measure(code: str, *, timeout: float = 120, env: dict[str, str] | None = None,
            address_space_mb: int | None = None) -> Measured:
    """Run ``code`` (which must call ``result(**fields)`` once) in a subprocess.

    ``address_space_mb`` caps the child's address space (RLIMIT_AS), so that
    code which would allocate gigabytes fails fast with MemoryError instead of
    eating a shared machine's memory.
    """
    full_env = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    if address_space_mb is not None:
        code = (f"import resource\nresource.setrlimit(resource.RLIMIT_AS, "
                f"({address_space_mb << 20}, {address_space_mb << 20}))\n") + code
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", _PRELUDE + code], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout, check=False)
    wall = time.monotonic() - t0
    lines = [x for x in proc.stdout.splitlines() if x.startswith("@@")]
    assert lines, f"no result (exit {proc.returncode}): {proc.stderr[-2000:]}"
    doc = json.loads(lines[-1][2:])
    return Measured(doc, doc.pop("_seconds"), doc.pop("_rss_mb"), wall)
