"""A supervised pool of triage worker processes with a per-dump time limit.

Each worker is a plain subprocess (``python -m dumplib.triage._child``) that
opens the dumps itself: only paths go in and small rows come out. The
supervisor keeps each worker :data:`PREFETCH` dumps ahead, times the one it
works on, kills a worker that takes longer than the time limit and notices a
worker that dies; in both cases that dump gets an error row
(``ERROR/timeout`` or ``ERROR/worker-died``, with the time limit or exit
status and the last line the worker wrote on stderr), the dumps queued
behind it go to other workers, a fresh worker is started and the run goes on.

Plain subprocesses rather than :mod:`multiprocessing` because they can be
started from anywhere, including from inside Dask worker processes (which
are daemonic and may not fork ``multiprocessing`` children).
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from typing import IO, Any

from dumplib.triage.discover import DumpRef
from dumplib.triage.rows import TriageRow
from dumplib.triage.worker import Skipped, WorkerConfig, error_row

__all__ = ["DEFAULT_TIMEOUT", "PREFETCH", "WorkerPool", "WorkerStartError"]

#: Seconds one dump may take (reading, hashing and analysis) before its worker is killed.
DEFAULT_TIMEOUT = 120.0
#: Dumps handed to a worker ahead of the one it works on.
PREFETCH = 2
#: Seconds a worker may take to start (import dumplib, load the signatures).
START_TIMEOUT = 120.0
_STDERR_TAIL = 8

#: What the pool yields per dump: its ref and row (or :class:`Skipped`).
Result = tuple[DumpRef, TriageRow | Skipped]


class WorkerStartError(RuntimeError):
    """A triage worker process could not be started (broken install, bad interpreter)."""


def _child_env() -> dict[str, str]:
    """The environment of a worker: ours, with this dumplib first on the import path."""
    import dumplib

    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(dumplib.__file__)))
    rest = env.get("PYTHONPATH")
    env["PYTHONPATH"] = root if not rest else root + os.pathsep + rest
    return env


class _Child:
    """One worker subprocess, its reader threads and the task it holds."""

    def __init__(self, index: int, cfg_line: bytes, events: queue.Queue[Any],
                 python: str) -> None:
        self.index = index
        self.events = events
        # The supervisor owns the worker's temporary files (spill files, symbol
        # downloads): they live in this directory, removed when the worker ends,
        # whether it finished, died or was killed by the time limit.
        self.tmpdir = tempfile.mkdtemp(prefix="dumplib-worker-")
        self.proc = subprocess.Popen(
            [python, "-m", "dumplib.triage._child"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(_child_env(), TMPDIR=self.tmpdir, TEMP=self.tmpdir, TMP=self.tmpdir),
        )
        self.ready = False
        self.retired = False
        self.started_at = time.monotonic()
        self.tasks: collections.deque[tuple[int, DumpRef]] = collections.deque()
        self.deadline = 0.0
        self.sha256: str | None = None
        self.size: int | None = None
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=_STDERR_TAIL)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        assert self.proc.stderr is not None
        self.stdin: IO[bytes] = self.proc.stdin
        threading.Thread(target=self._read_out, args=(self.proc.stdout,), daemon=True).start()
        threading.Thread(target=self._read_err, args=(self.proc.stderr,), daemon=True).start()
        self.send(cfg_line)

    def _read_out(self, stream: IO[bytes]) -> None:
        for line in stream:
            try:
                self.events.put((self, json.loads(line)))
            except ValueError:
                self.stderr_tail.append(line.decode(errors="replace").rstrip())
        self.events.put((self, None))

    def _read_err(self, stream: IO[bytes]) -> None:
        for line in stream:
            self.stderr_tail.append(line.decode(errors="replace").rstrip())

    def send(self, line: bytes) -> bool:
        try:
            self.stdin.write(line)
            self.stdin.flush()
            return True
        except (BrokenPipeError, OSError):
            return False

    def start_head(self, timeout: float) -> None:
        """The first queued task becomes the current one: start its clock."""
        self.sha256 = self.size = None
        self.deadline = time.monotonic() + timeout

    def send_task(self, ident: int, ref: DumpRef) -> bool:
        doc = {"id": ident, "ref": asdict(ref)}
        return self.send(json.dumps(doc).encode() + b"\n")

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        self.remove_files()

    def remove_files(self) -> None:
        """Remove the worker's temporary directory once it has ended."""
        if self.proc.poll() is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            self.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
        self.remove_files()

    def tail(self) -> str:
        lines = [x for x in list(self.stderr_tail) if x.strip()]
        return lines[-1] if lines else ""


#: Idle ready workers kept by pools made with ``reuse=True``, by configuration.
_IDLE: dict[bytes, list[_Child]] = {}
_IDLE_LOCK = threading.Lock()
_MAX_IDLE = 16


def _take_idle(key: bytes, index: int, events: queue.Queue[Any]) -> _Child | None:
    with _IDLE_LOCK:
        stack = _IDLE.get(key, [])
        while stack:
            child = stack.pop()
            if child.proc.poll() is None:
                child.index = index
                child.events = events
                child.ready = child.retired = False
                child.started_at = time.monotonic()
                return child
    return None


def _put_idle(key: bytes, child: _Child) -> None:
    with _IDLE_LOCK:
        for other in [k for k in _IDLE if k != key]:
            for c in _IDLE.pop(other):
                c.finish()
        stack = _IDLE.setdefault(key, [])
        if len(stack) < _MAX_IDLE:
            stack.append(child)
            return
    child.finish()


