"""PUBLICITY — 落实扶贫资金项目公示公告制度."""

from fund_pipeline_tests.rules.harness import evaluate_rule, failing_rows, rule_clause

ROW = {"fiscal_year": 2016, "project_code": "HN2016-001", "project_name": "南什村道路项目", "category": "基础设施",
       "township": "会师镇", "budget": 1e6, "channel_name": "财政专项扶贫资金"}


def test_clause_is_quoted():
    assert rule_clause("PUBLICITY") == "落实扶贫资金项目公示公告制度"


def test_project_publicised_long_enough_passes():
    rows = [ROW | {"publicity_start": "2016-01-05", "publicity_end": "2016-01-11"}]  # 7 days inclusive
    assert evaluate_rule("PUBLICITY", rows).empty


def test_missing_or_short_publicity_fails_once_per_project():
    rows = [ROW | {"publicity_start": "2016-01-05", "publicity_end": "2016-01-20"},
            ROW | {"publicity_start": "2016-01-05", "publicity_end": "2016-01-08"},
            ROW | {"publicity_start": None, "publicity_end": None}]
    findings = evaluate_rule("PUBLICITY", rows)
    assert failing_rows(findings) == [6, 7]


def test_money_paid_before_the_publicity_ended_fails():
    rows = [{"fiscal_year": 2016, "project_code": "HN2016-001", "first_payment_date": "2016-03-01", "paid_after_publicity": True},
            {"fiscal_year": 2016, "project_code": "HN2016-002", "first_payment_date": "2016-01-09", "paid_after_publicity": False}]
    assert failing_rows(evaluate_rule("PUBLICITY", rows, target="project_compliance")) == [6]
