"""INTEGRATE-1B — 争取每年整合10亿元以上."""

from fund_pipeline_tests.rules.harness import evaluate_rule, failing_rows, rule_clause


def test_clause_is_quoted():
    assert rule_clause("INTEGRATE-1B") == "争取每年整合10亿元以上"


def test_measure_meeting_the_threshold_passes():
    rows = [{"fiscal_year": 2015, "integrated_receipts": 1000000000.0}, {"fiscal_year": 2016, "integrated_receipts": 1000000000.0}]
    assert evaluate_rule("INTEGRATE-1B", rows).empty


def test_measure_missing_the_threshold_fails_for_that_year():
    rows = [{"fiscal_year": 2015, "integrated_receipts": 1000000000.0}, {"fiscal_year": 2016, "integrated_receipts": 880000000.0}]
    findings = evaluate_rule("INTEGRATE-1B", rows)
    assert failing_rows(findings) == [6]
    assert findings["fiscal_year"].tolist() == [2016]
    assert findings["severity"].tolist() == ["warning"]
