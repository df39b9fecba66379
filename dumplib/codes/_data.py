"""Loading the packaged code tables (``data/codes.tsv`` and ``data/exceptions_extra.tsv``).

The files are read once, on first use, into plain dictionaries keyed by code. Nothing here
is public; :mod:`dumplib.codes` is the interface.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from importlib import resources

__all__ = ["CodeTable", "Entry", "Tables", "by_name", "tables"]


class CodeTable(str, enum.Enum):
    """The tables a code can be found in (values are stable lower-case strings for JSON)."""

    NTSTATUS = "ntstatus"
    """NT status codes (``ntstatus.h``)."""
    HRESULT = "hresult"
    """COM/OLE result codes, including the CLR's facility-0x13 codes (``winerror.h``,
    ``corerror.h``)."""
    WIN32 = "win32"
    """Win32 error codes, what ``GetLastError`` returns (``winerror.h``)."""
    EXCEPTION = "exception"
    """Exception codes as ``EXCEPTION_RECORD.ExceptionCode`` carries them: the
    ``EXCEPTION_*`` names of ``minwinbase.h`` plus runtime-defined codes (C++, CLR)."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One named code of one table."""

    name: str
    message: str
    origin: str


@dataclass(frozen=True, slots=True)
class Tables:
    """Everything the data files hold, indexed for lookup."""

    by_code: dict[CodeTable, dict[int, tuple[Entry, ...]]]
    hresult_facilities: dict[int, tuple[str, ...]]
    ntstatus_facilities: dict[int, tuple[str, ...]]
    provenance: tuple[str, ...]


_TABLE_OF = {
    "NTSTATUS": CodeTable.NTSTATUS,
    "HRESULT": CodeTable.HRESULT,
    "WIN32": CodeTable.WIN32,
    "EXCEPTION": CodeTable.EXCEPTION,
}

# [MS-ERREF] 2.3 lists facility 0x7 FACILITY_NTWIN32 for NTSTATUS values that carry a Win32
# error in their low 16 bits; mingw-w64's ntstatus.h does not define it.
_NTSTATUS_EXTRA_FACILITIES = {0x7: "FACILITY_NTWIN32"}


def _read(name: str) -> str:
    return resources.files(__package__).joinpath("data").joinpath(name).read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def tables() -> Tables:
    """Parse the data files (once per process) and return their indexes."""
    lists: dict[CodeTable, dict[int, list[Entry]]] = {t: {} for t in CodeTable}
    facilities: dict[str, dict[int, list[str]]] = {"FACILITY_HRESULT": {}, "FACILITY_NTSTATUS": {}}
    provenance: list[str] = []

    def add(table: CodeTable, code: int, entry: Entry) -> None:
        lists[table].setdefault(code, []).append(entry)

    for line in _read("codes.tsv").splitlines():
        if line.startswith("#"):
            provenance.append(line[1:].strip())
            continue
        if not line:
            continue
        kind, code_hex, name, origin, message = line.split("\t", 4)
        code = int(code_hex, 16)
        if kind in facilities:
            facilities[kind].setdefault(code, []).append(name)
        else:
            add(_TABLE_OF[kind], code, Entry(name, message, origin))

    for line in _read("exceptions_extra.tsv").splitlines():
        if not line or line.startswith("#"):
            continue
        code_hex, name, citation, message = line.split("\t", 3)
        add(CodeTable.EXCEPTION, int(code_hex, 16), Entry(name, message, f"extra:{citation}"))

    nt_fac = facilities["FACILITY_NTSTATUS"]
    for number, fac_name in _NTSTATUS_EXTRA_FACILITIES.items():
        nt_fac.setdefault(number, []).append(fac_name)
    return Tables(
        by_code={t: {c: tuple(es) for c, es in d.items()} for t, d in lists.items()},
        hresult_facilities={k: tuple(v) for k, v in facilities["FACILITY_HRESULT"].items()},
        ntstatus_facilities={k: tuple(v) for k, v in nt_fac.items()},
        provenance=tuple(provenance),
    )


@functools.lru_cache(maxsize=1)
def by_name() -> dict[str, tuple[tuple[CodeTable, int, Entry], ...]]:
    """Index of every entry by upper-cased name (built on first name lookup)."""
    names: dict[str, list[tuple[CodeTable, int, Entry]]] = {}
    for table, entries in tables().by_code.items():
        for code, es in entries.items():
            for entry in es:
                names.setdefault(entry.name.upper(), []).append((table, code, entry))
    return {n: tuple(v) for n, v in names.items()}
