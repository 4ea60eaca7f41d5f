"""VILLAGE-54 — 整合资金到贫困村的比例达到54%."""

from fund_pipeline_tests.rules.harness import evaluate_rule, failing_rows, rule_clause


def test_clause_is_quoted():
    assert rule_clause("VILLAGE-54") == "整合资金到贫困村的比例达到54%"


def test_measure_meeting_the_threshold_passes():
    rows = [{"fiscal_year": 2015, "poor_village_share": 0.54}, {"fiscal_year": 2016, "poor_village_share": 0.54}]
    assert evaluate_rule("VILLAGE-54", rows).empty


def test_measure_missing_the_threshold_fails_for_that_year():
    rows = [{"fiscal_year": 2015, "poor_village_share": 0.54}, {"fiscal_year": 2016, "poor_village_share": 0.53}]
    findings = evaluate_rule("VILLAGE-54", rows)
    assert failing_rows(findings) == [6]
    assert findings["fiscal_year"].tolist() == [2016]
    assert findings["severity"].tolist() == ["error"]
