"""DIRECT-PAY — 雨露计划直补到户制."""

from fund_pipeline_tests.rules.harness import POOR_ID, evaluate_rule, failing_rows, rule_clause

ROW = {"fiscal_year": 2016, "household_id": POOR_ID, "head_name": "王建国", "township": "会师镇", "village": "南什村",
       "subsidy_item": "雨露计划职业教育补助", "period": "201603", "amount": 1500.0}


def test_clause_is_quoted():
    assert rule_clause("DIRECT-PAY") == "雨露计划直补到户制"


def test_paid_to_head_of_household_passes_and_other_programs_are_not_checked():
    rows = [ROW | {"program": "雨露计划", "payee_name": "王建国"},
            ROW | {"program": "危房改造", "payee_name": "会宁县某建筑公司", "period": None}]
    assert evaluate_rule("DIRECT-PAY", rows).empty


def test_paid_to_a_school_fails():
    rows = [ROW | {"program": "雨露计划", "payee_name": "王建国"},
            ROW | {"program": "雨露计划", "payee_name": "会宁县职业中等专业学校", "period": "201609"}]
    findings = evaluate_rule("DIRECT-PAY", rows)
    assert failing_rows(findings) == [6]
    assert findings["value"].tolist() == ["会宁县职业中等专业学校"]
