"""STOCK-50 — 当年清理收回存量资金中可统筹使用资金的50%以上用于精准扶贫."""

from fund_pipeline_tests.rules.harness import evaluate_county_years, failing_rows, rule_clause


def test_clause_is_quoted():
    assert rule_clause("STOCK-50") == "当年清理收回存量资金中可统筹使用资金的50%以上用于精准扶贫"


def test_measure_meeting_the_threshold_passes():
    assert evaluate_county_years("STOCK-50", "idle_funds_poverty_share", {2015: 0.5, 2016: 0.5}).empty


def test_measure_missing_the_threshold_fails_for_that_year():
    findings = evaluate_county_years("STOCK-50", "idle_funds_poverty_share", {2015: 0.5, 2016: 0.42})
    assert failing_rows(findings) == [6] and findings["fiscal_year"].tolist() == [2016]
    assert findings["severity"].tolist() == ["error"]
