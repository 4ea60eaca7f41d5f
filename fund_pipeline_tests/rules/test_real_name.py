"""REAL-NAME — 严格落实扶贫搬迁实名制."""

from fund_pipeline_tests.rules.harness import POOR_ID, evaluate_rule, failing_rows, rule_clause

ROW = {"fiscal_year": 2016, "program": "易地搬迁", "township": "会师镇", "village": "南什村",
       "subsidy_item": "易地扶贫搬迁建房补助", "amount": 32000.0}


def test_clause_is_quoted():
    assert rule_clause("REAL-NAME") == "严格落实扶贫搬迁实名制"


def test_named_household_with_valid_id_passes():
    assert evaluate_rule("REAL-NAME", [ROW | {"household_id": POOR_ID, "head_name": "王建国", "household_size": 4}]).empty


def test_masked_id_missing_name_or_size_fail():
    rows = [ROW | {"household_id": POOR_ID, "head_name": "王建国", "household_size": 4},
            ROW | {"household_id": "6204**********0010", "head_name": "王建国", "household_size": 4},
            ROW | {"household_id": POOR_ID, "head_name": None, "household_size": 4},
            ROW | {"household_id": POOR_ID, "head_name": "王建国", "household_size": None}]
    assert failing_rows(evaluate_rule("REAL-NAME", rows)) == [6, 7, 8]


def test_a_placeholder_head_name_or_an_id_of_0_is_no_real_name():
    rows = [ROW | {"household_id": POOR_ID, "head_name": "王建国", "household_size": 4},
            ROW | {"household_id": POOR_ID, "head_name": "—", "household_size": 4},
            ROW | {"household_id": "0", "head_name": "王建国", "household_size": 4},
            ROW | {"household_id": POOR_ID, "head_name": " 不详 ", "household_size": 4}]
    assert failing_rows(evaluate_rule("REAL-NAME", rows)) == [6, 7, 8]
