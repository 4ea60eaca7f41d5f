"""IMPL-INDUSTRY — 产业发展以乡镇实施为主."""

from fund_pipeline_tests.rules.harness import evaluate_rule, failing_rows, rule_clause


def test_clause_is_quoted():
    assert rule_clause("IMPL-INDUSTRY") == "产业发展以乡镇实施为主"


def test_measure_meeting_the_threshold_passes():
    rows = [{"fiscal_year": 2015, "industry_township_share": 0.5}, {"fiscal_year": 2016, "industry_township_share": 0.5}]
    assert evaluate_rule("IMPL-INDUSTRY", rows).empty


def test_measure_missing_the_threshold_fails_for_that_year():
    rows = [{"fiscal_year": 2015, "industry_township_share": 0.5}, {"fiscal_year": 2016, "industry_township_share": 0.2}]
    findings = evaluate_rule("IMPL-INDUSTRY", rows)
    assert failing_rows(findings) == [6]
    assert findings["fiscal_year"].tolist() == [2016]
    assert findings["severity"].tolist() == ["warning"]
