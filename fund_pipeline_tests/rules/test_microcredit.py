"""MICROCREDIT — 5万元以内、3年以下、基准利率、免抵押、免担保的小额信贷."""

import pytest

from fund_pipeline_tests.rules.harness import (
    MORE_POOR_IDS,
    OTHER_ID,
    POOR_ID,
    evaluate_rule,
    failing_rows,
    rule_clause,
)

LOAN = {"fiscal_year": 2016, "township": "会师镇", "village": "南什村", "borrower_name": "王建国", "borrower_id": POOR_ID,
        "amount": 50_000.0, "term_months": 36, "interest_rate": 0.0435, "benchmark_rate": 0.0435,
        "guarantee": "免担保", "collateral": "无"}


def test_clause_is_quoted():
    assert rule_clause("MICROCREDIT") == "5万元以内、3年以下、基准利率、免抵押、免担保的小额信贷"


def test_loan_at_the_limits_passes():
    assert evaluate_rule("MICROCREDIT", [LOAN]).empty


def test_each_broken_condition_fails_and_a_row_breaking_several_is_one_finding():
    ids = [POOR_ID, *MORE_POOR_IDS]  # one household each: the household cap is tested below
    rows = [LOAN, LOAN | {"amount": 80_000.0, "term_months": 48}, LOAN | {"interest_rate": 0.06},
            LOAN | {"guarantee": "保证人担保"}, LOAN | {"collateral": "房产抵押"}]
    rows = [row | {"borrower_id": i} for row, i in zip(rows, ids, strict=True)]
    findings = evaluate_rule("MICROCREDIT", rows)
    assert failing_rows(findings) == [6, 7, 8, 9]


def test_borrower_outside_the_poor_register_fails():
    findings = evaluate_rule("MICROCREDIT", [LOAN, LOAN | {"borrower_id": OTHER_ID}])
    assert failing_rows(findings) == [6]


def _two_loans(first: float, second: float, second_date="2017-04-01", term=36) -> list[dict]:
    """One household, one loan from the 2016 ledger and one from the 2017 ledger (other files)."""
    return [LOAN | {"amount": first, "loan_date": "2016-05-01", "term_months": term},
            LOAN | {"fiscal_year": 2017, "amount": second, "loan_date": second_date, "source_file": "2017.xlsx"}]


def test_two_loans_outstanding_together_are_summed_per_household_and_both_are_listed():
    findings = evaluate_rule("MICROCREDIT", _two_loans(30_000.0, 30_000.0))
    assert failing_rows(findings) == [5, 6]
    assert findings["group_key"].nunique() == 1 and POOR_ID in findings["group_key"].iloc[0]


def test_a_repaid_loan_does_not_count():
    assert evaluate_rule("MICROCREDIT", _two_loans(30_000.0, 30_000.0, term=6)).empty


def test_other_households_loans_are_not_summed():
    rows = _two_loans(30_000.0, 30_000.0)
    rows[1]["borrower_id"] = MORE_POOR_IDS[0]
    assert evaluate_rule("MICROCREDIT", rows).empty


@pytest.mark.parametrize("second, fails", [(19_999.0, False), (20_000.0, False), (20_001.0, True)])
def test_boundary_5万元以内_includes_50000_summed(second, fails):
    assert (not evaluate_rule("MICROCREDIT", _two_loans(30_000.0, second)).empty) == fails


@pytest.mark.parametrize("months, fails", [(35, False), (36, False), (37, True)])
def test_boundary_3年以下_includes_36_months(months, fails):
    assert (not evaluate_rule("MICROCREDIT", [LOAN | {"term_months": months}]).empty) == fails
