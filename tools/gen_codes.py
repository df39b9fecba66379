#!/usr/bin/env python3
"""Regenerate ``dumplib/codes/data/codes.tsv``, the NTSTATUS/HRESULT/Win32/exception tables.

Sources (every row records which of them it came from):

* Symbolic names and values: mingw-w64's public-domain Windows headers as Debian ships them
  in ``mingw-w64-common`` (``/usr/share/mingw-w64/include``): ``ntstatus.h`` (NTSTATUS),
  ``winerror.h`` (Win32 errors and HRESULTs, facility numbers), ``corerror.h`` (the CLR's
  HRESULTs, facility 0x13 URT; from Wine, LGPL) and ``minwinbase.h`` (the ``EXCEPTION_*``
  aliases of ``STATUS_*`` codes).
* Message texts: mingw-w64's headers carry none, so texts come from Microsoft's published
  protocol document [MS-ERREF] "Windows Error Codes", as transcribed in impacket's
  ``nt_errors.py``, ``system_errors.py`` and ``hresult_errors.py`` (the impacket wheel from
  PyPI; read from the wheel, never imported). Codes that [MS-ERREF] has and the headers lack
  are added too, marked as such.
* CLR message texts: ``dumplib/codes/data/clr_messages.tsv``, transcribed from dotnet/runtime's
  ``corerror.xml`` (the file that generates the CLR's corerror.h); its header cites the commit.
* Current Win32 texts: ``dumplib/codes/data/win32_messages.tsv``, a few Win32 errors whose
  [MS-ERREF] wording is older than what Windows prints (transcribed from Microsoft's
  "System Error Codes" reference; its header cites the page).

Two rules shape the output beyond the inputs:

* An HRESULT of facility 7 (``0x8007xxxx``, HRESULT_FROM_WIN32) named in winerror.h gets
  the message of the Win32 error it wraps, as FormatMessage shows it (``E_INVALIDARG``
  0x80070057: "The parameter is incorrect."), not another [MS-ERREF] entry that reuses
  the value (E_OUTOFMEMORY was "The server does not have enough memory for the new channel.").
* When one code has several names in one table, the best-known comes first: the table's
  generic prefix (``S_``/``E_``, ``STATUS_``, ``ERROR_``, ``EXCEPTION_``) before
  subsystem names, then a name whose message is its own before one that borrows an
  alias's, then one with a message before one without; header order otherwise.

Rerun (offline once the inputs are on disk)::

    apt-get install mingw-w64-common        # the headers (Debian package)
    pip download --no-deps impacket==0.13.1 -d /tmp/imp
    .venv/bin/python tools/gen_codes.py --impacket-wheel /tmp/imp/impacket-0.13.1-py3-none-any.whl

Options: ``--include DIR`` (default ``/usr/share/mingw-w64/include``), ``--out FILE`` (default
the packaged data file), ``--check`` (exit 1 if the output would change, write nothing).

Output: tab-separated, one code per line: ``table, code (8 hex digits), name, origin,
message``, after ``#`` comment lines that name every input with its version and sha256.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA_DIR = REPO / "dumplib" / "codes" / "data"
DEFAULT_OUT = DATA_DIR / "codes.tsv"
CLR_MESSAGES = DATA_DIR / "clr_messages.tsv"
WIN32_MESSAGES = DATA_DIR / "win32_messages.tsv"
DEFAULT_INCLUDE = Path("/usr/share/mingw-w64/include")
DEBIAN_PACKAGE = "mingw-w64-common"
HEADERS = ("ntstatus.h", "winerror.h", "corerror.h", "minwinbase.h")

# Origin letters written in the ``origin`` column as NAME_SOURCE/MESSAGE_SOURCE.
ORIGIN_LEGEND = {
    "N": "ntstatus.h",
    "W": "winerror.h",
    "C": "corerror.h",
    "B": "minwinbase.h",
    "E": "[MS-ERREF] via impacket",
    "X": "clr_messages.tsv (dotnet/runtime corerror.xml)",
    "L": "win32_messages.tsv (Microsoft's System Error Codes reference, current wording)",
    "S": "message of the STATUS_ code this EXCEPTION_ name aliases",
    "w": "message of the Win32 error this HRESULT wraps (HRESULT_FROM_WIN32)",
    "a": "message of an alias with the same value",
    "-": "no message known",
}

MASK32 = 0xFFFFFFFF

# --------------------------------------------------------------------------------------------
# A small C preprocessor subset: #define NAME EXPR, evaluated on demand.
# --------------------------------------------------------------------------------------------

_DEFINE = re.compile(r"^\s*#\s*define\s+([A-Za-z_]\w*)(\()?\s*(.*)$")
_TOKEN = re.compile(r"\s*(?:(0[xX][0-9a-fA-F]+|\d+)[uUlL]*|([A-Za-z_]\w*)|(<<|>>|[()|&+\-~,]))")
_CAST_TYPES = {
    "HRESULT": "hresult",
    "SCODE": "hresult",
    "NTSTATUS": "ntstatus",
    "DWORD": "plain",
    "LONG": "plain",
    "ULONG": "plain",
    "long": "plain",
    "int": "plain",
    "unsigned": "plain",
}


class HeaderError(Exception):
    """An expression in a header that this generator cannot evaluate."""


@dataclass(frozen=True)
class Define:
    """One object-like ``#define`` of a header."""

    name: str
    body: str
    header: str
    line: int


