"""VILLAGE-54 — 整合资金到贫困村的比例达到54%."""

from fund_pipeline_tests.rules.harness import evaluate_county_years, failing_rows, rule_clause


def test_clause_is_quoted():
    assert rule_clause("VILLAGE-54") == "整合资金到贫困村的比例达到54%"


def test_measure_meeting_the_threshold_passes():
    assert evaluate_county_years("VILLAGE-54", "poor_village_share", {2015: 0.54, 2016: 0.54}).empty


def test_measure_missing_the_threshold_fails_for_that_year():
    findings = evaluate_county_years("VILLAGE-54", "poor_village_share", {2015: 0.54, 2016: 0.53})
    assert failing_rows(findings) == [6] and findings["fiscal_year"].tolist() == [2016]
    assert findings["severity"].tolist() == ["error"]
