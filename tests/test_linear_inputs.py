"""PE images, breakpad .sym files and signatures crafted to cost more than their
size (issue 14): each costs time and memory in proportion to its bytes.

Inputs are built here: PE files by ``tests/test_pe_synthetic.build_pe`` (the
layout of the PE/COFF specification), .sym text by hand, TOML by hand. Each
runs in a fresh interpreter with its address space capped, so the old
behaviour (gigabytes allocated) fails fast as MemoryError instead of loading
the machine; the assertions are on the exception type, wall time and peak RSS.
"""

from __future__ import annotations

import re
import struct
import time
from pathlib import Path

import pytest

from dumplib.analysis.bounded_re import PatternTimeout, compile_bounded
from dumplib.analysis.signatures import SignatureError, load_signature
from tests._limits import measure
from tests.test_pe_synthetic import RDATA, TEXT, Sec, Spec, build_pe, export_section

ZERO_FILL = 0xE000_0000  # 3.5 GiB of section that the file does not store


def _zero_fill_export_pe() -> bytes:
    blob, _size = export_section(RDATA, "zerofill.dll", 1, [(1, "Alpha", TEXT + 0x10)])
    return build_pe(Spec(
        sections=[Sec(b".text", TEXT, b"\xcc" * 0x200, 0x60000020),
                  Sec(b".rdata", RDATA, blob, vsize=ZERO_FILL)],
        dirs={0: (RDATA, ZERO_FILL - 0x100)},
    ))


def _one_name_for_every_export() -> bytes:
    """65,536 exports whose name pointers all reach one 4,095-character string."""
    n = 0x10000
    eat_at = RDATA + 40
    names_at = eat_at + 4 * n
    ords_at = names_at + 4 * n
    string_at = ords_at + 2 * n
    directory = struct.pack("<IIHHIIIIIII", 0, 0, 1, 0, string_at, 1, n, n, eat_at, names_at,
                            ords_at)
    blob = (directory + struct.pack(f"<{n}I", *([TEXT + 0x10] * n))
            + struct.pack(f"<{n}I", *([string_at] * n)) + struct.pack(f"<{n}H", *range(n))
            + b"N" * 4095 + b"\0")
    return build_pe(Spec(
        sections=[Sec(b".text", TEXT, b"\xcc" * 0x200, 0x60000020), Sec(b".rdata", RDATA, blob)],
        dirs={0: (RDATA, len(blob))},
    ))


_EXPORTS = """
from dumplib.pe import PeImage
pe = PeImage.from_file(open({path!r}, "rb").read())
try:
    table = pe.exports
    n = len(table) if table is not None else -1
    names = len({{id(e.name) for e in table}}) if table is not None else 0
    kind = None
except MemoryError:
    n, names, kind = -1, 0, "MemoryError"
result(exports=n, distinct_name_objects=names, kind=kind)
"""


def test_export_directory_in_a_zero_fill_section(tmp_path: Path) -> None:
    """1.5 KB file, directory claiming 3.5 GiB (old code: allocated all of it)."""
    path = tmp_path / "zerofill.dll"
    path.write_bytes(_zero_fill_export_pe())
    assert path.stat().st_size < 4096
    m = measure(_EXPORTS.format(path=str(path)), address_space_mb=1024)
    assert m.fields["kind"] is None and m.fields["exports"] == 1, m.fields
    assert m.seconds < 5 and m.rss_mb < 100, m


def test_65536_exports_named_by_one_string(tmp_path: Path) -> None:
    """661 KB file (old code: 308 MB, one 4 KB string per export)."""
    path = tmp_path / "onename.dll"
    path.write_bytes(_one_name_for_every_export())
    m = measure(_EXPORTS.format(path=str(path)), address_space_mb=1024)
    assert m.fields["exports"] == 0x10000
    assert m.fields["distinct_name_objects"] == 1
    assert m.seconds < 10 and m.rss_mb < 120, m


_SYM = """
from dumplib.symbols.breakpad import BreakpadSymbols
syms = BreakpadSymbols.open({path!r})
lines = syms.function_lines(syms.functions[0])
result(functions=len(syms.functions), name=syms.functions[0].name,
       lines=[(x.address, x.line) for x in lines])
"""


def test_sym_of_blank_lines_costs_its_records_not_its_lines(tmp_path: Path) -> None:
    """50 MB of blank lines around one FUNC (old code: 483 MB)."""
    path = tmp_path / "blank.sym"
    with path.open("wb") as f:
        f.write(b"MODULE windows x86_64 0123456789ABCDEF0123456789ABCDEF1 blank.pdb\n")
        f.write(b"FILE 0 a.c\n")
        f.write(b"\n" * (25 << 20))
        f.write(b"FUNC 1000 10 0 only_function\n1000 10 7 0\n")
        f.write(b"\n" * (25 << 20))
    m = measure(_SYM.format(path=str(path)), address_space_mb=2048)
    assert m.fields["functions"] == 1 and m.fields["name"] == "only_function"
    assert m.fields["lines"] == [[0x1000, 7]]
    # the 50 MB file is read whole (once): about 25 MB of interpreter + 50 MB
    assert m.seconds < 20 and m.rss_mb < 160, m


def test_sym_errors_still_name_the_real_line(tmp_path: Path) -> None:
    from dumplib.symbols.breakpad import BreakpadSymbols
    from dumplib.symbols.errors import SymbolError

    text = (b"MODULE windows x86_64 0123456789ABCDEF0123456789ABCDEF1 a.pdb\n\n\n"
            b"FILE 0 a.c\n\nFUNC 1000 10 0 f\n\n1000 zz 7 0\n")
    syms = BreakpadSymbols.parse(text)
    with pytest.raises(SymbolError) as info:
        syms.function_lines(syms.functions[0])
    assert "line 8" in str(info.value)
    assert info.value.offset == text.index(b"1000 zz")


def test_catastrophic_patterns_are_refused_at_load(tmp_path: Path) -> None:
    sig = tmp_path / "evil.toml"
    sig.write_text('id = "evil"\ntitle = "t"\n[[match]]\n'
                   '[[match.thread]]\nframes = [\'(\\w+\\s?)+$\']\n', encoding="utf-8")
    with pytest.raises(SignatureError, match="exponential"):
        load_signature(sig)


def test_matching_is_time_boxed() -> None:
    """A pattern that passes the load check but backtracks: stopped, not 2^26 steps."""
    pytest.importorskip("regex")
    p = compile_bounded(r"(\w|[a-z])*\d", re.IGNORECASE)
    t0 = time.monotonic()
    with pytest.raises(PatternTimeout):
        p.search("a" * 26)
    assert time.monotonic() - t0 < 2
    assert p.search("abc1") is not None  # ordinary matching is unchanged


def test_text_is_cut_before_matching() -> None:
    p = compile_bounded(r"x$")
    assert p.search("a" * 10_000 + "x") is None  # beyond MAX_TEXT
    assert p.search("ax") is not None


def test_toml_nested_20000_deep_is_a_signature_error(tmp_path: Path) -> None:
    sig = tmp_path / "deep.toml"
    sig.write_text("x = " + "[" * 20_000 + "]" * 20_000 + "\n", encoding="utf-8")
    assert sig.stat().st_size < 41_000
    with pytest.raises(SignatureError, match="nested too deeply"):
        load_signature(sig)