@dataclass(frozen=True)
class Value:
    """An evaluated define: 32-bit value and the kind its expression implies."""

    value: int
    kind: str  # "hresult", "ntstatus" or "plain"


def strip_comments(text: str) -> str:
    """Remove C comments (keeping line count) and join backslash-continued lines."""
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    return text.replace("\\\n", " ")


def read_defines(path: Path) -> list[Define]:
    """All object-like ``#define``s of one header, in file order."""
    out: list[Define] = []
    lines = strip_comments(path.read_text(encoding="latin-1")).split("\n")
    for number, line in enumerate(lines, 1):
        m = _DEFINE.match(line)
        if m is None or m.group(2) is not None:
            continue  # not a define, or a function-like macro
        body = m.group(3).strip()
        if body:
            out.append(Define(m.group(1), body, path.name, number))
    return out


class Evaluator:
    """Evaluate define bodies: integer literals, casts, | & + - ~ << >>, and the handful of
    function-like macros the error headers use (``_HRESULT_TYPEDEF_``, ``HRESULT_FROM_WIN32``,
    ``MAKE_HRESULT``, ``EMAKEHR``, ...)."""

    def __init__(self, defines: Iterable[Define]) -> None:
        self.defines: dict[str, Define] = {}
        for d in defines:
            self.defines.setdefault(d.name, d)  # first definition wins, like #ifndef guards
        self._cache: dict[str, Value] = {}
        self._active: set[str] = set()

    def value(self, name: str) -> Value:
        """Evaluate the define called ``name``."""
        if name in self._cache:
            return self._cache[name]
        if name not in self.defines:
            raise HeaderError(f"undefined name {name}")
        if name in self._active:
            raise HeaderError(f"recursive define {name}")
        self._active.add(name)
        try:
            result = self.expr(self.defines[name].body)
        finally:
            self._active.discard(name)
        self._cache[name] = result
        return result

    def expr(self, text: str) -> Value:
        """Evaluate one expression."""
        tokens = self._tokens(text)
        parser = _Parser(tokens, self)
        result = parser.parse_or()
        if parser.pos != len(tokens):
            raise HeaderError(f"trailing tokens in {text!r}")
        return Value(result.value & MASK32, result.kind)

    @staticmethod
    def _tokens(text: str) -> list[tuple[str, str]]:
        tokens: list[tuple[str, str]] = []
        pos = 0
        text = text.rstrip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None:
                raise HeaderError(f"cannot tokenize {text!r}")
            if m.group(1) is not None:
                tokens.append(("num", m.group(1)))
            elif m.group(2) is not None:
                tokens.append(("id", m.group(2)))
            else:
                tokens.append(("op", m.group(3)))
            pos = m.end()
        return tokens


def _hresult_from_win32(x: int) -> int:
    x &= MASK32
    return x if x == 0 or x & 0x80000000 else (x & 0xFFFF) | 0x80070000


def _merge(*kinds: str) -> str:
    for k in ("hresult", "ntstatus"):
        if k in kinds:
            return k
    return "plain"


