"""TOWNSHIP-KNOWN — data integrity: the township is one of the county's 28 (aliases resolved)."""

from fund_pipeline.reference import normalise_townships
from fund_pipeline_tests.rules.harness import evaluate_rule, failing_rows, rule_clause

ROW = {"fiscal_year": 2016, "project_code": "HN2016-001", "village": "南什村", "channel_name": "农业综合开发补助资金",
       "purpose": "道路", "amount": 10.0, "pay_date": "2016-05-01"}


def _rows(names):
    import pandas as pd

    official, codes = normalise_townships(pd.Series(names))
    return [ROW | {"township": t, "township_code": c} for t, c in zip(official, codes, strict=True)]


def test_integrity_rule_has_no_clause():
    assert rule_clause("TOWNSHIP-KNOWN") is None


def test_official_names_and_aliases_pass():
    assert evaluate_rule("TOWNSHIP-KNOWN", _rows(["会师镇", "汉岔", "新庄乡", "党家岘乡"])).empty


def test_unknown_township_fails():
    findings = evaluate_rule("TOWNSHIP-KNOWN", _rows(["会师镇", "靖远镇"]))
    assert failing_rows(findings) == [6]
    assert findings["value"].tolist() == ["靖远镇"]
