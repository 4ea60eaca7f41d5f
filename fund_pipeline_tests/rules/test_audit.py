"""AUDIT — 每年对所有扶贫项目进行全面审计."""

from fund_pipeline_tests.rules.harness import evaluate_rule, failing_rows, rule_clause


def test_clause_is_quoted():
    assert rule_clause("AUDIT") == "每年对所有扶贫项目进行全面审计"


def test_audited_project_and_project_without_spending_pass():
    rows = [{"fiscal_year": 2016, "project_code": "HN2016-001", "spent": 5e5, "audited": True},
            {"fiscal_year": 2016, "project_code": "HN2016-002", "spent": 0.0, "audited": False}]
    assert evaluate_rule("AUDIT", rows).empty


def test_project_that_spent_without_an_audit_fails():
    rows = [{"fiscal_year": 2016, "project_code": "HN2016-001", "spent": 5e5, "audited": True},
            {"fiscal_year": 2016, "project_code": "HN2016-003", "spent": 2e5, "audited": False}]
    findings = evaluate_rule("AUDIT", rows)
    assert failing_rows(findings) == [6]
    assert findings["value"].tolist() == ["HN2016-003"]
