"""The same catalogue checks evaluated with plain vectorised pandas: the benchmark's yardstick for GX."""

from __future__ import annotations

import pandas as pd

from fund_pipeline.rules.catalogue import Rule


def _where_mask(frame: pd.DataFrame, where: dict, thresholds: dict) -> pd.Series:
    mask = pd.Series(True, index=frame.index)
    for column, test in where.items():
        values = frame[column]
        if not isinstance(test, dict):
            mask &= values.eq(test).fillna(False).astype(bool)
            continue
        for op, raw in test.items():
            v = thresholds[raw[1:]] if isinstance(raw, str) and raw.startswith("$") else raw
            result = {"not_null": lambda: values.notna(), "in": lambda: values.isin(v),  # noqa: B023
                      "lt": lambda: values < v, "le": lambda: values <= v, "gt": lambda: values > v,  # noqa: B023
                      "ge": lambda: values >= v, "ne": lambda: values != v}[op]()  # noqa: B023
            mask &= result.fillna(False).astype(bool)
    return mask


def failing_index(frame: pd.DataFrame, rule: Rule, target: str, year: int | None = None) -> pd.Index:
    """Rows of frame that break any of the rule's checks on target (thresholds of the base year)."""
    thresholds = rule.thresholds_for(year)
    resolve = lambda v: thresholds[v[1:]] if isinstance(v, str) and v.startswith("$") else v  # noqa: E731
    failing = pd.Series(False, index=frame.index)
    for check in rule.checks_for(target):
        p = {k: resolve(v) for k, v in check.params.items()}
        applies = _where_mask(frame, check.where, thresholds)
        if check.expect == "between":
            values = frame[p["column"]]
            bad = pd.Series(False, index=frame.index)
            if p.get("min_value") is not None:
                bad |= (values <= p["min_value"]) if p.get("strict_min") else (values < p["min_value"])
            if p.get("max_value") is not None:
                bad |= values > p["max_value"]
            bad = bad.fillna(False) & values.notna()
        elif check.expect == "in_set":
            values = frame[p["column"]]
            bad = values.notna() & ~values.isin(p["value_set"])
        elif check.expect == "not_null":
            bad = frame[p["column"]].isna()
        elif check.expect == "unique_together":
            bad = frame.duplicated(p["columns"], keep=False)
        elif check.expect in ("pair_equal", "pair_greater_or_equal"):
            a, b = frame[p["column_a"]], frame[p["column_b"]]
            present = a.notna() & b.notna()
            bad = present & ((a != b) if check.expect == "pair_equal" else (a < b))
        else:
            raise ValueError(check.expect)
        failing |= bad.fillna(False).astype(bool) & applies
    return frame.index[failing.to_numpy()]
