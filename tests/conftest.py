"""Shared fixtures and paths for the test suite."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
RUST_MINIDUMP = FIXTURES / "external" / "rust-minidump"

#: The real dumps of the rust-minidump corpus that are well formed.
CORPUS_DUMPS = ["test.dmp", "linux-mini.dmp", "simple-crashpad.dmp", "invalid-parameter.dmp"]
#: Deliberately malformed samples (found by rust-minidump's fuzzing).
MALFORMED_DUMPS = ["invalid-range.dmp", "invalid-record-count.dmp"]


@pytest.fixture
def corpus_path() -> Path:
    """Directory of the rust-minidump sample dumps."""
    return RUST_MINIDUMP


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print one loud line per skipped test, so a missing oracle is never a silent skip.

    Oracles (lldb, mingw-w64 headers, chromium, peer packages) are installed by
    ``.ci/run``; when one is absent its tests skip, and this banner says which and why.
    """
    skipped = terminalreporter.stats.get("skipped", [])
    if not skipped:
        return
    banner = f"{len(skipped)} TESTS SKIPPED: AN ORACLE IS MISSING OR CANNOT READ THE INPUT"
    terminalreporter.write_sep("!", banner, red=True)
    seen: set[str] = set()
    for report in skipped:
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        if reason not in seen:
            seen.add(reason)
            terminalreporter.write_line(f"!!! ORACLE SKIPPED: {reason}", red=True, bold=True)
