"""Loads and checks the rule catalogue (catalogue.yaml)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

CATALOGUE_PATH = Path(__file__).parent / "catalogue.yaml"
SEVERITIES = ("error", "warning")
LEVELS = ("file", "row", "project", "village", "household", "project-year", "household-year", "county-year")
EXPECTATION_KINDS = ("between", "in_set", "not_null", "unique_together", "pair_equal", "pair_greater_or_equal", "match_regex")


class CatalogueError(ValueError):
    pass


@dataclass(frozen=True)
class Check:
    expect: str
    params: dict
    where: dict = field(default_factory=dict)
    report_column: str | None = None
    target: str | None = None  # the entity or mart this check reads, when not the rule's own target

    @property
    def column(self) -> str | None:
        return self.params.get("column") or self.params.get("column_a") or (self.params.get("columns") or [None])[0]


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    clause: str | None
    level: str
    severity: str
    target: str
    message: str
    thresholds: dict = field(default_factory=dict)
    thresholds_by_year: dict = field(default_factory=dict)  # {first year: {param: value}}
    checks: tuple[Check, ...] = ()
    boundaries: dict = field(default_factory=dict)  # {threshold: Boundary}

    def limit_allowed(self, threshold: str) -> bool:
        """Whether a value equal to the threshold passes (5万元以内: yes; 以乡镇实施为主, more than half: no)."""
        return self.boundaries[threshold].limit == "allowed"

    def numeric_thresholds(self) -> set[str]:
        values = [self.thresholds, *self.thresholds_by_year.values()]
        return {k for v in values for k, x in v.items() if isinstance(x, int | float) and not isinstance(x, bool)}

    def checks_for(self, target: str) -> list[Check]:
        return [c for c in self.checks if (c.target or self.target) == target]

    @property
    def check_targets(self) -> set[str]:
        return {c.target or self.target for c in self.checks}

    def severity_for(self, year: int | None) -> str:
        """A rule may become stricter from a year on (MUTUAL-AID: a warning before 2017, an error from 2017)."""
        return self.thresholds_for(year).get("severity", self.severity)

    def thresholds_for(self, year: int | None) -> dict:
        """Thresholds in force in a fiscal year: the base values, overridden by every change up to that year."""
        values = dict(self.thresholds)
        for first_year in sorted(self.thresholds_by_year):
            if year is not None and year >= int(first_year):
                values.update(self.thresholds_by_year[first_year])
        return values

    @property
    def year_dependent(self) -> bool:
        return bool(self.thresholds_by_year)

    @property
    def is_ingest(self) -> bool:
        return self.target == "ingest"

    def threshold_text(self) -> str:
        parts = [f"{k}={v}" for k, v in self.thresholds.items()]
        for year, changes in sorted(self.thresholds_by_year.items()):
            parts.append(f"自{year}年起 " + ", ".join(f"{k}={v}" for k, v in changes.items()))
        return "; ".join(parts)

    def has_error_in_any_year(self) -> bool:
        return self.severity == "error" or any(v.get("severity") == "error" for v in self.thresholds_by_year.values())


@dataclass(frozen=True)
class Boundary:
    wording: str
    describes: str  # requirement (what the policy asks) or breach (what counts as a fault)
    limit: str  # allowed: a value equal to the limit passes; breach: it fails


@dataclass(frozen=True)
class MissingValues:
    """Placeholders that mean "not filled in", and the fields they are looked for in."""

    placeholders: tuple[str, ...] = ()
    identifier_placeholders: tuple[str, ...] = ()
    identifier_fields: tuple[str, ...] = ()
    real_name_fields: tuple[str, ...] = ()
    required_by_rules: tuple[str, ...] = ()


@dataclass(frozen=True)
class Catalogue:
    version: str
    policy: str
    rules: tuple[Rule, ...]
    missing_values: MissingValues = MissingValues()

    def rule(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)

    def for_target(self, target: str) -> list[Rule]:
        """Rules with at least one check reading this target."""
        return [r for r in self.rules if target in r.check_targets]

    @property
    def targets(self) -> list[str]:
        return sorted({t for r in self.rules if not r.is_ingest for t in r.check_targets})


def _check(raw: dict, rule_id: str) -> Check:
    raw = dict(raw)
    kind = raw.pop("expect", None)
    if kind not in EXPECTATION_KINDS:
        raise CatalogueError(f"{rule_id}: unknown check kind {kind!r}; known: {EXPECTATION_KINDS}")
    where = raw.pop("where", {}) or {}
    report = raw.pop("report_column", None)
    target = raw.pop("target", None)
    return Check(kind, raw, where, report, target)


def _boundary_inclusive(wording: str, words: dict) -> bool | None:
    """Whether the wording's boundary word includes its number; the longest word found wins (不超过 over 超过)."""
    found = sorted(((w, kind == "inclusive") for kind in ("inclusive", "exclusive") for w in words.get(kind, [])
                    if w in wording), key=lambda pair: -len(pair[0]))
    return found[0][1] if found else None


