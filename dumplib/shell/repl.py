"""The interactive prompt: ``0:007>`` with history, completion and Ctrl-C.

Built on prompt_toolkit (the ``shell`` extra). Completion offers command
names at the start of a line, module names, ``module!symbol`` names after a
``!``, and ``@register`` names. Ctrl-C at the prompt clears the line; during
a command it stops the command or its output and returns to the prompt;
Ctrl-D or ``q`` leaves. Without prompt_toolkit, or when standard input is
not a terminal, commands are read line by line from standard input.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator
from typing import IO, Any

from dumplib.shell.commands import prompt, run_script
from dumplib.shell.session import Session, module_stem
from dumplib.shell.table import COMMANDS

__all__ = ["command_words", "completions", "interact"]

#: Where the interactive history is kept (one line per command).
HISTORY_FILE = os.path.join("~", ".dumplib_shell_history")


def command_words() -> list[str]:
    """Every word that starts a command (``k``, ``kb``, ``lmv``, ``!analyze``, ``dq`` ...)."""
    words = {c.name for c in COMMANDS if c.name not in ("d*",)}
    words |= {"kn", "kb", "kv", "kp", "kbn", "kvn", "lmv", "lmf", "lmvm", "~*k", "!analyze -v"}
    words |= {"db", "dw", "dd", "dq", "dp", "dps", "dqs", "dds", "da", "du"}
    return sorted(words)


def completions(session: Session, text: str) -> list[str]:
    """Completions for the word before the cursor in ``text`` (the whole line so far)."""
    line = text.lstrip()
    word = line.rsplit(None, 1)[-1] if line and not line[-1].isspace() else ""
    first = " " not in line
    if first:
        return [w for w in command_words() if w.startswith(word.lower())]
    if word.startswith("@"):
        regs = session.registers()
        return ["@" + r for r in sorted(regs) if r.startswith(word[1:].lower())
                and regs[r] < 1 << 64 and not r.startswith(("st", "xmm", "v"))]
    if "!" in word:
        from dumplib.shell.symbols import module_table

        mod, _, prefix = word.partition("!")
        m = session.module_by_name(mod)
        if m is None:
            return []
        names = sorted({s.name for s in module_table(session, m)
                        if s.name.lower().startswith(prefix.lower())})
        return [f"{mod}!{n}" for n in names[:200]]
    stems = sorted({module_stem(m.name) for m in session.dump.modules})
    return [s for s in stems if s.lower().startswith(word.lower())]


def _emit(results: Iterable[Any], out: IO[str], as_json: bool, *, echo: bool) -> bool:
    """Print each result; returns True when a command asked to quit."""
    for r in results:
        if as_json:
            out.write(json.dumps(r.to_json(), default=str) + "\n")
        else:
            text = r.text()
            if not echo:
                text = text.split("\n", 1)[1] if "\n" in text else ""
            for line in text.splitlines():
                out.write(line + "\n")
        out.flush()
        if r.quit:
            return True
    return False


def _lines(stream: IO[str]) -> Iterator[str]:
    for line in stream:
        yield line.rstrip("\n")


def interact(session: Session, *, as_json: bool = False,
             stdin: IO[str] | None = None, stdout: IO[str] | None = None) -> int:
    """Run the interactive loop until ``q`` or end of input; returns the exit status (0).

    Args:
        session: the dump under the shell.
        as_json: print one JSON document per command instead of text.
        stdin, stdout: streams (default: the process's).
    """
    inp = stdin or sys.stdin
    out = stdout or sys.stdout
    tty = inp.isatty() and out.isatty()
    ps: Any = None
    if tty:
        try:
            ps = _prompt_session(session)
        except ImportError:
            sys.stderr.write("dumplib: note: prompt_toolkit is not installed "
                             "(pip install 'dumplib[shell]'): no history or completion\n")
    if ps is None:
        source = _lines(inp)
        while True:
            if tty:
                out.write(prompt(session) + " ")
                out.flush()
            try:
                line = next(source)
            except StopIteration:
                return 0
            except KeyboardInterrupt:
                out.write("\n")
                continue
            try:
                if _emit(run_script(session, line), out, as_json, echo=not tty):
                    return 0
            except KeyboardInterrupt:
                out.write("^C\n")
    while True:
        try:
            line = ps.prompt(prompt(session) + " ")
        except KeyboardInterrupt:
            continue
        except EOFError:
            return 0
        try:
            if _emit(run_script(session, line), out, as_json, echo=False):
                return 0
        except KeyboardInterrupt:
            out.write("^C\n")
            out.flush()


def _prompt_session(session: Session) -> Any:
    """A prompt_toolkit PromptSession with file history and the shell's completer."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.completion import CompleteEvent, Completer, Completion
    from prompt_toolkit.document import Document
    from prompt_toolkit.history import FileHistory, InMemoryHistory

    class _ShellCompleter(Completer):
        def get_completions(self, document: Document,
                            complete_event: CompleteEvent) -> Iterator[Completion]:
            text = document.text_before_cursor
            word = text.rsplit(None, 1)[-1] if text and not text[-1].isspace() else ""
            for c in completions(session, text):
                yield Completion(c, start_position=-len(word))

    history: Any
    try:
        path = os.path.expanduser(HISTORY_FILE)
        with open(path, "a", encoding="utf-8"):
            pass
        history = FileHistory(path)
    except OSError:
        history = InMemoryHistory()
    return PromptSession(history=history, completer=_ShellCompleter(),
                         complete_while_typing=False)
