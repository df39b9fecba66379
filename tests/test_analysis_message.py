"""Exception message texts with their placeholders filled, as the event viewer shows them."""

from __future__ import annotations

from pathlib import Path

import dumplib
from dumplib.analysis.exceptions import fill_message

CASEB = Path(__file__).resolve().parent.parent / "fixtures" / "wine" / "caseb"


def test_fill_message_follows_printf() -> None:
    assert fill_message("at 0x%08lx, not %s.", [0x10, "read"]) == "at 0x00000010, not read."
    assert fill_message("%d and %x and %s", [7]) == "7 and %x and %s"  # missing values stay
    assert fill_message("no placeholders", [1, 2]) == "no placeholders"


def test_access_violation_message_names_address_target_and_access() -> None:
    with dumplib.open(CASEB / "caseb.dmp") as d:
        exc = d.exception
        assert exc is not None
        report = dumplib.analyze(d, symbols=[str(CASEB)])
        target = exc.parameters[1]
        access = {0: "read", 1: "written", 8: "executed"}[exc.parameters[0]]
    assert report.exception is not None
    assert report.exception.message == (
        f"The instruction at 0x{exc.address:08x} referenced memory at 0x{target:08x}. "
        f"The memory could not be {access}."
    )
