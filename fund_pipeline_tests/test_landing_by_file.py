"""A source landed file by file: when files are added, re-sent or removed, the unchanged files' landed rows stay
in the table and only the others are replaced. Whatever the change, the table, the reading findings and the
file notes equal a landing from scratch (a new warehouse, an empty cache) of the inbox as it then is. Where a
row repeats another file's, or a row was set aside, or a re-sent file cannot be read, every row is landed again
as on a first run."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from fund_pipeline.defs.ingest import landing_key
from fund_pipeline.pipeline.runner import run_pipeline
from fund_pipeline.settings import Settings
from fund_pipeline.warehouse import Warehouse
from fund_pipeline_tests.conftest import warehouse_url
from fund_pipeline_tests.corpus import row, write

SOURCE = "transport_disbursements"
FOLDER = "交通运输局"
ADDED = f"{FOLDER}/2016年交通扶贫资金拨付台账(原件).xlsx"
REPEATING = f"{FOLDER}/2016年交通扶贫资金拨付台账(另存为).xlsx"
RUN_COLUMNS = {"run_id", "detected_at", "status", "first_seen_run", "first_seen_at"}


def land(inbox: Path, work: Path) -> dict:
    """Land the source alone into `work`'s warehouse and cache; the landing step's metadata."""
    settings = Settings.from_env().with_overrides(inbox=inbox, warehouse_url=f"duckdb:///{work / 'w.duckdb'}",
                                                  reports_dir=work / "reports", cache_dir=work / "cache")
    outcome = run_pipeline(settings, selection=dg.AssetSelection.assets(landing_key(SOURCE)))
    assert outcome.success, outcome.error
    records = dg.DagsterInstance.get().fetch_materializations(landing_key(SOURCE), limit=1).records
    assert records and records[0].run_id == outcome.run_id
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()}


def landed_state(work: Path) -> dict[str, pd.DataFrame]:
    """The source's landed rows, reading findings and file notes, without run ids and times, in one order."""
    warehouse = Warehouse.from_url(f"duckdb:///{work / 'w.duckdb'}")
    tables = {"landing": warehouse.read_table("landing", SOURCE),
              "findings": warehouse.read_table("audit", "current_findings", where=f"source = '{SOURCE}'"),
              "notes": warehouse.read_table("audit", "file_notes", where=f"source = '{SOURCE}'")}
    out = {}
    for name, frame in tables.items():
        frame = frame.drop(columns=[c for c in frame.columns if c in RUN_COLUMNS])
        order = sorted(frame.columns)
        out[name] = frame[order].sort_values(order, ignore_index=True, na_position="first")
    return out


def assert_as_from_scratch(inbox: Path, work: Path, scratch: Path) -> None:
    shutil.rmtree(scratch, ignore_errors=True)
    land(inbox, scratch)
    mine, theirs = landed_state(work), landed_state(scratch)
    for name in mine:
        pd.testing.assert_frame_equal(mine[name], theirs[name], obj=name)


def arrives_later(path: Path, seconds: int) -> None:
    later = path.stat().st_mtime + seconds
    os.utime(path, (later, later))


@pytest.fixture(scope="module")
def ledgers(sample_inbox, dagster_home, tmp_path_factory):
    """An inbox holding the sample's transport ledgers, landed once into a warehouse and cache kept across
    the module's tests, which change the inbox in turn."""
    work = tmp_path_factory.mktemp("landing_by_file")
    inbox = work / "inbox"
    shutil.copytree(sample_inbox / FOLDER, inbox / FOLDER)
    first = land(inbox, work / "kept")
    assert first["files_landed_in_place"] == 0 and first["files_read"] == first["files"] >= 1
    return inbox, work


def test_an_added_file_lands_beside_the_unchanged_ones_in_place(ledgers):
    inbox, work = ledgers
    before = len(list((inbox / FOLDER).glob("*.xlsx")))
    write(inbox / ADDED, [row(81, 10), row(82, 20)], title="会宁县交通运输局扶贫项目资金拨付台账(原件)")
    metadata = land(inbox, work / "kept")
    assert metadata["files_read_list"] == [ADDED]
    assert metadata["files_landed_in_place"] == before
    assert_as_from_scratch(inbox, work / "kept", work / "scratch")


