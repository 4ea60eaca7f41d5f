"""VILLAGE-KNOWN — data integrity: village and township exist in the county register."""

import pytest

from fund_pipeline_tests.rules.harness import POOR_ID, evaluate_rule, failing_rows, rule_clause

ROW = {"fiscal_year": 2016, "project_code": "HN2016-001", "township": "会师镇", "channel_name": "农业综合开发补助资金",
       "purpose": "道路", "amount": 10.0, "pay_date": "2016-05-01"}


def test_integrity_rule_has_no_clause():
    assert rule_clause("VILLAGE-KNOWN") is None


def test_registered_village_passes():
    assert evaluate_rule("VILLAGE-KNOWN", [ROW | {"village": "南什村"}, ROW | {"village": "南咀村"}]).empty


def test_unknown_village_fails():
    findings = evaluate_rule("VILLAGE-KNOWN", [ROW | {"village": "南什村"}, ROW | {"village": "不存在村"}])
    assert failing_rows(findings) == [6]
    assert findings["value"].tolist() == ["不存在村"]


# Every department's rows that name a village, not only the payment ledgers: a student loan, a village
# doctor's subsidy or an illness claim in a village the register does not have is traced the same way.
OTHER_TARGETS = {
    "student_loans": {"fiscal_year": 2016, "township": "会师镇", "student_name": "张三", "borrower_id": POOR_ID,
                      "amount": 6000.0},
    "village_doctor_subsidies": {"fiscal_year": 2016, "township": "会师镇", "doctor_name": "李四", "period": "2016-05",
                                 "amount": 1200.0},
    "illness_claims": {"fiscal_year": 2016, "township": "会师镇", "patient_name": "王五", "patient_id": POOR_ID,
                       "total_cost": 20000.0, "deductible": 3000.0, "reimbursed": 16000.0},
}


@pytest.mark.parametrize("target", sorted(OTHER_TARGETS))
def test_other_departments_rows_name_registered_villages(target):
    row = OTHER_TARGETS[target]
    assert evaluate_rule("VILLAGE-KNOWN", [row | {"village": "南什村"}, row], target=target).empty
    findings = evaluate_rule("VILLAGE-KNOWN", [row | {"village": "南什村"}, row | {"village": "<img src=x>村"}],
                             target=target)
    assert failing_rows(findings) == [6] and findings["value"].tolist() == ["<img src=x>村"]
    assert findings["expected"].tolist() == ["应为该乡镇名录中的行政村"]
