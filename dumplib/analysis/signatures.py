"""Known problems as data: loading, validating and matching ``dumplib/signatures/*.toml``.

A signature file describes one known problem::

    id = "clr-double-io-completion"          # a stable slug
    title = "..."                            # one line
    confidence = 0.7                         # 0..1 when the rule matches
    confidence_confirmed = 0.95              # optional: when a collector confirms it
    advice = "..."                           # what to do (KB numbers, what to remove)
    description = "..."                      # optional, longer
    references = ["KB3179574"]               # optional
    collect = ["overlapped", "system"]       # optional: code-based evidence (see collectors)

    [evidence]                               # optional: fixed facts reported as evidence
    fix = "KB3179574"

    [match]                                  # every condition given must hold
    process = ["DataMCUSvc.exe", "*MCUSvc.exe"]          # main module name (glob)
    exception = "any"                        # "any": has an exception, "none": a hang dump
    exception_code = [0xC0000005]
    exception_type = ["NullReferenceException"]         # regex: C++ thrown / managed type
    faulting_module = ["mscorlib.ni.dll"]                # glob on the module at the address
    faulting_function = ["PerformIOCompletionCallback"]  # regex on module!function there
    chance = "first"                         # "first" | "second"
    module_vendor = ["VMware", "McAfee"]     # regex on any loaded module's CompanyName
    os_build = { min = 9600, max = 9600 }
    os_version = { min = "6.3", max = "6.3.9600" }
    modules = [{ name = "vsepflt.sys", min_version = "1.0", max_version = "9.8", vendor = "VMw" }]
    unloaded_modules = [{ name = "badhook*.dll" }]       # any listed is enough
    handles = [{ type = "File", name = "(?i)\\\\Device\\\\Afd", min_count = 1 }]
    dump_kind = ["kernel-*"]                 # kernel dumps: see dumplib.analysis.kernel_match
    bugcheck_code = [0xD1]                   #   (also: culprit = { third_party = true, ... })

    [[match.thread]]                         # each table needs min_count threads (default 1)
    faulting = true                          # the exception's thread (false: any other)
    wait_state = ["network_io"]              # see patterns.WAIT_STATES, "running", "unknown"
    start_function = ["CompletionPortThreadStart"]   # regex on module!function
    frames = ["PerformIOCompletionCallback"]         # each must match some frame
    frames_absent = ["MyApp!"]                       # none may match
    no_application_frame = true
    min_age_seconds = 60                     # needs ThreadInfo times
    min_count = 1

``[[match]]`` (an array) gives alternatives, tried in order; each may set its
own ``confidence``. Frame patterns are regular expressions searched,
case-insensitively, in ``module!function`` text where ``module`` is the file
name without extension, lower case (``mscorlib.ni!System::...``).

Files are validated when loaded; a problem raises :class:`SignatureError`
naming the file and the key. The built-in signatures ship with dumplib; users
add directories with ``analyze(..., signatures=[dir])`` (a user signature with
the id of a built-in one replaces it).
"""

from __future__ import annotations

import fnmatch
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from dumplib.analysis.bounded_re import compile_bounded
from dumplib.analysis.collectors import COLLECTORS
from dumplib.analysis.facts import AnalysisContext, ThreadFacts
from dumplib.analysis.kernel_match import (
    KERNEL_MATCH_KEYS,
    KernelConditions,
    eval_kernel,
    parse_kernel,
)
from dumplib.analysis.model import JsonValue
from dumplib.analysis.patterns import WAIT_STATES
from dumplib.model.objects import Module, UnloadedModule

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

_B = TypeVar("_B")

__all__ = [
    "HandleSpec",
    "Match",
    "ModuleSpec",
    "Signature",
    "SignatureError",
    "ThreadSpec",
    "builtin_signature_dir",
    "load_signature",
    "load_signatures",
    "match_signature",
    "parse_signature",
]

