"""FISCAL-GROWTH — 并逐年加大投入力度: the allocation must rise (超过上年), so no change at all is a finding."""

import pytest

from fund_pipeline_tests.rules.harness import evaluate_county_years, failing_rows, rule_clause


def test_clause_is_quoted():
    assert rule_clause("FISCAL-GROWTH") == "并逐年加大投入力度"


def test_rising_allocation_passes():
    assert evaluate_county_years("FISCAL-GROWTH", "poverty_allocation_change", {2015: 10.0, 2016: 2253200.0}).empty


def test_falling_allocation_fails_for_that_year():
    findings = evaluate_county_years("FISCAL-GROWTH", "poverty_allocation_change", {2015: 1.0, 2016: -2253200.0})
    assert failing_rows(findings) == [6] and findings["fiscal_year"].tolist() == [2016]
    assert findings["severity"].tolist() == ["warning"]


@pytest.mark.parametrize("change, fails", [(-1.0, True), (0.0, True), (1.0, False)])
def test_boundary_an_unchanged_allocation_is_not_an_increase(change, fails):
    findings = evaluate_county_years("FISCAL-GROWTH", "poverty_allocation_change", {2016: change})
    assert (not findings.empty) == fails
