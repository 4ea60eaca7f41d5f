"""Every threshold of the catalogue, at limit−1, limit and limit+1, through the real GX suite.

The catalogue states for each threshold whether a value equal to it passes (`boundaries`, from the
policy's wording: 以下/以上/以内/不超过/不低于 include the number, 低于/超过/不足 exclude it); these tests
hold the compiled expectations to that statement, and the catalogue to the wording.
"""

from dataclasses import replace

import pandas as pd
import pytest

from fund_pipeline.rules.catalogue import CatalogueError, load_catalogue, parse_catalogue
from fund_pipeline.rules.validation import evaluate

YEAR = 2017  # a year in which every year-dependent threshold has changed at least once


def _threshold_checks():
    for rule in load_catalogue().rules:
        for index, check in enumerate(rule.checks):
            if check.expect != "between":
                continue
            for bound in ("min_value", "max_value"):
                raw = check.params.get(bound)
                if isinstance(raw, str) and raw.startswith("$"):
                    yield pytest.param(rule, check, bound, raw[1:], id=f"{rule.id}-{index}-{raw[1:]}")


def _step(limit: float) -> float:
    return 1.0 if abs(limit) >= 2 or limit == 0 else 0.0001


def _satisfying(test, thresholds: dict):
    """A value meeting a check's `where` condition, so that the row is checked at all."""
    if not isinstance(test, dict):
        return test
    op, value = next(iter(test.items()))
    value = thresholds[value[1:]] if isinstance(value, str) and value.startswith("$") else value
    return {"not_null": 1, "gt": value + 1 if not isinstance(value, bool) else value, "ge": value, "lt": value - 1,
            "le": value, "in": value[0] if isinstance(value, list) else value, "ne": None}[op]


def _passes(rule, check, thresholds: dict, value: float) -> bool:
    """What the catalogue states: within both bounds, a value equal to a bound passing only where allowed."""
    ok = True
    for bound, is_min in (("min_value", True), ("max_value", False)):
        raw = check.params.get(bound)
        if raw is None:
            continue
        name = raw[1:] if isinstance(raw, str) else None
        limit = thresholds[name] if name else raw
        at_limit_ok = rule.limit_allowed(name) if name else not check.params.get("strict_min" if is_min else "strict_max")
        ok &= (value > limit if is_min else value < limit) or (value == limit and at_limit_ok)
    return ok


@pytest.mark.parametrize("rule, check, bound, name", list(_threshold_checks()))
def test_threshold_at_limit_minus_one_limit_and_limit_plus_one(rule, check, bound, name):
    catalogue = load_catalogue()
    thresholds = rule.thresholds_for(YEAR)
    limit = float(thresholds[name])
    values = [limit - _step(limit), limit, limit + _step(limit)]
    target = check.target or rule.target
    frame = pd.DataFrame({check.params["column"]: values, "fiscal_year": YEAR, "source": "boundary",
                          "source_file": "boundary.xlsx", "sheet": "Sheet1", "row_number": [5, 6, 7]})
    frame["row_key"] = "boundary:" + frame["row_number"].astype(str)
    for column, test in check.where.items():
        frame[column] = _satisfying(test, thresholds)
    findings, _ = evaluate(target, frame, [replace(rule, checks=(check,))], catalogue, "boundary")
    failed = set(findings["row_number"].astype(int))
    expected = {row for row, value in zip([5, 6, 7], values, strict=True) if not _passes(rule, check, thresholds, value)}
    assert failed == expected
    # the limit itself is where inclusive and exclusive wordings part
    assert (6 in failed) == (not rule.limit_allowed(name) or not _passes(rule, check, thresholds, limit))


def test_every_numeric_threshold_states_its_boundary():
    for rule in load_catalogue().rules:
        assert rule.numeric_thresholds() <= set(rule.boundaries), rule.id


def _raw(boundary: dict, **extra) -> dict:
    return {"version": "t", "policy": "t", "boundary_words": {"inclusive": ["以下", "以内", "不超过"], "exclusive": ["超过", "低于"]},
            "rules": [{"id": "X", "title": "t", "clause": None, "level": "row", "severity": "error", "target": "loans",
                       "message": "t", "thresholds": {"max_amount": 50000}, "boundaries": {"max_amount": boundary},
                       "checks": [{"expect": "between", "column": "amount", "max_value": "$max_amount"}], **extra}]}


def test_a_boundary_contradicting_its_wording_is_refused():
    parse_catalogue(_raw({"wording": "5万元以内", "describes": "requirement", "limit": "allowed"}))
    parse_catalogue(_raw({"wording": "不超过5万元", "describes": "requirement", "limit": "allowed"}))  # 不超过, not 超过
    parse_catalogue(_raw({"wording": "超过5万元", "describes": "breach", "limit": "allowed"}))
    with pytest.raises(CatalogueError, match="places the limit"):
        parse_catalogue(_raw({"wording": "5万元以内", "describes": "requirement", "limit": "breach"}))
    with pytest.raises(CatalogueError, match="places the limit"):
        parse_catalogue(_raw({"wording": "低于5万元", "describes": "requirement", "limit": "allowed"}))


def test_a_threshold_without_a_boundary_is_refused():
    raw = _raw({"wording": "5万元以内", "describes": "requirement", "limit": "allowed"})
    raw["rules"][0]["boundaries"] = {}
    with pytest.raises(CatalogueError, match="include their limit"):
        parse_catalogue(raw)
