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
