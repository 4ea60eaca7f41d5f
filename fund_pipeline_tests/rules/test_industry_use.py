"""INDUSTRY-USE — 重点用于贫困户发展蔬菜、林果、中药材、标准化暖棚养殖等特色优势产业."""

from fund_pipeline_tests.rules.harness import evaluate_rule, failing_rows, rule_clause

ROW = {"fiscal_year": 2016, "project_code": "HN2016-001", "project_name": "产业项目", "township": "会师镇",
       "budget": 1e6, "channel_name": "现代农业生产发展资金"}


def test_clause_is_quoted():
    assert rule_clause("INDUSTRY-USE") == "重点用于贫困户发展蔬菜、林果、中药材、标准化暖棚养殖等特色优势产业"


def test_listed_industries_pass():
    rows = [ROW | {"category": "产业发展", "purpose": p} for p in ("蔬菜", "林果", "中药材", "暖棚养殖")]
    assert evaluate_rule("INDUSTRY-USE", rows).empty


def test_other_industry_is_a_warning():
    rows = [ROW | {"category": "产业发展", "purpose": "蔬菜"}, ROW | {"category": "产业发展", "purpose": "房地产"}]
    findings = evaluate_rule("INDUSTRY-USE", rows)
    assert failing_rows(findings) == [6]
    assert findings["severity"].tolist() == ["warning"]