def test_a_file_repeating_anothers_rows_lands_every_row_again(ledgers):
    inbox, work = ledgers
    write(inbox / REPEATING, [row(81, 10), row(82, 20), row(83, 30)])
    repeated = pd.read_excel(inbox / ADDED, header=2)
    copy = pd.read_excel(inbox / REPEATING, header=2)
    copy.iloc[:2, copy.columns.get_loc("凭证号")] = repeated["凭证号"].to_numpy()  # two rows as in the original
    write(inbox / REPEATING, copy.astype(object).where(copy.notna(), None).to_numpy().tolist())
    arrives_later(inbox / REPEATING, 3600)
    metadata = land(inbox, work / "kept")
    assert metadata["files_landed_in_place"] == 0
    aside = Warehouse.from_url(f"duckdb:///{work / 'kept' / 'w.duckdb'}").query(
        f'select source_file, count(*) as n from landing."{SOURCE}" where _set_aside is not null group by 1')
    assert aside.to_dict("records") == [{"source_file": REPEATING, "n": 2}]
    assert_as_from_scratch(inbox, work / "kept", work / "scratch")


def test_after_rows_were_set_aside_every_row_is_landed_again(ledgers):
    inbox, work = ledgers
    (inbox / REPEATING).unlink()
    metadata = land(inbox, work / "kept")
    assert metadata["files_landed_in_place"] == 0
    assert_as_from_scratch(inbox, work / "kept", work / "scratch")


def test_a_resent_and_a_removed_file_change_only_their_own_rows(ledgers):
    inbox, work = ledgers
    write(inbox / ADDED, [row(81, 10), row(82, 25)], title="会宁县交通运输局扶贫项目资金拨付台账(原件)")
    metadata = land(inbox, work / "kept")
    files = len(list((inbox / FOLDER).glob("*.xlsx")))
    assert metadata["files_read_list"] == [ADDED] and metadata["files_landed_in_place"] == files - 1
    assert_as_from_scratch(inbox, work / "kept", work / "scratch")

    (inbox / ADDED).unlink()
    metadata = land(inbox, work / "kept")
    assert metadata["files_read"] == 0 and metadata["files_landed_in_place"] == files - 1
    assert_as_from_scratch(inbox, work / "kept", work / "scratch")


def test_a_resent_unreadable_file_keeps_its_last_good_rows(ledgers):
    inbox, work = ledgers
    write(inbox / ADDED, [row(91, 10), row(92, 20)], title="会宁县交通运输局扶贫项目资金拨付台账(原件)")
    land(inbox, work / "kept")
    warehouse = Warehouse.from_url(f"duckdb:///{work / 'kept' / 'w.duckdb'}")
    rows = f'select row_number, amount from landing."{SOURCE}" where source_file = \'{ADDED}\' order by 1'
    good = warehouse.query(rows)
    (inbox / ADDED).write_bytes(b"PK\x03\x04 a re-sent file that is not a workbook")
    metadata = land(inbox, work / "kept")
    assert metadata["files_landed_in_place"] == 0
    pd.testing.assert_frame_equal(warehouse.query(rows), good)
    kept = warehouse.query("select source_file from audit.current_findings where rule_id = 'INGEST-KEPT-PREVIOUS'")
    assert kept["source_file"].tolist() == [ADDED]


