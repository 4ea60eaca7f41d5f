"""WITHIN-BUDGET — data integrity: a project's payments stay within its budget."""

import pandas as pd
import pytest

from fund_pipeline.pipeline.aggregate import budget_breaking_rows
from fund_pipeline_tests.rules.harness import evaluate_rule, failing_rows, rule_clause, small_warehouse


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


PROJECT = {"fiscal_year": 2016, "project_code": "HN2016-001", "budget": 1e6, "source": "poverty_projects",
           "source_file": "扶贫办/2016年扶贫项目库.xlsx", "sheet": "项目库", "row_number": 6, "row_key": "p:6"}


def _payment(row: int, amount: float, day: str, **more) -> dict:
    return {"project_code": "HN2016-001", "fiscal_year": 2016, "amount": amount, "pay_date": pd.Timestamp(day),
            "source": "transport_disbursements", "department": "交通运输局", "source_file": "交通.xlsx", "sheet": "拨付台账",
            "row_number": row, "row_key": f"t:{row}", **more}


@pytest.mark.parametrize("last, breaks", [(399_999.0, False), (400_000.0, False), (400_001.0, True)])
def test_boundary_spending_up_to_the_budget_passes(last, breaks):
    rows = [{"fiscal_year": 2016, "project_code": "HN2016-001", "budget": 1e6, "spent": 600_000.0 + last}]
    assert (not evaluate_rule("WITHIN-BUDGET", rows).empty) == breaks


def test_the_payment_rows_that_take_a_project_past_its_budget_are_findings_too(tmp_path):
    """Payments by date: 600,000 then 300,000 stay within 1,000,000; the 200,000 paid next breaks it, and so does a
    later household payment from another sheet; the project row keeps its own finding."""
    payments = [_payment(5, 300_000.0, "2016-05-01"), _payment(6, 600_000.0, "2016-04-01"),
                _payment(7, 200_000.0, "2016-06-01")]
    roster = [_payment(9, 50_000.0, "2016-07-01", source="relocation", source_file="搬迁.xlsx", sheet="搬迁户")]
    warehouse = small_warehouse(tmp_path, {("staging", "stg_disbursements"): payments,
                                           ("staging", "stg_household_payments"): roster})
    compliance = pd.DataFrame([PROJECT | {"spent": 1_150_000.0}])
    findings = evaluate_rule("WITHIN-BUDGET", [PROJECT | {"spent": 1_150_000.0}])
    out = budget_breaking_rows(warehouse, findings, compliance.assign(row_key="test:Sheet1:5"))
    rows = out[out["level"] == "row"].sort_values("row_number")
    assert rows["row_number"].tolist() == [7, 9] and set(rows["group_key"]) == {"项目 HN2016-001"}
    assert (out["level"] == "project").sum() == 1
    # The payment's own amount is shown in its sheet's unit (万元 here): what it is compared with says 元.
    assert rows["value"].tolist() == ["200000.0", "50000.0"]
    assert rows["expected"].tolist() == ["项目累计支出(含本笔,1,100,000.00元)应不超过项目资金规模1,000,000.00元",
                                         "项目累计支出(含本笔,1,150,000.00元)应不超过项目资金规模1,000,000.00元"]
