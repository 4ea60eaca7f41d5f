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
        return [r for r in self.rules if r.target == target]

    @property
    def targets(self) -> list[str]:
        return sorted({r.target for r in self.rules if not r.is_ingest})


def _check(raw: dict, rule_id: str) -> Check:
    raw = dict(raw)
    kind = raw.pop("expect", None)
    if kind not in EXPECTATION_KINDS:
        raise CatalogueError(f"{rule_id}: unknown check kind {kind!r}; known: {EXPECTATION_KINDS}")
    where = raw.pop("where", {}) or {}
    report = raw.pop("report_column", None)
    return Check(kind, raw, where, report)


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
