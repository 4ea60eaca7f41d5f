"""IMPL-INDUSTRY — 产业发展以乡镇实施为主: "mainly" is more than half (超过一半), so exactly half fails."""

import pytest

from fund_pipeline_tests.rules.harness import evaluate_county_years, failing_rows, rule_clause


def test_clause_is_quoted():
    assert rule_clause("IMPL-INDUSTRY") == "产业发展以乡镇实施为主"


def test_measure_above_half_passes():
    assert evaluate_county_years("IMPL-INDUSTRY", "industry_township_share", {2015: 0.51, 2016: 0.8}).empty


def test_measure_missing_the_threshold_fails_for_that_year():
    findings = evaluate_county_years("IMPL-INDUSTRY", "industry_township_share", {2015: 0.51, 2016: 0.2})
    assert failing_rows(findings) == [6] and findings["fiscal_year"].tolist() == [2016]
    assert findings["severity"].tolist() == ["warning"]


@pytest.mark.parametrize("share, fails", [(0.4999, True), (0.5, True), (0.5001, False)])
def test_boundary_exactly_half_is_not_mainly(share, fails):
    assert (not evaluate_county_years("IMPL-INDUSTRY", "industry_township_share", {2016: share}).empty) == fails
