"""DUPLICATE-PAYMENT — data integrity: no household paid twice for the same subsidy and period."""

from fund_pipeline_tests.rules.harness import POOR_ID, evaluate_rule, failing_rows, rule_clause

ROW = {"fiscal_year": 2016, "program": "惠农补贴", "household_id": POOR_ID, "head_name": "王建国", "township": "会师镇",
       "village": "南什村", "subsidy_item": "退耕还林补助", "amount": 60.0}


def test_integrity_rule_has_no_clause():
    assert rule_clause("DUPLICATE-PAYMENT") is None


def test_same_item_in_different_periods_passes():
    assert evaluate_rule("DUPLICATE-PAYMENT", [ROW | {"period": "201603"}, ROW | {"period": "201606"}]).empty


def test_same_item_same_period_fails_on_both_rows():
    rows = [ROW | {"period": "201603"}, ROW | {"period": "201606"}, ROW | {"period": "201603"}]
    assert failing_rows(evaluate_rule("DUPLICATE-PAYMENT", rows)) == [5, 7]