_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")
_VERSION = re.compile(r"^\d+(\.\d+){0,3}$")
STATES = (*(s for s, _ in WAIT_STATES), "running", "unknown")
_TOP_KEYS = {
    "id", "title", "confidence", "confidence_confirmed", "advice", "description",
    "references", "collect", "evidence", "match",
    "detector", "rule", "patterns", "refuted_by",
}
_MATCH_KEYS = {
    "confidence", "process", "exception", "exception_code", "exception_type",
    "faulting_module", "faulting_function", "chance", "module_vendor", "os_build",
    "os_version", "modules", "unloaded_modules", "handles", "thread",
} | KERNEL_MATCH_KEYS
_THREAD_KEYS = {
    "faulting", "wait_state", "start_function", "frames", "frames_absent",
    "no_application_frame", "min_age_seconds", "min_count",
}
_MODULE_KEYS = {"name", "min_version", "max_version", "vendor"}
_HANDLE_KEYS = {"type", "name", "min_count"}
_MAX_SIGNATURE_FILE = 256 * 1024
_EVIDENCE_FRAMES = 12  # innermost frames of a matched thread reported as evidence


class SignatureError(ValueError):
    """A signature file is malformed.

    Attributes:
        path: the file.
        key: the dotted key that is wrong (``"match.thread[0].wait_state"``), or None.
    """

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None) -> None:
        self.message = message
        self.path = path
        self.key = key
        where = ": ".join(x for x in (path, key) if x)
        super().__init__(f"{where}: {message}" if where else message)


@dataclass(frozen=True, slots=True)
class ModuleSpec:
    """A module condition: name glob, optional file-version range and vendor regex."""

    name: str
    min_version: tuple[int, ...] | None = None
    max_version: tuple[int, ...] | None = None
    vendor: re.Pattern[str] | None = None


@dataclass(frozen=True, slots=True)
class HandleSpec:
    """A handle condition: at least ``min_count`` handles of a type (glob), name regex optional."""

    type: str
    name: re.Pattern[str] | None = None
    min_count: int = 1


@dataclass(frozen=True, slots=True)
class ThreadSpec:
    """A thread condition; see the module docstring for the keys."""

    faulting: bool | None = None
    wait_state: tuple[str, ...] = ()
    start_function: tuple[re.Pattern[str], ...] = ()
    frames: tuple[re.Pattern[str], ...] = ()
    frames_absent: tuple[re.Pattern[str], ...] = ()
    no_application_frame: bool | None = None
    min_age_seconds: float | None = None
    min_count: int = 1

    @property
    def needs_stack(self) -> bool:
        """Whether the condition can only be decided from walked stacks."""
        return bool(
            self.wait_state or self.frames or self.frames_absent
            or self.no_application_frame is not None
        )


@dataclass(frozen=True, slots=True)
class Match:
    """One alternative of a signature's ``[match]``: all its conditions must hold."""

    confidence: float | None = None
    process: tuple[str, ...] = ()
    exception: str | None = None
    exception_code: tuple[int, ...] = ()
    exception_type: tuple[re.Pattern[str], ...] = ()
    faulting_module: tuple[str, ...] = ()
    faulting_function: tuple[re.Pattern[str], ...] = ()
    chance: str | None = None
    module_vendor: tuple[re.Pattern[str], ...] = ()
    os_build: tuple[int | None, int | None] | None = None
    os_version: tuple[tuple[int, ...] | None, tuple[int, ...] | None] | None = None
    modules: tuple[ModuleSpec, ...] = ()
    unloaded_modules: tuple[ModuleSpec, ...] = ()
    handles: tuple[HandleSpec, ...] = ()
    threads: tuple[ThreadSpec, ...] = ()
    kernel: KernelConditions | None = None  # dump_kind, bugcheck_code, culprit


@dataclass(frozen=True, slots=True)
class Signature:
    """A validated signature (see the module docstring)."""

    id: str
    title: str
    confidence: float
    advice: str
    matches: tuple[Match, ...]
    path: str = ""
    description: str = ""
    references: tuple[str, ...] = ()
    collect: tuple[str, ...] = ()
    evidence: Mapping[str, JsonValue] | None = None
    confidence_confirmed: float | None = None
    # Structural signatures (issue 12): a code detector decides, the file holds its
    # confidence rule, its pattern lists and what would refute it.
    detector: str | None = None
    rule: Mapping[str, JsonValue] | None = None
    patterns: Mapping[str, tuple[str, ...]] | None = None
    refuted_by: tuple[str, ...] = ()


