"""POLICY-FUNDS-4E8 — 每年落实各项强农惠农政策性资金4亿元以上."""

from fund_pipeline_tests.rules.harness import evaluate_rule, failing_rows, rule_clause


def test_clause_is_quoted():
    assert rule_clause("POLICY-FUNDS-4E8") == "每年落实各项强农惠农政策性资金4亿元以上"


def test_measure_meeting_the_threshold_passes():
    rows = [{"fiscal_year": 2015, "policy_subsidies_paid": 452000000.0}, {"fiscal_year": 2016, "policy_subsidies_paid": 452000000.0}]
    assert evaluate_rule("POLICY-FUNDS-4E8", rows).empty


def test_measure_missing_the_threshold_fails_for_that_year():
    rows = [{"fiscal_year": 2015, "policy_subsidies_paid": 452000000.0}, {"fiscal_year": 2016, "policy_subsidies_paid": 399999999.0}]
    findings = evaluate_rule("POLICY-FUNDS-4E8", rows)
    assert failing_rows(findings) == [6]
    assert findings["fiscal_year"].tolist() == [2016]
    assert findings["severity"].tolist() == ["warning"]
