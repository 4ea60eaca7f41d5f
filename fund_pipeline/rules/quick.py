"""The catalogue's row checks evaluated with plain vectorised pandas, for the clerk's check of one file.

The pipeline validates with Great Expectations (rules/validation.py); a clerk checking one spreadsheet
before sending it should get an answer in a second or two, and importing GX alone takes longer than
that. The semantics follow the GX expectations the checks compile to (nulls are not judged by
between/in_set/regex, pair checks skip rows with a missing side; thresholds by fiscal year).
"""

from __future__ import annotations

import pandas as pd

from fund_pipeline.rules.catalogue import Check, Rule


def _resolve(value, thresholds: dict):
    return thresholds[value[1:]] if isinstance(value, str) and value.startswith("$") else value


def _where_mask(frame: pd.DataFrame, where: dict, thresholds: dict) -> pd.Series:
    mask = pd.Series(True, index=frame.index)
    for column, test in where.items():
        values = frame[column]
        if not isinstance(test, dict):
            mask &= values.eq(_resolve(test, thresholds)).fillna(False).astype(bool)
            continue
        for op, raw in test.items():
            v = _resolve(raw, thresholds)
            if op == "not_null":
                result = values.notna()
            elif op == "in":
                result = values.isin(v)
            else:
                result = {"lt": values.lt, "le": values.le, "gt": values.gt, "ge": values.ge, "ne": values.ne}[op](v)
            mask &= result.fillna(False).astype(bool)
    return mask


def _breaks(frame: pd.DataFrame, check: Check, thresholds: dict) -> pd.Series:
    p = {k: _resolve(v, thresholds) for k, v in check.params.items()}
    if check.expect == "between":
        values = pd.to_numeric(frame[p["column"]], errors="coerce")
        bad = pd.Series(False, index=frame.index)
        if p.get("min_value") is not None:
            bad |= (values <= p["min_value"]) if p.get("strict_min") else (values < p["min_value"])
        if p.get("max_value") is not None:
            bad |= (values >= p["max_value"]) if p.get("strict_max") else (values > p["max_value"])
        return bad.fillna(False) & values.notna()
    if check.expect == "in_set":
        values = frame[p["column"]]
        return values.notna() & ~values.isin(p["value_set"])
    if check.expect == "not_null":
        return frame[p["column"]].isna()
    if check.expect == "unique_together":
        return frame.duplicated(p["columns"], keep=False)
    if check.expect in ("pair_equal", "pair_greater_or_equal"):
        a, b = frame[p["column_a"]], frame[p["column_b"]]
        present = a.notna() & b.notna()
        return present & ((a != b) if check.expect == "pair_equal" else (a < b))
    if check.expect == "match_regex":
        values = frame[p["column"]]
        return values.notna() & ~values.astype("string").str.contains(p["regex"], regex=True).fillna(False)
    raise ValueError(f"unknown check kind {check.expect!r}")


def _failing(frame: pd.DataFrame, rule: Rule, target: str, year: int | None) -> pd.DataFrame:
    """Rows breaking the rule, with the column of the first check each row breaks."""
    thresholds = rule.thresholds_for(year)
    column = pd.Series(pd.NA, index=frame.index, dtype="object")
    for check in rule.checks_for(target):
        bad = _breaks(frame, check, thresholds).fillna(False).astype(bool) & _where_mask(frame, check.where, thresholds)
        column = column.mask(bad & column.isna(), check.report_column or check.column)
    failing = column.dropna()
    return pd.DataFrame({"position": failing.index, "column": failing.to_numpy(), "rule_id": rule.id,
                         "severity": rule.severity_for(year)})


def failing_rows(target: str, frame: pd.DataFrame, rules: list[Rule]) -> pd.DataFrame:
    """One row per (rule, failing row of frame): rule_id, severity, position (frame's index), column."""
    pieces = []
    for rule in rules:
        if rule.year_dependent and "fiscal_year" in frame:
            for year, part in frame.groupby(frame["fiscal_year"].astype("Float64"), dropna=False):
                pieces.append(_failing(part, rule, target, None if pd.isna(year) else int(year)))
        else:
            pieces.append(_failing(frame, rule, target, None))
    pieces = [p for p in pieces if len(p)]
    if not pieces:
        return pd.DataFrame(columns=["position", "column", "rule_id", "severity"])
    return pd.concat(pieces, ignore_index=True)
