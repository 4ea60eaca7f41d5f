"""POLICY-FUNDS-4E8 — 每年落实各项强农惠农政策性资金4亿元以上."""

from fund_pipeline_tests.rules.harness import evaluate_county_years, failing_rows, rule_clause


def test_clause_is_quoted():
    assert rule_clause("POLICY-FUNDS-4E8") == "每年落实各项强农惠农政策性资金4亿元以上"


def test_measure_meeting_the_threshold_passes():
    assert evaluate_county_years("POLICY-FUNDS-4E8", "policy_subsidies_paid", {2015: 452000000.0, 2016: 452000000.0}).empty


def test_measure_missing_the_threshold_fails_for_that_year():
    findings = evaluate_county_years("POLICY-FUNDS-4E8", "policy_subsidies_paid", {2015: 452000000.0, 2016: 399999999.0})
    assert failing_rows(findings) == [6] and findings["fiscal_year"].tolist() == [2016]
    assert findings["severity"].tolist() == ["warning"]
