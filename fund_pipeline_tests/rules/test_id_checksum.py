"""ID-CHECKSUM — data integrity: a valid 18-digit resident ID (GB 11643 check digit); no policy clause."""

from fund_pipeline_tests.rules.harness import POOR_ID, evaluate_rule, failing_rows, rule_clause

ROW = {"fiscal_year": 2016, "program": "惠农补贴", "head_name": "王建国", "township": "会师镇", "village": "南什村",
       "subsidy_item": "耕地地力保护补贴", "period": "201606", "amount": 95.0}


def test_integrity_rule_has_no_clause():
    assert rule_clause("ID-CHECKSUM") is None


def test_valid_and_masked_ids_pass():
    rows = [ROW | {"household_id": POOR_ID}, ROW | {"household_id": "6204**********0010", "period": "201607"}]
    assert evaluate_rule("ID-CHECKSUM", rows).empty


def test_wrong_check_digit_and_impossible_birth_date_fail():
    rows = [ROW | {"household_id": POOR_ID},
            ROW | {"household_id": POOR_ID[:17] + "5", "period": "201607"},
            ROW | {"household_id": "620422194002300011", "period": "201608"}]
    findings = evaluate_rule("ID-CHECKSUM", rows)
    assert failing_rows(findings) == [6, 7]
