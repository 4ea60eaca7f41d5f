"""The sample county: deterministic by seed, real township codes, money that adds up, totals that match."""

import pandas as pd

from fund_pipeline.reference import townships
from fund_pipeline.sample import generate
from fund_pipeline.sources.reader import read_source
from fund_pipeline.sources.spec import layout_by_name, load_layouts


def _read(inbox, source):
    return read_source(layout_by_name(source), inbox).records


def test_same_seed_same_data(tmp_path):
    """Made twice, once written in this process and once by two worker processes: the same data, the same
    planted rows, and the same bytes file by file (a sample made again is the same files to the pipeline)."""
    a, b = tmp_path / "a", tmp_path / "b"
    generate(a, seed=11, scale=0.003, years=(2016,), plant_violations=True, workers=1)
    generate(b, seed=11, scale=0.003, years=(2016,), plant_violations=True, workers=2)
    for source in ("agriculture_policy_subsidies", "poverty_projects", "water_disbursements"):
        pd.testing.assert_frame_equal(_read(a, source), _read(b, source))
    made = {p.relative_to(a): p.read_bytes() for p in sorted(a.rglob("*.xlsx"))}
    assert len(made) > 20 and made == {p.relative_to(b): p.read_bytes() for p in sorted(b.rglob("*.xlsx"))}
    assert (a / "expected_findings.csv").read_bytes() == (b / "expected_findings.csv").read_bytes()


def test_registers_use_the_real_townships(sample_inbox):
    villages = _read(sample_inbox, "poverty_villages")
    assert set(villages["township_code"]) == {t.code for t in townships()}
    assert len(villages) == 284 and villages["is_poor_village"].sum() == 128
    assert villages["village"].str.contains("屲").any()  # rare characters survive the round trip


def test_every_total_row_equals_the_sum_of_the_rows_read(sample_inbox):
    checked = 0
    for spec in load_layouts():
        totals = read_source(spec, sample_inbox).totals
        checked += len(totals)
        off = totals[(totals["declared"] - totals["summed"]).abs() > 1.0]
        assert off.empty, off.to_string()
    assert checked > 30


def test_budgets_within_receipts_and_payments_within_budgets(tmp_path):
    """Without planted violations the county's money adds up."""
    sample_inbox = tmp_path / "clean_county"
    generate(sample_inbox, seed=5, scale=0.003, years=(2016, 2017))
    receipts = _read(sample_inbox, "finance_receipts").groupby(["fiscal_year", "channel_name"])["amount"].sum()
    projects = _read(sample_inbox, "poverty_projects")
    budgets = projects.groupby(["fiscal_year", "channel_name"])["budget"].sum()
    assert (budgets <= receipts.reindex(budgets.index) + 1).all()
    paid = pd.concat([_read(sample_inbox, s) for s in ("transport_disbursements", "agriculture_disbursements")])
    paid = paid[paid["amount"] > 0].groupby("project_code")["amount"].sum()
    budget = projects.set_index("project_code")["budget"]
    assert (paid <= budget.reindex(paid.index) + 1).all()


def test_scale_reaches_a_county_year_of_about_a_million_payment_rows():
    from fund_pipeline.sample.county import build_county
    from fund_pipeline.sample.departments import POLICY_ITEMS

    households = len(build_county(1, 1.0).households)
    assert 900_000 <= households * len(POLICY_ITEMS) <= 1_100_000


def test_clean_households_stay_within_the_microloan_cap(tmp_path):
    """5万元以内 caps a household's loans outstanding, over every year's ledger: the clean county keeps it."""
    from fund_pipeline.rules.derive import References, add_derived_columns
    from fund_pipeline.sources.schemas import conform

    sample_inbox = tmp_path / "clean_county"
    generate(sample_inbox, seed=5, scale=0.003)
    loans = add_derived_columns("loans", conform("loans", _read(sample_inbox, "poverty_microloans")), References.empty())
    assert len(loans) > 50 and loans["household_outstanding"].max() <= 50_000
    assert loans["household_outstanding"].gt(loans["amount"]).any()  # some households do borrow twice