@pytest.mark.parametrize("backend", ["duckdb", "postgres"])
def test_the_repeats_query_finds_a_replaced_files_row_repeated_in_another_file(backend, tmp_path, request):
    from fund_pipeline.pipeline.ingest import repeats_query
    from fund_pipeline.sources.reader import empty_records
    from fund_pipeline.sources.schemas import conform
    from fund_pipeline.sources.spec import load_layouts

    url = warehouse_url(backend, tmp_path, request)
    warehouse = Warehouse.from_url(url)
    spec = next(s for s in load_layouts() if s.name == SOURCE)
    rows = conform(spec.entity, empty_records(spec.entity))
    rows = pd.concat([rows, pd.DataFrame({"source_file": ["a.xlsx", "a.xlsx", "b.xlsx", "c.xlsx"],
                                          "voucher_no": ["记-1", "记-1", "记-2", "记-3"],  # a's two rows alike
                                          "amount": [10.0, 10.0, 20.0, None]})], ignore_index=True)
    rows = conform(spec.entity, rows).assign(_set_aside=pd.Series(pd.NA, index=range(4), dtype="string"))
    table = f'landing."{SOURCE}_repeats_test"'

    def repeats(replaced: str) -> bool:
        return bool(warehouse.query(repeats_query(spec, table, warehouse.row_hash, f"source_file = '{replaced}'")).size)

    warehouse.replace_table("landing", f"{SOURCE}_repeats_test", rows)
    try:
        assert not repeats("a.xlsx") and not repeats("b.xlsx")  # alike within a file only: not a repeat
        # c's row re-sent as b's (an empty amount equal to an empty amount): a repeat, whichever file was replaced
        warehouse.execute(f"update {table} set voucher_no = '记-2', amount = 20.0 where source_file = 'c.xlsx'")
        assert repeats("c.xlsx") and repeats("b.xlsx") and not repeats("a.xlsx")
        warehouse.execute(f"update {table} set amount = null where source_file in ('b.xlsx', 'c.xlsx')")
        assert repeats("c.xlsx")
        warehouse.execute(f"update {table} set amount = 1 where source_file = 'c.xlsx'")
        assert not repeats("c.xlsx")
        warehouse.execute(f"update {table} set _set_aside = 'INGEST-DUPLICATE-ROW' where source_file = 'a.xlsx'")
        assert repeats("c.xlsx")  # a row set aside: the whole check decides
    finally:
        warehouse.execute(f"drop table {table}")


@pytest.mark.parametrize("backend", ["duckdb", "postgres"])
def test_the_in_place_query_finds_files_changed_since_the_landing_began(backend, tmp_path, request):
    from fund_pipeline.pipeline.ingest import in_place_query

    url = warehouse_url(backend, tmp_path, request)
    warehouse = Warehouse.from_url(url)
    table = "landing.in_place_test"
    warehouse.replace_table("landing", "in_place_test", pd.DataFrame(
        {"source_file": ["a.xlsx", "a.xlsx", "b'.xlsx"], "file_sha256": ["s1", "s1", "s2"], "amount": [1.0, 2.0, 3.0]}))
    expected = {"a.xlsx": ("s1", 2), "b'.xlsx": ("s2", 1)}

    def changed() -> bool:
        return bool(warehouse.query(in_place_query(table, expected)).size)

    try:
        assert not changed()
        warehouse.execute("update landing.in_place_test set file_sha256 = 's9' where amount = 1")  # another version
        assert changed()
        warehouse.execute("update landing.in_place_test set file_sha256 = 's1'")
        assert changed()  # b's rows now say another version
        warehouse.execute("update landing.in_place_test set file_sha256 = 's2' where amount = 3")
        assert not changed()
        warehouse.execute("delete from landing.in_place_test where source_file = 'b''.xlsx'")  # b landed no rows
        assert changed()
        warehouse.append("landing", "in_place_test", pd.DataFrame(
            {"source_file": ["b'.xlsx", "a.xlsx"], "file_sha256": ["s2", "s1"], "amount": [3.0, 4.0]}))
        assert changed()  # a holds three rows
    finally:
        warehouse.execute(f"drop table {table}")


def test_a_kept_files_dates_still_count_against_its_name(ledgers):
    """INGEST-YEAR-NAME reads every file's dates: a file kept in place is counted in the warehouse."""
    inbox, work = ledgers
    misnamed = f"{FOLDER}/2016年交通扶贫资金拨付台账(补报).xlsx"
    write(inbox / misnamed, [row(n, 10, 拨付日期="2015年5月3日") for n in (95, 96, 97)],
          title="会宁县交通运输局扶贫项目资金拨付台账(补报)")
    land(inbox, work / "kept")
    write(inbox / ADDED, [row(91, 10), row(92, 30)], title="会宁县交通运输局扶贫项目资金拨付台账(原件)")
    metadata = land(inbox, work / "kept")
    assert metadata["files_read_list"] == [ADDED] and metadata["files_landed_in_place"] >= 2
    named = Warehouse.from_url(f"duckdb:///{work / 'kept' / 'w.duckdb'}").query(
        "select source_file from audit.current_findings where rule_id = 'INGEST-YEAR-NAME'")
    assert misnamed in set(named["source_file"])
    assert_as_from_scratch(inbox, work / "kept", work / "scratch")
