"""STUDENT-LOAN — 每学年8000元以内生源地信用助学贷款."""

from fund_pipeline_tests.rules.harness import POOR_ID, evaluate_rule, failing_rows, rule_clause

ROW = {"fiscal_year": 2016, "township": "会师镇", "student_name": "王明", "borrower_id": POOR_ID}


def test_clause_is_quoted():
    assert rule_clause("STUDENT-LOAN") == "每学年8000元以内生源地信用助学贷款"


def test_loan_up_to_8000_passes():
    assert evaluate_rule("STUDENT-LOAN", [ROW | {"amount": 8000.0}]).empty


def test_loan_above_8000_fails():
    findings = evaluate_rule("STUDENT-LOAN", [ROW | {"amount": 6000.0}, ROW | {"amount": 10000.0}])
    assert failing_rows(findings) == [6]