class _Parser:
    """Recursive descent over the tokens of one expression."""

    def __init__(self, tokens: list[tuple[str, str]], ev: Evaluator) -> None:
        self.tokens = tokens
        self.pos = 0
        self.ev = ev

    def peek(self, offset: int = 0) -> tuple[str, str] | None:
        i = self.pos + offset
        return self.tokens[i] if i < len(self.tokens) else None

    def take(self, op: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (op is not None and tok != ("op", op)):
            raise HeaderError(f"expected {op or 'token'} at {self.pos} in {self.tokens}")
        self.pos += 1
        return tok

    def _binary(self, ops: tuple[str, ...], sub: str) -> Value:
        left: Value = getattr(self, sub)()
        while (tok := self.peek()) is not None and tok[0] == "op" and tok[1] in ops:
            self.pos += 1
            right: Value = getattr(self, sub)()
            a, b = left.value, right.value
            v = {"|": a | b, "&": a & b, "+": a + b, "-": a - b, "<<": a << b, ">>": a >> b}[tok[1]]
            left = Value(v, _merge(left.kind, right.kind))
        return left

    def parse_or(self) -> Value:
        return self._binary(("|",), "parse_and")

    def parse_and(self) -> Value:
        return self._binary(("&",), "parse_shift")

    def parse_shift(self) -> Value:
        return self._binary(("<<", ">>"), "parse_add")

    def parse_add(self) -> Value:
        return self._binary(("+", "-"), "parse_unary")

    def parse_unary(self) -> Value:
        tok = self.peek()
        if tok == ("op", "-"):
            self.pos += 1
            v = self.parse_unary()
            return Value(-v.value, v.kind)
        if tok == ("op", "~"):
            self.pos += 1
            v = self.parse_unary()
            return Value(~v.value & MASK32, v.kind)
        return self.parse_primary()

    def _args(self) -> list[Value]:
        self.take("(")
        args = [self.parse_or()]
        while self.peek() == ("op", ","):
            self.pos += 1
            args.append(self.parse_or())
        self.take(")")
        return args

    def parse_primary(self) -> Value:
        kind, text = self.take()
        if kind == "num":
            if text[:2].lower() == "0x":
                return Value(int(text, 16), "plain")
            return Value(int(text, 8) if len(text) > 1 and text[0] == "0" else int(text), "plain")
        if kind == "op" and text == "(":
            nxt, after = self.peek(), self.peek(1)
            if (
                nxt is not None
                and nxt[0] == "id"
                and nxt[1] in _CAST_TYPES
                and after == ("op", ")")
            ):
                self.pos += 2
                inner = self.parse_unary()
                return Value(inner.value & MASK32, _merge(_CAST_TYPES[nxt[1]], inner.kind))
            inner = self.parse_or()
            self.take(")")
            return inner
        if kind == "id":
            if self.peek() == ("op", "("):
                return self._call(text, self._args())
            return self.ev.value(text)
        raise HeaderError(f"unexpected {text!r} in {self.tokens}")

    def _call(self, name: str, args: list[Value]) -> Value:
        if name in ("__MSABI_LONG", "_NDIS_ERROR_TYPEDEF_") and len(args) == 1:
            return args[0]
        if name == "_HRESULT_TYPEDEF_" and len(args) == 1:
            return Value(args[0].value, "hresult")
        if name in ("HRESULT_FROM_WIN32", "__HRESULT_FROM_WIN32") and len(args) == 1:
            return Value(_hresult_from_win32(args[0].value), "hresult")
        if name == "HRESULT_FROM_NT" and len(args) == 1:
            return Value(args[0].value | 0x10000000, "hresult")
        if name in ("MAKE_HRESULT", "MAKE_SCODE") and len(args) == 3:
            sev, fac, code = (a.value for a in args)
            return Value((sev << 31) | (fac << 16) | code, "hresult")
        if name in ("EMAKEHR", "SMAKEHR") and len(args) == 1:
            sev = 1 if name == "EMAKEHR" else 0
            return Value((sev << 31) | (0x13 << 16) | args[0].value, "hresult")
        raise HeaderError(f"unknown macro {name}({len(args)} args)")


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One output line."""

    table: str
    code: int
    name: str
    origin: str
    message: str

    def line(self) -> str:
        """The row as a TSV line."""
        message = " ".join(self.message.split())  # no tabs or newlines inside a field
        return f"{self.table}\t{self.code:08X}\t{self.name}\t{self.origin}\t{message}"


_SKIP_SUFFIXES = ("_FIRST", "_LAST", "_BASE", "_MASK", "_START", "_END")


def _skip_name(name: str) -> bool:
    return (
        name.startswith("_")
        or name.startswith(("FACILITY_", "SEVERITY_", "STATUS_SEVERITY_"))
        or name.endswith(_SKIP_SUFFIXES)
    )


def impacket_messages(wheel: Path) -> tuple[dict[str, list[tuple[int, str, str]]], str]:
    """Read impacket's three [MS-ERREF] tables from its wheel without importing it.

    Returns ({module: [(code, name, message), ...]}, "impacket VERSION").
    """
    out: dict[str, list[tuple[int, str, str]]] = {}
    with zipfile.ZipFile(wheel) as zf:
        version = "?"
        for info in zf.namelist():
            if info.endswith(".dist-info/METADATA"):
                for line in zf.read(info).decode("utf-8", "replace").splitlines():
                    if line.startswith("Version:"):
                        version = line.split(":", 1)[1].strip()
        for module in ("nt_errors", "system_errors", "hresult_errors"):
            tree = ast.parse(zf.read(f"impacket/{module}.py").decode("utf-8"))
            rows: list[tuple[int, str, str]] = []
            for node in tree.body:
                if not (
                    isinstance(node, ast.Assign)
                    and any(
                        isinstance(t, ast.Name) and t.id == "ERROR_MESSAGES" for t in node.targets
                    )
                    and isinstance(node.value, ast.Dict)
                ):
                    continue
                for k, v in zip(node.value.keys, node.value.values, strict=True):
                    if not (isinstance(k, ast.Constant) and isinstance(k.value, int)):
                        continue
                    if not (isinstance(v, ast.Tuple) and len(v.elts) == 2):
                        continue
                    name_node, msg_node = v.elts
                    if isinstance(name_node, ast.Constant) and isinstance(msg_node, ast.Constant):
                        rows.append((k.value & MASK32, str(name_node.value), str(msg_node.value)))
            out[module] = rows
    return out, f"impacket {version}"


def clr_messages(path: Path) -> dict[str, tuple[int, str]]:
    """name -> (code, message) from the hand-transcribed corerror.xml extract."""
    out: dict[str, tuple[int, str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        code, name, message = line.split("\t")
        out[name] = (int(code, 16), message)
    return out


def debian_version(package: str) -> str:
    """Installed version of a Debian package, or ``unknown``."""
    try:
        res = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", package],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return "unknown"
    return res.stdout.strip() or "unknown"


def sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------------------------
# Building the tables
# --------------------------------------------------------------------------------------------


class _Messages:
    """Message lookup: by (name, code) first, then by code when all texts for it agree."""

    def __init__(self, rows: Iterable[tuple[int, str, str]]) -> None:
        self.by_name: dict[str, tuple[int, str]] = {}
        by_code: dict[int, set[str]] = {}
        for code, name, msg in rows:
            self.by_name.setdefault(name, (code, msg))
            by_code.setdefault(code, set()).add(msg)
        self.unique = {c: next(iter(m)) for c, m in by_code.items() if len(m) == 1}

    def get(self, name: str, code: int) -> tuple[str, str]:
        hit = self.by_name.get(name)
        if hit is not None and hit[0] == code:
            return hit[1], "E"
        if code in self.unique:
            return self.unique[code], "a"
        return "", "-"


def build(include: Path, wheel: Path) -> tuple[list[str], list[Row]]:
    """Parse every input; return (comment header lines, rows)."""
    defines: list[Define] = []
    for header_name in HEADERS:
        defines.extend(read_defines(include / header_name))
    ev = Evaluator(defines)
    ms, impacket_version = impacket_messages(wheel)
    nt_msgs = _Messages(ms["nt_errors"])
    w32_msgs = _Messages(ms["system_errors"])
    hr_msgs = _Messages(ms["hresult_errors"])
    clr = clr_messages(CLR_MESSAGES)
    current = clr_messages(WIN32_MESSAGES)  # same format: code, name, message
    current_by_code = {code: msg for code, msg in current.values()}

    rows: list[Row] = []
    seen: set[tuple[str, str]] = set()

    def add(row: Row) -> None:
        if (row.table, row.name) not in seen:
            seen.add((row.table, row.name))
            rows.append(row)

    win32_by_code: dict[int, str] = {}
    pending_hr: list[tuple[Define, Value]] = []
    for d in defines:
        if ev.defines[d.name] is not d:
            continue  # a later duplicate of an earlier define
        if d.name.startswith("FACILITY_") and d.header in ("winerror.h", "ntstatus.h"):
            table = "FACILITY_HRESULT" if d.header == "winerror.h" else "FACILITY_NTSTATUS"
            add(Row(table, ev.value(d.name).value, d.name, d.header[0].upper() + "/-", ""))
            continue
        if _skip_name(d.name):
            continue
        try:
            val = ev.value(d.name)
        except HeaderError:
            continue  # not a code (a type, a string, a function alias ...)
        if d.header == "ntstatus.h":
            if val.kind != "ntstatus":
                continue
            msg, src = nt_msgs.get(d.name, val.value)
            add(Row("NTSTATUS", val.value, d.name, f"N/{src}", msg))
        elif d.header == "minwinbase.h":
            alias = d.body.strip()
            if not alias.startswith("STATUS_") or alias == "STATUS_PENDING":
                continue  # only the EXCEPTION_*/CONTROL_C_EXIT aliases of exception codes
            msg, src = nt_msgs.get(alias, val.value)
            add(Row("EXCEPTION", val.value, d.name, f"B/{'S' if msg else '-'}", msg))
        elif d.header == "corerror.h":
            if val.kind != "hresult" or d.name in ("FACILITY_URT",):
                continue
            pending_hr.append((d, val))
        else:  # winerror.h
            if val.kind == "plain" and 0 <= val.value <= 0xFFFF:
                msg, src = w32_msgs.get(d.name, val.value)
                if current.get(d.name, (None,))[0] == val.value:
                    msg, src = current[d.name][1], "L"
                elif src == "a" and val.value in current_by_code:
                    msg = current_by_code[val.value]  # an alias borrows the current text too
                add(Row("WIN32", val.value, d.name, f"W/{src}", msg))
                win32_by_code.setdefault(val.value, msg)
            elif val.kind == "hresult" or val.value & 0x80000000:
                pending_hr.append((d, val))
    # HRESULTs after the Win32 table so HRESULT_FROM_WIN32 aliases can borrow its texts.
    for d, val in pending_hr:
        letter = "C" if d.header == "corerror.h" else "W"
        msg, src = hr_msgs.get(d.name, val.value)
        if d.name in clr and clr[d.name][0] == val.value:
            msg, src = clr[d.name][1], "X"
        if (val.value & 0xFFFF0000) == 0x80070000 and (not msg or letter == "W" or src == "a"):
            # FormatMessage shows an HRESULT_FROM_WIN32 code with its Win32 error's text
            borrowed = win32_by_code.get(val.value & 0xFFFF, "")
            if borrowed:
                msg, src = borrowed, "w"
        add(Row("HRESULT", val.value, d.name, f"{letter}/{src}", msg))
    # CLR entries of corerror.xml that the (older) corerror.h lacks.
    for name, (code, msg) in clr.items():
        add(Row("HRESULT", code, name, "X/X", msg))
    # [MS-ERREF] entries the headers lack.
    for table, module in (
        ("NTSTATUS", "nt_errors"),
        ("WIN32", "system_errors"),
        ("HRESULT", "hresult_errors"),
    ):
        for code, name, msg in ms[module]:
            if table == "WIN32" and code > 0xFFFF:
                continue
            add(Row(table, code, name, "E/E", msg))

    order = {
        "FACILITY_NTSTATUS": 0,
        "FACILITY_HRESULT": 1,
        "NTSTATUS": 2,
        "WIN32": 3,
        "HRESULT": 4,
        "EXCEPTION": 5,
    }
    rows.sort(key=lambda r: (order[r.table], r.code, *name_rank(r)))

    header = [
        "# dumplib code tables: generated by tools/gen_codes.py, do not edit by hand.",
        f"# regenerate: python tools/gen_codes.py --impacket-wheel {wheel.name}"
        " (steps in the script's docstring)",
        f"# names: Debian {DEBIAN_PACKAGE} {debian_version(DEBIAN_PACKAGE)} (mingw-w64 headers)",
    ]
    for h in HEADERS:
        header.append(f"#   {include / h} sha256={sha256(include / h)}")
    header += [
        f"# messages: [MS-ERREF] as transcribed in {impacket_version} (PyPI wheel {wheel.name}",
        f"#   sha256={sha256(wheel)}): impacket/nt_errors.py, system_errors.py, hresult_errors.py",
        f"# CLR messages: {CLR_MESSAGES.relative_to(REPO)}"
        " (dotnet/runtime corerror.xml, see its header)",
        f"# current Win32 texts: {WIN32_MESSAGES.relative_to(REPO)}"
        " (Microsoft's System Error Codes reference, see its header)",
        "# origin column: NAME_SOURCE/MESSAGE_SOURCE, letters:",
    ]
    header += [f"#   {k} = {v}" for k, v in ORIGIN_LEGEND.items()]
    header.append("# columns: table\tcode\tname\torigin\tmessage")
    return header, rows


#: Per table, the prefixes of the generic (best-known) names.
GENERIC_PREFIXES = {
    "NTSTATUS": ("STATUS_",),
    "HRESULT": ("S_", "E_"),
    "WIN32": ("ERROR_", "NO_ERROR"),
    "EXCEPTION": ("EXCEPTION_",),
}


def name_rank(row: Row) -> tuple[int, int]:
    """Sort key among the names of one code: generic prefix first, then a name whose
    message is its own, then one borrowing an alias's, then one without a message."""
    generic = 0 if row.name.startswith(GENERIC_PREFIXES.get(row.table, ())) else 1
    message_source = row.origin.split("/")[-1]
    own = 2 if not row.message else 1 if message_source == "a" else 0
    return generic, own
BUGCODES_HEADER = "bugcodes.h"
BUGCHECK_OUT = DATA_DIR / "bugchecks.tsv"
BUGCHECK_EXTRA = DATA_DIR / "bugchecks_extra.tsv"
_BUGCODE_DEFINE = re.compile(
    r"^\s*#\s*define\s+([A-Z_][A-Z0-9_]*)\s+\(\(ULONG\)(0x[0-9a-fA-F]+)\)"
)


def build_bugchecks(include: Path) -> list[str]:
    """The bug check table: one row per stop code, each with where its name came from.

    Names and values come from mingw-w64's ``bugcodes.h`` (generated from ReactOS's
    ``bugcodes.mc``; only codes below 0x40000000 are stop codes, the rest are banner
    messages). Codes that header lacks come from ``bugchecks_extra.tsv``, whose rows cite
    Microsoft's bug check code reference page for each code.
    """
    path = include / BUGCODES_HEADER
    rows: dict[int, tuple[str, str]] = {}
    for line in path.read_text(encoding="latin-1").splitlines():
        m = _BUGCODE_DEFINE.match(line)
        if not m:
            continue
        code = int(m.group(2), 16)
        if code >= 0x40000000 and code != 0xDEADDEAD:
            continue  # banner and message-id strings, not stop codes
        rows.setdefault(code, (m.group(1), BUGCODES_HEADER))
    for line in BUGCHECK_EXTRA.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        code_hex, name, citation = line.split("\t")[:3]
        rows.setdefault(int(code_hex, 16), (name, f"extra:{citation}"))
    out = [
        "# dumplib bug check codes: generated by tools/gen_codes.py --bugchecks, do not edit.",
        f"# names: Debian {DEBIAN_PACKAGE} {debian_version(DEBIAN_PACKAGE)}: "
        f"{path} sha256={sha256(path)}",
        f"# plus {BUGCHECK_EXTRA.relative_to(REPO)} (codes the header lacks, each cited)",
        "# columns: code\tname\torigin",
    ]
    out += [f"{code:08X}\t{name}\t{origin}" for code, (name, origin) in sorted(rows.items())]
    return out


def render(header: list[str], rows: Iterable[Row]) -> str:
    """The whole data file."""
    return "\n".join([*header, *(r.line() for r in rows)]) + "\n"


def main(argv: Iterator[str] | list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--include", type=Path, default=DEFAULT_INCLUDE)
    ap.add_argument("--impacket-wheel", type=Path)
    ap.add_argument("--bugchecks", action="store_true",
                    help=f"write {BUGCHECK_OUT.name} from bugcodes.h instead")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(None if argv is None else list(argv))
    if args.bugchecks:
        bug_text = "\n".join(build_bugchecks(args.include)) + "\n"
        if args.check:
            return 0 if BUGCHECK_OUT.read_text(encoding="utf-8") == bug_text else 1
        BUGCHECK_OUT.write_text(bug_text, encoding="utf-8")
        print(f"wrote {BUGCHECK_OUT}")
        return 0
    if args.impacket_wheel is None:
        ap.error("--impacket-wheel is required (unless --bugchecks)")
    header, rows = build(args.include, args.impacket_wheel)
    text = render(header, rows)
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is out of date", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text, encoding="utf-8")
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.table] = counts.get(r.table, 0) + 1
    print(f"wrote {args.out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
