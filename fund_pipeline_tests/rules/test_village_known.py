"""VILLAGE-KNOWN — data integrity: village and township exist in the county register."""

from fund_pipeline_tests.rules.harness import evaluate_rule, failing_rows, rule_clause

ROW = {"fiscal_year": 2016, "project_code": "HN2016-001", "township": "会师镇", "channel_name": "农业综合开发补助资金",
       "purpose": "道路", "amount": 10.0, "pay_date": "2016-05-01"}


def test_integrity_rule_has_no_clause():
    assert rule_clause("VILLAGE-KNOWN") is None


def test_registered_village_passes():
    assert evaluate_rule("VILLAGE-KNOWN", [ROW | {"village": "南什村"}, ROW | {"village": "南咀村"}]).empty


def test_unknown_village_fails():
    findings = evaluate_rule("VILLAGE-KNOWN", [ROW | {"village": "南什村"}, ROW | {"village": "不存在村"}])
    assert failing_rows(findings) == [6]
    assert findings["value"].tolist() == ["不存在村"]
