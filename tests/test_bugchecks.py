"""The bug check table: names as mingw-w64's bugcodes.h defines them, cited extras, meanings,
and ``dumplib err``.

Expected names are read from the header here with a plain line scan, independently of
tools/gen_codes.py's parser; the codes the header lacks are checked against the
Microsoft page each row cites (its URL names the code).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dumplib.codes import bugchecks

ROOT = Path(__file__).resolve().parent.parent
HEADER = Path("/usr/share/mingw-w64/include/bugcodes.h")
DATA = ROOT / "dumplib" / "codes" / "data"
needs_header = pytest.mark.skipif(
    not HEADER.is_file(), reason="mingw-w64 headers absent: apt-get install mingw-w64-common"
)
COMMON = (0x0A, 0x1E, 0x3B, 0x50, 0x7E, 0x7F, 0x9F, 0xC2, 0xC4, 0xD1, 0xEF, 0x133, 0x139, 0x154)


@needs_header
def test_every_stop_code_of_the_header_is_named_as_the_header_names_it() -> None:
    seen = 0
    for line in HEADER.read_text(encoding="latin-1").splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "#define" and parts[2].startswith("((ULONG)0x"):
            code = int(parts[2][len("((ULONG)") : -1], 16)
            if code < 0x40000000:
                assert bugchecks.name_of(code) == parts[1], hex(code)
                seen += 1
    assert seen > 150


@needs_header
def test_generated_table_is_up_to_date() -> None:
    done = subprocess.run([sys.executable, "tools/gen_codes.py", "--bugchecks", "--check"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_extra_rows_cite_the_page_of_their_own_code() -> None:
    rows = [line.split("\t") for line in (DATA / "bugchecks_extra.tsv").read_text().splitlines()
            if line and not line.startswith("#")]
    assert rows
    for code, name, url in rows:
        assert url.startswith("https://learn.microsoft.com/")
        value = int(code, 16)
        page = value & 0xFFFF if value >> 28 == 1 else value  # the _M variants share a page
        assert re.search(rf"bug-check-0x{page:x}-", url), (code, url)
        assert bugchecks.name_of(int(code, 16)) == name


@pytest.mark.parametrize("code", COMMON)
def test_common_bugchecks_have_meanings_for_every_parameter(code: int) -> None:
    info = bugchecks.describe(code)
    assert info.name and info.meaning
    assert all(info.parameters) and len(info.parameters) == 4
    assert re.search(rf"bug-check-0x{code:x}-", info.meaning_source)


def test_unknown_code_has_no_name() -> None:
    info = bugchecks.describe(0x0BADC0DE)
    assert info.name is None and info.meaning == "" and bugchecks.format_bugcheck(0x0BADC0DE) == ""


def test_err_knows_bugchecks() -> None:
    def err(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "dumplib", "err", *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)

    text = err("0xD1")
    assert text.returncode == 0 and "DRIVER_IRQL_NOT_LESS_OR_EQUAL" in text.stdout
    assert "parameter 4: instruction address" in text.stdout
    doc = json.loads(err("0x133", "--json").stdout)
    assert doc["bugcheck"]["name"] == "DPC_WATCHDOG_VIOLATION"
    assert json.loads(err("0xC0000005", "--json").stdout)["bugcheck"] is None
