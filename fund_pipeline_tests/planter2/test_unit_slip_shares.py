"""A 万元/元 unit slip in one ledger row moves no county-year share: the row is quarantined as AMOUNT-SUSPECT, its
amount as keyed is published nowhere, and the measures count it at its repaired amount (issue: one slip once
corrupted every county-level share of a year).

The slips are planted by hand with openpyxl into a clean sample, not by the sample generator."""

from __future__ import annotations

import shutil

import duckdb
import pandas as pd
import pytest

from fund_pipeline.sample import generate
from fund_pipeline_tests.conftest import SCALE, SEED, run_on
from fund_pipeline_tests.planter2.books import Books
from fund_pipeline_tests.planter2.plants import LEDGERS

# (source, fiscal year, factor): 元 keyed in a 万元 ledger, and 万元 keyed in a 元 ledger.
SLIPS = [("transport_disbursements", 2017, 10_000), ("water_disbursements", 2016, 0.0001)]


def _largest_row(books: Books, source: str, year: int):
    file, sheet_name, key, amount, *_ = LEDGERS[source]
    sheet = books.sheet(file.format(y=year), key, sheet_name.format(y=year) if sheet_name else None)
    return sheet, max(sheet.rows, key=lambda r: float(sheet.get(r, amount))), amount


@pytest.fixture(scope="module")
def clean_and_slipped(dagster_home, tmp_path_factory):
    clean = tmp_path_factory.mktemp("slip_clean")
    generate(clean, seed=SEED, scale=SCALE, plant_violations=False)
    slipped = tmp_path_factory.mktemp("slip_slipped") / "inbox"
    shutil.copytree(clean, slipped)
    books, planted = Books(slipped), []
    for source, year, factor in SLIPS:
        sheet, row, column = _largest_row(books, source, year)
        sheet.set_amount(row, column, float(sheet.get(row, column)) * factor)
        planted.append((source, sheet.rel, sheet.name, row))
    books.save()
    urls = []
    for name, inbox in (("clean", clean), ("slipped", slipped)):
        work = tmp_path_factory.mktemp(f"slip_{name}_run")
        url = f"duckdb:///{work / 'warehouse.duckdb'}"
        outcome = run_on(url, inbox, work / "reports")
        assert outcome.success, outcome.error
        urls.append(url.removeprefix("duckdb:///"))
    return urls, planted


def _query(path: str, sql: str) -> pd.DataFrame:
    con = duckdb.connect(path, read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


def test_no_county_year_share_moves(clean_and_slipped):
    (clean, slipped), _ = clean_and_slipped
    sql = "select * from marts.county_year_measures order by fiscal_year"
    before, after = _query(clean, sql).set_index("fiscal_year"), _query(slipped, sql).set_index("fiscal_year")
    shares = [c for c in before.columns if "_share" in c or c.startswith("integrated_spending")]
    assert len(shares) >= 8
    moved = (after[shares] - before[shares]).abs()
    scale = before[shares].abs().clip(lower=1.0)
    assert (moved / scale).max().max() < 1e-6, moved.to_string()
    assert (after["unit_repaired_spending"] > 0).sum() == len(SLIPS)


def test_slipped_rows_are_quarantined_and_published_nowhere(clean_and_slipped):
    (_, slipped), planted = clean_and_slipped
    for source, rel, sheet, row in planted:
        where = f"source = '{source}' and source_file = '{rel}' and sheet = '{sheet}' and row_number = {row}"
        assert len(_query(slipped, f"select * from audit.current_findings where rule_id = 'AMOUNT-SUSPECT' and {where}")) == 1
        assert len(_query(slipped, f"select * from quarantine.disbursements where {where}")) == 1
        assert _query(slipped, f"select * from clean.disbursements where {where}").empty
        assert _query(slipped, f"select * from marts.fund_flow where {where}").empty

