"""ONE-PASSBOOK — 一册明、一折统."""

from fund_pipeline_tests.rules.harness import POOR_ID, evaluate_rule, failing_rows, rule_clause


def test_clause_is_quoted():
    assert rule_clause("ONE-PASSBOOK") == "一册明、一折统"


def test_payments_to_the_household_account_pass():
    rows = [{"fiscal_year": 2016, "household_id": POOR_ID, "account_no": "6229622422000000000001", "is_household_account": True}]
    assert evaluate_rule("ONE-PASSBOOK", rows).empty


def test_payment_to_another_account_is_a_warning():
    rows = [{"fiscal_year": 2016, "household_id": POOR_ID, "account_no": "6229622422000000000001", "is_household_account": True},
            {"fiscal_year": 2016, "household_id": POOR_ID, "account_no": "6217622422000000000001", "is_household_account": False}]
    findings = evaluate_rule("ONE-PASSBOOK", rows)
    assert failing_rows(findings) == [6]
    assert findings["severity"].tolist() == ["warning"]
