"""TARGETED — 确保国家和省上财政扶贫专项资金精准安排到贫困村、贫困户."""

from fund_pipeline_tests.rules.harness import OTHER_ID, POOR_ID, evaluate_rule, failing_rows, rule_clause

ROW = {"fiscal_year": 2016, "project_code": "HN2016-001", "township": "会师镇", "purpose": "道路",
       "amount": 1000.0, "pay_date": "2016-05-01"}


def test_clause_is_quoted():
    assert rule_clause("TARGETED") == "确保国家和省上财政扶贫专项资金精准安排到贫困村、贫困户"


def test_special_fund_in_poor_village_passes_and_other_funds_may_go_anywhere():
    rows = [ROW | {"channel_name": "财政专项扶贫资金", "village": "南什村"},
            ROW | {"channel_name": "农业综合开发补助资金", "village": "南咀村"}]
    assert evaluate_rule("TARGETED", rows).empty


def test_special_fund_in_non_poor_village_fails():
    rows = [ROW | {"channel_name": "财政专项扶贫资金", "village": "南什村"},
            ROW | {"channel_name": "财政专项扶贫资金", "village": "南咀村"}]
    findings = evaluate_rule("TARGETED", rows)
    assert failing_rows(findings) == [6]
    assert findings["value"].tolist() == ["南咀村"]


HOUSEHOLD = {"fiscal_year": 2016, "program": "易地搬迁", "head_name": "王建国", "township": "会师镇", "village": "南什村",
             "subsidy_item": "易地扶贫搬迁建房补助", "amount": 32000.0}


def test_special_fund_paid_to_a_household_outside_the_poor_register_fails():
    rows = [HOUSEHOLD | {"household_id": POOR_ID, "channel_name": "财政专项扶贫资金"},
            HOUSEHOLD | {"household_id": OTHER_ID, "channel_name": "财政专项扶贫资金"},
            HOUSEHOLD | {"household_id": OTHER_ID, "channel_name": "农村危房改造补助资金", "program": "危房改造"}]
    assert failing_rows(evaluate_rule("TARGETED", rows, target="household_payments")) == [6]