def _boundaries(item: dict, rule_id: str, words: dict) -> dict:
    out = {}
    for name, raw in (item.get("boundaries") or {}).items():
        boundary = Boundary(str(raw.get("wording", "")), raw.get("describes"), raw.get("limit"))
        if boundary.describes not in ("requirement", "breach") or boundary.limit not in ("allowed", "breach"):
            raise CatalogueError(f"{rule_id}: boundary of {name} needs describes: requirement|breach and limit: allowed|breach")
        inclusive = _boundary_inclusive(boundary.wording, words)
        if inclusive is None:
            raise CatalogueError(f"{rule_id}: the wording of {name} ({boundary.wording}) has no boundary word {words}")
        expected = "allowed" if inclusive == (boundary.describes == "requirement") else "breach"
        if boundary.limit != expected:
            raise CatalogueError(f"{rule_id}: {name} says limit: {boundary.limit} but its wording "
                                 f"({boundary.wording}) places the limit as {expected}")
        out[name] = boundary
    return out


def parse_catalogue(raw: dict) -> Catalogue:
    rules, seen = [], set()
    words = raw.get("boundary_words") or {}
    for item in raw["rules"]:
        rule_id = item.get("id")
        if not rule_id or rule_id in seen:
            raise CatalogueError(f"rule id missing or repeated: {rule_id!r}")
        seen.add(rule_id)
        if item.get("severity") not in SEVERITIES:
            raise CatalogueError(f"{rule_id}: severity must be one of {SEVERITIES}")
        if item.get("level") not in LEVELS:
            raise CatalogueError(f"{rule_id}: level must be one of {LEVELS}")
        checks = tuple(_check(c, rule_id) for c in item.get("checks", []))
        if item["target"] != "ingest" and not checks:
            raise CatalogueError(f"{rule_id}: a rule outside ingestion needs at least one check")
        rule = Rule(
            id=rule_id, title=item["title"], clause=item.get("clause"), level=item["level"],
            severity=item["severity"], target=item["target"], message=item["message"],
            thresholds=dict(item.get("thresholds") or {}),
            thresholds_by_year={int(k): dict(v) for k, v in (item.get("thresholds_by_year") or {}).items()},
            checks=checks, boundaries=_boundaries(item, rule_id, words),
        )
        _check_parameters(rule)
        rules.append(rule)
    missing = {k: tuple(str(v) for v in values) for k, values in (raw.get("missing_values") or {}).items()}
    return Catalogue(version=str(raw["version"]), policy=raw["policy"], rules=tuple(rules),
                     missing_values=MissingValues(**missing))


def _check_parameters(rule: Rule) -> None:
    known = set(rule.thresholds) | {k for v in rule.thresholds_by_year.values() for k in v}
    unstated = rule.numeric_thresholds() - set(rule.boundaries)
    if unstated:
        raise CatalogueError(f"{rule.id}: thresholds {sorted(unstated)} do not say whether they include their limit (boundaries)")
    for check in rule.checks:
        for column, test in check.where.items():
            for op, value in (test.items() if isinstance(test, dict) else ()):
                if isinstance(value, str) and value.startswith("$") and op in ("lt", "le", "gt", "ge"):
                    allowed = rule.limit_allowed(value[1:])
                    if allowed != (op in ("le", "ge")):
                        raise CatalogueError(f"{rule.id}: condition {column} {op} {value} contradicts the boundary of {value[1:]}")
    for check in rule.checks:
        for value in check.params.values():
            if isinstance(value, str) and value.startswith("$") and value[1:] not in known:
                raise CatalogueError(f"{rule.id}: parameter {value} is not among its thresholds {sorted(known)}")


@cache
def load_catalogue(path: Path = CATALOGUE_PATH) -> Catalogue:
    return parse_catalogue(yaml.safe_load(Path(path).read_text(encoding="utf-8")))
