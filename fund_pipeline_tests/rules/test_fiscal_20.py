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