class WorkerPool:
    """Run :func:`~dumplib.triage.worker.analyse` over many dumps in worker processes.

    Args:
        jobs: worker processes (at least 1).
        cfg: the configuration every worker gets.
        timeout: seconds one dump may take before its worker is killed.
        python: the interpreter to start workers with (this one by default).
        reuse: keep the workers alive after :meth:`run` for the next pool in this
            process with the same configuration (Dask tasks use this, so a
            chunk does not pay for starting a worker). Idle workers end when
            this process does (their input closes).
    """

    def __init__(self, jobs: int, cfg: WorkerConfig, *, timeout: float = DEFAULT_TIMEOUT,
                 python: str | None = None, reuse: bool = False) -> None:
        self.jobs = max(1, int(jobs))
        self.cfg = cfg
        self.timeout = float(timeout)
        self.python = python or sys.executable
        self.reuse = reuse
        self._cfg_line = json.dumps(cfg.to_json()).encode() + b"\n"
        self._key = hashlib.sha256(self.python.encode() + b"\0" + self._cfg_line).digest()

    def run(self, refs: Iterable[DumpRef]) -> Iterator[Result]:
        """Analyse ``refs``; yields ``(ref, row or Skipped)`` as each finishes.

        Each worker holds up to :data:`PREFETCH` dumps so it never waits for
        the supervisor between dumps; the time limit runs from when a dump
        becomes the one it works on. The dumps queued behind one that hangs
        or kills its worker go to the next free worker.

        Raises:
            WorkerStartError: a worker could not even start (twice in a row).
        """
        todo = iter(enumerate(refs))
        events: queue.Queue[Any] = queue.Queue()
        children: list[_Child] = []
        retry: collections.deque[tuple[int, DumpRef]] = collections.deque()
        failed_starts = 0

        def spawn(index: int) -> None:
            child = _take_idle(self._key, index, events) if self.reuse else None
            if child is not None:
                events.put((child, {"event": "ready"}))
            else:
                child = _Child(index, self._cfg_line, events, self.python)
            if index < len(children):
                children[index] = child
            else:
                children.append(child)

        def next_task() -> tuple[int, DumpRef] | None:
            if retry:
                return retry.popleft()
            return next(todo, None)

        def fill(child: _Child) -> None:
            while len(child.tasks) < PREFETCH:
                task = next_task()
                if task is None:
                    break
                if not child.tasks:
                    child.start_head(self.timeout)
                child.tasks.append(task)
                if not child.send_task(*task):
                    break  # the worker is gone; its end of output is on the way
            if not child.tasks:
                child.retired = True
                if self.reuse and child.proc.poll() is None:
                    _put_idle(self._key, child)
                else:
                    child.finish()

        def lost(child: _Child, row: TriageRow) -> Result:
            """The head task failed with ``row``; queue the rest again, start a new worker."""
            head = child.tasks.popleft()
            retry.extendleft(reversed(child.tasks))
            child.tasks.clear()
            child.retired = True
            spawn(child.index)
            return head[1], row

        try:
            for i in range(self.jobs):
                spawn(i)
            while True:
                live = [c for c in children if c.tasks or not c.ready]
                if not live:
                    break
                now = time.monotonic()
                deadlines = [c.deadline if c.ready else c.started_at + START_TIMEOUT
                             for c in live]
                try:
                    child, msg = events.get(timeout=max(0.0, min(deadlines) - now))
                except queue.Empty:
                    child, msg = None, None
                if child is not None and child is not children[child.index]:
                    continue  # from a worker already replaced
                if child is not None and msg is not None:
                    event = msg.get("event")
                    if event == "ready":
                        child.ready = True
                        failed_starts = 0
                        fill(child)
                    elif child.tasks and msg.get("id") == child.tasks[0][0]:
                        if event == "start":
                            child.sha256 = msg.get("sha256")
                            child.size = msg.get("size")
                        elif event in ("row", "skip"):
                            ref = child.tasks.popleft()[1]
                            row: TriageRow | Skipped = (
                                TriageRow.from_json(msg["row"]) if event == "row"
                                else Skipped(str(msg["sha256"]), int(msg["size"]))
                            )
                            if child.tasks:
                                child.start_head(self.timeout)
                            yield ref, row
                            fill(child)
                    continue
                if child is not None:  # end of output: the worker died
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        child.proc.wait(timeout=10)
                    child.remove_files()
                    if child.tasks:
                        yield lost(child, self._died_row(child))
                    elif not child.ready:
                        failed_starts += 1
                        if failed_starts >= 2:
                            raise WorkerStartError(
                                f"triage worker could not start: {child.tail() or 'no message'}"
                            )
                        spawn(child.index)
                    continue
                now = time.monotonic()
                for c in list(children):
                    if not c.ready and now >= c.started_at + START_TIMEOUT:
                        c.kill()
                        raise WorkerStartError("triage worker did not start in time")
                    if c.ready and c.tasks and now >= c.deadline:
                        c.kill()
                        yield lost(c, self._timeout_row(c))
        finally:
            for c in children:
                if c.tasks:
                    c.kill()
                elif not c.retired and c.proc.poll() is None:
                    c.finish()

    def _died_row(self, child: _Child) -> TriageRow:
        ref = child.tasks[0][1]
        msg = (f"worker process died (exit status {child.proc.returncode}) "
               "while analysing this dump")
        detail = child.tail()
        if detail:
            msg += f": {detail}"
        return error_row(ref, msg, size=child.size, sha256=child.sha256, kind="worker-died")

    def _timeout_row(self, child: _Child) -> TriageRow:
        ref = child.tasks[0][1]
        return error_row(
            ref,
            f"timed out after {self.timeout:g} s (time limit per dump); worker killed",
            size=child.size,
            sha256=child.sha256,
            kind="timeout",
        )
