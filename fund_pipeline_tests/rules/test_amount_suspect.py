"""AMOUNT-SUSPECT — data integrity: an amount far outside its project's budget or its source's distribution (元 keyed
in a 万元 ledger, ×10,000; 万元 in a 元 sheet, ×0.0001; a misplaced decimal) is quarantined with its own rule."""

import pandas as pd
import pytest

from fund_pipeline.rules.catalogue import load_catalogue
from fund_pipeline.rules.derive import add_derived_columns
from fund_pipeline.sources.schemas import conform
from fund_pipeline_tests.rules.harness import REFS, evaluate_rule, failing_rows, rule_clause

PAYMENT = {"fiscal_year": 2016, "project_code": "HN2016-002", "township": "会师镇", "village": "南什村",
           "channel_name": "林业补助资金", "purpose": "林果", "pay_date": "2016-05-01"}  # HN2016-002: budget 500,000


def _ledger(*amounts: float) -> list[dict]:
    """A ledger of ordinary payments around 100,000 yuan, then the amounts under test."""
    ordinary = [90_000.0, 100_000.0, 110_000.0, 95_000.0, 105_000.0, 120_000.0]
    return [PAYMENT | {"amount": a} for a in [*ordinary, *amounts]]


def test_integrity_rule_has_no_clause():
    assert rule_clause("AMOUNT-SUSPECT") is None


def test_thresholds_are_data():
    assert set(load_catalogue().rule("AMOUNT-SUSPECT").thresholds) == {
        "max_budget_ratio", "min_budget_ratio", "max_median_ratio", "min_median_ratio", "min_group_rows",
        "max_repaired_median_ratio", "min_repaired_median_ratio"}


def test_ordinary_payments_pass():
    assert evaluate_rule("AMOUNT-SUSPECT", _ledger(400_000.0)).empty


@pytest.mark.parametrize("slip", [10_000, 0.0001, 100, 10])
def test_unit_slips_and_misplaced_decimals_fail(slip):
    findings = evaluate_rule("AMOUNT-SUSPECT", _ledger(120_000.0 * slip))
    assert failing_rows(findings) == [11]


def test_a_household_payment_far_from_its_items_distribution_fails():
    row = {"fiscal_year": 2016, "program": "惠农补贴", "household_id": "620422194001010010", "head_name": "王建国",
           "township": "会师镇", "village": "南什村", "subsidy_item": "耕地地力保护补贴"}
    rows = [row | {"amount": a} for a in (200.0, 400.0, 600.0, 800.0, 1000.0, 8_000_000.0, 0.06)]
    assert failing_rows(evaluate_rule("AMOUNT-SUSPECT", rows, target="household_payments")) == [10, 11]


def test_too_few_rows_to_judge_a_distribution_are_not_judged():
    row = {"fiscal_year": 2016, "township": "会师镇", "village": "南什村", "borrower_name": "王", "term_months": 36,
           "borrower_id": "620422194001010010", "interest_rate": 0.0435, "benchmark_rate": 0.0435}
    rows = [row | {"amount": a} for a in (30_000.0, 30_000.0, 300_000_000.0)]
    assert evaluate_rule("AMOUNT-SUSPECT", rows, target="loans").empty


@pytest.mark.parametrize("amount, fails", [(999_999.0, False), (1_000_000.0, False), (1_000_001.0, True)])
def test_boundary_more_than_twice_the_projects_budget(amount, fails):
    assert (not evaluate_rule("AMOUNT-SUSPECT", [PAYMENT | {"amount": amount}]).empty) == fails


@pytest.mark.parametrize("amount, fails", [(499.0, True), (500.0, False), (501.0, False)])
def test_boundary_under_a_thousandth_of_the_projects_budget(amount, fails):
    assert (not evaluate_rule("AMOUNT-SUSPECT", [PAYMENT | {"amount": amount}]).empty) == fails


def test_negative_amounts_are_left_to_amount_positive():
    assert evaluate_rule("AMOUNT-SUSPECT", _ledger(-100_000.0)).empty


@pytest.mark.parametrize("slip, repaired", [(10_000, 120_000.0), (0.0001, 120_000.0), (100, None), (10, None), (1, None)])
def test_only_a_plain_unit_slip_has_a_repaired_amount(slip, repaired):
    """×10,000 and ×0.0001 are the 万元/元 slip: the county-year measures count the row at amount ÷ or × 10,000.
    A misplaced decimal has no single repair (÷10,000 leaves it far below its ledger's median), and a sound amount
    needs none."""
    rows = pd.DataFrame(_ledger(120_000.0 * slip)).assign(source="test_source", row_key=[str(i) for i in range(7)])
    derived = add_derived_columns("disbursements", conform("disbursements", rows), REFS)
    assert derived["unit_slip_amount"].iloc[:6].isna().all()
    last = derived["unit_slip_amount"].iloc[-1]
    assert (pd.isna(last) if repaired is None else last == pytest.approx(repaired))


@pytest.mark.parametrize("median_ratio, repaired", [(20 * 10_000 - 1, True), (20 * 10_000, True), (20 * 10_000 + 1, False),
                                                    (0.05 * 10_000 - 1, False), (0.05 * 10_000, True)])
def test_boundary_of_the_repaired_band(median_ratio, repaired):
    """The repaired amount must lie within 0.05 to 20 times its ledger's median, both included (不低于/不超过)."""
    from fund_pipeline.rules.derive import _unit_slip_amount

    frame = pd.DataFrame({"median_ratio": [float(median_ratio)]}, dtype="Float64")
    result = _unit_slip_amount(pd.Series([float(median_ratio)], dtype="Float64"), frame)
    assert result.notna().iloc[0] == repaired
