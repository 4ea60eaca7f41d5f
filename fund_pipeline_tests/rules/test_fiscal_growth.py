"""FISCAL-GROWTH — 并逐年加大投入力度."""

from fund_pipeline_tests.rules.harness import evaluate_county_years, failing_rows, rule_clause


def test_clause_is_quoted():
    assert rule_clause("FISCAL-GROWTH") == "并逐年加大投入力度"


def test_measure_meeting_the_threshold_passes():
    assert evaluate_county_years("FISCAL-GROWTH", "poverty_allocation_change", {2015: 0.0, 2016: 0.0}).empty


def test_measure_missing_the_threshold_fails_for_that_year():
    findings = evaluate_county_years("FISCAL-GROWTH", "poverty_allocation_change", {2015: 0.0, 2016: -2253200.0})
    assert failing_rows(findings) == [6] and findings["fiscal_year"].tolist() == [2016]
    assert findings["severity"].tolist() == ["warning"]
