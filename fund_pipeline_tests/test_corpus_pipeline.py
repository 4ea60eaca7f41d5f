"""The whole pipeline on the sample county with the broken-file corpus dropped into its inbox.

No file stops a run; every landed row is published, quarantined or set aside with a reason, in rows and in
money; the departments the corpus does not touch publish exactly what they published without it; a 2018
ledger is processed like any other year; a re-sent broken file keeps its last good version published.
On DuckDB and on PostgreSQL.
"""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from fund_pipeline.pipeline.runner import run_pipeline, sources_selection
from fund_pipeline.settings import Settings
from fund_pipeline.warehouse import Warehouse
from fund_pipeline_tests.corpus import CASES, build_corpus, matching

TOUCHED = {"transport_disbursements", "agriculture_policy_subsidies"}
PER_SOURCE = ("select source, count(*) as n, round(sum({money}), 2) as money from {schema}.{table} group by 1")
TABLES = {"disbursements": "amount", "household_payments": "amount", "projects": "budget", "loans": "amount",
          "fund_receipts": "amount", "mutual_aid": "fund_size", "audits": "problem_amount"}


def published(warehouse: Warehouse) -> pd.DataFrame:
    frames = [warehouse.query(PER_SOURCE.format(money=money, schema=schema, table=table)).assign(state=schema)
              for table, money in TABLES.items() for schema in ("clean", "quarantine")
              if warehouse.table_exists(schema, table)]
    return pd.concat(frames, ignore_index=True).sort_values(["state", "source"]).reset_index(drop=True)


def _run(url: str, inbox, reports, **kw):
    settings = Settings.from_env().with_overrides(inbox=inbox, warehouse_url=url, reports_dir=reports)
    outcome = run_pipeline(settings, **kw)
    assert outcome.success, outcome.error
    return outcome, Warehouse.from_url(url)


@pytest.fixture(scope="module")
def baseline(duckdb_run):
    _, url, _ = duckdb_run
    return published(Warehouse.from_url(url))


@pytest.fixture(scope="module")
def corpus_inbox(sample_inbox, tmp_path_factory):
    inbox = tmp_path_factory.mktemp("corpus") / "inbox"
    shutil.copytree(sample_inbox, inbox)
    build_corpus(inbox)
    return inbox


@pytest.fixture(scope="module")
def corpus_run(corpus_inbox, dagster_home, tmp_path_factory):
    work = tmp_path_factory.mktemp("corpus_duckdb")
    return _run(f"duckdb:///{work / 'w.duckdb'}", corpus_inbox, work / "reports")


def _check_accounted(warehouse: Warehouse):
    rec = warehouse.query("select * from audit.current_reconciliation")
    assert rec["reconciles"].all(), rec[~rec["reconciles"]].to_dict("records")
    lost = warehouse.query("select * from audit.current_findings where rule_id = 'INGEST-UNACCOUNTED'")
    assert lost.empty, lost["message"].tolist()
    return rec


def _check_findings(warehouse: Warehouse):
    findings = warehouse.query("select rule_id, source_file, sheet, row_number, column_name from audit.current_findings")
    for case in CASES:
        for expected in case.findings:
            assert len(matching(findings, case, expected)) >= 1, (case.name, expected)


def test_no_corpus_file_stops_the_run_and_every_row_is_accounted_for(corpus_run):
    _, warehouse = corpus_run
    rec = _check_accounted(warehouse)
    by_file = rec.groupby("source_file")[["landed", "landed_amount"]].sum()
    for case in CASES:
        if case.rows:
            assert by_file.loc[case.file, "landed"] == case.rows, case.name
            assert by_file.loc[case.file, "landed_amount"] == pytest.approx(case.amount, abs=0.01), case.name
    _check_findings(warehouse)


def test_untouched_departments_publish_what_they_published_without_the_corpus(corpus_run, baseline):
    _, warehouse = corpus_run
    after = published(warehouse)
    untouched = lambda frame: frame[~frame["source"].isin(TOUCHED)].reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(untouched(after), untouched(baseline))


def test_a_2018_ledger_is_processed_in_2018(corpus_run):
    _, warehouse = corpus_run
    rows = warehouse.query("select source_file, count(*) as n from (select source_file, fiscal_year from "
                           "clean.disbursements union all select source_file, fiscal_year from quarantine.disbursements) "
                           "where fiscal_year = 2018 group by 1 order by 1")
    assert dict(zip(rows["source_file"], rows["n"], strict=True)) == {
        c.file: c.rows for c in CASES if c.year == 2018}
    years = warehouse.query("select distinct fiscal_year from audit.current_reconciliation where fiscal_year = 2018")
    assert len(years) == 1


def test_duplicate_rows_across_files_are_counted_once(corpus_run):
    _, warehouse = corpus_run
    aside = warehouse.query("select source_file, count(*) as n, sum(amount) as money from audit.set_aside_rows "
                            "where reason_rule = 'INGEST-DUPLICATE-ROW' group by 1")
    case = next(c for c in CASES if c.name == "同表另存副本")
    assert aside.to_dict("records") == [{"source_file": case.file, "n": 3, "money": case.amount}]


def test_a_resent_broken_file_keeps_the_last_good_version_published(corpus_run, corpus_inbox, tmp_path):
    _, warehouse = corpus_run
    ledger = "交通运输局/2016年交通扶贫资金拨付台账.xlsx"
    query = ("select count(*) as n, round(sum(amount), 2) as money from {} where source_file = '" + ledger + "'")
    before = [warehouse.query(query.format(t)) for t in ("clean.disbursements", "quarantine.disbursements")]
    assert before[0]["n"].iloc[0] > 0
    (corpus_inbox / ledger).write_bytes(b"PK\x03\x04 a re-sent file that is not a workbook")
    outcome, _ = _run(warehouse.url, corpus_inbox, tmp_path / "reports",
                      selection=sources_selection(["transport_disbursements"]))
    after = [warehouse.query(query.format(t)) for t in ("clean.disbursements", "quarantine.disbursements")]
    for old, new in zip(before, after, strict=True):
        pd.testing.assert_frame_equal(old, new)
    kept = warehouse.query("select message from audit.current_findings where rule_id = 'INGEST-KEPT-PREVIOUS'")
    assert len(kept) == 1 and ledger in kept["message"].iloc[0] and "继续发布上次成功读取的版本" in kept["message"].iloc[0]
    _check_accounted(warehouse)


@pytest.mark.postgres
def test_the_corpus_on_postgresql(postgres_url, sample_inbox, dagster_home, tmp_path):
    from fund_pipeline_tests.test_pipeline_postgres import reset_database

    reset_database(postgres_url)
    inbox = tmp_path / "inbox"
    shutil.copytree(sample_inbox, inbox)
    build_corpus(inbox)
    _, warehouse = _run(postgres_url, inbox, tmp_path / "reports")
    _check_accounted(warehouse)
    _check_findings(warehouse)
    names = warehouse.query("select project_name from quarantine.disbursements where project_name like '南什村道路项目%'")
    assert not names["project_name"].str.contains("\x00", regex=False).any()
