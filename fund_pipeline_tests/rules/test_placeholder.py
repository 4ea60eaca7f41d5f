"""PLACEHOLDER — data integrity: 待定, 无, 暂无, 不详, 空, —, -, /, N/A (and 0 for an identifier) in a required or
real-name field are missing values; the list lives in the catalogue (`missing_values`)."""

import pytest

from fund_pipeline.rules.catalogue import load_catalogue
from fund_pipeline_tests.rules.harness import POOR_ID, evaluate_rule, failing_rows, rule_clause

PAYMENT = {"fiscal_year": 2016, "program": "易地搬迁", "household_id": POOR_ID, "head_name": "王建国", "township": "会师镇",
           "village": "南什村", "subsidy_item": "易地扶贫搬迁建房补助", "amount": 32000.0, "voucher": "无"}
PROJECT = {"fiscal_year": 2016, "project_code": "HN2016-001", "project_name": "道路项目", "category": "基础设施",
           "township": "会师镇", "budget": 1e6, "channel_name": "财政专项扶贫资金", "implementing_unit": "会宁县交通运输局",
           "responsible_person": "王建国", "performance_target": "受益贫困户100户", "content": "无"}


def test_integrity_rule_has_no_clause():
    assert rule_clause("PLACEHOLDER") is None


def test_the_list_lives_in_the_catalogue():
    missing = load_catalogue().missing_values
    assert {"待定", "无", "暂无", "不详", "空", "—", "-", "/", "N/A"} <= set(missing.placeholders)
    assert "0" in missing.identifier_placeholders and "household_id" in missing.identifier_fields


@pytest.mark.parametrize("placeholder", ["待定", "无", "暂无", "不详", "空", "—", "-", "/", "N/A", "n/a", " 待定 "])
def test_each_placeholder_in_a_real_name_field_fails(placeholder):
    findings = evaluate_rule("PLACEHOLDER", [PAYMENT, PAYMENT | {"head_name": placeholder}], target="household_payments")
    assert failing_rows(findings) == [6]
    assert findings["value"].iloc[0].startswith("户主姓名=")


def test_zero_is_a_placeholder_for_identifiers_only():
    rows = [PAYMENT | {"household_id": "0"}, PAYMENT | {"village": "—"}, PAYMENT | {"head_name": "王无"},
            PAYMENT | {"amount": 0.0}]
    findings = evaluate_rule("PLACEHOLDER", rows, target="household_payments")
    assert failing_rows(findings) == [5, 6]


def test_optional_fields_may_say_无():
    """无 is a real answer in an optional field (抵押物 无, 凭证号 无, 建设内容 无): only required and real-name
    fields (and those a rule requires, such as 责任人) are read."""
    assert evaluate_rule("PLACEHOLDER", [PAYMENT], target="household_payments").empty
    assert evaluate_rule("PLACEHOLDER", [PROJECT], target="projects").empty
    findings = evaluate_rule("PLACEHOLDER", [PROJECT | {"responsible_person": "待定"}], target="projects")
    assert findings["value"].tolist() == ["责任人=待定"]
