"""TRANSFER-900 — 贫困农户人均转移性收入稳定在900元以上并逐年递增."""

from fund_pipeline_tests.rules.harness import POOR_ID, evaluate_rule, failing_rows, rule_clause


def test_clause_is_quoted():
    assert rule_clause("TRANSFER-900") == "贫困农户人均转移性收入稳定在900元以上并逐年递增"


def test_at_least_900_and_rising_passes():
    rows = [{"fiscal_year": 2015, "household_id": POOR_ID, "transfer_per_member": 910.0, "change_per_member": None},
            {"fiscal_year": 2016, "household_id": POOR_ID, "transfer_per_member": 937.3, "change_per_member": 27.3}]
    assert evaluate_rule("TRANSFER-900", rows).empty


def test_below_900_or_falling_is_a_warning_naming_the_household():
    rows = [{"fiscal_year": 2015, "household_id": POOR_ID, "transfer_per_member": 950.0, "change_per_member": None},
            {"fiscal_year": 2016, "household_id": POOR_ID, "transfer_per_member": 930.0, "change_per_member": -20.0},
            {"fiscal_year": 2017, "household_id": POOR_ID, "transfer_per_member": 800.0, "change_per_member": -130.0}]
    findings = evaluate_rule("TRANSFER-900", rows)
    assert failing_rows(findings) == [6, 7]
    assert set(findings["value"]) == {POOR_ID} and set(findings["severity"]) == {"warning"}
