"""TARGETED — 确保国家和省上财政扶贫专项资金精准安排到贫困村、贫困户."""

from fund_pipeline_tests.rules.harness import evaluate_rule, failing_rows, rule_clause

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
