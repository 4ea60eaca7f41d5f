"""HOUSEHOLD-57 — 到贫困户的比例达到57%."""

from fund_pipeline_tests.rules.harness import evaluate_rule, failing_rows, rule_clause


def test_clause_is_quoted():
    assert rule_clause("HOUSEHOLD-57") == "到贫困户的比例达到57%"


def test_measure_meeting_the_threshold_passes():
    rows = [{"fiscal_year": 2015, "poor_household_share": 0.61}, {"fiscal_year": 2016, "poor_household_share": 0.61}]
    assert evaluate_rule("HOUSEHOLD-57", rows).empty


def test_measure_missing_the_threshold_fails_for_that_year():
    rows = [{"fiscal_year": 2015, "poor_household_share": 0.61}, {"fiscal_year": 2016, "poor_household_share": 0.5699}]
    findings = evaluate_rule("HOUSEHOLD-57", rows)
    assert failing_rows(findings) == [6]
    assert findings["fiscal_year"].tolist() == [2016]
    assert findings["severity"].tolist() == ["error"]
