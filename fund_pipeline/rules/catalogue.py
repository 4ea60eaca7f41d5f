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
class Catalogue:
    version: str
    policy: str
    rules: tuple[Rule, ...]

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


def parse_catalogue(raw: dict) -> Catalogue:
    rules, seen = [], set()
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
            checks=checks,
        )
        _check_parameters(rule)
        rules.append(rule)
    return Catalogue(version=str(raw["version"]), policy=raw["policy"], rules=tuple(rules))


def _check_parameters(rule: Rule) -> None:
    known = set(rule.thresholds) | {k for v in rule.thresholds_by_year.values() for k in v}
    for check in rule.checks:
        for value in check.params.values():
            if isinstance(value, str) and value.startswith("$") and value[1:] not in known:
                raise CatalogueError(f"{rule.id}: parameter {value} is not among its thresholds {sorted(known)}")


@cache
def load_catalogue(path: Path = CATALOGUE_PATH) -> Catalogue:
    return parse_catalogue(yaml.safe_load(Path(path).read_text(encoding="utf-8")))
