"""The shell's command table: names, syntax and one line of help for each.

Kept free of imports so ``dumplib shell --help`` can list the commands
without loading the shell itself.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["COMMANDS", "Command", "help_text"]


@dataclass(frozen=True, slots=True)
class Command:
    """One shell command.

    Attributes:
        name: what is typed (``k``, ``!analyze``, ``.frame``).
        syntax: its arguments as WinDbg documents them.
        help: one line saying what it shows.
        family: the group ``.help`` lists it under.
    """

    name: str
    syntax: str
    help: str
    family: str


def _family(name: str, syntax: str, help_text: str, family: str) -> Command:
    return Command(name, syntax, help_text, family)


#: Every command, in the order ``.help`` shows them.
COMMANDS: tuple[Command, ...] = (
    _family("~", "~ | ~Ns | ~N cmd | ~* cmd", "list threads, switch (~3s), run on threads (~*k)",
            "threads"),
    _family("k", "k[n][b|v|p] [count]", "stack of the current thread (kn numbers, kb/kv args)",
            "threads"),
    _family(".frame", ".frame [N]", "show or choose the current frame", "threads"),
    _family(".inline", ".inline 0|1", "leave inlined calls out of k (0) or show them (1)",
            "threads"),
    _family("!runaway", "!runaway [flags]", "thread user/kernel/elapsed times", "threads"),
    _family("r", "r [reg[, reg...]]", "registers of the current thread or frame", "context"),
    _family(".ecxr", ".ecxr", "use the exception's context record", "context"),
    _family(".cxr", ".cxr [address]", "use a CONTEXT record in memory (none: reset)", "context"),
    _family(".exr", ".exr -1 | .exr address", "the exception record", "context"),
    _family(".lastevent", ".lastevent", "the event the dump was written for", "context"),
    _family("lm", "lm[v][f] [m pattern]", "loaded modules (lmv verbose, lmf full paths)",
            "modules"),
    _family("x", "x module!pattern", "symbols matching a pattern", "modules"),
    _family("ln", "ln address", "nearest symbols to an address", "modules"),
    _family(".sympath", ".sympath [path]", "show or set the symbol path", "modules"),
    _family(".sympath+", ".sympath+ path", "add to the symbol path", "modules"),
    _family(".reload", ".reload [/f [module]]", "forget symbols; /f loads them now", "modules"),
    _family("d*", "db|dw|dd|dq|dp|dps|dqs|dds|da|du [address] [L count | end]",
            "display memory", "memory"),
    _family("s", "s -b|-w|-d|-q|-a|-u start (L count | end) pattern", "search memory",
            "memory"),
    _family("!address", "!address [address]", "memory regions, or the one holding address",
            "memory"),
    _family("u", "u [address] [L count]", "disassemble forward", "code"),
    _family("ub", "ub [address] [L count]", "disassemble backward", "code"),
    _family("uf", "uf address", "disassemble a whole function", "code"),
    _family("!teb", "!teb [address]", "the thread environment block", "process"),
    _family("!peb", "!peb [address]", "the process environment block", "process"),
    _family("!gle", "!gle", "last Win32 error and NTSTATUS of the thread", "process"),
    _family("!handle", "!handle [handle [flags [type]]]", "the handle table", "process"),
    _family("vertarget", "vertarget", "OS, CPUs, dump time, process uptime", "process"),
    _family("||", "||", "the dump being debugged", "process"),
    _family("!analyze", "!analyze -v", "the crash analysis in WinDbg's sections", "analysis"),
    _family("!findings", "!findings", "dumplib's findings with evidence and advice",
            "analysis"),
    _family("?", "? expression", "evaluate (registers, poi(), module!symbol, 0n10)",
            "expressions"),
    _family(".formats", ".formats expression", "a value in every format", "expressions"),
    _family(".help", ".help", "this list", "shell"),
    _family("q", "q", "quit", "shell"),
)


def help_text() -> str:
    """The command list as ``.help`` and ``dumplib shell --help`` print it."""
    lines = []
    family = ""
    for c in COMMANDS:
        if c.family != family:
            family = c.family
            lines.append(f"{family}:")
        if len(c.syntax) > 44:
            lines += [f"  {c.syntax}", f"  {'':<44} {c.help}"]
        else:
            lines.append(f"  {c.syntax:<44} {c.help}")
    return "\n".join(lines)


