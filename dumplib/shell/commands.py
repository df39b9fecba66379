"""The command table of the shell and the dispatcher that reads WinDbg's syntax.

:data:`COMMANDS` lists every command with its syntax and one line of help
(``.help`` and ``dumplib shell --help`` print it). :func:`run_one` runs one
command line on a session; :func:`run_script` runs ``;``-separated commands
the way ``cdb -c`` does, echoing each after the prompt.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from dumplib._exc import DumpError
from dumplib.shell import analysis, code, context, expressions, memory, modules, process, threads
from dumplib.shell.session import Output, Session, ShellError
from dumplib.shell.table import COMMANDS, Command, help_text

__all__ = [
    "COMMANDS", "Command", "Result", "help_text", "prompt", "run_one", "run_script",
    "shown_as_data", "split_commands",
]

CommandFunc = Callable[[Session, str], Output]


def _help(session: Session, args: str) -> Output:
    return Output(help_text(), [{"name": c.name, "syntax": c.syntax, "help": c.help,
                                 "family": c.family} for c in COMMANDS])


def _quit(session: Session, args: str) -> Output:
    return Output("quit:", None)


_EXACT: dict[str, CommandFunc] = {
    ".frame": threads.frame,
    ".inline": threads.inline,
    "!runaway": threads.runaway,
    "r": context.r,
    ".ecxr": context.ecxr,
    ".cxr": context.cxr,
    ".exr": context.exr,
    ".lastevent": context.lastevent,
    "x": modules.x,
    "ln": modules.ln,
    ".sympath": modules.sympath,
    ".sympath+": modules.sympath_add,
    ".reload": modules.reload,
    "s": memory.search,
    "!address": memory.address_info,
    "u": code.u,
    "ub": code.ub,
    "uf": code.uf,
    "!teb": process.teb,
    "!peb": process.peb,
    "!gle": process.gle,
    "!handle": process.handle,
    "vertarget": process.vertarget,
    "!analyze": analysis.analyze,
    "!findings": analysis.findings,
    ".formats": expressions.formats,
    ".help": _help,
    "q": _quit,
    "qq": _quit,
    "qd": _quit,
}

_K = re.compile(r"k([bvpPnc]*)")
_LM = re.compile(r"lm([a-z]*)")
_D = re.compile(r"d(b|w|d|q|p|ps|qs|ds|a|u)")


def resolve(line: str) -> tuple[CommandFunc, str]:
    """The function that runs ``line`` and the argument text it gets.

    Raises:
        ShellError: no command has that name.
    """
    text = line.strip()
    if text.startswith("~"):
        return threads.tilde, text
    if text.startswith("||"):
        return process.system_status, text[2:]
    if text.startswith("?") and not text.startswith("??"):
        return expressions.question, text[1:]
    word, _, rest = text.partition(" ")
    low = word.lower()
    func = _EXACT.get(low)
    if func is not None:
        return func, rest
    if low.startswith(".sympath+"):
        return modules.sympath_add, text[len(".sympath+"):]
    m = _K.fullmatch(word)
    if m is not None:
        opts = m.group(1).lower()
        return (lambda s, a: threads.k(s, a, opts)), rest
    m = _LM.fullmatch(low)
    if m is not None:
        opts = m.group(1)
        return (lambda s, a: modules.lm(s, a, opts)), rest
    m = _D.fullmatch(low)
    if m is not None:
        kind = m.group(1)
        return (lambda s, a: memory.display(s, a, kind)), rest
    raise ShellError(f"Syntax error in '{text}': no command '{word}' (.help lists them)")


def run_one(session: Session, line: str) -> Output:
    """Run one command line on ``session``.

    Raises:
        ShellError: the command cannot run as typed.
        DumpError: the dump's data is unusable for it.
    """
    func, args = resolve(line)
    return func(session, args)


def split_commands(text: str) -> list[str]:
    """Split ``cmd; cmd`` on semicolons outside double quotes, dropping empty pieces."""
    out: list[str] = []
    cur = ""
    quote = False
    for ch in text:
        if ch == '"':
            quote = not quote
        if ch == ";" and not quote:
            out.append(cur)
            cur = ""
            continue
        cur += ch
    out.append(cur)
    return [c.strip() for c in out if c.strip()]


def prompt(session: Session) -> str:
    """WinDbg's prompt for the session: ``0:007>`` (process 0, current thread index)."""
    return f"0:{session.thread_index:03d}>"


@dataclass(frozen=True, slots=True)
class Result:
    """One command's run within a script.

    Attributes:
        command: the command as typed.
        prompt: the prompt it was typed at.
        output: what it printed, or None when it failed.
        error: the error message when it failed.
    """

    command: str
    prompt: str
    output: Output | None
    error: str | None = None

    @property
    def quit(self) -> bool:
        """Whether this command ends the session (``q``)."""
        return self.command.strip().lower() in ("q", "qq", "qd")

    def text(self) -> str:
        """The prompt line and the command's output, as ``cdb -c`` prints them."""
        body = self.output.text if self.output is not None else f"^ {self.error}"
        text = f"{self.prompt} {self.command}\n{body}" if body else f"{self.prompt} {self.command}"
        return shown_as_data(text)

    def to_json(self) -> dict[str, Any]:
        """``{"command", "thread", "output" | "error"}`` as one JSON document."""
        doc: dict[str, Any] = {"command": self.command, "prompt": self.prompt}
        if self.output is not None:
            doc["output"] = self.output.data
            doc["text"] = self.output.text
        else:
            doc["error"] = self.error
        return doc


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def shown_as_data(text: str) -> str:
    """``text`` with control characters (other than newline and tab) shown as ``\\xNN``,
    so bytes from a dump cannot move the cursor or recolour a terminal."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def run_script(session: Session, text: str) -> Iterator[Result]:
    """Run ``;``-separated commands in order, yielding each result; stops after ``q``."""
    for command in split_commands(text):
        shown = prompt(session)
        try:
            result = Result(command, shown, run_one(session, command))
        except ShellError as exc:
            result = Result(command, shown, None, str(exc))
        except DumpError as exc:
            result = Result(command, shown, None, f"dump error: {exc}")
        except (ArithmeticError, LookupError, ValueError, TypeError, struct.error) as exc:
            # a bug in one command must not end an interactive session: say so and go on
            result = Result(command, shown, None,
                            f"internal error in '{command}': {type(exc).__name__}: {exc}")
        yield result
        if result.quit:
            return
