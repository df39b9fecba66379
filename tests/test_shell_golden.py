"""The shell's output against WinDbg layouts written by hand (tests/golden/shell/).

Each golden file was written from Microsoft's documentation of the command's
output and from facts known without dumplib (truth.json, runtime.json, the PE
files); see tests/golden/shell/README.md for the template tokens.
"""

from __future__ import annotations

import lzma
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import dumplib
import dumplib.shell

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden" / "shell"
WINE = ROOT / "fixtures" / "wine"

_TOKENS = {
    "{A}": r"[0-9a-f]{8}`[0-9a-f]{8}",
    "{R}": r"[0-9a-f]{16}",
    "{X4}": r"[0-9a-f]{4}",
    "{X8}": r"[0-9a-f]{8}",
    "{H}": r"[0-9a-f]+",
    "{D}": r"[0-9]+",
    "{F}": r"(?:nv|ov|up|dn|ei|di|pl|ng|nz|zr|na|ac|po|pe|nc|cy)",
    "{*}": r".*",
}
_SPLIT = re.compile("(" + "|".join(re.escape(t) for t in _TOKENS) + ")")


def _line_regex(template: str) -> re.Pattern[str]:
    parts = _SPLIT.split(template.rstrip())
    return re.compile("".join(_TOKENS.get(p, re.escape(p)) for p in parts))


def _matches(templates: list[str], lines: list[str]) -> bool:
    """Line-by-line match where a template line '...' takes any number of lines."""
    if not templates:
        return not lines
    head, rest = templates[0], templates[1:]
    if head == "...":
        return any(_matches(rest, lines[i:]) for i in range(len(lines) + 1))
    return bool(lines) and _line_regex(head).fullmatch(lines[0].rstrip()) is not None and (
        _matches(rest, lines[1:]))


def _parse(path: Path) -> tuple[dict[str, str], list[str]]:
    meta: dict[str, str] = {}
    body: list[str] = []
    for line in path.read_text().splitlines():
        if not body and line.startswith("#"):
            continue
        key, sep, value = line.partition(": ")
        if not body and sep and key in ("fixture", "setup", "cmd"):
            meta[key] = value
            continue
        body.append(line)
    return meta, body


@pytest.fixture(scope="module")
def caseb_full(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    target = tmp_path_factory.mktemp("shell") / "caseb-full.dmp"
    with lzma.open(WINE / "caseb" / "caseb-full.dmp.xz") as src, target.open("wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    yield target


def _dump_path(fixture: str, request: pytest.FixtureRequest) -> tuple[Path, list[str]]:
    if fixture.startswith("external/"):
        path = ROOT / "fixtures" / fixture
        return path, [str(path.parent / "symbols")]
    if fixture == "caseb-full":
        full: Path = request.getfixturevalue("caseb_full")
        return full, [str(WINE / "caseb"), str(WINE / "system")]
    return WINE / fixture / f"{fixture}.dmp", [str(WINE / fixture), str(WINE / "system")]


@pytest.mark.parametrize("name", sorted(p.name for p in GOLDEN.glob("*.txt")))
def test_golden_layout(name: str, request: pytest.FixtureRequest) -> None:
    meta, body = _parse(GOLDEN / name)
    path, symbols = _dump_path(meta["fixture"], request)
    with dumplib.open(path) as dump:
        session = dumplib.shell.Session(dump, symbols)
        if "setup" in meta:
            dumplib.shell.run(dump, meta["setup"], session=session)
        text = dumplib.shell.run(dump, meta["cmd"], session=session)
    echo, _, output = text.partition("\n")
    assert echo.endswith("> " + meta["cmd"])
    lines = output.splitlines()
    assert _matches(body, lines), f"{name}:\n" + output


def test_template_matcher_rejects_a_wrong_layout() -> None:
    """The matcher itself: a missing column, an extra line or a wrong value fails."""
    templates = ["Child-SP          RetAddr               Call Site", "{A} {A}     a!f+0x{H}"]
    good = ["Child-SP          RetAddr               Call Site",
            "00000000`0011fc90 00000001`4000157c     a!f+0x53"]
    assert _matches(templates, good)
    assert not _matches(templates, [good[0], "00000000`0011fc90     a!f+0x53"])
    assert not _matches(templates, [*good, "extra"])
    assert not _matches(templates, [good[0], good[1].replace("a!f", "a!g")])
    assert _matches([*templates, "..."], [*good, "extra", "more"])
