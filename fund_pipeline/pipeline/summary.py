"""Per-rule summary of a run and the measured values of aggregate rules."""

from __future__ import annotations

import pandas as pd

from fund_pipeline.rules.catalogue import Catalogue, Rule


def aggregate_measures(frame: pd.DataFrame, rules: list[Rule], findings: pd.DataFrame) -> pd.DataFrame:
    """One row per rule and fiscal year: the measured value of the rule's first check against its threshold."""
    rows = []
    for rule in rules:
        failed_years = set(findings.loc[findings["rule_id"] == rule.id, "fiscal_year"].dropna().astype(int))
        for check in rule.checks_for("county_year_measures"):
            if check.expect != "between":
                continue
            column = check.params["column"]
            bound = "min_value" if "min_value" in check.params else "max_value"
            for year, value in zip(frame["fiscal_year"], frame[column], strict=True):
                if pd.isna(year):
                    continue
                raw = check.params.get(bound)
                threshold = rule.thresholds_for(int(year))[raw[1:]] if isinstance(raw, str) else raw
                rows.append({"fiscal_year": int(year), "rule_id": rule.id, "measure": column,
                             "value": None if pd.isna(value) else float(value), "threshold": float(threshold),
                             "bound": bound, "passed": int(year) not in failed_years})
    # Typed even when empty (marts with no data yet), so audit.policy_measures is never created with text columns.
    return pd.DataFrame(rows, columns=["fiscal_year", "rule_id", "measure", "value", "threshold", "bound", "passed"]).astype(
        {"fiscal_year": "int64", "value": "float64", "threshold": "float64", "passed": "bool"})


def _format(value) -> str:
    if pd.isna(value):
        return "无数据"
    if abs(value) <= 1.5:
        return f"{value:.2%}"
    return f"{value:,.0f}"


def _measured(rule: Rule, rule_findings: pd.DataFrame, measures: pd.DataFrame) -> str:
    if not measures.empty and rule.id in set(measures["rule_id"]):
        m = measures[(measures["rule_id"] == rule.id) & ~measures["measure"].str.endswith("_with_quarantined")]
        m = m.sort_values("fiscal_year")
        return ";".join(f"{int(y)}年 {_format(v)}" for y, v in zip(m["fiscal_year"], m["value"], strict=True))
    return f"{len(rule_findings)} 处不符合" if len(rule_findings) else "全部符合"


def rule_summary(catalogue: Catalogue, findings: pd.DataFrame, measures: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for rule in catalogue.rules:
        mine = findings[findings["rule_id"] == rule.id] if len(findings) else pd.DataFrame()
        rows.append({
            "rule_id": rule.id, "title": rule.title, "policy_clause": rule.clause, "severity": rule.severity,
            "level": rule.level, "target": rule.target, "threshold": rule.threshold_text() or "-",
            "measured": _measured(rule, mine, measures), "passed": len(mine) == 0, "findings": len(mine),
            "catalogue_version": catalogue.version,
        })
    return pd.DataFrame(rows)
