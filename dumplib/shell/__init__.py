"""A debugger's shell: WinDbg's commands on any OS, interactive and scriptable.

``dumplib shell DUMP`` opens a ``0:000>`` prompt; ``dumplib shell DUMP -c "k; lm; q"``
runs commands and exits, as ``cdb -c`` does. From Python::

    import dumplib
    import dumplib.shell

    with dumplib.open("crash.dmp") as dump:
        print(dumplib.shell.run(dump, ".ecxr; kv", symbols=["C:/symbols"]))

Each command is a small function over dumplib's public API, grouped by family:
:mod:`~dumplib.shell.threads` (``~``, ``k``, ``.frame``, ``!runaway``),
:mod:`~dumplib.shell.context` (``r``, ``.ecxr``, ``.cxr``, ``.exr``, ``.lastevent``),
:mod:`~dumplib.shell.modules` (``lm``, ``x``, ``ln``, ``.sympath``, ``.reload``),
:mod:`~dumplib.shell.memory` (``d*``, ``s``, ``!address``),
:mod:`~dumplib.shell.code` (``u``, ``ub``, ``uf``),
:mod:`~dumplib.shell.process` (``!teb``, ``!peb``, ``!gle``, ``!handle``, ``vertarget``, ``||``),
:mod:`~dumplib.shell.analysis` (``!analyze -v``, ``!findings``) and
:mod:`~dumplib.shell.expressions` (``?``, ``.formats``; the evaluator is
:mod:`~dumplib.shell.expr`). Each takes a :class:`Session` and the argument
text and returns an :class:`Output` (text plus a JSON document).

Where the output differs from WinDbg's:

- ``k`` always appends ``[file @ line]`` when line records exist; ``kp`` shows the
  parameter types a PDB's decorated name gives but not the parameters' names or
  values, and ``kv`` prints what ``kb`` prints (no FPO/trap-frame notes).
- ``r`` adds the effective-address annotation (``ds:...=????????``) only for the
  faulting instruction after ``.ecxr``; ``.frame N`` followed by ``r`` shows the
  frame's recovered registers.
- ``lm``'s symbol status is ``(deferred)`` until a command used the module's symbols
  (or ``.reload /f``), then ``(pdb symbols)``, ``(breakpad symbols)``,
  ``(export symbols)`` or ``(no symbols)`` -- never ``(private pdb symbols)``.
- ``x`` lists addresses and names only (no ``(<no parameter info>)`` types);
  ``ln`` omits the DML "Browse module" lines.
- ``!analyze -v`` keeps WinDbg's section names and order but adds DUMPLIB_SUMMARY,
  DUMPLIB_FINDINGS and DUMPLIB_NOTES, and FAILURE_BUCKET_ID is dumplib's bucket.
- ``!address`` without a MemoryInfoList stream lists the captured ranges instead.
- ``!runaway`` follows the layout of its documentation (``H:MM:SS.ffff``).
- Disassembly is capstone's, respelled (``28h``, ``[rsp+8]``, branch targets and
  ``[rip+X]`` as ``module!symbol (address)``); rare operand spellings differ.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dumplib.shell.session import Output, Session, ShellError

if TYPE_CHECKING:
    from dumplib.dump import Dump

__all__ = ["Output", "Session", "ShellError", "run", "run_json"]


def run(
    dump: Dump,
    commands: str,
    *,
    symbols: Sequence[str | os.PathLike[str]] | None = None,
    session: Session | None = None,
) -> str:
    """Run ``;``-separated WinDbg commands on ``dump`` and return their text, as
    ``dumplib shell -c`` prints it (each command after its ``0:000>`` prompt).

    Args:
        dump: an open dump.
        commands: e.g. ``"kv"`` or ``".ecxr; k; dq @rsp L2"``; ``q`` stops.
        symbols: symbol path entries (directories, files, symbol-path strings).
        session: a session to keep state (current thread, ``.ecxr``) across calls;
            a new one is made for ``dump`` and ``symbols`` when None.

    Returns:
        The text; a command that fails contributes its error line (``^ ...``).
    """
    from dumplib.shell.commands import run_script

    s = session if session is not None else Session(dump, [os.fspath(x) for x in symbols or ()])
    try:
        return "\n".join(r.text() for r in run_script(s, commands))
    finally:
        if session is None:
            s.close()


def run_json(
    dump: Dump,
    commands: str,
    *,
    symbols: Sequence[str | os.PathLike[str]] | None = None,
    session: Session | None = None,
) -> list[dict[str, Any]]:
    """Like :func:`run` but one JSON document per command:
    ``{"command", "prompt", "output", "text"}`` or ``{"command", "prompt", "error"}``."""
    from dumplib.shell.commands import run_script

    s = session if session is not None else Session(dump, [os.fspath(x) for x in symbols or ()])
    try:
        return [r.to_json() for r in run_script(s, commands)]
    finally:
        if session is None:
            s.close()
