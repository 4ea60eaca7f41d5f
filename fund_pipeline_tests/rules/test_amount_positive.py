"""AMOUNT-POSITIVE — data integrity: amounts are positive; no policy clause."""

from fund_pipeline_tests.rules.harness import evaluate_rule, failing_rows, rule_clause

ROW = {"fiscal_year": 2016, "project_code": "HN2016-001", "township": "会师镇", "village": "南什村",
       "channel_name": "财政专项扶贫资金", "purpose": "道路", "pay_date": "2016-05-01"}


def test_integrity_rule_has_no_clause():
    assert rule_clause("AMOUNT-POSITIVE") is None


def test_positive_amount_passes():
    assert evaluate_rule("AMOUNT-POSITIVE", [ROW | {"amount": 0.01}]).empty


def test_zero_and_negative_amounts_fail():
    findings = evaluate_rule("AMOUNT-POSITIVE", [ROW | {"amount": 5.0}, ROW | {"amount": 0.0}, ROW | {"amount": -3.0}])
    assert failing_rows(findings) == [6, 7]
