"""TRANSFER-900 — 贫困农户人均转移性收入稳定在900元以上并逐年递增."""

import pytest

from fund_pipeline.pipeline.aggregate import household_year_rows
from fund_pipeline_tests.rules.harness import (
    POOR_ID,
    evaluate_rule,
    failing_rows,
    rule_clause,
    small_warehouse,
)


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


@pytest.mark.parametrize("per_member, fails", [(899.0, True), (900.0, False), (901.0, False)])
def test_boundary_900元以上_includes_900(per_member, fails):
    rows = [{"fiscal_year": 2016, "household_id": POOR_ID, "transfer_per_member": per_member, "change_per_member": 1.0}]
    assert (not evaluate_rule("TRANSFER-900", rows).empty) == fails


def test_a_household_year_finding_lists_every_payment_row_of_that_year(tmp_path):
    """Summed over the household's rows in every township's file; each row is a finding sharing the group."""
    payment = {"household_id": POOR_ID, "program": "惠农补贴", "source": "agriculture_policy_subsidies",
               "department": "农业农村局", "sheet": "发放花名册"}
    rows = [payment | {"fiscal_year": 2016, "source_file": "会师镇.xlsx", "row_number": 5, "row_key": "a:5"},
            payment | {"fiscal_year": 2016, "source_file": "大沟镇.xlsx", "row_number": 9, "row_key": "b:9"},
            payment | {"fiscal_year": 2015, "source_file": "会师镇.xlsx", "row_number": 7, "row_key": "a:7"}]
    warehouse = small_warehouse(tmp_path, {("staging", "stg_household_payments"): rows})
    findings = evaluate_rule("TRANSFER-900", [{"fiscal_year": 2016, "household_id": POOR_ID, "transfer_per_member": 800.0,
                                              "change_per_member": -50.0}])
    out = household_year_rows(warehouse, findings)
    assert sorted(zip(out["source_file"], out["row_number"], strict=True)) == [("会师镇.xlsx", 5), ("大沟镇.xlsx", 9)]
    assert set(out["group_key"]) == {f"户 {POOR_ID},2016年"}
