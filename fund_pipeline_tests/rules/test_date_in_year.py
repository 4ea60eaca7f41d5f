"""DATE-IN-YEAR — data integrity: a payment date lies inside its fiscal year."""

from fund_pipeline_tests.rules.harness import evaluate_rule, failing_rows, rule_clause

ROW = {"fiscal_year": 2016, "project_code": "HN2016-001", "township": "会师镇", "village": "南什村",
       "channel_name": "农业综合开发补助资金", "purpose": "道路", "amount": 10.0}


def test_integrity_rule_has_no_clause():
    assert rule_clause("DATE-IN-YEAR") is None


def test_dates_inside_the_year_pass():
    assert evaluate_rule("DATE-IN-YEAR", [ROW | {"pay_date": "2016-01-01"}, ROW | {"pay_date": "2016-12-31"}]).empty


def test_date_in_another_year_fails():
    findings = evaluate_rule("DATE-IN-YEAR", [ROW | {"pay_date": "2016-06-01"}, ROW | {"pay_date": "2017-02-03"}])
    assert failing_rows(findings) == [6]
