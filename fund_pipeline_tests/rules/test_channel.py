"""CHANNEL — 按照渠道不乱、用途不变的原则."""

from fund_pipeline_tests.rules.harness import evaluate_rule, failing_rows, rule_clause

ROW = {"fiscal_year": 2016, "project_code": "HN2016-001", "township": "会师镇", "village": "南什村",
       "amount": 1000.0, "pay_date": "2016-05-01"}


def test_clause_is_quoted():
    assert rule_clause("CHANNEL") == "按照渠道不乱、用途不变的原则"


OTHER_PROJECT = {"project_code": "HN2016-099"}  # not in the library: only channel → purpose can be checked


def test_purpose_allowed_by_channel_and_the_projects_allocation_pass():
    rows = [ROW | {"channel_name": "财政专项扶贫资金", "purpose": "道路"},
            ROW | OTHER_PROJECT | {"channel_name": "车辆购置税收入补助地方用于一般公路建设项目资金", "purpose": "道路"}]
    assert evaluate_rule("CHANNEL", rows).empty


def test_purpose_outside_channel_fails():
    rows = [ROW | OTHER_PROJECT | {"channel_name": "车辆购置税收入补助地方用于一般公路建设项目资金", "purpose": "道路"},
            ROW | OTHER_PROJECT | {"channel_name": "车辆购置税收入补助地方用于一般公路建设项目资金", "purpose": "暖棚养殖"},
            ROW | OTHER_PROJECT | {"channel_name": "不存在的渠道", "purpose": "道路"}]
    findings = evaluate_rule("CHANNEL", rows)
    assert failing_rows(findings) == [6, 7]
    assert findings["value"].tolist() == ["暖棚养殖", "道路"]


def test_payment_from_a_channel_other_than_its_projects_allocation_fails():
    """渠道不乱 across sources: HN2016-001 was allocated from 财政专项扶贫资金; a payment for it from another
    channel that happens to allow roads still breaks the rule, and so does a changed purpose."""
    rows = [ROW | {"channel_name": "财政专项扶贫资金", "purpose": "道路"},
            ROW | {"channel_name": "车辆购置税收入补助地方用于一般公路建设项目资金", "purpose": "道路"},
            ROW | {"channel_name": "财政专项扶贫资金", "purpose": "水利"}]
    findings = evaluate_rule("CHANNEL", rows)
    assert failing_rows(findings) == [6, 7]
    assert set(findings["group_key"]) == {"项目 HN2016-001"}


def test_household_payment_against_its_projects_channel():
    row = {"fiscal_year": 2016, "program": "雨露计划", "household_id": "620422194001010010", "head_name": "王建国",
           "township": "会师镇", "village": "南什村", "subsidy_item": "雨露计划职业教育补助", "amount": 1500.0,
           "project_code": "HN2016-002"}
    rows = [row | {"channel_name": "林业补助资金"}, row | {"channel_name": "财政专项扶贫资金"}]
    assert failing_rows(evaluate_rule("CHANNEL", rows, target="household_payments")) == [6]
