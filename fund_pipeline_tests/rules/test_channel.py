"""CHANNEL — 按照渠道不乱、用途不变的原则."""

from fund_pipeline_tests.rules.harness import evaluate_rule, failing_rows, rule_clause

ROW = {"fiscal_year": 2016, "project_code": "HN2016-001", "township": "会师镇", "village": "南什村",
       "amount": 1000.0, "pay_date": "2016-05-01"}


def test_clause_is_quoted():
    assert rule_clause("CHANNEL") == "按照渠道不乱、用途不变的原则"


def test_purpose_allowed_by_channel_passes():
    rows = [ROW | {"channel_name": "车辆购置税收入补助地方用于一般公路建设项目资金", "purpose": "道路"}]
    assert evaluate_rule("CHANNEL", rows).empty


def test_purpose_outside_channel_fails():
    rows = [ROW | {"channel_name": "车辆购置税收入补助地方用于一般公路建设项目资金", "purpose": "道路"},
            ROW | {"channel_name": "车辆购置税收入补助地方用于一般公路建设项目资金", "purpose": "暖棚养殖"},
            ROW | {"channel_name": "不存在的渠道", "purpose": "道路"}]
    findings = evaluate_rule("CHANNEL", rows)
    assert failing_rows(findings) == [6, 7]
    assert findings["value"].tolist() == ["暖棚养殖", "道路"]
