"""Real fund tables published by Chinese county and city governments (fixtures/published/manifest.yaml).

Every expected figure comes from the publication: the number of data rows and the sum of their
amounts as transcribed, the published 合计, and whether the two agree. The layouts live only in the
county configuration folder fixtures/published/config, never in the package.

- the transcription itself: rows and published totals in tables/*.yaml agree with the manifest;
- the reader: each layout reads exactly the published data rows and their money, and a published
  合计 that differs from its rows is an INGEST-TOTAL finding (and one that agrees is not);
- the whole pipeline, run with the configuration folder: every landed row of each table is published
  or quarantined, and its money reconciles.
"""

from __future__ import annotations

import re

import duckdb
import pandas as pd
import pytest

from fund_pipeline.pipeline.ingest import total_findings
from fund_pipeline.rules.catalogue import load_catalogue
from fund_pipeline.settings import Settings
from fund_pipeline.sources.reader import read_source
from fund_pipeline.sources.spec import load_layout
from fund_pipeline_tests.fixtures.published.build import (
    CONFIG_DIR,
    HERE,
    build_inbox,
    load_manifest,
    load_table,
)

TABLES = load_manifest()
BY_ID = {entry["id"]: entry for entry in TABLES}
UNITS = {"元": 1, "万元": 10_000}


def _ids(entries):
    return [entry["id"] for entry in entries]


def _read_fields(entry):
    """The manifest's totals for the columns the layout reads (money in yuan, counts as counts)."""
    return [t for t in entry["totals"] if t["field"]]


def _expected_sum(total: dict) -> float:
    return total["row_sum_yuan"] if total["kind"] == "money" else total["row_sum"]


def _total_row(total: dict) -> int | None:
    """The sheet row of a published 合计, or None where the total is only in the notice's text."""
    match = re.match(r"row (\d+)", total["where"])
    return int(match.group(1)) if match else None


def _cell_number(value) -> float | None:
    """A published cell as a number: 20万元 -> 20, 10(其中,灾情因素6万元) -> 10, 12,345 -> 12345."""
    if value is None or isinstance(value, int | float):
        return value
    match = re.match(r"\s*(-?[\d,]+(?:\.\d+)?)", value)
    return float(match.group(1).replace(",", "")) if match else None


def _column_index(letter: str) -> int:
    return ord(letter) - ord("A")


@pytest.fixture(scope="module")
def inbox(tmp_path_factory):
    folder = tmp_path_factory.mktemp("published_inbox")
    build_inbox(folder)
    return folder


@pytest.fixture(scope="module")
def reads(inbox):
    return {entry["id"]: read_source(load_layout(HERE / entry["layout"]), inbox) for entry in TABLES}


def test_the_fixture_set_is_large_and_varied():
    assert len(TABLES) >= 12
    assert len({entry["publisher"] for entry in TABLES}) == len(TABLES)
    assert {entry["fiscal_year"] for entry in TABLES} - {2015, 2016, 2017}, "years outside the configured ones"
    assert any(not t["equal"] for entry in TABLES for t in entry["totals"]), "a published total that differs"
    assert all((CONFIG_DIR / "layouts" / f"{entry['source']}.yaml").exists() for entry in TABLES)


@pytest.mark.parametrize("entry", TABLES, ids=_ids(TABLES))
def test_transcription_agrees_with_the_manifest(entry):
    """The manifest's figures are those of the transcribed cells, and its published totals are the 合计 cells."""
    table = load_table(entry)
    rows = [row["cells"] for row in table["rows"]]
    width = len(rows[0])
    assert all(len(cells) == width for cells in rows)
    data = [row["cells"] for row in table["rows"] if row["role"] == "data"]
    assert len(data) == entry["data_rows"]
    for total in entry["totals"]:
        column = _column_index(total["letter"])
        summed = sum(_cell_number(cells[column]) or 0 for cells in data)
        assert summed == pytest.approx(total["row_sum"]), total["column"]
        factor = UNITS[entry["unit"]] if total["kind"] == "money" else 1
        if total["kind"] == "money":
            assert total["row_sum_yuan"] == pytest.approx(total["row_sum"] * factor)
            assert total["published_yuan"] == pytest.approx(total["published"] * factor)
            assert total["difference_yuan"] == pytest.approx(total["published_yuan"] - total["row_sum_yuan"])
        assert total["equal"] == (total["published"] == pytest.approx(total["row_sum"]))
        row = _total_row(total)
        if row is not None:
            assert table["rows"][row - 1]["role"] == "total"
            assert _cell_number(rows[row - 1][column]) == pytest.approx(total["published"])


@pytest.mark.parametrize("entry", TABLES, ids=_ids(TABLES))
def test_reader_reads_exactly_the_published_rows_and_money(entry, reads):
    read = reads[entry["id"]]
    records = read.records
    assert len(records) == entry["data_rows"], (
        f"{entry['id']}: read {len(records)} rows, published {entry['data_rows']} data rows; "
        f"rows read: {records['row_number'].tolist()}")
    for total in _read_fields(entry):
        summed = pd.to_numeric(records[total["field"]], errors="coerce").sum()
        assert summed == pytest.approx(_expected_sum(total)), (
            f"{entry['id']}: {total['field']} ({total['column']}) read {summed}, published rows {_expected_sum(total)}")


