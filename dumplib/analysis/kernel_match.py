"""Signature conditions for kernel dumps (``[match]`` keys ``dump_kind``, ``bugcheck_code``
and ``culprit``), parsed and evaluated here so the general matcher stays small::

    [match]
    dump_kind = ["kernel-*"]                 # glob on dump.kind ("user", "kernel-full", ...)
    bugcheck_code = [0xD1, 0x133]            # the bug check code
    culprit = { third_party = true, near_frames = ["^(ndis|netio|tcpip)!"], within = 2 }

``culprit`` tests the module the crash is blamed on (see
:func:`dumplib.analysis.kernel.probably_caused_by`): ``third_party`` -- its version
resource names a vendor other than Microsoft; ``near_frames`` -- some frame at most
``within`` frames away from its frame on the crash stack matches one of the regular
expressions (``module!function`` text, module in lower case without extension). The
evidence names the driver, its vendor and version, and the neighbouring frames.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dumplib.analysis.facts import AnalysisContext
from dumplib.analysis.model import JsonValue
from dumplib.model.objects import Module

__all__ = ["KERNEL_MATCH_KEYS", "KernelConditions", "eval_kernel", "parse_kernel"]

KERNEL_MATCH_KEYS = frozenset({"dump_kind", "bugcheck_code", "culprit"})
_CULPRIT_KEYS = {"third_party", "near_frames", "within", "imports"}

Fail = Callable[[str, str], Exception]


@dataclass(frozen=True, slots=True)
class KernelConditions:
    """The kernel conditions of one ``[match]`` alternative."""

    dump_kind: tuple[str, ...] = ()
    bugcheck_code: tuple[int, ...] = ()
    third_party: bool | None = None
    near_frames: tuple[re.Pattern[str], ...] = ()
    within: int = 2
    culprit: bool = False
    imports: tuple[str, ...] = ()


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else [value]


def parse_kernel(table: Mapping[str, Any], key: str, fail: Fail) -> KernelConditions | None:
    """The kernel conditions in ``table`` (None when it has none).

    Raises:
        whatever ``fail(key, message)`` returns, for a malformed value.
    """
    if not KERNEL_MATCH_KEYS & set(table):
        return None
    kinds: list[str] = []
    for i, k in enumerate(_list(table.get("dump_kind", []))):
        if not isinstance(k, str) or not k:
            raise fail(f"{key}.dump_kind[{i}]", "must be a non-empty string")
        kinds.append(k.lower())
    codes: list[int] = []
    for i, c in enumerate(_list(table.get("bugcheck_code", []))):
        if not isinstance(c, int) or isinstance(c, bool) or not 0 <= c <= 0xFFFFFFFF:
            raise fail(f"{key}.bugcheck_code[{i}]", "must be an integer 0..0xFFFFFFFF")
        codes.append(c)
    third: bool | None = None
    near: list[re.Pattern[str]] = []
    within = 2
    imports: list[str] = []
    culprit = "culprit" in table
    if culprit:
        spec = table["culprit"]
        if not isinstance(spec, Mapping) or not spec:
            raise fail(f"{key}.culprit", "must be a non-empty table")
        extra = set(spec) - _CULPRIT_KEYS
        if extra:
            raise fail(f"{key}.culprit", f"unknown keys {sorted(extra)}")
        if "third_party" in spec:
            if not isinstance(spec["third_party"], bool):
                raise fail(f"{key}.culprit.third_party", "must be true or false")
            third = spec["third_party"]
        for i, p in enumerate(_list(spec.get("near_frames", []))):
            try:
                near.append(re.compile(str(p), re.IGNORECASE))
            except re.error as exc:
                raise fail(f"{key}.culprit.near_frames[{i}]", f"bad regex: {exc}") from exc
        w = spec.get("within", 2)
        if not isinstance(w, int) or isinstance(w, bool) or not 1 <= w <= 16:
            raise fail(f"{key}.culprit.within", "must be an integer 1..16")
        within = w
        for i, name in enumerate(_list(spec.get("imports", []))):
            if not isinstance(name, str) or not name:
                raise fail(f"{key}.culprit.imports[{i}]", "must be a module name")
            imports.append(name.lower())
    return KernelConditions(tuple(kinds), tuple(codes), third, tuple(near), within, culprit,
                            tuple(imports))


def eval_kernel(ctx: AnalysisContext, cond: KernelConditions) -> dict[str, JsonValue] | None:
    """Evidence when every kernel condition holds, else None."""
    dump = ctx.dump
    ev: dict[str, JsonValue] = {}
    if cond.dump_kind:
        if not any(fnmatch.fnmatchcase(dump.kind, k) for k in cond.dump_kind):
            return None
        ev["dump_kind"] = dump.kind
    bc = dump.bugcheck
    if cond.bugcheck_code:
        code = getattr(bc, "code", None)
        if code not in cond.bugcheck_code:
            return None
        ev["bugcheck_code"] = code
        ev["bugcheck_name"] = getattr(bc, "name", None)
        ev["bugcheck_parameters"] = list(getattr(bc, "parameters", ()))
    if cond.culprit:
        from dumplib.analysis.kernel import crash_stack, is_microsoft, probably_caused_by

        culprit = probably_caused_by(ctx)
        if culprit is None:
            return None
        if cond.third_party is not None and (
            not is_microsoft(ctx, culprit.module)
        ) != cond.third_party:
            return None
        facts: list[JsonValue] = [{
            "fact": f"probably caused by {culprit.module.name} ({culprit.rule})",
            "where": f"crash stack frame {culprit.frame}" if culprit.frame is not None
            else "bug check parameters",
        }]
        if cond.near_frames:
            stack = crash_stack(ctx)
            if stack is None or culprit.frame is None:
                return None
            frames = stack.frames
            lo, hi = max(0, culprit.frame - cond.within), culprit.frame + cond.within
            near: list[JsonValue] = []
            for i in range(lo, min(hi + 1, len(frames))):
                f = frames[i]
                text = ctx.symbol_at(f.ip if i == 0 else f.ip - 1) or ""
                if i != culprit.frame and any(p.search(text) for p in cond.near_frames):
                    near.append({"frame": i, "text": text, "ip": f.ip})
            if not near:
                return None
            ev["network_stack_frames"] = near
            facts.append({"fact": "network-stack frames next to it",
                          "where": ", ".join(f"frame {n['frame']}" for n in near
                                             if isinstance(n, dict))})
        if cond.imports:
            found = _imports_of(ctx, culprit.module)
            hits: dict[str, JsonValue] = {
                m: list(fns[:8]) for m, fns in found.items() if m in cond.imports
            }
            if not hits:
                return None
            ev["culprit_imports"] = hits
            facts.append({"fact": f"imports from {', '.join(sorted(hits))}",
                          "where": f"import directory of {culprit.module.name} in the dump"})
        ev["culprit"] = culprit.to_json()
        ev["facts"] = facts
    return ev


def _imports_of(ctx: AnalysisContext, module: Module) -> dict[str, list[str]]:
    """The module's imports, from its image in the dump or on the symbol path ({} if none)."""
    from dumplib._exc import DumpError
    from dumplib.pe.imports import imports

    res = ctx.resolver
    if res is None:
        return {}
    try:
        image = res.image(module)
        return imports(image) if image is not None else {}
    except DumpError as exc:
        ctx.notes.append(f"{module.name}: imports unreadable: {exc}")
        return {}
