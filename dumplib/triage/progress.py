"""Progress of a triage run as periodic log lines, for when stderr is not a terminal.

A progress bar redrawn in place is noise in a CI log or a file; :class:`LogProgress`
writes a plain line at most every ``interval`` seconds instead::

    triage: 120/4000 dumps (3%), 8.1 dumps/s, about 8m00s left

Runs shorter than one interval print nothing; a run that printed a line ends
with a last one for the final count.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import IO

__all__ = ["DEFAULT_INTERVAL", "LogProgress"]

#: Seconds between two progress lines when none is given.
DEFAULT_INTERVAL = 10.0


def _duration(seconds: float) -> str:
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class LogProgress:
    """A ``progress(done, total)`` callback that writes a line at most every ``interval`` s.

    Args:
        stream: where lines go (``sys.stderr``).
        interval: least seconds between two lines (:data:`DEFAULT_INTERVAL` if None).
        clock: a monotonic clock in seconds (tests pass their own).
    """

    def __init__(self, stream: IO[str], *, interval: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.interval = DEFAULT_INTERVAL if interval is None else interval
        self.clock = clock
        self.start = clock()
        self._last = self.start
        self._printed = 0
        self._state = (0, 0)

    def line(self, done: int, total: int) -> str:
        """The log line for ``done`` of ``total`` dumps at the current time."""
        elapsed = max(self.clock() - self.start, 1e-9)
        pct = f" ({100 * done // total}%)" if total else ""
        rate = done / elapsed
        text = f"triage: {done}/{total} dumps{pct}, {rate:.1f} dumps/s"
        if 0 < done < total and rate > 0:
            text += f", about {_duration((total - done) / rate)} left"
        elif done >= total:
            text += f", done in {_duration(elapsed)}"
        return text

    def __call__(self, done: int, total: int) -> None:
        """Record progress; write a line when ``interval`` has passed since the last."""
        self._state = (done, total)
        now = self.clock()
        if now - self._last >= self.interval:
            self._last = now
            self._write(self.line(done, total))

    def finish(self) -> None:
        """Write the final count, if any line was written before (else stay quiet)."""
        if self._printed:
            self._write(self.line(*self._state))

    def _write(self, text: str) -> None:
        self._printed += 1
        try:
            self.stream.write(text + "\n")
            self.stream.flush()
        except (OSError, ValueError):  # a closed or broken stderr must not stop triage
            pass
