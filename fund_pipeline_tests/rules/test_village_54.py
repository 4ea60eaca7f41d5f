"""VILLAGE-54 — 整合资金到贫困村的比例达到54%."""

import pandas as pd

from fund_pipeline.pipeline.aggregate import attribute, note_differing_verdicts
from fund_pipeline.rules.catalogue import load_catalogue
from fund_pipeline_tests.rules.harness import (
    evaluate_county_years,
    evaluate_rule,
    failing_rows,
    rule_clause,
    small_warehouse,
)


def test_clause_is_quoted():
    assert rule_clause("VILLAGE-54") == "整合资金到贫困村的比例达到54%"


def test_measure_meeting_the_threshold_passes():
    assert evaluate_county_years("VILLAGE-54", "poor_village_share", {2015: 0.54, 2016: 0.54}).empty


def test_measure_missing_the_threshold_fails_for_that_year():
    findings = evaluate_county_years("VILLAGE-54", "poor_village_share", {2015: 0.54, 2016: 0.53})
    assert failing_rows(findings) == [6] and findings["fiscal_year"].tolist() == [2016]
    assert findings["severity"].tolist() == ["error"]


def test_the_share_with_quarantined_money_is_checked_and_a_differing_verdict_is_said():
    """Published rows reach 54%; with a quarantined payment outside poor villages counted, the share does not."""
    rows = [{"fiscal_year": 2016, "poor_village_share": 0.56, "poor_village_share_with_quarantined": 0.52},
            {"fiscal_year": 2017, "poor_village_share": 0.56, "poor_village_share_with_quarantined": 0.56}]
    findings = evaluate_rule("VILLAGE-54", rows)
    assert findings["fiscal_year"].tolist() == [2016]
    noted = note_differing_verdicts(findings, pd.DataFrame(rows), {"VILLAGE-54": load_catalogue().rule("VILLAGE-54")})
    assert "两种口径结论不同" in noted["message"].iloc[0] and "按已发布数据达标" in noted["message"].iloc[0]


def test_a_year_with_nothing_published_is_not_called_met():
    """Every row of the year was quarantined: the published share cannot be measured, and the finding says so
    instead of calling it met."""
    rows = [{"fiscal_year": 2018, "poor_village_share": None, "poor_village_share_with_quarantined": 0.30}]
    findings = evaluate_rule("VILLAGE-54", rows)
    assert findings["fiscal_year"].tolist() == [2018]
    message = note_differing_verdicts(findings, pd.DataFrame(rows),
                                      {"VILLAGE-54": load_catalogue().rule("VILLAGE-54")})["message"].iloc[0]
    assert "按已发布数据无数据可判断,计入被隔离行的资金后不达标" in message and "按已发布数据达标" not in message


def test_a_failing_year_names_the_files_and_rows_outside_poor_villages(tmp_path):
    flow = [{"fiscal_year": 2016, "is_poor_village": poor, "amount": amount, "poor_household_amount": 0.0,
             "department": department, "source_file": file, "sheet": "Sheet1", "row_number": row}
            for poor, amount, department, file, row in [
                (True, 500.0, "交通运输局", "交通.xlsx", 3), (False, 300.0, "水务局", "水利.xlsx", 5),
                (False, 100.0, "水务局", "水利.xlsx", 6), (False, 50.0, "农业农村局", "产业.xlsx", 4)]]
    warehouse = small_warehouse(tmp_path, {("marts", "fund_flow"): flow})
    findings = evaluate_county_years("VILLAGE-54", "poor_village_share", {2016: 500 / 950})
    out = attribute(warehouse, findings)
    assert out["department"].iloc[0] == "水务局、农业农村局"
    assert out["attribution"].iloc[0].startswith("不在贫困村的整合资金支出合计 450.00")
    assert "水利.xlsx/Sheet1 400.00(占88.9%):第5行 300.00、第6行 100.00" in out["attribution"].iloc[0]
