"""PROJECT-KNOWN — data integrity: every disbursement belongs to a project in the project library."""

from fund_pipeline_tests.rules.harness import evaluate_rule, failing_rows, rule_clause

ROW = {"fiscal_year": 2016, "township": "会师镇", "village": "南什村", "channel_name": "农业综合开发补助资金",
       "purpose": "道路", "amount": 10.0, "pay_date": "2016-05-01"}


def test_integrity_rule_has_no_clause():
    assert rule_clause("PROJECT-KNOWN") is None


def test_project_in_the_library_passes():
    assert evaluate_rule("PROJECT-KNOWN", [ROW | {"project_code": "HN2016-001"}]).empty


def test_unknown_project_fails():
    findings = evaluate_rule("PROJECT-KNOWN", [ROW | {"project_code": "HN2016-001"}, ROW | {"project_code": "HN2016-999"}])
    assert failing_rows(findings) == [6]
    assert findings["value"].tolist() == ["HN2016-999"]
