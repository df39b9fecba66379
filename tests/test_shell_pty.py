"""The interactive prompt, driven end to end in a real pseudo-terminal (pexpect).

Types a command and reads the screen, completes a module name with Tab,
interrupts with Ctrl-C at the prompt, and quits with ``q``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pexpect

ROOT = Path(__file__).resolve().parent.parent
WINE = ROOT / "fixtures" / "wine"
def test_interactive_prompt_in_a_pty(tmp_path: Path) -> None:
    env = dict(os.environ, HOME=str(tmp_path), TERM="xterm", PROMPT_TOOLKIT_NO_CPR="1",
               PYTHONPATH=str(ROOT))
    dump = WINE / "nullwrite" / "nullwrite.dmp"
    child = pexpect.spawn(
        sys.executable,
        ["-m", "dumplib", "shell", str(dump), "--symbols", str(WINE / "nullwrite")],
        cwd=str(ROOT), env=env, encoding="utf-8", timeout=60, dimensions=(40, 200))
    try:
        child.expect_exact("0:000>")
        # a command and its output
        child.send("? 0n40 + 2\r")
        child.expect_exact("Evaluate expression: 42 = 00000000`0000002a")
        child.expect_exact("0:000>")
        # completion: "nullw" + Tab becomes "nullwrite"
        child.send("lm m nullw\t")
        child.expect_exact("rite")  # the completion, drawn after the typed "nullw"
        child.send("\r")
        child.expect_exact("00000001`40000000 00000001`40040000   nullwrite")
        child.expect_exact("0:000>")
        # Ctrl-C at the prompt drops the line; the shell stays
        child.send("kn")
        child.sendintr()
        child.expect_exact("0:000>")
        child.send("~\r")
        child.expect(r"\.  0  Id: 20\.24 ")
        child.expect_exact("0:000>")
        child.send("q\r")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    history = (tmp_path / ".dumplib_shell_history").read_text()
    assert "? 0n40 + 2" in history and "lm m nullwrite" in history


def test_ctrl_c_stops_long_output_and_the_shell_goes_on(tmp_path: Path) -> None:
    """~*k on the stack overflow prints thousands of frames; Ctrl-C stops it (the pty's
    buffer fills, so the shell is still writing when the interrupt arrives)."""
    env = dict(os.environ, HOME=str(tmp_path), TERM="xterm", PROMPT_TOOLKIT_NO_CPR="1",
               PYTHONPATH=str(ROOT))
    dump = WINE / "stackoverflow" / "stackoverflow.dmp"
    child = pexpect.spawn(
        sys.executable,
        ["-m", "dumplib", "shell", str(dump), "--symbols", str(WINE / "stackoverflow")],
        cwd=str(ROOT), env=env, encoding="utf-8", timeout=120, dimensions=(40, 200))
    try:
        child.expect_exact(">")
        child.send("~*k\r")
        child.expect_exact("stackoverflow!Recurse+0x")  # output has started
        child.sendintr()
        child.expect_exact("^C")
        seen = child.before  # what was printed between the first frame and the interrupt
        child.send("? 0n7\r")
        child.expect_exact("Evaluate expression: 7 = 00000000`00000007")
        child.send("q\r")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    # the walk printed far fewer than all of its 4000+ Recurse frames per thread
    assert seen.count("stackoverflow!Recurse") < 4000