@pytest.mark.parametrize("entry", TABLES, ids=_ids(TABLES))
def test_published_totals_are_checked_against_the_rows(entry, reads):
    """Each published 合计 row is recognised as a total, never data; one that differs from its rows is an
    INGEST-TOTAL finding naming its row, one that agrees is not."""
    read = reads[entry["id"]]
    findings = total_findings(read, load_catalogue())
    found = {} if findings.empty else {(f.column_name, int(f.row_number)): f for f in findings.itertuples()}
    declared = {(t.field, int(t.row_number)): t.declared for t in read.totals.itertuples()}
    for total in _read_fields(entry):
        row = _total_row(total)
        if total["kind"] != "money" or row is None:
            continue
        assert declared.get((total["field"], row)) == pytest.approx(total["published_yuan"]), (
            f"{entry['id']}: the 合计 row {row} ({total['published_yuan']} 元 of {total['field']}) is not read as a "
            f"total; totals read: {read.totals.to_dict('records')}")
        finding = found.get((total["field"], row))
        if total["equal"]:
            assert finding is None, f"{entry['id']}: 合计 of {total['field']} agrees with its rows but is reported"
        else:
            assert finding is not None, (
                f"{entry['id']}: the published 合计 of {total['field']} (row {row}, {total['published_yuan']} 元) "
                f"differs from its rows ({total['row_sum_yuan']} 元) but no INGEST-TOTAL finding; "
                f"totals read: {read.totals.to_dict('records')}")
            assert float(finding.value) == pytest.approx(total["published_yuan"])
            assert finding.expected.endswith(str(round(float(total["row_sum_yuan"]), 2)))


MERGED = [entry for entry in TABLES if entry.get("merged_fields")]


@pytest.mark.parametrize("entry", MERGED, ids=_ids(MERGED))
def test_vertically_merged_body_cells_apply_to_every_row(entry, reads):
    records = reads[entry["id"]].records
    for field_name, value in entry["merged_fields"].items():
        read = records[field_name].astype(object).where(records[field_name].notna(), None).tolist()
        assert read == [value] * entry["data_rows"], f"{entry['id']}: {field_name} read as {read}"


# --- the whole pipeline, with the county configuration folder ---------------------------------------


@pytest.fixture(scope="module")
def pipeline_run(inbox, dagster_home, tmp_path_factory):
    from fund_pipeline.pipeline.runner import run_pipeline

    work = tmp_path_factory.mktemp("published_run")
    url = f"duckdb:///{work / 'w.duckdb'}"
    settings = Settings.from_env().with_overrides(inbox=inbox, warehouse_url=url, reports_dir=work / "reports",
                                                  config_dir=CONFIG_DIR)
    outcome = run_pipeline(settings)
    con = duckdb.connect(url.removeprefix("duckdb:///"), read_only=True)
    yield outcome, con
    con.close()


def _table_exists(con, schema: str, table: str) -> bool:
    return con.execute("select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
                       [schema, table]).fetchone()[0] > 0


def test_pipeline_runs_with_the_configuration_folder(pipeline_run):
    outcome, _ = pipeline_run
    assert outcome.success, outcome.error


@pytest.mark.parametrize("entry", TABLES, ids=_ids(TABLES))
def test_pipeline_accounts_for_every_row_and_yuan(entry, pipeline_run):
    _, con = pipeline_run
    source, entity = entry["source"], entry["entity"]
    assert _table_exists(con, "landing", source), f"landing.{source} missing: the layout in config/ was not used"
    landed = con.execute(f'select * from landing."{source}"').df()
    assert len(landed) == entry["data_rows"]
    parts = [con.execute(f"select * from {schema}.{entity} where source = ?", [source]).df()
             for schema in ("clean", "quarantine")]
    assert len(parts[0]) + len(parts[1]) == len(landed), (
        f"{source}: landed {len(landed)}, published {len(parts[0])}, quarantined {len(parts[1])}")
    for total in _read_fields(entry):
        if total["kind"] != "money":
            continue
        field_name = total["field"]
        landed_money = pd.to_numeric(landed[field_name], errors="coerce").sum()
        accounted = sum(pd.to_numeric(part[field_name], errors="coerce").sum() for part in parts)
        assert landed_money == pytest.approx(total["row_sum_yuan"])
        assert accounted == pytest.approx(landed_money), f"{source}: {field_name} landed {landed_money}, accounted {accounted}"
    reconciliation = con.execute("select * from audit.current_reconciliation where source = ?", [source]).df()
    assert len(reconciliation) and reconciliation["reconciles"].all()
    assert reconciliation["landed"].sum() == len(landed)


def test_pipeline_reports_the_published_total_that_differs(pipeline_run):
    _, con = pipeline_run
    differing = [(entry, total) for entry in TABLES for total in _read_fields(entry)
                 if not total["equal"] and _total_row(total) is not None]
    findings = con.execute("select source, row_number, column_name, value from audit.current_findings "
                           "where rule_id = 'INGEST-TOTAL'").df()
    for entry, total in differing:
        mine = findings[(findings["source"] == entry["source"]) & (findings["column_name"] == total["field"])]
        assert len(mine) == 1, f"{entry['source']}: INGEST-TOTAL for {total['field']} not reported"
        assert int(mine["row_number"].iloc[0]) == _total_row(total)
