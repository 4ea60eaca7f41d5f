"""MICROCREDIT — 5万元以内、3年以下、基准利率、免抵押、免担保的小额信贷."""

from fund_pipeline_tests.rules.harness import OTHER_ID, POOR_ID, evaluate_rule, failing_rows, rule_clause

LOAN = {"fiscal_year": 2016, "township": "会师镇", "village": "南什村", "borrower_name": "王建国", "borrower_id": POOR_ID,
        "amount": 50_000.0, "term_months": 36, "interest_rate": 0.0435, "benchmark_rate": 0.0435,
        "guarantee": "免担保", "collateral": "无"}


def test_clause_is_quoted():
    assert rule_clause("MICROCREDIT") == "5万元以内、3年以下、基准利率、免抵押、免担保的小额信贷"


def test_loan_at_the_limits_passes():
    assert evaluate_rule("MICROCREDIT", [LOAN]).empty


def test_each_broken_condition_fails_and_a_row_breaking_several_is_one_finding():
    rows = [LOAN, LOAN | {"amount": 80_000.0, "term_months": 48}, LOAN | {"interest_rate": 0.06},
            LOAN | {"guarantee": "保证人担保"}, LOAN | {"collateral": "房产抵押"}]
    findings = evaluate_rule("MICROCREDIT", rows)
    assert failing_rows(findings) == [6, 7, 8, 9]


def test_borrower_outside_the_poor_register_fails():
    findings = evaluate_rule("MICROCREDIT", [LOAN, LOAN | {"borrower_id": OTHER_ID}])
    assert failing_rows(findings) == [6]
