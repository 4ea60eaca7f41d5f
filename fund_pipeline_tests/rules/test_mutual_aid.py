"""MUTUAL-AID — 确保每个贫困村互助资金规模达到50万元 (by 2017), 实现行政村互助资金协会全覆盖."""

from fund_pipeline_tests.rules.harness import evaluate_rule, failing_rows, rule_clause

ROW = {"township": "会师镇", "has_association": True}


def test_clause_is_quoted():
    assert rule_clause("MUTUAL-AID") == "确保每个贫困村互助资金规模达到50万元"


def test_poor_village_with_500000_and_non_poor_village_with_less_pass():
    rows = [ROW | {"fiscal_year": 2017, "village": "南什村", "fund_size": 500_000.0},
            ROW | {"fiscal_year": 2017, "village": "南咀村", "fund_size": 120_000.0}]
    assert evaluate_rule("MUTUAL-AID", rows).empty


def test_small_fund_is_a_warning_before_2017_and_an_error_from_2017():
    rows = [ROW | {"fiscal_year": 2016, "village": "南什村", "fund_size": 400_000.0},
            ROW | {"fiscal_year": 2017, "village": "南什村", "fund_size": 450_000.0},
            ROW | {"fiscal_year": 2017, "village": "南咀村", "fund_size": 120_000.0, "has_association": False}]
    findings = evaluate_rule("MUTUAL-AID", rows)
    assert failing_rows(findings) == [5, 6, 7]
    assert findings.sort_values("row_number")["severity"].tolist() == ["warning", "error", "error"]
