"""STOCK-50 — 当年清理收回存量资金中可统筹使用资金的50%以上用于精准扶贫."""

from fund_pipeline_tests.rules.harness import evaluate_rule, failing_rows, rule_clause


def test_clause_is_quoted():
    assert rule_clause("STOCK-50") == "当年清理收回存量资金中可统筹使用资金的50%以上用于精准扶贫"


def test_measure_meeting_the_threshold_passes():
    rows = [{"fiscal_year": 2015, "idle_funds_poverty_share": 0.5}, {"fiscal_year": 2016, "idle_funds_poverty_share": 0.5}]
    assert evaluate_rule("STOCK-50", rows).empty


def test_measure_missing_the_threshold_fails_for_that_year():
    rows = [{"fiscal_year": 2015, "idle_funds_poverty_share": 0.5}, {"fiscal_year": 2016, "idle_funds_poverty_share": 0.42}]
    findings = evaluate_rule("STOCK-50", rows)
    assert failing_rows(findings) == [6]
    assert findings["fiscal_year"].tolist() == [2016]
    assert findings["severity"].tolist() == ["error"]
