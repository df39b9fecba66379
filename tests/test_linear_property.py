"""The linear rule as a property (issue 14): for families of crafted inputs of
growing size, work and peak memory grow no faster than the input.

Each family builds its input at three scales (x4 apart) in a fresh
interpreter, runs the operation, and reports the input's size, a work count
where one exists (frames walked, records kept, decompressed bytes) and its
peak RSS. The property, for consecutive scales a < b:

    metric(b) - metric(a) <= SLACK * (size(b) / size(a)) * max(metric(a), FLOOR)

i.e. a metric may grow at most in proportion to the input (with a slack of
SLACK[metric] for measurement noise on a shared machine). Fixed costs (the interpreter,
minimum budgets) make small inputs look cheap, which the property allows.
"""

from __future__ import annotations

import itertools

import pytest

from tests._limits import measure

SLACK = {"rss_mb": 1.5, "work": 1.5, "seconds": 3.0}  # wall time is noisy on a shared machine
#: Below these a metric counts as noise (interpreter start-up, page-cache luck).
FLOOR = {"rss_mb": 40.0, "seconds": 0.5, "work": 1.0}

FAMILIES: dict[str, tuple[str, tuple[int, ...]]] = {
    # threads with distinct contexts on one shared stack
    "walker: aliased stacks": ("""
import dumplib
from tests._crafted import aliased_stack_dump
data = aliased_stack_dump({n}, distinct={n})
with dumplib.open(data) as d:
    work = sum(len(s) for s in d.stacks())
result(size=len(data), work=work)
""", (100, 400, 1600)),
    # every thread's context outside its stack: the recovery scan
    "walker: recovery scans": ("""
import dumplib
from tests._crafted import aliased_stack_dump
data = aliased_stack_dump({n}, distinct={n}, outside=True)
with dumplib.open(data) as d:
    w = d.stack_walker(None)
    d.stacks()
    work = w.budget.initial_work - w.budget.work_left
result(size=len(data), work=work)
""", (100, 400, 1600)),
    # exports all named by one string
    "PE: one name for n exports": ("""
import struct
from tests.test_pe_synthetic import RDATA, TEXT, Sec, Spec, build_pe
from dumplib.pe import PeImage
n = {n}
eat_at = RDATA + 40; names_at = eat_at + 4 * n; ords_at = names_at + 4 * n
string_at = ords_at + 2 * n
blob = (struct.pack("<IIHHIIIIIII", 0, 0, 1, 0, string_at, 1, n, n, eat_at, names_at, ords_at)
        + struct.pack(f"<{{n}}I", *([TEXT + 0x10] * n))
        + struct.pack(f"<{{n}}I", *([string_at] * n))
        + struct.pack(f"<{{n}}H", *range(n)) + b"N" * 4095 + b"\\0")
pe_bytes = build_pe(Spec(sections=[Sec(b".text", TEXT, b"\\xcc" * 0x200, 0x60000020),
                                   Sec(b".rdata", RDATA, blob)], dirs={{0: (RDATA, len(blob))}}))
exports = PeImage.from_file(pe_bytes).exports
result(size=len(pe_bytes), work=len(exports))
""", (4096, 16384, 65536)),
    # blank lines around few records
    ".sym: blank lines": ("""
from dumplib.symbols.breakpad import BreakpadSymbols
data = (b"MODULE windows x86_64 0123456789ABCDEF0123456789ABCDEF1 a.pdb\\nFILE 0 a.c\\n"
        + b"\\n" * ({n} << 20) + b"FUNC 1000 10 0 f\\n1000 10 7 0\\n")
syms = BreakpadSymbols.parse(data)
del data
result(size={n} << 20, work=len(syms.functions))
""", (2, 8, 32)),
    # MDMP then zeros, gzip: decompression stops at the ratio cap
    "gzip: header then zeros": ("""
import gzip, io, os, tempfile
from dumplib.decompress import ExpansionLimitError, expand
raw = io.BytesIO()
with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9) as g:
    g.write(b"MDMP")
    z = bytes(1 << 20)
    for _ in range({n}):
        g.write(z)
fd, path = tempfile.mkstemp(suffix=".dmp.gz")
os.write(fd, raw.getvalue()); os.close(fd)
try:
    expand(path, "gzip", in_memory_limit=1 << 20)
    work = -1
except ExpansionLimitError:
    work = 1
finally:
    os.unlink(path)
result(size=len(raw.getvalue()), work=work)
""", (80, 320, 1280)),  # above the 64 MiB always allowed
}


def _grows_linearly(name: str, runs: list[dict[str, float]], metric: str) -> None:
    for a, b in itertools.pairwise(runs):
        ratio = b["size"] / a["size"]
        base = max(a[metric], FLOOR[metric])
        assert b[metric] - a[metric] <= SLACK[metric] * ratio * base, (name, metric, runs)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_work_and_memory_grow_no_faster_than_the_input(family: str) -> None:
    code, scales = FAMILIES[family]
    runs: list[dict[str, float]] = []
    for n in scales:
        m = measure(code.format(n=n), timeout=300)
        assert m.fields["work"] != -1, (family, n)
        runs.append({"size": float(m.fields["size"]), "work": float(m.fields["work"]),
                     "rss_mb": m.rss_mb, "seconds": m.seconds})
    assert runs[0]["size"] < runs[1]["size"] < runs[2]["size"]
    for metric in ("work", "rss_mb", "seconds"):
        _grows_linearly(family, runs, metric)
