"""HOUSING — 每年实施危房改造5000户,其中贫困户4000户."""

from fund_pipeline_tests.rules.harness import evaluate_rule, failing_rows, rule_clause


def test_clause_is_quoted():
    assert rule_clause("HOUSING") == "每年实施危房改造5000户,其中贫困户4000户"


def test_targets_met_pass():
    rows = [{"fiscal_year": 2016, "housing_households": 5000, "housing_poor_households": 4000}]
    assert evaluate_rule("HOUSING", rows).empty


def test_too_few_dwellings_or_too_few_poor_households_fail_once_per_year():
    rows = [{"fiscal_year": 2015, "housing_households": 5200, "housing_poor_households": 3999},
            {"fiscal_year": 2016, "housing_households": 4000, "housing_poor_households": 3500},
            {"fiscal_year": 2017, "housing_households": 5100, "housing_poor_households": 4100}]
    findings = evaluate_rule("HOUSING", rows)
    assert failing_rows(findings) == [5, 6]
    assert set(findings["severity"]) == {"warning"}
