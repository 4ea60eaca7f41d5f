"""ID-LEGACY15 — data integrity: an old 15-digit resident ID is flagged (a warning) so it is replaced."""

from fund_pipeline_tests.rules.harness import POOR_ID, evaluate_rule, failing_rows, rule_clause

LOAN = {"fiscal_year": 2016, "township": "会师镇", "student_name": "王明", "amount": 6000.0}


def test_integrity_rule_has_no_clause():
    assert rule_clause("ID-LEGACY15") is None


def test_18_digit_ids_pass():
    assert evaluate_rule("ID-LEGACY15", [LOAN | {"borrower_id": POOR_ID}], target="student_loans").empty


def test_15_digit_id_is_a_warning():
    rows = [LOAN | {"borrower_id": POOR_ID}, LOAN | {"borrower_id": "620422400101001"}]
    findings = evaluate_rule("ID-LEGACY15", rows, target="student_loans")
    assert failing_rows(findings) == [6]
    assert findings["severity"].tolist() == ["warning"]
