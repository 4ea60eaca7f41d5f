"""INFRA-USE — 重点用于贫困村改善道路、农田、水利、农电、生态等基本条件."""

from fund_pipeline_tests.rules.harness import evaluate_rule, failing_rows, rule_clause

ROW = {"fiscal_year": 2016, "project_code": "HN2016-001", "project_name": "道路项目", "township": "会师镇",
       "budget": 1e6, "channel_name": "财政专项扶贫资金"}


def test_clause_is_quoted():
    assert rule_clause("INFRA-USE") == "重点用于贫困村改善道路、农田、水利、农电、生态等基本条件"


def test_listed_infrastructure_and_other_categories_pass():
    rows = [ROW | {"category": "基础设施", "purpose": "农电"}, ROW | {"category": "产业发展", "purpose": "蔬菜"}]
    assert evaluate_rule("INFRA-USE", rows).empty


def test_infrastructure_outside_the_list_is_a_warning():
    rows = [ROW | {"category": "基础设施", "purpose": "道路"}, ROW | {"category": "基础设施", "purpose": "办公楼"}]
    findings = evaluate_rule("INFRA-USE", rows)
    assert failing_rows(findings) == [6]
    assert findings["severity"].tolist() == ["warning"]
