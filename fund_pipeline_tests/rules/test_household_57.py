"""HOUSEHOLD-57 — 到贫困户的比例达到57%."""

from fund_pipeline_tests.rules.harness import evaluate_county_years, failing_rows, rule_clause


def test_clause_is_quoted():
    assert rule_clause("HOUSEHOLD-57") == "到贫困户的比例达到57%"


def test_measure_meeting_the_threshold_passes():
    assert evaluate_county_years("HOUSEHOLD-57", "poor_household_share", {2015: 0.61, 2016: 0.61}).empty


def test_measure_missing_the_threshold_fails_for_that_year():
    findings = evaluate_county_years("HOUSEHOLD-57", "poor_household_share", {2015: 0.61, 2016: 0.5699})
    assert failing_rows(findings) == [6] and findings["fiscal_year"].tolist() == [2016]
    assert findings["severity"].tolist() == ["error"]
