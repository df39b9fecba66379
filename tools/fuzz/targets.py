"""Fuzz targets: each takes bytes and drives one reader through everything it offers.

A target may let :class:`dumplib.DumpError` (and its subclasses) through --
that is the documented way to reject bad input -- and nothing else. The runner
(``tools/fuzz/run.py``) treats any other exception, a hang or a runaway
allocation as a crash.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import dumplib
from dumplib.cli import render

__all__ = ["TARGETS"]


def _quiet() -> None:
    warnings.simplefilter("ignore")


def fuzz_dump(data: bytes) -> None:
    """``dumplib.open`` plus every stream, context, memory read and the CLI's JSON views."""
    _quiet()
    try:
        d = dumplib.open(data)
    except dumplib.DumpError:
        return
    d.check()
    for fn in (render.info_json, render.threads_json, render.modules_json,
               render.memory_json, render.streams_json):
        try:
            fn(d)
        except dumplib.DumpError:
            pass
    try:
        mem = d.memory
    except dumplib.DumpError:
        return
    for start, size in mem.ranges[:20]:
        try:
            mem.read(start, min(size, 64))
            mem.read_pointer(start)
        except dumplib.DumpError:
            pass
    stack = getattr(d, "stack", None)
    if stack is not None:
        try:
            threads = list(d.threads)[:4]
        except dumplib.DumpError:
            threads = []
        for t in threads:
            try:
                stack(t, max_frames=64)
            except dumplib.DumpError:
                pass
    analyze = getattr(dumplib, "analyze", None)
    if analyze is not None:
        try:
            analyze(d)
        except dumplib.DumpError:
            pass


def fuzz_pe(data: bytes) -> None:
    """``PeImage`` over bytes: headers, sections, exports, unwind data, CodeView, version."""
    from dumplib.pe import PeImage

    try:
        img = PeImage.from_file(data)
        _ = (img.headers, img.sections, img.codeview, img.version_info)
        exports = img.exports
        if exports is not None:
            exports.nearest(0x1000)
        table = img.runtime_functions
        for rf in list(table)[:64]:
            try:
                img.unwind_chain(rf)
            except dumplib.DumpError:
                pass
    except dumplib.DumpError:
        return


def fuzz_pdb(data: bytes) -> None:
    """``PdbFile`` over bytes: identity, publics, procedures, lines, lookups."""
    from dumplib.pdb import PdbFile

    try:
        pdb = PdbFile.open(data)
        _ = (pdb.guid, pdb.age)
        functions = pdb.functions
        publics = pdb.publics
        _ = pdb.line_records
        for rva in [f.rva for f in functions[:32]] + [p.rva for p in publics[:32]] + [0]:
            pdb.lookup(rva)
    except dumplib.DumpError:
        return


def fuzz_sym(data: bytes) -> None:
    """Breakpad ``.sym`` over bytes: records, lookups, CFI and STACK WIN programs."""
    from dumplib.symbols import BreakpadSymbols

    try:
        sym = BreakpadSymbols.parse(data)
        for f in sym.functions[:32]:
            sym.lookup(f.address)
            sym.cfi_rules(f.address)
            sym.stack_win_at(f.address)
    except dumplib.DumpError:
        return


#: Target name -> function, for the runner and the CI smoke test.
TARGETS: dict[str, Callable[[bytes], None]] = {
    "dump": fuzz_dump,
    "pe": fuzz_pe,
    "pdb": fuzz_pdb,
    "sym": fuzz_sym,
}

from tools.fuzz.crafted import CRAFTED  # noqa: E402 - crafted shapes, after the base targets

TARGETS.update(CRAFTED)
