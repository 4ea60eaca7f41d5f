"""VILLAGE-DOCTOR — 服务人口在1000人以下的贫困村卫生室执业医生,定额补助由每月200元增加到400元 (from 2016)."""

import pandas as pd
import pytest

from fund_pipeline.rules.derive import References
from fund_pipeline_tests.rules.harness import VILLAGES, evaluate_rule, failing_rows, rule_clause

ROW = {"township": "会师镇", "doctor_name": "李医生", "period": "201603"}
SMALL_POOR, LARGE_POOR = "西岩村", "南什村"  # 850 and 2,400 people


def test_clause_is_quoted():
    assert rule_clause("VILLAGE-DOCTOR") == "服务人口在1000人以下的贫困村卫生室执业医生,定额补助由每月200元增加到400元"


def test_standard_by_year_passes_and_larger_villages_are_not_checked():
    rows = [ROW | {"fiscal_year": 2015, "village": SMALL_POOR, "amount": 200.0},
            ROW | {"fiscal_year": 2016, "village": SMALL_POOR, "amount": 400.0},
            ROW | {"fiscal_year": 2016, "village": LARGE_POOR, "amount": 200.0}]
    assert evaluate_rule("VILLAGE-DOCTOR", rows).empty


def test_old_rate_after_2016_fails():
    rows = [ROW | {"fiscal_year": 2016, "village": SMALL_POOR, "amount": 400.0},
            ROW | {"fiscal_year": 2017, "village": SMALL_POOR, "amount": 200.0}]
    findings = evaluate_rule("VILLAGE-DOCTOR", rows)
    assert failing_rows(findings) == [6]
    assert findings["fiscal_year"].tolist() == [2017]


@pytest.mark.parametrize("population, checked", [(999, True), (1000, True), (1001, False)])
def test_boundary_1000人以下_includes_a_village_of_1000(population, checked):
    villages = VILLAGES.assign(population=pd.Series([2400, 1800, population]))
    refs = References(villages=villages, poor_household_ids=frozenset())
    findings = evaluate_rule("VILLAGE-DOCTOR", [ROW | {"fiscal_year": 2016, "village": SMALL_POOR, "amount": 200.0}], refs)
    assert (not findings.empty) == checked