# -- validation ---------------------------------------------------------------------------


class _V:
    """Validation helpers bound to one file."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, key: str, message: str) -> SignatureError:
        return SignatureError(message, path=self.path, key=key)

    def keys(self, table: Mapping[str, Any], allowed: set[str], where: str) -> None:
        unknown = sorted(set(table) - allowed)
        if unknown:
            prefix = f"{where}." if where else ""
            raise self.fail(
                f"{prefix}{unknown[0]}",
                f"unknown key (expected one of {', '.join(sorted(allowed))})",
            )

    def text(self, value: object, key: str, *, required: bool = True) -> str:
        if not isinstance(value, str) or (required and not value.strip()):
            raise self.fail(key, "must be a non-empty string")
        return value

    def number(self, value: object, key: str, lo: float, hi: float) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
            raise self.fail(key, f"must be a number from {lo:g} to {hi:g}")
        return float(value)

    def integer(self, value: object, key: str, lo: int = 0, hi: int = 0xFFFFFFFF) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise self.fail(key, f"must be an integer from {lo} to {hi}")
        return value

    def boolean(self, value: object, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(key, "must be true or false")
        return value

    def strings(self, value: object, key: str) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value:
            raise self.fail(key, "must be a string or a non-empty list of strings")
        return tuple(self.text(v, f"{key}[{i}]") for i, v in enumerate(value))

    def regexes(self, value: object, key: str) -> tuple[re.Pattern[str], ...]:
        out = []
        for i, text in enumerate(self.strings(value, key)):
            try:
                out.append(compile_bounded(text, re.IGNORECASE))
            except re.error as exc:
                raise self.fail(f"{key}[{i}]", f"bad regular expression: {exc}") from None
        return tuple(out)

    def version(self, value: object, key: str) -> tuple[int, ...]:
        if not isinstance(value, str) or not _VERSION.match(value):
            raise self.fail(key, "must be a dotted version string like \"6.3.9600\"")
        return tuple(int(p) for p in value.split("."))

    def bounds(
        self,
        table: Mapping[str, Any],
        name: str,
        key: str,
        parse: Callable[[object, str], _B],
    ) -> tuple[_B | None, _B | None] | None:
        """An optional ``name = { min = ..., max = ... }`` range, each end read by ``parse``.

        Returns None when ``name`` is absent.

        Raises:
            SignatureError: not a table, unknown keys, or neither end given.
        """
        if name not in table:
            return None
        where = f"{key}.{name}"
        t = self.table(table[name], where)
        self.keys(t, {"min", "max"}, where)
        if not t:
            raise self.fail(where, "needs min or max")
        return (
            parse(t["min"], f"{where}.min") if "min" in t else None,
            parse(t["max"], f"{where}.max") if "max" in t else None,
        )

    def table(self, value: object, key: str) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, "must be a table")
        return value

    def tables(self, value: object, key: str) -> list[Mapping[str, Any]]:
        if isinstance(value, dict):
            value = [value]
        if not isinstance(value, list) or not value:
            raise self.fail(key, "must be a table or a non-empty array of tables")
        return [self.table(v, f"{key}[{i}]") for i, v in enumerate(value)]


def _json_value(v: _V, value: object, key: str) -> JsonValue:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [_json_value(v, x, f"{key}[{i}]") for i, x in enumerate(value)]
    if isinstance(value, dict):
        return {str(k): _json_value(v, x, f"{key}.{k}") for k, x in value.items()}
    raise v.fail(key, f"unsupported value of type {type(value).__name__} (dates are not allowed)")


def _module_spec(v: _V, table: Mapping[str, Any], key: str) -> ModuleSpec:
    v.keys(table, _MODULE_KEYS, key)
    name = v.text(table.get("name"), f"{key}.name").lower()
    lo = v.version(table["min_version"], f"{key}.min_version") if "min_version" in table else None
    hi = v.version(table["max_version"], f"{key}.max_version") if "max_version" in table else None
    vendor = v.regexes(table["vendor"], f"{key}.vendor")[0] if "vendor" in table else None
    return ModuleSpec(name, lo, hi, vendor)


def _thread_spec(v: _V, table: Mapping[str, Any], key: str) -> ThreadSpec:
    v.keys(table, _THREAD_KEYS, key)
    states: tuple[str, ...] = ()
    if "wait_state" in table:
        states = v.strings(table["wait_state"], f"{key}.wait_state")
        for i, s in enumerate(states):
            if s not in STATES:
                raise v.fail(
                    f"{key}.wait_state[{i}]", f"unknown state {s!r} (expected {', '.join(STATES)})"
                )
    spec = ThreadSpec(
        faulting=v.boolean(table["faulting"], f"{key}.faulting") if "faulting" in table else None,
        wait_state=states,
        start_function=(
            v.regexes(table["start_function"], f"{key}.start_function")
            if "start_function" in table else ()
        ),
        frames=v.regexes(table["frames"], f"{key}.frames") if "frames" in table else (),
        frames_absent=(
            v.regexes(table["frames_absent"], f"{key}.frames_absent")
            if "frames_absent" in table else ()
        ),
        no_application_frame=(
            v.boolean(table["no_application_frame"], f"{key}.no_application_frame")
            if "no_application_frame" in table else None
        ),
        min_age_seconds=(
            v.number(table["min_age_seconds"], f"{key}.min_age_seconds", 0, 1e9)
            if "min_age_seconds" in table else None
        ),
        min_count=(
            v.integer(table["min_count"], f"{key}.min_count", 1, 100000)
            if "min_count" in table else 1
        ),
    )
    if spec == ThreadSpec(min_count=spec.min_count):
        raise v.fail(key, "a thread condition needs at least one key besides min_count")
    return spec


def _match(v: _V, table: Mapping[str, Any], key: str) -> Match:
    v.keys(table, _MATCH_KEYS, key)
    if not set(table) - {"confidence"}:
        raise v.fail(key, "needs at least one condition")
    exception = None
    if "exception" in table:
        exception = v.text(table["exception"], f"{key}.exception")
        if exception not in ("any", "none"):
            raise v.fail(f"{key}.exception", 'must be "any" or "none"')
    chance = None
    if "chance" in table:
        chance = v.text(table["chance"], f"{key}.chance")
        if chance not in ("first", "second"):
            raise v.fail(f"{key}.chance", 'must be "first" or "second"')
    codes: tuple[int, ...] = ()
    if "exception_code" in table:
        raw = table["exception_code"]
        raw = raw if isinstance(raw, list) else [raw]
        if not raw:
            raise v.fail(f"{key}.exception_code", "must not be empty")
        codes = tuple(v.integer(c, f"{key}.exception_code[{i}]") for i, c in enumerate(raw))
    os_build = v.bounds(table, "os_build", key, v.integer)
    os_version = v.bounds(table, "os_version", key, v.version)
    return Match(
        confidence=(
            v.number(table["confidence"], f"{key}.confidence", 0, 1)
            if "confidence" in table else None
        ),
        process=tuple(
            s.lower() for s in v.strings(table["process"], f"{key}.process")
        ) if "process" in table else (),
        exception=exception,
        exception_code=codes,
        exception_type=(
            v.regexes(table["exception_type"], f"{key}.exception_type")
            if "exception_type" in table else ()
        ),
        faulting_module=tuple(
            s.lower() for s in v.strings(table["faulting_module"], f"{key}.faulting_module")
        ) if "faulting_module" in table else (),
        faulting_function=(
            v.regexes(table["faulting_function"], f"{key}.faulting_function")
            if "faulting_function" in table else ()
        ),
        chance=chance,
        module_vendor=(
            v.regexes(table["module_vendor"], f"{key}.module_vendor")
            if "module_vendor" in table else ()
        ),
        os_build=os_build,
        os_version=os_version,
        modules=tuple(
            _module_spec(v, t, f"{key}.modules[{i}]")
            for i, t in enumerate(v.tables(table["modules"], f"{key}.modules"))
        ) if "modules" in table else (),
        unloaded_modules=tuple(
            _module_spec(v, t, f"{key}.unloaded_modules[{i}]")
            for i, t in enumerate(v.tables(table["unloaded_modules"], f"{key}.unloaded_modules"))
        ) if "unloaded_modules" in table else (),
        handles=tuple(
            _handle_spec(v, t, f"{key}.handles[{i}]")
            for i, t in enumerate(v.tables(table["handles"], f"{key}.handles"))
        ) if "handles" in table else (),
        threads=tuple(
            _thread_spec(v, t, f"{key}.thread[{i}]")
            for i, t in enumerate(v.tables(table["thread"], f"{key}.thread"))
        ) if "thread" in table else (),
        kernel=parse_kernel(table, key, v.fail),
    )


def _handle_spec(v: _V, table: Mapping[str, Any], key: str) -> HandleSpec:
    v.keys(table, _HANDLE_KEYS, key)
    return HandleSpec(
        type=v.text(table.get("type"), f"{key}.type").lower(),
        name=v.regexes(table["name"], f"{key}.name")[0] if "name" in table else None,
        min_count=(
            v.integer(table["min_count"], f"{key}.min_count", 1, 1 << 30)
            if "min_count" in table else 1
        ),
    )


def parse_signature(data: Mapping[str, Any], path: str = "<signature>") -> Signature:
    """Validate a signature's parsed TOML and build it.

    Raises:
        SignatureError: a key is missing, unknown or has a bad value.
    """
    v = _V(path)
    v.keys(data, _TOP_KEYS, "")
    sig_id = v.text(data.get("id"), "id")
    if not _ID.match(sig_id):
        raise v.fail("id", "must be a lower-case slug: letters, digits, '.', '_', '-'")
    collect = v.strings(data["collect"], "collect") if "collect" in data else ()
    for i, name in enumerate(collect):
        if name not in COLLECTORS:
            raise v.fail(
                f"collect[{i}]",
                f"unknown collector {name!r} (known: {', '.join(sorted(COLLECTORS))})",
            )
    structural = _structural(v, data)
    if "match" not in data and structural[0] is None:
        raise v.fail("match", "is required")
    evidence = None
    if "evidence" in data:
        ev = _json_value(v, v.table(data["evidence"], "evidence"), "evidence")
        evidence = ev if isinstance(ev, dict) else None
    matches = tuple(
        _match(v, t, "match" if isinstance(data["match"], dict) else f"match[{i}]")
        for i, t in enumerate(v.tables(data["match"], "match"))
    ) if "match" in data else ()
    return Signature(
        id=sig_id,
        title=v.text(data.get("title"), "title"),
        confidence=v.number(data.get("confidence"), "confidence", 0, 1),
        advice=v.text(data.get("advice"), "advice"),
        matches=matches,
        path=path,
        description=v.text(data["description"], "description") if "description" in data else "",
        references=v.strings(data["references"], "references") if "references" in data else (),
        collect=collect,
        evidence=evidence,
        confidence_confirmed=(
            v.number(data["confidence_confirmed"], "confidence_confirmed", 0, 1)
            if "confidence_confirmed" in data else None
        ),
        detector=structural[0],
        rule=structural[1],
        patterns=structural[2],
        refuted_by=v.strings(data["refuted_by"], "refuted_by") if "refuted_by" in data else (),
    )


def _structural(
    v: _V, data: Mapping[str, Any]
) -> tuple[str | None, dict[str, JsonValue] | None, dict[str, tuple[str, ...]] | None]:
    """``detector``, ``rule`` and ``patterns`` of a structural signature (issue 12)."""
    from dumplib.analysis.structural import STRUCTURAL, validate_rule

    detector = None
    if "detector" in data:
        detector = v.text(data["detector"], "detector")
        if detector not in STRUCTURAL:
            raise v.fail("detector", f"unknown detector {detector!r} "
                                     f"(known: {', '.join(sorted(STRUCTURAL))})")
    rule = None
    if "rule" in data:
        ev = _json_value(v, v.table(data["rule"], "rule"), "rule")
        assert isinstance(ev, dict)
        problem = validate_rule(ev)
        if problem:
            raise v.fail("rule", problem)
        rule = ev
    patterns = None
    if "patterns" in data:
        table = v.table(data["patterns"], "patterns")
        patterns = {}
        for name, value in table.items():
            pats = v.strings(value, f"patterns.{name}")
            v.regexes(list(pats), f"patterns.{name}")  # validated as the [match] regexes are
            patterns[str(name)] = pats
    if detector is not None and rule is None:
        raise v.fail("rule", "a signature with a detector needs a [rule]")
    return detector, rule, patterns


def load_signature(path: str | os.PathLike[str]) -> Signature:
    """Read and validate one signature file.

    Raises:
        SignatureError: the file cannot be read, is not TOML, or is not a valid signature.
    """
    p = Path(path)
    try:
        if p.stat().st_size > _MAX_SIGNATURE_FILE:
            raise SignatureError(f"larger than {_MAX_SIGNATURE_FILE} bytes", path=str(p))
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SignatureError(f"cannot read: {exc.strerror or exc}", path=str(p)) from None
    except UnicodeDecodeError as exc:
        raise SignatureError(f"not UTF-8 text: {exc.reason}", path=str(p)) from None
    except tomllib.TOMLDecodeError as exc:
        raise SignatureError(f"not valid TOML: {exc}", path=str(p)) from None
    except RecursionError:  # arrays or inline tables nested thousands deep
        raise SignatureError("not valid TOML: nested too deeply", path=str(p)) from None
    return parse_signature(data, str(p))


def builtin_signature_dir() -> Path | None:
    """The directory of the signatures that ship with dumplib, or None if it is missing.

    They are package data: ``dumplib/signatures/*.toml``, in a source checkout
    and in an installed wheel alike.
    """
    candidate = Path(__file__).resolve().parent.parent / "signatures"
    return candidate if candidate.is_dir() else None


def load_signatures(
    directories: Iterable[str | os.PathLike[str]] = (), *, builtin: bool = True
) -> list[Signature]:
    """Load the built-in signatures and those of ``directories`` (``*.toml``, sorted by name).

    A user signature with the id of a built-in one (or of an earlier directory's)
    replaces it; two files with one id in the same directory are an error.

    Raises:
        SignatureError: a directory does not exist, a file is invalid, or
            ``builtin`` is true and the built-in signature set is missing.
    """
    dirs: list[Path] = []
    if builtin:
        found = builtin_signature_dir()
        if found is None or not any(found.glob("*.toml")):
            # An installation without its data files would otherwise report no
            # findings at all and look like a clean bill of health.
            where = str(found or Path(__file__).resolve().parent.parent / "signatures")
            raise SignatureError(
                "the built-in signature set is missing (dumplib was installed without "
                "its package data; reinstall it)", path=where)
        dirs.append(found)
    for d in directories:
        p = Path(d)
        if not p.is_dir():
            raise SignatureError("not a directory", path=str(p))
        dirs.append(p)
    by_id: dict[str, Signature] = {}
    for d in dirs:
        seen: dict[str, str] = {}
        for f in sorted(d.glob("*.toml")):
            sig = load_signature(f)
            if sig.id in seen:
                raise SignatureError(f"duplicate id {sig.id!r} (also in {seen[sig.id]})",
                                     path=str(f), key="id")
            seen[sig.id] = str(f)
            by_id[sig.id] = sig
    return list(by_id.values())


# -- matching ----------------------------------------------------------------------------------

_MISSING = object()


def _version_in(
    version: tuple[int, ...] | None, lo: tuple[int, ...] | None, hi: tuple[int, ...] | None
) -> bool:
    if lo is None and hi is None:
        return True
    if version is None:
        return False
    if lo is not None and version[: len(lo)] < lo:
        return False
    return not (hi is not None and version[: len(hi)] > hi)


def _parse_version_text(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    m = re.match(r"\s*(\d+(?:[.,]\s*\d+){0,3})", text)
    return tuple(int(p) for p in re.split(r"[.,]\s*", m.group(1))) if m else None


def _module_matches(
    ctx: AnalysisContext, spec: ModuleSpec, modules: Sequence[Module | UnloadedModule]
) -> list[Module | UnloadedModule]:
    hits: list[Module | UnloadedModule] = []
    for m in modules:
        if not fnmatch.fnmatchcase(m.name.lower(), spec.name):
            continue
        loaded = m if isinstance(m, Module) else None
        if spec.min_version is not None or spec.max_version is not None:
            version: tuple[int, ...] | None = loaded.version if loaded else None
            if version is None and loaded is not None:
                info = ctx.vendor(loaded)
                version = _parse_version_text(info.file_version if info else None)
            if not _version_in(version, spec.min_version, spec.max_version):
                continue
        if spec.vendor is not None:
            info = ctx.vendor(loaded) if loaded is not None else None
            if info is None or not info.company or not spec.vendor.search(info.company):
                continue
        hits.append(m)
    return hits


def _vendor_of(ctx: AnalysisContext, module: Module | UnloadedModule) -> str | None:
    info = ctx.vendor(module) if isinstance(module, Module) else None
    return info.company if info is not None else None


def _version_json(version: tuple[int, ...] | None) -> JsonValue:
    return ".".join(map(str, version)) if version else None


def _thread_ok(
    ctx: AnalysisContext, spec: ThreadSpec, t: ThreadFacts
) -> dict[str, JsonValue] | None:
    if spec.needs_stack and t.stack is None:
        return None
    if spec.faulting is not None and t.is_exception_thread != spec.faulting:
        return None
    if spec.wait_state and t.state not in spec.wait_state:
        return None
    if spec.start_function and not (
        t.start_function and any(p.search(t.start_function) for p in spec.start_function)
    ):
        return None
    matched: list[JsonValue] = []
    for p in spec.frames:
        hit = next((text for text in t.texts if p.search(text)), None)
        if hit is None:
            return None
        matched.append(hit)
    if any(p.search(text) for p in spec.frames_absent for text in t.texts):
        return None
    if spec.no_application_frame is not None and (
        ctx.has_application_frame(t) == spec.no_application_frame
    ):
        return None
    if spec.min_age_seconds is not None and (
        t.age_seconds is None or t.age_seconds < spec.min_age_seconds
    ):
        return None
    out: dict[str, JsonValue] = {
        "id": t.id,
        "state": t.state,
        "state_frame": t.state_frame,
        "start_function": t.start_function,
    }
    if matched:
        out["matched_frames"] = matched
    if spec.no_application_frame is not None:
        out["application_frame"] = not spec.no_application_frame
    if t.texts:
        out["frames"] = list(t.texts[:_EVIDENCE_FRAMES])
    if t.age_seconds is not None:
        out["age_seconds"] = round(t.age_seconds, 3)
    if t.cpu_seconds is not None:
        out["cpu_seconds"] = round(t.cpu_seconds, 3)
    return out


def _eval(ctx: AnalysisContext, m: Match) -> dict[str, JsonValue] | None:
    dump = ctx.dump
    ev: dict[str, JsonValue] = {}
    exc = ctx.exception
    if m.kernel is not None:
        got = eval_kernel(ctx, m.kernel)
        if got is None:
            return None
        ev.update(got)
    if m.process:
        main = dump.modules.main
        if main is None or not any(fnmatch.fnmatchcase(main.name.lower(), p) for p in m.process):
            return None
        ev["process"] = main.name
    if m.exception is not None:
        if (m.exception == "none") != (exc is None):
            return None
        ev["exception"] = m.exception
    if m.exception_code:
        if exc is None or exc.code not in m.exception_code:
            return None
        ev["exception_code"] = exc.code
        ev["exception_name"] = exc.name
        if exc.chance != "unknown":
            ev["chance"] = exc.chance
        if exc.managed_type:
            ev["managed_type"] = exc.managed_type
    if m.exception_type:
        names = list(exc.thrown_types) if exc else []
        if exc is not None and exc.managed_type:
            names.append(exc.managed_type)
        hit = next((n for n in names if any(p.search(n) for p in m.exception_type)), None)
        if hit is None:
            return None
        ev["exception_type"] = hit
    if m.faulting_module:
        if exc is None or exc.module is None or not any(
            fnmatch.fnmatchcase(exc.module.lower(), p) for p in m.faulting_module
        ):
            return None
        ev["faulting_module"] = exc.module
        mod = dump.modules.find(exc.address)
        ev["faulting_module_version"] = _version_json(mod.version if mod else None)
    if m.faulting_function:
        where = ctx.symbol_at(exc.address) if exc is not None else None
        if where is None or not any(p.search(where) for p in m.faulting_function):
            return None
        ev["faulting_function"] = where
    if m.chance is not None:
        if exc is None or exc.chance != m.chance:
            return None
        ev["chance"] = exc.chance
    if m.os_build is not None or m.os_version is not None:
        major, minor, build = dump.system.os_version
        if m.os_build is not None:
            lo, hi = m.os_build
            if (lo is not None and build < lo) or (hi is not None and build > hi):
                return None
        if m.os_version is not None and not _version_in((major, minor, build), *m.os_version):
            return None
        ev["os_version"] = f"{major}.{minor}.{build}"
        ev["os_name"] = dump.system.os_name
    if m.module_vendor:
        vendors: list[JsonValue] = []
        for mod in dump.modules:
            info = ctx.vendor(mod)
            if info and info.company and any(p.search(info.company) for p in m.module_vendor):
                vendors.append({"name": mod.name, "vendor": info.company,
                                "description": info.description,
                                "version": _version_json(mod.version) or info.file_version})
        if not vendors:
            return None
        ev["vendor_modules"] = vendors
    if m.modules:
        found: list[JsonValue] = []
        for spec in m.modules:
            for found_mod in _module_matches(ctx, spec, list(dump.modules)):
                hit_version = found_mod.version if isinstance(found_mod, Module) else None
                found.append({"name": found_mod.name, "version": _version_json(hit_version),
                              "path": found_mod.path, "base": found_mod.base,
                              "vendor": _vendor_of(ctx, found_mod)})
        if not found:
            return None
        ev["modules"] = found
    if m.unloaded_modules:
        gone: list[JsonValue] = []
        for spec in m.unloaded_modules:
            for um in _module_matches(ctx, spec, list(dump.unloaded_modules)):
                gone.append({"name": um.name, "path": um.path, "base": um.base})
        if not gone:
            return None
        ev["unloaded_modules"] = gone
    if m.handles:
        counts: list[JsonValue] = []
        for hs in m.handles:
            n = sum(
                1 for h in dump.handles
                if h.type_name is not None and fnmatch.fnmatchcase(h.type_name.lower(), hs.type)
                and (hs.name is None or (h.object_name is not None
                                         and bool(hs.name.search(h.object_name))))
            )
            if n < hs.min_count:
                return None
            counts.append({"type": hs.type, "count": n})
        ev["handles"] = counts
    if m.threads:
        if any(ts.needs_stack for ts in m.threads) and ctx.stacks is None:
            return None
        groups: list[JsonValue] = []
        for tspec in m.threads:
            hits: list[JsonValue] = []
            for t in ctx.threads:
                got = _thread_ok(ctx, tspec, t)
                if got is not None:
                    hits.append(got)
            if len(hits) < tspec.min_count:
                return None
            groups.append(hits)
        ev["threads"] = groups
    return ev


def match_signature(
    sig: Signature, ctx: AnalysisContext
) -> tuple[Match, dict[str, JsonValue]] | None:
    """Try a signature's alternatives in order.

    Returns:
        The first alternative that holds and the evidence its conditions
        gathered, or None.
    """
    for m in sig.matches:
        ev = _eval(ctx, m)
        if ev is not None:
            return m, ev
    return None
