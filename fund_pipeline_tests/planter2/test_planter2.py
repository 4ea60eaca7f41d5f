"""Violations no one planted for the pipeline: a second planter, cases from the policy, recall and precision of 100%."""

import pandas as pd

KEY = ["rule_id", "source", "source_file", "sheet", "row_number"]
# County-wide totals a 0.5% sample county cannot reach (10亿 integrated, 4亿 policy funds, 5000 dwellings): they fail
# on the clean sample already, whatever is planted, and are no finding of any plant.
SCALE_BOUND = {"HOUSING", "POLICY-FUNDS-4E8", "INTEGRATE-1B"}
WHY_KINDS = ["per-household microloans", "per-student academic year", "channel other than the project's allocation",
             "placeholder 待定 in 责任人", "placeholder — as household head", "quarantined project not audited",
             "quarantined project paid before publicity ended", "quarantined project over budget", "×10000 in a ledger",
             "village of exactly 1000 people paid 200"]


def _found(warehouse2) -> pd.DataFrame:
    found = warehouse2.execute(f"select {', '.join(KEY)}, level from audit.current_findings").df()
    scale_bound = found["rule_id"].isin(SCALE_BOUND) & (found["level"] == "county-year")
    return found.loc[~scale_bound, KEY].astype({"row_number": "Int64"}).drop_duplicates()


def test_at_least_50_plants_of_the_kinds_the_policy_names_and_10_controls(planter2):
    plants = [p for p in planter2.plants if not p.control]
    controls = [p for p in planter2.plants if p.control]
    assert len(plants) >= 50 and len(controls) >= 10
    assert all(p.expected for p in plants) and not any(p.expected for p in controls)
    kinds = {p.kind for p in plants}
    assert set(WHY_KINDS) <= kinds


def test_every_planted_violation_is_found(planter2, warehouse2):
    expected = planter2.expected().astype({"row_number": "Int64"})
    found = _found(warehouse2)
    missed = expected.merge(found, on=KEY, how="left", indicator=True).query("_merge == 'left_only'")
    recall = 1 - len(missed) / len(expected)
    assert recall == 1.0, missed[KEY].to_string()


def test_nothing_but_the_planted_violations_is_found(planter2, warehouse2):
    """Precision: the boundary controls (limits the policy includes, a fund reaching 50万 over two rows, a loan repaid
    before the next, 无 in an optional field …) and every untouched row raise nothing."""
    expected = planter2.expected().astype({"row_number": "Int64"})
    found = _found(warehouse2)
    extra = found.merge(expected, on=KEY, how="left", indicator=True).query("_merge == 'left_only'")
    precision = 1 - len(extra) / len(found)
    assert precision == 1.0, extra[KEY].to_string()


def test_group_findings_share_a_key_and_list_every_row(planter2, warehouse2):
    groups = warehouse2.execute(
        "select rule_id, group_key, count(*) as n from audit.current_findings "
        "where rule_id in ('MICROCREDIT', 'STUDENT-LOAN', 'MUTUAL-AID') and group_key is not null group by 1, 2").df()
    summed = [p for p in planter2.plants if p.kind in ("per-household microloans", "per-student academic year",
                                                       "a poor village's fund in two rows")]
    assert (groups["n"] == 2).sum() >= len(summed)


def test_budget_breaks_are_attributed_to_the_payment_rows(warehouse2):
    rows = warehouse2.execute("select level, group_key from audit.current_findings where rule_id = 'WITHIN-BUDGET'").df()
    assert set(rows["level"]) == {"project", "row"}
    assert rows.loc[rows["level"] == "row", "group_key"].str.startswith("项目 ").all()


def test_county_year_findings_name_their_departments_files_and_rows(warehouse2):
    findings = warehouse2.execute(
        "select rule_id, department, attribution from audit.current_findings where level = 'county-year'").df()
    assert len(findings) > 0
    assert findings["attribution"].notna().all() and findings["department"].notna().all()
    assert findings["attribution"].str.contains(r"\.xlsx/.+第\d+行").all()


def test_slipped_amounts_are_quarantined_and_counted_only_when_repaired(planter2, warehouse2):
    """Every slip is quarantined and published nowhere; a 万元/元 slip counts in the measures at its repaired amount
    (stg_unit_repaired_amounts), a misplaced decimal (×100) in none."""
    slips = planter2.expected().query("rule_id == 'AMOUNT-SUSPECT'")
    held = warehouse2.execute(
        "select source_file, sheet, row_number from quarantine.disbursements where quarantine_rules like '%AMOUNT-SUSPECT%' "
        "union all select source_file, sheet, row_number from quarantine.household_payments "
        "where quarantine_rules like '%AMOUNT-SUSPECT%'").df()
    counted = warehouse2.execute("select source_file, sheet, row_number, is_unit_repaired "
                                 "from intermediate.int_integrated_spending").df()
    published = warehouse2.execute("select source_file, sheet, row_number from marts.fund_flow").df()
    ledger_slips = slips[slips["source"].str.endswith("disbursements") | (slips["source"] == "poverty_yulu")]
    keys = ["source_file", "sheet", "row_number"]
    assert len(ledger_slips.merge(held.astype({"row_number": "int64"}), on=keys)) == len(ledger_slips)
    assert ledger_slips.merge(published.astype({"row_number": "int64"}), on=keys).empty
    repaired = ledger_slips.merge(counted.astype({"row_number": "int64"}), on=keys)
    assert repaired["is_unit_repaired"].all()
    assert set(repaired["source"]) == {"transport_disbursements", "agriculture_disbursements", "poverty_yulu"}
    spending = warehouse2.execute("select fiscal_year, integrated_spending, integrated_spending_with_quarantined "
                                  "from marts.county_year_measures").df()
    assert (spending["integrated_spending_with_quarantined"] < 2e9).all()  # about 10亿 a year; one slip would add 千亿
