"""WITHIN-RECEIPTS — data integrity: allocations to projects stay within the channel's receipts."""

from fund_pipeline_tests.rules.harness import evaluate_rule, failing_rows, rule_clause


def test_integrity_rule_has_no_clause():
    assert rule_clause("WITHIN-RECEIPTS") is None


def test_budgets_within_receipts_pass():
    rows = [{"fiscal_year": 2016, "channel_name": "林业补助资金", "received": 100.0, "budgeted": 100.0}]
    assert evaluate_rule("WITHIN-RECEIPTS", rows).empty


def test_budgets_above_receipts_fail():
    rows = [{"fiscal_year": 2016, "channel_name": "林业补助资金", "received": 100.0, "budgeted": 90.0},
            {"fiscal_year": 2016, "channel_name": "农村综合改革转移支付", "received": 100.0, "budgeted": 120.0}]
    findings = evaluate_rule("WITHIN-RECEIPTS", rows)
    assert failing_rows(findings) == [6]
    assert findings["value"].tolist() == ["农村综合改革转移支付"]
