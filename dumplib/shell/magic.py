"""``%dumplib``: the shell's commands in IPython and Jupyter.

::

    %load_ext dumplib.shell.magic
    dump = dumplib.open("crash.dmp")
    %dumplib .ecxr; kv              # runs on the dump most recently assigned in the notebook

    dumplib.shell.magic.use(dump, symbols=["C:/symbols"])   # or choose one, with symbols
    %dumplib lm

The state (current thread, ``.ecxr``, symbol path) lasts across cells for as
long as the same dump is used.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from dumplib.shell.session import Session

__all__ = ["dumplib_magic", "load_ipython_extension", "use"]

_state: dict[str, Any] = {"session": None}


def use(dump: Any, symbols: Sequence[str | os.PathLike[str]] | None = None) -> Session:
    """Make ``dump`` the one ``%dumplib`` works on, with ``symbols``; returns its session."""
    session = Session(dump, [os.fspath(s) for s in symbols or ()])
    _state["session"] = session
    return session


def _current(user_ns: dict[str, Any] | None) -> Session:
    from dumplib.dump import Dump

    session: Session | None = _state["session"]
    latest = None
    for value in (user_ns or {}).values():
        if isinstance(value, Dump):
            latest = value
    if session is not None and (latest is None or session.dump is latest):
        return session
    if latest is None:
        if session is not None:
            return session
        raise LookupError("no dump: open one (dump = dumplib.open(path)) or call "
                          "dumplib.shell.magic.use(dump)")
    return use(latest)


def dumplib_magic(line: str, user_ns: dict[str, Any] | None = None) -> str:
    """Run ``line`` (``;``-separated commands) on the current dump; returns the text
    printed (each command's output without the prompt echo)."""
    from dumplib.shell.commands import run_script

    session = _current(user_ns)
    parts = []
    for r in run_script(session, line):
        text = r.text()
        parts.append(text.split("\n", 1)[1] if "\n" in text else "")
    return "\n".join(parts)


def load_ipython_extension(ipython: Any) -> None:
    """Register the ``%dumplib`` line magic (``%load_ext dumplib.shell.magic``)."""

    def magic(line: str) -> None:
        try:
            print(dumplib_magic(line, ipython.user_ns))
        except LookupError as exc:
            print(f"%dumplib: {exc}")

    ipython.register_magic_function(magic, "line", "dumplib")
