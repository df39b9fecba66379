"""Compare dumplib.stackwalk_json with rust-minidump's minidump-stackwalk snapshots.

Prints, per snapshot, how many leaf values (list lengths included) are equal,
and with ``-v`` every path that differs:

    python tools/compare_stackwalk_snapshots.py [-v]
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import dumplib  # noqa: E402

RUST = ROOT / "fixtures" / "external" / "rust-minidump"
CASES = {
    "json-pretty": ("Windows x86", "test.dmp", False),
    "json-pretty-symbols": ("Windows x86 + .sym", "test.dmp", True),
    "linux_json_pretty": ("Linux x64", "linux-mini.dmp", False),
    "macos_inlines_json_pretty": ("macOS x64 + .sym", "pipeline-inlines-macos-segv.dmp", True),
}


def leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every leaf of a JSON value with its path."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from leaves(v, f"{path}.{k}" if path else k)
    elif isinstance(value, list):
        yield f"{path}#len", len(value)
        for i, v in enumerate(value):
            yield from leaves(v, f"{path}[{i}]")
    else:
        yield path, value


def main(argv: list[str]) -> int:
    """Command-line entry."""
    verbose = "-v" in argv
    for snap, (label, dump_name, with_symbols) in CASES.items():
        text = (RUST / "snapshots" / f"test_minidump_stackwalk__{snap}.snap").read_text()
        expected = dict(leaves(json.loads(text[text.index("\n{") + 1 :])))
        with dumplib.open(RUST / dump_name) as d:
            doc = dumplib.stackwalk_json(d, symbols=[str(RUST / "symbols")] if with_symbols else [])
        got = dict(leaves(json.loads(json.dumps(doc))))
        differ = [k for k, v in expected.items() if got.get(k, object()) != v]
        equal = len(expected) - len(differ)
        print(f"{label:22} {snap:28} {equal}/{len(expected)} "
              f"({100 * equal / len(expected):.1f} %)")
        if verbose:
            for k in differ:
                print(f"    {k}: expected {expected[k]!r}, got {got.get(k, '<absent>')!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
