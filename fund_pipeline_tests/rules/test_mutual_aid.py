"""MUTUAL-AID — 确保每个贫困村互助资金规模达到50万元 (by 2017), 实现行政村互助资金协会全覆盖."""

import pytest

from fund_pipeline_tests.rules.harness import evaluate_rule, failing_rows, rule_clause

ROW = {"township": "会师镇", "has_association": True}


def test_clause_is_quoted():
    assert rule_clause("MUTUAL-AID") == "确保每个贫困村互助资金规模达到50万元……实现行政村互助资金协会全覆盖"


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


def test_a_villages_rows_are_summed_before_comparing_and_every_row_is_listed():
    """Two rows (or files) for one poor village: 300,000 + 250,000 reaches 500,000; 200,000 + 250,000 does not."""
    rows = [ROW | {"fiscal_year": 2017, "village": "南什村", "fund_size": 300_000.0},
            ROW | {"fiscal_year": 2017, "village": "南什村", "fund_size": 250_000.0, "source_file": "补报.xlsx"},
            ROW | {"fiscal_year": 2017, "village": "西岩村", "fund_size": 200_000.0},
            ROW | {"fiscal_year": 2017, "village": "西岩村", "fund_size": 250_000.0}]
    findings = evaluate_rule("MUTUAL-AID", rows)
    assert failing_rows(findings) == [7, 8] and findings["group_key"].nunique() == 1


@pytest.mark.parametrize("second, fails", [(199_999.0, True), (200_000.0, False), (200_001.0, False)])
def test_boundary_达到50万元_includes_500000(second, fails):
    rows = [ROW | {"fiscal_year": 2017, "village": "南什村", "fund_size": 300_000.0},
            ROW | {"fiscal_year": 2017, "village": "南什村", "fund_size": second}]
    assert (not evaluate_rule("MUTUAL-AID", rows).empty) == fails
