"""WITHIN-BUDGET — data integrity: a project's payments stay within its budget."""

from fund_pipeline_tests.rules.harness import evaluate_rule, failing_rows, rule_clause


def test_integrity_rule_has_no_clause():
    assert rule_clause("WITHIN-BUDGET") is None


def test_spending_up_to_the_budget_passes():
    rows = [{"fiscal_year": 2016, "project_code": "HN2016-001", "budget": 1e6, "spent": 1e6},
            {"fiscal_year": 2016, "project_code": "HN2016-002", "budget": 1e6, "spent": 0.0}]
    assert evaluate_rule("WITHIN-BUDGET", rows).empty


def test_overspent_project_fails():
    rows = [{"fiscal_year": 2016, "project_code": "HN2016-001", "budget": 1e6, "spent": 9e5},
            {"fiscal_year": 2016, "project_code": "HN2016-002", "budget": 1e6, "spent": 1.3e6}]
    assert failing_rows(evaluate_rule("WITHIN-BUDGET", rows)) == [6]
