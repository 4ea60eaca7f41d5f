"""FISCAL-GROWTH — 并逐年加大投入力度."""

from fund_pipeline_tests.rules.harness import evaluate_rule, failing_rows, rule_clause


def test_clause_is_quoted():
    assert rule_clause("FISCAL-GROWTH") == "并逐年加大投入力度"


def test_measure_meeting_the_threshold_passes():
    rows = [{"fiscal_year": 2015, "poverty_allocation_change": 0.0}, {"fiscal_year": 2016, "poverty_allocation_change": 0.0}]
    assert evaluate_rule("FISCAL-GROWTH", rows).empty


def test_measure_missing_the_threshold_fails_for_that_year():
    rows = [{"fiscal_year": 2015, "poverty_allocation_change": 0.0}, {"fiscal_year": 2016, "poverty_allocation_change": -2253200.0}]
    findings = evaluate_rule("FISCAL-GROWTH", rows)
    assert failing_rows(findings) == [6]
    assert findings["fiscal_year"].tolist() == [2016]
    assert findings["severity"].tolist() == ["warning"]
