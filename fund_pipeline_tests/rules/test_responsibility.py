"""RESPONSIBILITY — 扶贫项目建设质量责任终身追究制 (and 跟踪问效: performance targets)."""

from fund_pipeline_tests.rules.harness import evaluate_rule, failing_rows, rule_clause

ROW = {"fiscal_year": 2016, "project_code": "HN2016-001", "project_name": "道路项目", "category": "基础设施",
       "township": "会师镇", "budget": 1e6, "channel_name": "财政专项扶贫资金", "implementing_unit": "会宁县交通运输局",
       "responsible_person": "王建国", "performance_target": "受益贫困户100户"}


def test_clause_is_quoted():
    assert rule_clause("RESPONSIBILITY") == "实行扶贫项目建设质量责任终身追究制,建立扶贫项目资金的跟踪问效制度"


def test_project_with_unit_person_and_targets_passes():
    assert evaluate_rule("RESPONSIBILITY", [ROW]).empty


def test_project_missing_any_of_them_fails():
    rows = [ROW, ROW | {"implementing_unit": None}, ROW | {"responsible_person": None}, ROW | {"performance_target": None}]
    assert failing_rows(evaluate_rule("RESPONSIBILITY", rows)) == [6, 7, 8]


def test_a_placeholder_is_no_responsible_person():
    rows = [ROW, ROW | {"responsible_person": "待定"}, ROW | {"implementing_unit": "—"},
            ROW | {"performance_target": "暂无"}, ROW | {"responsible_person": "待定人"}]
    assert failing_rows(evaluate_rule("RESPONSIBILITY", rows)) == [6, 7, 8]
