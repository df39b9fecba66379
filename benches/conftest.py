"""Dumps for the benchmarks, built once per session with dumplib's builder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from dumplib.builder import LargeDump, build_large_dump

#: Captured-memory sizes the scaling benchmarks run at.
SIZES = {"20MB": 20 << 20, "200MB": 200 << 20, "2GB": 2 << 30}


@pytest.fixture(scope="session")
def large_dump(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], LargeDump]:
    """Build (once) a sparse full-memory dump of the named size: 200 threads, 4,000 ranges."""
    cache: dict[str, LargeDump] = {}
    root: Path = tmp_path_factory.mktemp("dumps")

    def get(size: str) -> LargeDump:
        if size not in cache:
            cache[size] = build_large_dump(
                root / f"large-{size}.dmp", total_bytes=SIZES[size], threads=200, ranges=4000
            )
        return cache[size]

    return get
