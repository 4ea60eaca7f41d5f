"""IMPL-INDUSTRY — 产业发展以乡镇实施为主."""

from fund_pipeline_tests.rules.harness import evaluate_county_years, failing_rows, rule_clause


def test_clause_is_quoted():
    assert rule_clause("IMPL-INDUSTRY") == "产业发展以乡镇实施为主"


def test_measure_meeting_the_threshold_passes():
    assert evaluate_county_years("IMPL-INDUSTRY", "industry_township_share", {2015: 0.5, 2016: 0.5}).empty


def test_measure_missing_the_threshold_fails_for_that_year():
    findings = evaluate_county_years("IMPL-INDUSTRY", "industry_township_share", {2015: 0.5, 2016: 0.2})
    assert failing_rows(findings) == [6] and findings["fiscal_year"].tolist() == [2016]
    assert findings["severity"].tolist() == ["warning"]
