"""Worst time and peak memory per kind of crafted input (issue 14).

Usage::

    python tools/fuzz/linear_worst.py [--only NAME]

Builds each hostile shape of ``SECURITY.md``'s "Linear in the input" table at
the size the issue reported (or the size of its test), runs it in a fresh
interpreter, and prints one line per input: its size, the outcome (result or
exception type), wall seconds and peak RSS. Figures depend on the machine
and its load; they go into ``benches/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests._limits import measure  # noqa: E402

_OPEN_WALK = """
import dumplib
from tests._crafted import aliased_stack_dump
data = aliased_stack_dump({threads}, distinct={distinct}, outside={outside})
with dumplib.open(data) as d:
    stacks = d.stacks()
    report = dumplib.analyze(d)
result(size=len(data), outcome=f"{{len(stacks)}} stacks, analysed")
"""

_EXPAND = """
import os
import dumplib
size = os.path.getsize({path!r})
try:
    dumplib.open({path!r})
    outcome = "opened"
except dumplib.DumpError as e:
    outcome = type(e).__name__
result(size=size, outcome=outcome)
"""


def _bomb(suffix: str, head: bytes, mib: int) -> str:
    """Write a compressed file of ``head`` then ``mib`` MiB of zeros; return its path."""
    import gzip
    import lzma
    import tempfile

    fd, path = tempfile.mkstemp(suffix=suffix, prefix="linear-worst-")
    os.close(fd)
    opener = gzip.open if suffix.endswith(".gz") else lzma.open
    with opener(path, "wb") as g:
        g.write(head)
        zero = bytes(1 << 20)
        for _ in range(mib):
            g.write(zero)
    return path


_ZIP = """
import io, os, tempfile, zipfile
from dumplib.triage.discover import find_dumps, load_dump
data = open("dumplib/samples/test.dmp", "rb").read()[:256]
fd, path = tempfile.mkstemp(suffix=".zip"); os.close(fd)
with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
    for i in range({n}):
        z.writestr(f"d{{i:05}}.dmp", data)
n = 0
for ref in find_dumps([path]):
    with load_dump(ref) as loaded:
        n += 1
size = os.path.getsize(path)
os.unlink(path)
result(size=size, outcome=f"{{n}} members read")
"""

_PE = """
from tests.test_linear_inputs import {builder}
from dumplib.pe import PeImage
data = {builder}()
exports = PeImage.from_file(data).exports
result(size=len(data), outcome=f"{{len(exports)}} exports")
"""

_SYM = """
from dumplib.symbols.breakpad import BreakpadSymbols
data = (b"MODULE windows x86_64 0123456789ABCDEF0123456789ABCDEF1 a.pdb\\nFILE 0 a.c\\n"
        + b"\\n" * (50 << 20) + b"FUNC 1000 10 0 f\\n1000 10 7 0\\n")
syms = BreakpadSymbols.parse(data)
result(size=len(data), outcome=f"{len(syms.functions)} function")
"""

_SIG = """
import re
from dumplib.analysis.bounded_re import PatternTimeout, compile_bounded
p = compile_bounded(r"(\\w|[a-z])*\\d", re.IGNORECASE)
try:
    p.search("a" * 26)
    outcome = "matched"
except PatternTimeout:
    outcome = "PatternTimeout"
result(size=26, outcome=outcome)
"""

_TOML = """
import os, tempfile
from dumplib.analysis.signatures import SignatureError, load_signature
fd, path = tempfile.mkstemp(suffix=".toml")
os.write(fd, b"x = " + b"[" * 20000 + b"]" * 20000 + b"\\n"); os.close(fd)
try:
    load_signature(path)
    outcome = "loaded"
except SignatureError:
    outcome = "SignatureError"
os.unlink(path)
result(size=40005, outcome=outcome)
"""

CASES: dict[str, str] = {
    "dump: 12,000 threads on one stack": _OPEN_WALK.format(threads=12000, distinct=1,
                                                           outside=False),
    "dump: 1,000 contexts on one stack": _OPEN_WALK.format(threads=1000, distinct=1000,
                                                           outside=False),
    "dump: 19,000 recovery scans": _OPEN_WALK.format(threads=19000, distinct=64, outside=True),
    "dump: 4,000 distinct recovery scans": _OPEN_WALK.format(threads=4000, distinct=4000,
                                                             outside=True),
    "gzip: 1000 MiB of zeros": "bomb:.dmp.gz::1000",
    "gzip: MDMP + 1000 MiB of zeros": "bomb:.dmp.gz:MDMP:1000",
    "xz: MDMP + 2 GiB of zeros": "bomb:.dmp.xz:MDMP:2048",
    "zip: 10,000 members": _ZIP.format(n=10000),
    "PE: exports in 3.5 GiB zero fill": _PE.format(builder="_zero_fill_export_pe"),
    "PE: 65,536 exports, one name": _PE.format(builder="_one_name_for_every_export"),
    ".sym: 50 MB of blank lines": _SYM,
    "signature: backtracking pattern": _SIG,
    "signature: TOML 20,000 deep": _TOML,
}


def main(argv: list[str] | None = None) -> int:
    """Run every case (or one) and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="run the cases whose name contains this")
    args = parser.parse_args(argv)
    print(f"{'input':36} {'bytes':>11} {'outcome':26} {'seconds':>8} {'peak MB':>8}")
    for name, code in CASES.items():
        if args.only and args.only not in name:
            continue
        made = None
        if code.startswith("bomb:"):
            _, suffix, head, mib = code.split(":")
            made = _bomb(suffix, head.encode(), int(mib))
            code = _EXPAND.format(path=made)
        try:
            m = measure(code, timeout=600, address_space_mb=4096)
        finally:
            if made is not None:
                os.unlink(made)
        print(f"{name:36} {m.fields['size']:>11,} {m.fields['outcome']:26} "
              f"{m.seconds:>8.2f} {m.rss_mb:>8.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
