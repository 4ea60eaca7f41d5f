"""SERIOUS-ILLNESS — 大病保险起付线由5000元降至3000元 (for poor people, from 2016)."""

from fund_pipeline_tests.rules.harness import OTHER_ID, POOR_ID, evaluate_rule, failing_rows, rule_clause

ROW = {"township": "会师镇", "patient_name": "王建国", "patient_id": POOR_ID, "total_cost": 50_000.0, "reimbursed": 1.0}


def test_clause_is_quoted():
    assert rule_clause("SERIOUS-ILLNESS") == "大病保险起付线由5000元降至3000元"


def test_lowered_deductible_for_the_poor_passes():
    rows = [ROW | {"fiscal_year": 2015, "household_id": POOR_ID, "deductible": 5000.0},
            ROW | {"fiscal_year": 2016, "household_id": POOR_ID, "deductible": 3000.0},
            ROW | {"fiscal_year": 2016, "household_id": OTHER_ID, "deductible": 5000.0}]
    assert evaluate_rule("SERIOUS-ILLNESS", rows).empty


def test_old_deductible_for_a_poor_patient_after_2016_fails():
    rows = [ROW | {"fiscal_year": 2016, "household_id": POOR_ID, "deductible": 3000.0},
            ROW | {"fiscal_year": 2016, "household_id": POOR_ID, "deductible": 5000.0}]
    assert failing_rows(evaluate_rule("SERIOUS-ILLNESS", rows)) == [6]
