"""Tests of dumplib.codes: the tables against a fresh parse of the headers they come from,
err.exe-like multi-matching, field decoding, bad inputs, and the generator's evaluator.

The header checks read mingw-w64's headers again with their own simple regular expressions
(independent of tools/gen_codes.py's evaluator); they need Debian's mingw-w64-common.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dumplib import codes
from dumplib.codes import CodeMatch, CodeTable, NtSeverity

INCLUDE = Path("/usr/share/mingw-w64/include")
REPO = Path(__file__).resolve().parent.parent

needs_headers = pytest.mark.skipif(
    not (INCLUDE / "ntstatus.h").is_file(),
    reason="mingw-w64 headers absent: apt-get install mingw-w64-common",
)


# --------------------------------------------------------------------------------------------
# An independent reading of the headers: only the plain literal forms, first definition wins.
# --------------------------------------------------------------------------------------------


def _first_defs(text: str, pattern: str) -> dict[str, int]:
    out: dict[str, int] = {}
    conflicting: set[str] = set()
    for m in re.finditer(pattern, text, flags=re.M):
        name, value = m.group(1), int(m.group(2), 0) & 0xFFFFFFFF
        if name in out and out[name] != value:
            conflicting.add(name)
        out.setdefault(name, value)
    return {k: v for k, v in out.items() if k not in conflicting}


def _header(name: str) -> str:
    return (INCLUDE / name).read_text(encoding="latin-1")


def _ntstatus_defs() -> dict[str, int]:
    return _first_defs(
        _header("ntstatus.h"), r"^#define\s+(\w+)\s+\(\(NTSTATUS\)\s*(0x[0-9A-Fa-f]+)L?\)"
    )


def _hresult_defs() -> dict[str, int]:
    return _first_defs(
        _header("winerror.h"), r"^#define\s+(\w+)\s+_HRESULT_TYPEDEF_\((0x[0-9A-Fa-f]+)L?\)"
    )


def _win32_defs() -> dict[str, int]:
    return _first_defs(_header("winerror.h"), r"^#define\s+(ERROR_\w+)\s+__MSABI_LONG\((\d+)\)")


def _cor_defs() -> dict[str, int]:
    text = _header("corerror.h")
    urt = int(re.search(r"#define\s+FACILITY_URT\s+(0x[0-9a-fA-F]+)", text).group(1), 16)  # type: ignore[union-attr]
    raw = _first_defs(text, r"^#define\s+(COR_E_\w+)\s+EMAKEHR\((0x[0-9a-fA-F]+)\)")
    # EMAKEHR(val) = MAKE_HRESULT(SEVERITY_ERROR, FACILITY_URT, val)
    return {k: 0x80000000 | (urt << 16) | v for k, v in raw.items()}


def _exception_aliases() -> dict[str, str]:
    return dict(
        re.findall(r"^#define\s+(EXCEPTION_\w+)\s+(STATUS_\w+)\s*$", _header("minwinbase.h"), re.M)
    )


def _has(matches: list[CodeMatch], table: CodeTable, name: str, code: int) -> bool:
    return any(m.table is table and m.name == name and m.code == code for m in matches)


@pytest.fixture(scope="module")
def header_tables() -> dict[CodeTable, dict[str, int]]:
    if not (INCLUDE / "ntstatus.h").is_file():
        pytest.skip("mingw-w64 headers absent: apt-get install mingw-w64-common")
    hr = _hresult_defs()
    hr.update(_cor_defs())
    return {
        CodeTable.NTSTATUS: _ntstatus_defs(),
        CodeTable.HRESULT: hr,
        CodeTable.WIN32: _win32_defs(),
    }


# --------------------------------------------------------------------------------------------
# Round trips against the headers
# --------------------------------------------------------------------------------------------


@needs_headers
def test_header_parse_is_substantial(header_tables: dict[CodeTable, dict[str, int]]) -> None:
    # Guards the test's own regexes: a broken pattern would make the round trips vacuous.
    assert len(header_tables[CodeTable.NTSTATUS]) > 1500
    assert len(header_tables[CodeTable.HRESULT]) > 1400
    assert len(header_tables[CodeTable.WIN32]) > 1500


@needs_headers
def test_every_header_code_is_in_the_tables(
    header_tables: dict[CodeTable, dict[str, int]],
) -> None:
    missing = [
        (table.value, name, hex(code))
        for table, defs in header_tables.items()
        for name, code in defs.items()
        if not _has(codes.lookup_name(name), table, name, code)
    ]
    assert missing == []


@needs_headers
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_random_header_codes_round_trip(
    header_tables: dict[CodeTable, dict[str, int]], data: st.DataObject
) -> None:
    table = data.draw(st.sampled_from(sorted(header_tables, key=lambda t: t.value)))
    name, code = data.draw(st.sampled_from(sorted(header_tables[table].items())))
    matches = codes.lookup(code)
    assert _has(matches, table, name, code)
    assert all(m.code == code for m in matches if m.via is None)
    assert name in codes.format_lookup(code)


@needs_headers
def test_exception_aliases_follow_minwinbase() -> None:
    nt = _ntstatus_defs()
    aliases = _exception_aliases()
    assert len(aliases) >= 20
    for exc_name, status_name in aliases.items():
        code = nt[status_name]
        matches = codes.lookup(code)
        assert _has(matches, CodeTable.EXCEPTION, exc_name, code), exc_name
        assert _has(matches, CodeTable.NTSTATUS, status_name, code), status_name


# --------------------------------------------------------------------------------------------
# The must-haves, each value read from the header text
# --------------------------------------------------------------------------------------------


def _define(header: str, name: str) -> str:
    m = re.search(rf"^#define\s+{name}\s+(.+?)\s*$", _header(header), re.M)
    assert m is not None, f"{name} not in {header}"
    return m.group(1)


@needs_headers
@pytest.mark.parametrize(
    ("name", "expected_hex"),
    [
        ("STATUS_ACCESS_VIOLATION", "0xC0000005"),
        ("STATUS_BUFFER_OVERFLOW", "0x80000005"),
        ("STATUS_HEAP_CORRUPTION", "0xC0000374"),
        ("STATUS_STACK_BUFFER_OVERRUN", "0xC0000409"),
    ],
)
def test_ntstatus_must_haves(name: str, expected_hex: str) -> None:
    assert _define("ntstatus.h", name) == f"((NTSTATUS){expected_hex})"
    code = int(expected_hex, 16)
    assert _has(codes.lookup(code), CodeTable.NTSTATUS, name, code)


@needs_headers
def test_access_violation_is_also_an_exception_code() -> None:
    assert _define("minwinbase.h", "EXCEPTION_ACCESS_VIOLATION") == "STATUS_ACCESS_VIOLATION"
    assert codes.name_of_exception(0xC0000005) == "EXCEPTION_ACCESS_VIOLATION"
    tables = {m.table for m in codes.lookup(0xC0000005)}
    assert tables == {CodeTable.NTSTATUS, CodeTable.EXCEPTION}


@needs_headers
def test_cor_e_executionengine() -> None:
    assert _define("corerror.h", "COR_E_EXECUTIONENGINE") == "EMAKEHR(0x1506)"
    code = _cor_defs()["COR_E_EXECUTIONENGINE"]
    assert code == 0x80131506
    matches = codes.lookup(code)
    assert _has(matches, CodeTable.HRESULT, "COR_E_EXECUTIONENGINE", code)
    # Text of corerror.xml in dotnet/runtime: <Message>"Internal CLR error."</Message>
    assert [m.message for m in matches if m.name == "COR_E_EXECUTIONENGINE"] == [
        "Internal CLR error."
    ]
    facility = codes.decode_hresult(code)
    assert facility.facility == 0x13
    assert "FACILITY_URT" in facility.facility_names


@needs_headers
def test_win32_access_denied_and_e_accessdenied() -> None:
    assert _define("winerror.h", "ERROR_ACCESS_DENIED") == "__MSABI_LONG(5)"
    assert _define("winerror.h", "E_ACCESSDENIED") == "_HRESULT_TYPEDEF_(0x80070005)"
    direct = codes.lookup(5)
    assert _has(direct, CodeTable.WIN32, "ERROR_ACCESS_DENIED", 5)
    # FormatMessage's text for error 5; E_ACCESSDENIED (HRESULT_FROM_WIN32(5)) shows the
    # same text, as FormatMessage does for every facility-7 HRESULT.
    assert [m.message for m in direct if m.name == "ERROR_ACCESS_DENIED"] == ["Access is denied."]
    wrapped = codes.lookup(0x80070005)
    assert _has(wrapped, CodeTable.HRESULT, "E_ACCESSDENIED", 0x80070005)
    assert [m.message for m in wrapped if m.name == "E_ACCESSDENIED"] == ["Access is denied."]
    via = [m for m in wrapped if m.via is not None]
    assert [(m.table, m.name, m.code, m.via) for m in via] == [
        (CodeTable.WIN32, "ERROR_ACCESS_DENIED", 5, "HRESULT_FROM_WIN32")
    ]


def _fourcc(letters: bytes) -> int:
    return 0xE0000000 | int.from_bytes(letters, "big")


@pytest.mark.parametrize(
    ("code", "letters", "name"),
    [
        (0xE06D7363, b"msc", "EXCEPTION_MSVC"),
        (0xE0434352, b"CCR", "EXCEPTION_COMPLUS"),
        (0xE0434F4D, b"COM", "EXCEPTION_COMPLUS"),
    ],
)
def test_runtime_exception_codes(code: int, letters: bytes, name: str) -> None:
    # These codes are built as 0xE0000000 | three ASCII letters by the runtimes that raise them.
    assert _fourcc(letters) == code
    assert codes.name_of_exception(code) == name
    matches = codes.lookup(code)
    assert [m.table for m in matches] == [CodeTable.EXCEPTION]
    assert letters.decode() in matches[0].message


@needs_headers
def test_runtime_exception_codes_are_not_in_the_headers() -> None:
    # Why they live in a hand-maintained file: no header defines them.
    for header in ("ntstatus.h", "winerror.h", "corerror.h", "minwinbase.h", "winnt.h"):
        text = _header(header).lower()
        for code in ("0xe0434352", "0xe0434f4d"):
            assert code not in text


def test_exception_names_agree_with_minidump_package() -> None:
    oracle = pytest.importorskip("minidump.streams.ExceptionStream")
    checked = 0
    for member in oracle.ExceptionCode:
        value = member.value
        if isinstance(value, int) and value >= 0x80000000 and member.name.startswith("EXCEPTION_"):
            assert codes.name_of_exception(value) == member.name
            checked += 1
    assert checked >= 15


def test_name_of_exception_falls_back_to_ntstatus() -> None:
    assert codes.name_of_exception(0xC0000374) == "STATUS_HEAP_CORRUPTION"
    assert codes.name_of_exception(0xC0000409) == "STATUS_STACK_BUFFER_OVERRUN"
    assert codes.name_of_exception(0x1234ABCD) is None
    assert codes.name_of_exception(1 << 32) is None


@needs_headers
def test_name_of_exception_covers_rpc_and_com_raises() -> None:
    # The RPC runtime raises Win32 numbers, COM raises HRESULTs; both read from winerror.h.
    rpc = int(re.sub(r"\D", "", _define("winerror.h", "RPC_S_SERVER_UNAVAILABLE")))
    assert codes.name_of_exception(rpc) == "RPC_S_SERVER_UNAVAILABLE"
    body = _define("winerror.h", "RPC_E_CANTCALLOUT_ININPUTSYNCCALL")
    com = int(re.search(r"0x[0-9A-Fa-f]+", body).group(0), 16)  # type: ignore[union-attr]
    assert codes.name_of_exception(com) == "RPC_E_CANTCALLOUT_ININPUTSYNCCALL"


def test_to_json_is_plain_json() -> None:
    doc = codes.to_json(-2147024891)
    assert json.loads(json.dumps(doc)) == doc
    assert doc["code"] == 0x80070005 and doc["signed"] == -2147024891
    matches = doc["matches"]
    assert isinstance(matches, list)
    assert [(m["table"], m["name"], m["code"], m["via"]) for m in matches] == [
        (m.table.value, m.name, m.code, m.via) for m in codes.lookup(0x80070005)
    ]
    assert codes.to_json(1 << 32) == {"code": None, "signed": None, "matches": []}


# --------------------------------------------------------------------------------------------
# err.exe-like multi-matching
# --------------------------------------------------------------------------------------------


def _win32_codes() -> list[int]:
    return sorted(codes._data.tables().by_code[CodeTable.WIN32])


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_win32_inside_hresult_and_ntstatus(data: st.DataObject) -> None:
    w = data.draw(st.sampled_from(_win32_codes()))
    names = {m.name for m in codes.lookup(w) if m.table is CodeTable.WIN32}
    assert names
    for high, via in ((0x80070000, "HRESULT_FROM_WIN32"), (0xC0070000, "NTSTATUS_FROM_WIN32")):
        matches = codes.lookup(high | w)
        derived = {m.name for m in matches if m.via == via}
        assert derived == names
        assert all(m.code == w and m.table is CodeTable.WIN32 for m in matches if m.via == via)
        # generic names (ERROR_*, E_*) before subsystem aliases (COR_E_*, DNS_*); within
        # each, direct matches are listed before decoded ones
        keys = [(not m.name.startswith(_GENERIC[m.table]), m.via is not None) for m in matches]
        assert keys == sorted(keys)


def test_hresult_from_nt() -> None:
    matches = codes.lookup(0xC0000005 | 0x10000000)
    assert [(m.table, m.name, m.code, m.via) for m in matches] == [
        (CodeTable.NTSTATUS, "STATUS_ACCESS_VIOLATION", 0xC0000005, "HRESULT_FROM_NT")
    ]


def test_format_lookup_lists_every_match() -> None:
    text = codes.format_lookup(0x80070005)
    for m in codes.lookup(0x80070005):
        assert m.name in text
    assert "Access is denied." in text
    assert f"# {len(codes.lookup(0x80070005))} matches found for 0x80070005" in text
    assert "-2147024891" in text  # the signed decimal view, as err.exe prints it
    assert "1 match found" in codes.format_lookup(5)
    assert "0 matches found" in codes.format_lookup(0x1234ABCD)


def test_lookup_name() -> None:
    got = codes.lookup_name("e_accessdenied")
    assert [(m.table, m.code) for m in got] == [(CodeTable.HRESULT, 0x80070005)]
    assert codes.lookup_name("NO_SUCH_CODE_NAME") == []


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------


@given(st.integers(min_value=-(1 << 31), max_value=-1))
def test_negative_is_signed_view(code: int) -> None:
    assert codes.lookup(code) == codes.lookup(code & 0xFFFFFFFF)


@given(st.one_of(st.integers(max_value=-(1 << 31) - 1), st.integers(min_value=1 << 32)))
def test_out_of_range_matches_nothing(code: int) -> None:
    assert codes.lookup(code) == []
    assert codes.name_of_exception(code) is None
    assert "does not fit in 32 bits" in codes.format_lookup(code)
    with pytest.raises(ValueError, match="32-bit"):
        codes.decode_hresult(code)
    with pytest.raises(ValueError, match="32-bit"):
        codes.decode_ntstatus(code)


@pytest.mark.parametrize("bad", ["5", 5.0, None, True])
def test_non_int_is_a_type_error(bad: object) -> None:
    with pytest.raises(TypeError):
        codes.lookup(bad)  # type: ignore[arg-type]


@given(st.integers(min_value=0, max_value=0xFFFFFFFF))
def test_parse_code_round_trip(code: int) -> None:
    signed = code - (1 << 32) if code & 0x80000000 else code
    assert codes.parse_code(hex(code)) == code
    assert codes.parse_code(str(signed)) == code
    bare = f"{code:X}"
    if not bare.isdigit():  # bare digits read as decimal, like err.exe
        assert codes.parse_code(bare) == code


@pytest.mark.parametrize("text", ["", "0x", "xyz", "0xg1", "-", "0x1_0000_0000", "99999999999"])
def test_parse_code_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        codes.parse_code(text)


# --------------------------------------------------------------------------------------------
# Decoding, against the [MS-ERREF] bit layouts
# --------------------------------------------------------------------------------------------


@given(
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.integers(0, 0x7FF),
    st.integers(0, 0xFFFF),
)
def test_decode_hresult_fields(s: bool, c: bool, n: bool, facility: int, low: int) -> None:
    value = (s << 31) | (c << 29) | (n << 28) | (facility << 16) | low
    parts = codes.decode_hresult(value)
    assert (parts.failed, parts.customer, parts.nt, parts.facility, parts.code) == (
        s,
        c,
        n,
        facility,
        low,
    )
    assert parts.value == value


@given(st.integers(0, 3), st.booleans(), st.integers(0, 0xFFF), st.integers(0, 0xFFFF))
def test_decode_ntstatus_fields(sev: int, c: bool, facility: int, low: int) -> None:
    value = (sev << 30) | (c << 29) | (facility << 16) | low
    parts = codes.decode_ntstatus(value)
    assert (parts.severity, parts.customer, parts.facility, parts.code) == (
        NtSeverity(sev),
        c,
        facility,
        low,
    )
    assert not parts.reserved


@needs_headers
def test_facility_names_come_from_the_headers() -> None:
    win32 = int(_define("winerror.h", "FACILITY_WIN32"), 0)
    assert "FACILITY_WIN32" in codes.decode_hresult(0x80000000 | (win32 << 16)).facility_names
    debugger = int(_define("ntstatus.h", "FACILITY_DEBUGGER"), 0)
    assert (
        "FACILITY_DEBUGGER" in codes.decode_ntstatus(0xC0000000 | (debugger << 16)).facility_names
    )
    assert codes.decode_ntstatus(0xC0070005).facility_names == ("FACILITY_NTWIN32",)


def test_provenance_names_the_sources() -> None:
    text = "\n".join(codes.provenance())
    for piece in ("ntstatus.h", "winerror.h", "corerror.h", "minwinbase.h", "mingw-w64-common"):
        assert piece in text
    assert "impacket" in text and "sha256=" in text


# --------------------------------------------------------------------------------------------
# The generator's expression evaluator, on headers written here
# --------------------------------------------------------------------------------------------


def _gen_codes() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_codes", REPO / "tools" / "gen_codes.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_codes"] = module
    spec.loader.exec_module(module)
    return module


def test_generator_evaluates_header_forms(tmp_path: Path) -> None:
    gen = _gen_codes()
    header = tmp_path / "x.h"
    header.write_text(
        "/* comment\n spanning */\n"
        "#define FACILITY_WIN32 7\n"
        "#define ERROR_X __MSABI_LONG(1234) // trailing\n"
        "#define E_X HRESULT_FROM_WIN32(ERROR_X)\n"
        "#define E_Y _HRESULT_TYPEDEF_(0x8004DEADL)\n"
        "#define S_Y ((HRESULT)0x00000001L)\n"
        "#define STATUS_Z ((NTSTATUS)0xC0000374)\n"
        "#define M_H MAKE_HRESULT(1, FACILITY_WIN32, \\\n   0x20)\n"
        "#define W_BASE 10000\n"
        "#define W_SUM (W_BASE + 4)\n"
        "#define COR_Q EMAKEHR(0x1506)\n"
        "#define FN(x) ((x) + 1)\n",
        encoding="latin-1",
    )
    defines = gen.read_defines(header)
    assert "FN" not in {d.name for d in defines}  # function-like macros are not codes
    ev = gen.Evaluator(defines)
    expected = {
        "ERROR_X": (1234, "plain"),
        "E_X": (0x80070000 | 1234, "hresult"),
        "E_Y": (0x8004DEAD, "hresult"),
        "S_Y": (1, "hresult"),
        "STATUS_Z": (0xC0000374, "ntstatus"),
        "M_H": (0x80070020, "hresult"),
        "W_SUM": (10004, "plain"),
        "COR_Q": (0x80131506, "hresult"),
    }
    for name, (value, kind) in expected.items():
        got = ev.value(name)
        assert (got.value, got.kind) == (value, kind), name
    with pytest.raises(gen.HeaderError):
        ev.value("UNDEFINED_NAME")


# --------------------------------------------------------------------------------------------
# Best-known meaning first (issue #13): E_OUTOFMEMORY, and the same rule over the whole table
# --------------------------------------------------------------------------------------------


@needs_headers
def test_err_0x8007000e_says_e_outofmemory_first() -> None:
    """err.exe / FormatMessage: 0x8007000E is E_OUTOFMEMORY, Win32 error 14's text
    (Microsoft's System Error Codes reference), not [MS-ERREF]'s channel message."""
    assert _define("winerror.h", "E_OUTOFMEMORY") == "_HRESULT_TYPEDEF_(0x8007000E)"
    first = codes.lookup(0x8007000E)[0]
    assert first.name == "E_OUTOFMEMORY"
    assert first.message == "Not enough memory resources are available to complete this operation."
    text = codes.format_lookup(0x8007000E)
    assert text.splitlines()[1].split()[0] == "E_OUTOFMEMORY"
    assert "channel" not in text


def test_facility_win32_hresults_show_their_win32_text() -> None:
    """Every winerror.h HRESULT 0x8007xxxx whose Win32 error has a text shows that text,
    as FormatMessage does (checked against the Win32 rows of the table)."""
    from dumplib.codes._data import tables

    by_code = tables().by_code
    checked = 0
    for code, entries in by_code[CodeTable.HRESULT].items():
        if code & 0xFFFF0000 != 0x80070000:
            continue
        win32 = [e.message for e in by_code[CodeTable.WIN32].get(code & 0xFFFF, ()) if e.message]
        for e in entries:
            if e.origin.startswith("W/") and win32:
                assert e.message == win32[0], (e.name, e.message, win32[0])
                checked += 1
    assert checked >= 5


_GENERIC = {CodeTable.NTSTATUS: ("STATUS_",), CodeTable.HRESULT: ("S_", "E_"),
            CodeTable.WIN32: ("ERROR_", "NO_ERROR"), CodeTable.EXCEPTION: ("EXCEPTION_",)}


def test_generic_names_come_first_for_every_code() -> None:
    """For every code with several names in one table, a generic name (S_/E_, STATUS_,
    ERROR_, EXCEPTION_) is never listed after a subsystem name (SEC_E_OK after S_OK,
    COR_E_OUTOFMEMORY after E_OUTOFMEMORY), and a name with a message precedes one without."""
    from dumplib.codes._data import tables

    seen = 0
    for table, by_code in tables().by_code.items():
        for code, entries in by_code.items():
            if len(entries) < 2:
                continue
            seen += 1
            generic = [e.name.startswith(_GENERIC[table]) for e in entries]
            assert generic == sorted(generic, reverse=True), (table, hex(code), entries)
            first = entries[0]
            if any(e.message for e in entries) and any(
                    e.name.startswith(_GENERIC[table]) == first.name.startswith(_GENERIC[table])
                    and e.message for e in entries):
                assert first.message, (table, hex(code), entries)
    assert seen > 10
    assert next(m.name for m in codes.lookup(0) if m.table is CodeTable.HRESULT) == "S_OK"


@needs_headers
def test_wrapped_win32_name_before_clr_alias() -> None:
    """0x80070002 = HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND); corerror.h's
    COR_E_FILENOTFOUND aliases it. The Win32 name is the best-known one."""
    assert _define("winerror.h", "ERROR_FILE_NOT_FOUND") == "__MSABI_LONG(2)"
    names = [m.name for m in codes.lookup(0x80070002)]
    assert names.index("ERROR_FILE_NOT_FOUND") < names.index("COR_E_FILENOTFOUND")
    assert names[0] == "ERROR_FILE_NOT_FOUND"
