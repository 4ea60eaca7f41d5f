"""STUDENT-LOAN — 每学年8000元以内生源地信用助学贷款: per student and academic year, summed over every row and file."""

import pytest

from fund_pipeline_tests.rules.harness import MORE_POOR_IDS, POOR_ID, evaluate_rule, failing_rows, rule_clause

ROW = {"fiscal_year": 2016, "township": "会师镇", "student_name": "王明", "borrower_id": POOR_ID,
       "academic_year": "2016-2017"}


def test_clause_is_quoted():
    assert rule_clause("STUDENT-LOAN") == "每学年8000元以内生源地信用助学贷款"


def test_loan_up_to_8000_passes():
    assert evaluate_rule("STUDENT-LOAN", [ROW | {"amount": 8000.0}]).empty


def test_loan_above_8000_fails():
    findings = evaluate_rule("STUDENT-LOAN", [ROW | {"amount": 6000.0, "borrower_id": MORE_POOR_IDS[0]},
                                              ROW | {"amount": 10000.0}])
    assert failing_rows(findings) == [6]


def test_two_loans_of_one_academic_year_are_summed_and_both_listed():
    """7000 + 2000 in one academic year, the second in the next year's list: 9000, over 8000."""
    rows = [ROW | {"amount": 7000.0}, ROW | {"fiscal_year": 2017, "amount": 2000.0, "source_file": "2017.xlsx"},
            ROW | {"amount": 7000.0, "academic_year": "2017-2018"}]
    findings = evaluate_rule("STUDENT-LOAN", rows)
    assert failing_rows(findings) == [5, 6] and findings["group_key"].nunique() == 1
    # The group names the student and the year; the report masks the ID alone, the year stays readable.
    from fund_pipeline.report.masking import mask_string

    assert mask_string(findings["group_key"].iloc[0]).endswith(f"{POOR_ID[-4:]},2016-2017学年")
    assert findings["value"].tolist() == ["7000.0", "2000.0"]


def test_other_students_and_other_years_are_not_summed():
    rows = [ROW | {"amount": 7000.0}, ROW | {"amount": 7000.0, "borrower_id": MORE_POOR_IDS[0]},
            ROW | {"amount": 7000.0, "academic_year": "2017-2018"}]
    assert evaluate_rule("STUDENT-LOAN", rows).empty


@pytest.mark.parametrize("second, fails", [(1999.0, False), (2000.0, False), (2001.0, True)])
def test_boundary_8000元以内_includes_8000(second, fails):
    rows = [ROW | {"amount": 6000.0}, ROW | {"amount": second}]
    assert (not evaluate_rule("STUDENT-LOAN", rows).empty) == fails
