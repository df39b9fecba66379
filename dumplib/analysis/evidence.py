"""Checkable evidence for findings: facts with where they were read, what was
looked for and not found, and the confidence rule that weighs them.

Every finding's ``evidence`` carries two lists (see /work/shared/API.md):

* ``facts`` -- ``{"fact": name, "value": ..., "where": {...}}``: what the
  finding rests on, each with where in the dump it was read (``thread``,
  ``frame``, ``register``, ``address``, ``stream``), so a reviewer can check it;
* ``missing`` -- ``{"fact": name, "looked_in": "..."}``: what was looked for
  and not found.

A structural signature's confidence follows from which facts are present, by
the rule in its file (``[rule]``)::

    [rule]
    requires = ["completion_port_thread", ["callback_frame", "runtime_frames_only"]]
    refutes = ["managed_type_other"]     # any of these present: no finding
    base = 0.2
    max = 0.95
    [rule.raises]
    null_reference_or_av = 0.3
    [rule.lowers]
    application_frame = 0.3

``requires`` entries are fact names, or lists of names of which one suffices.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from dumplib.analysis.model import JsonValue

__all__ = ["EvidenceSet", "RuleResult", "apply_rule", "validate_rule"]

_RULE_KEYS = {"requires", "refutes", "base", "max", "raises", "lowers"}


def validate_rule(rule: Mapping[str, JsonValue]) -> str | None:
    """A problem with a ``[rule]`` table, or None when it is valid."""
    extra = set(rule) - _RULE_KEYS
    if extra:
        allowed = ", ".join(sorted(_RULE_KEYS))
        return f"unknown key(s) {', '.join(sorted(extra))} (allowed: {allowed})"
    for key in ("base", "max"):
        value = rule.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not 0 <= value <= 1):
            return f"{key} must be a number from 0 to 1"
    if "base" not in rule:
        return "base is required"
    for key in ("raises", "lowers"):
        table = rule.get(key, {})
        if not isinstance(table, dict):
            return f"{key} must be a table of fact = weight"
        for name, weight in table.items():
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not (
                    0 <= weight <= 1):
                return f"{key}.{name} must be a number from 0 to 1"
    for key in ("requires", "refutes"):
        items = rule.get(key, [])
        if not isinstance(items, list):
            return f"{key} must be a list"
        for item in items:
            names = item if isinstance(item, list) else [item]
            if not names or not all(isinstance(n, str) and n for n in names):
                return f"{key} entries must be fact names or lists of fact names"
    return None


@dataclass
class EvidenceSet:
    """Facts and misses gathered by one detector run (mutable while it runs)."""

    facts: list[dict[str, JsonValue]] = field(default_factory=list)
    missing: list[dict[str, JsonValue]] = field(default_factory=list)

    def add(self, name: str, value: JsonValue = True, **where: JsonValue) -> None:
        """Record a fact and where it was read (thread, frame, register, address, stream)."""
        self.facts.append({
            "fact": name,
            "value": value,
            "where": {k: v for k, v in where.items() if v is not None},
        })

    def miss(self, name: str, looked_in: str) -> None:
        """Record a fact that was looked for and not found."""
        self.missing.append({"fact": name, "looked_in": looked_in})

    def has(self, name: str) -> bool:
        """Whether a fact of that name is present."""
        return any(f["fact"] == name for f in self.facts)

    @property
    def names(self) -> set[str]:
        """Names of the present facts."""
        return {str(f["fact"]) for f in self.facts}

    def to_json(self) -> dict[str, JsonValue]:
        """``{"facts": [...], "missing": [...]}``."""
        return {"facts": list(self.facts), "missing": list(self.missing)}


@dataclass(frozen=True, slots=True)
class RuleResult:
    """The outcome of a confidence rule: the confidence (None: no finding) and why."""

    confidence: float | None
    explanation: dict[str, JsonValue]


def apply_rule(rule: Mapping[str, JsonValue], present: set[str]) -> RuleResult:
    """Weigh the present facts by a rule (see the module docstring)."""
    requires = rule.get("requires", [])
    refutes = rule.get("refutes", [])
    unmet: list[JsonValue] = []
    for item in requires if isinstance(requires, list) else []:
        names = [str(n) for n in (item if isinstance(item, list) else [item])]
        if not present & set(names):
            unmet.append(item)
    hit = [str(n) for n in (refutes if isinstance(refutes, list) else [])
           if isinstance(n, str) and n in present]
    base = rule.get("base", 0)
    cap = rule.get("max", 0.95)
    confidence = float(base) if isinstance(base, (int, float)) else 0.0
    applied: list[JsonValue] = []
    for key, sign in (("raises", 1.0), ("lowers", -1.0)):
        table = rule.get(key, {})
        if not isinstance(table, dict):
            continue
        for name, weight in table.items():
            if name in present and isinstance(weight, (int, float)):
                confidence += sign * float(weight)
                applied.append({"fact": name, "weight": round(sign * float(weight), 3)})
    top = float(cap) if isinstance(cap, (int, float)) else 0.95
    confidence = round(min(max(confidence, 0.0), top), 3)
    explanation: dict[str, JsonValue] = {"base": base, "applied": applied, "max": top}
    if unmet:
        explanation["unmet_requirements"] = unmet
    if hit:
        explanation["refuted_by"] = list(hit)
    return RuleResult(None if unmet or hit else confidence, explanation)
