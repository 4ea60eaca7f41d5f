"""INTEGRATE-1B — 争取每年整合10亿元以上."""

from fund_pipeline_tests.rules.harness import evaluate_county_years, failing_rows, rule_clause


def test_clause_is_quoted():
    assert rule_clause("INTEGRATE-1B") == "争取每年整合10亿元以上"


def test_measure_meeting_the_threshold_passes():
    assert evaluate_county_years("INTEGRATE-1B", "integrated_receipts", {2015: 1000000000.0, 2016: 1000000000.0}).empty


def test_measure_missing_the_threshold_fails_for_that_year():
    findings = evaluate_county_years("INTEGRATE-1B", "integrated_receipts", {2015: 1000000000.0, 2016: 880000000.0})
    assert failing_rows(findings) == [6] and findings["fiscal_year"].tolist() == [2016]
    assert findings["severity"].tolist() == ["warning"]
