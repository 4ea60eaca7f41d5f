"""FISCAL-20 — 严格落实县级财政当年新增财力20%用于精准扶贫."""

from fund_pipeline_tests.rules.harness import evaluate_rule, failing_rows, rule_clause


def test_clause_is_quoted():
    assert rule_clause("FISCAL-20") == "严格落实县级财政当年新增财力20%用于精准扶贫"


def test_share_at_or_above_20_percent_passes():
    rows = [{"fiscal_year": 2015, "fiscal_poverty_share": 0.20}, {"fiscal_year": 2016, "fiscal_poverty_share": 0.31}]
    assert evaluate_rule("FISCAL-20", rows).empty


def test_share_below_20_percent_fails_for_that_year():
    rows = [{"fiscal_year": 2015, "fiscal_poverty_share": 0.25}, {"fiscal_year": 2016, "fiscal_poverty_share": 0.18}]
    findings = evaluate_rule("FISCAL-20", rows)
    assert failing_rows(findings) == [6]
    assert findings["fiscal_year"].tolist() == [2016]
    assert findings["severity"].tolist() == ["error"]


def test_the_finding_keeps_the_finance_bureaus_row_and_shows_the_share_in_percent(tmp_path):
    """The share is computed from the finance bureau's row for the year: the finding points at that row, and
    its column is the computed share, shown in %."""
    from fund_pipeline.pipeline.aggregate import attribute
    from fund_pipeline.report.present import reader_findings
    from fund_pipeline_tests.rules.harness import small_warehouse

    fiscal = [{"fiscal_year": 2016, "is_quarantined": False, "poverty_allocation": 900.0, "department": "会宁县财政局",
               "source_file": "财政局/会宁县财政扶贫投入情况表.xlsx", "sheet": "扶贫投入", "row_number": 6}]
    warehouse = small_warehouse(tmp_path, {("staging", "stg_county_fiscal"): fiscal})
    findings = evaluate_rule("FISCAL-20", [{"fiscal_year": 2016, "fiscal_poverty_share": 0.1834}])
    out = attribute(warehouse, findings)
    assert out[["source_file", "sheet", "row_number"]].values.tolist() == [["test.xlsx", "Sheet1", 5]]
    shown = reader_findings(out.assign(finding_key="k"), titles={"FISCAL-20": "新增财力20%用于扶贫"})
    assert shown[["column_header", "value_shown"]].values.tolist() == [["新增财力用于扶贫比例(计算值)", "18.34%"]]
