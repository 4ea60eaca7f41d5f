"""HOUSING — 每年实施危房改造5000户,其中贫困户4000户."""

from fund_pipeline.pipeline.aggregate import attribute
from fund_pipeline.report.present import reader_findings
from fund_pipeline_tests.rules.harness import evaluate_rule, failing_rows, rule_clause, small_warehouse


def test_clause_is_quoted():
    assert rule_clause("HOUSING") == "每年实施危房改造5000户,其中贫困户4000户"


def test_targets_met_pass():
    rows = [{"fiscal_year": 2016, "housing_households": 5000, "housing_poor_households": 4000}]
    assert evaluate_rule("HOUSING", rows).empty


def test_too_few_dwellings_or_too_few_poor_households_fail_once_per_year():
    rows = [{"fiscal_year": 2015, "housing_households": 5200, "housing_poor_households": 3999},
            {"fiscal_year": 2016, "housing_households": 4000, "housing_poor_households": 3500},
            {"fiscal_year": 2017, "housing_households": 5100, "housing_poor_households": 4100}]
    findings = evaluate_rule("HOUSING", rows)
    assert failing_rows(findings) == [5, 6]
    assert set(findings["severity"]) == {"warning"}


def test_a_failing_year_names_the_housing_rosters_not_the_finance_bureaus_row(tmp_path):
    """The county-year row the measure sits on is joined to the finance bureau's row for the year; the houses
    are counted from the housing rosters, so the finding names those and no file, sheet or row of its own."""
    rows = [{"fiscal_year": 2016, "housing_households": 2, "housing_poor_households": 1,
             "source": "finance_fiscal", "source_file": "财政局/会宁县财政扶贫投入情况表.xlsx", "sheet": "扶贫投入",
             "row_number": 5, "row_key": "f:5"}]
    roster = [{"fiscal_year": 2016, "program": "危房改造", "is_quarantined": False, "department": "会宁县住房和城乡建设局",
               "source_file": "住建局/2016年危房改造补助发放表.xlsx", "sheet": "发放表", "row_number": row}
              for row in (4, 5)]
    warehouse = small_warehouse(tmp_path, {("staging", "stg_household_payments"): roster})
    findings = evaluate_rule("HOUSING", rows)
    findings["department"] = "会宁县财政局"  # as the fiscal row's lineage would have it
    out = attribute(warehouse, findings)
    assert out[["source", "source_file", "sheet", "row_number", "row_key"]].isna().all().all()
    assert out["department"].tolist() == ["会宁县住房和城乡建设局"]
    assert "住建局/2016年危房改造补助发放表.xlsx/发放表" in out["attribution"].iloc[0]
    shown = reader_findings(out.assign(finding_key="k"), titles={"HOUSING": "危房改造"})
    assert shown["file_name"].isna().all() and shown["department"].tolist() == ["会宁县住房和城乡建设局"]
    assert shown["column_header"].iloc[0] in ("危房改造户数(计算值,户)", "其中贫困户户数(计算值,户)")
