"""Safe defaults: relative warehouse URLs, warehouse files named like a schema, a run for one source on a
fresh warehouse (DuckDB and PostgreSQL), and make targets that never touch a user's inbox."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from fund_pipeline.pipeline.runner import run_pipeline, sources_selection
from fund_pipeline.sample import generate
from fund_pipeline.settings import DBT_PROJECT_DIR, PROJECT_ROOT, Settings
from fund_pipeline.warehouse import Warehouse
from fund_pipeline_tests.conftest import SCALE, SEED

SOURCE = "transport_disbursements"
COUNTED_SCHEMAS = ("landing", "clean", "quarantine", "staging", "intermediate", "marts")
# audit.resolved_findings exists once a run has resolved something (history, not a file name's doing).
COLUMNS = ("select table_schema, table_name, column_name, data_type from information_schema.columns "
           "where table_schema in ('landing', 'clean', 'quarantine', 'audit', 'staging', 'intermediate', 'marts') "
           "and table_name <> 'resolved_findings' order by 1, 2, 3")
PUBLISHED_COLUMNS = ("select table_name, column_name, data_type from information_schema.columns "
                     "where table_schema = '{schema}' order by table_name, ordinal_position")


def settings_for(inbox: Path, url: str, reports: Path) -> Settings:
    return Settings.from_env().with_overrides(inbox=inbox, warehouse_url=url, reports_dir=reports)


def row_counts(warehouse: Warehouse) -> pd.DataFrame:
    """Rows of every table and view the pipeline and dbt make, by schema and name."""
    relations = warehouse.query("select table_schema, table_name from information_schema.tables where table_schema in "
                                f"({', '.join(repr(s) for s in COUNTED_SCHEMAS)})")
    relations = relations.sort_values(["table_schema", "table_name"], ignore_index=True)  # one order on every back-end
    counts = [int(warehouse.query(f'select count(*) as n from {s}."{t}"')["n"].iloc[0])
              for s, t in relations.itertuples(index=False)]
    return relations.assign(rows=counts)


def published_sources(warehouse: Warehouse) -> pd.DataFrame:
    return warehouse.query("select source, count(*) as n, sum(amount) as total from clean.disbursements "
                           "group by 1 order by 1")


def one_source_state(warehouse: Warehouse) -> dict:
    """What a run for SOURCE alone left: its rows by schema, the other entities' tables, the marts."""
    rows = {schema: warehouse.query(f"select source, count(*) as n from {schema}.disbursements group by 1")
            for schema in ("clean", "quarantine")}
    rows["landing"] = warehouse.query(f"select source, fiscal_year, count(*) as n from landing.{SOURCE} group by 1, 2")
    reasons = warehouse.query("select distinct quarantine_rules from quarantine.disbursements")["quarantine_rules"]
    marts = warehouse.query("select table_name from information_schema.tables where table_schema = 'marts'")
    return {"columns": {s: warehouse.query(PUBLISHED_COLUMNS.format(schema=s)) for s in ("clean", "quarantine")},
            "rows": rows, "reasons": ",".join(reasons.dropna()), "marts": sorted(marts["table_name"]),
            "villages": int(warehouse.query("select count(*) as n from clean.villages")["n"].iloc[0]),
            "years": sorted({int(y) for schema in ("clean", "quarantine") for y in warehouse.query(
                f"select distinct fiscal_year from {schema}.disbursements")["fiscal_year"].dropna()})}


def assert_only_the_source_was_run(state: dict, years: list[int] | None = None) -> None:
    landed, clean, quarantine = state["rows"]["landing"], state["rows"]["clean"], state["rows"]["quarantine"]
    assert set(landed["source"]) == {SOURCE}
    assert set(clean["source"]) | set(quarantine["source"]) == {SOURCE}
    run_years = years or sorted(int(y) for y in landed["fiscal_year"].dropna())
    assert state["years"] == run_years
    # Every landed row of the years run (and any without a year) is published or quarantined.
    in_run = landed["fiscal_year"].isna() | landed["fiscal_year"].isin(run_years)
    assert clean["n"].sum() + quarantine["n"].sum() == landed.loc[in_run, "n"].sum() > 0
    # No register has been published yet: the source's rows name villages no one knows, and say so.
    assert state["villages"] == 0  # an empty table, not a missing one
    assert "VILLAGE-KNOWN" in state["reasons"]
    assert state["marts"] == ["channel_summary", "county_year_measures", "fund_flow", "household_transfers",
                              "payment_accounts", "project_compliance"]


# -- the URL, resolved once ---------------------------------------------------------------------------

def test_a_relative_duckdb_url_resolves_against_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({"FUND_PIPELINE_WAREHOUSE_URL": "duckdb:///wh/../wh/w.duckdb"})
    assert settings.warehouse_url == f"duckdb:///{tmp_path}/wh/w.duckdb"
    assert settings.dbt_env()["FUND_PIPELINE_DUCKDB_PATH"] == str(tmp_path / "wh" / "w.duckdb")
    overridden = settings.with_overrides(warehouse_url="duckdb:///x.duckdb")  # the CLI's --warehouse
    assert overridden.warehouse_url == f"duckdb:///{tmp_path}/x.duckdb"
    assert Warehouse.from_url("duckdb:///x.duckdb").path == tmp_path / "x.duckdb"
    # Four slashes: an absolute path, unchanged; PostgreSQL URLs are not paths.
    assert settings.with_overrides(warehouse_url="duckdb:////srv/w.duckdb").warehouse_url == "duckdb:////srv/w.duckdb"
    pg = "postgresql+psycopg2://u:p@db:5432/fund"
    assert settings.with_overrides(warehouse_url=pg).warehouse_url == pg



def test_a_relative_dagster_home_resolves_against_the_working_directory(tmp_path, monkeypatch):
    """Dagster itself stops with a traceback on DAGSTER_HOME=dagster_home; the pipeline's instance takes it as a
    folder of the working directory, made if missing, as it does for a relative warehouse file."""
    from fund_pipeline.settings import dagster_instance

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DAGSTER_HOME", "state/dagster_home")
    with dagster_instance(Settings.from_env({})) as instance:
        assert Path(instance.root_directory) == tmp_path / "state" / "dagster_home"
    assert os.environ["DAGSTER_HOME"] == str(tmp_path / "state" / "dagster_home")
    assert (tmp_path / "state" / "dagster_home" / "dagster.yaml").is_file()

# -- DuckDB: files named like schemas, relative URLs, a first run for one source -------------------------

@pytest.fixture(scope="module")
def duckdb_county(dagster_home, tmp_path_factory):
    """From another working directory, with relative URLs: a full run into `marts.duckdb`; into `clean.duckdb`
    first a run for one source on the fresh file (its state kept), then a full run."""
    work = tmp_path_factory.mktemp("safe_defaults")
    inbox = work / "inbox"
    generate(inbox, seed=SEED, scale=SCALE)
    runs = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(work)
        reference = settings_for(inbox, "duckdb:///wh/marts.duckdb", work / "reports")
        runs["reference"] = run_pipeline(reference)
        county = settings_for(inbox, "duckdb:///wh/clean.duckdb", work / "reports")
        runs["one_source"] = run_pipeline(county, selection=sources_selection([SOURCE]))
        after_one_source = one_source_state(Warehouse.from_url(county.warehouse_url))
        runs["full"] = run_pipeline(county)
    return work, runs, reference, county, after_one_source


def test_python_and_dbt_write_the_same_relative_file(duckdb_county):
    work, runs, reference, county, _ = duckdb_county
    assert runs["reference"].success, runs["reference"].error
    assert county.warehouse_url == f"duckdb:///{work}/wh/clean.duckdb"
    # landing/clean/audit come from Python, staging/intermediate/marts from dbt: all in the one file.
    schemas = set(row_counts(Warehouse.from_url(reference.warehouse_url))["table_schema"])
    assert schemas == set(COUNTED_SCHEMAS)
    assert not (DBT_PROJECT_DIR / "wh").exists()  # dbt runs in dbt/: it must not resolve the path there


def test_a_run_for_one_source_works_on_a_fresh_warehouse(duckdb_county):
    _, runs, _, _, after = duckdb_county
    assert runs["one_source"].success, runs["one_source"].error
    assert runs["one_source"].reports  # the run went through to the auditors' report
    assert_only_the_source_was_run(after)


def test_unpublished_entities_get_the_columns_and_types_a_publish_makes(duckdb_county):
    _, runs, reference, _, after = duckdb_county
    assert runs["reference"].success, runs["reference"].error
    published = Warehouse.from_url(reference.warehouse_url)
    for schema in ("clean", "quarantine"):
        pd.testing.assert_frame_equal(after["columns"][schema], published.query(PUBLISHED_COLUMNS.format(schema=schema)))


def test_warehouse_files_named_like_schemas_publish_what_any_other_name_does(duckdb_county):
    _, runs, reference, county, _ = duckdb_county
    assert runs["full"].success, runs["full"].error
    mine, theirs = Warehouse.from_url(county.warehouse_url), Warehouse.from_url(reference.warehouse_url)
    # The same tables, columns and types (placeholders made by the one-source run included), the same rows.
    pd.testing.assert_frame_equal(mine.query(COLUMNS), theirs.query(COLUMNS))
    pd.testing.assert_frame_equal(row_counts(mine), row_counts(theirs))
    pd.testing.assert_frame_equal(published_sources(mine), published_sources(theirs))


# -- PostgreSQL: a run for one source and year on a fresh database, then a full run -----------------------

@pytest.mark.postgres
def test_a_run_for_one_source_works_on_a_fresh_postgres_warehouse(postgres_url, duckdb_county, tmp_path):
    work, _, reference, _, _ = duckdb_county
    url = fresh_database(postgres_url, "safe_defaults")
    county = settings_for(work / "inbox", url, tmp_path / "reports")
    one = run_pipeline(county, selection=sources_selection([SOURCE]), years=["2016"])  # run --source X --year 2016
    assert one.success, one.error
    warehouse = Warehouse.from_url(url)
    assert_only_the_source_was_run(one_source_state(warehouse), years=[2016])
    full = run_pipeline(county)
    assert full.success, full.error
    pg, duck = row_counts(warehouse), row_counts(Warehouse.from_url(reference.warehouse_url))
    pd.testing.assert_frame_equal(pg, duck)
    warehouse.engine.dispose()


def fresh_database(server_url: str, suffix: str) -> str:
    """A new, empty database beside the tests' one (dropped first if an earlier run left it)."""
    url = make_url(server_url)
    name = f"{url.database}_{suffix}"
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as con:
        con.execute(text(f'drop database if exists "{name}" with (force)'))
        con.execute(text(f'create database "{name}"'))
    engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


# -- make targets -----------------------------------------------------------------------------------------

def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make(*args: str, data: Path, home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUND_PIPELINE_")}
    env["DAGSTER_HOME"] = str(home)
    return subprocess.run(["make", "--no-print-directory", "-C", str(PROJECT_ROOT), *args, f"DATA={data}",
                           f"SCALE={SCALE}"], env=env, capture_output=True, text=True, check=False)


def test_make_run_and_clean_never_touch_the_users_inbox_or_warehouse(dagster_home, tmp_path):
    data = tmp_path / "data"
    user_file = data / "inbox" / "交通运输局" / "2016年交通扶贫资金拨付台账.xlsx"
    user_file.parent.mkdir(parents=True)
    user_file.write_bytes(b"a department's real ledger")
    real = Warehouse.from_url(f"duckdb:///{data / 'warehouse.duckdb'}")
    real.replace_table("clean", "villages", pd.DataFrame({"village": ["郭城驿镇新堡村"]}))
    before = {p: sha256(p) for p in (user_file, real.path)}

    run = make("run", data=data, home=dagster_home)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert f"duckdb:///{data / 'sample' / 'warehouse.duckdb'}" in run.stdout
    assert (data / "sample" / "inbox" / "sample.json").exists()
    assert list((data / "sample" / "reports").glob("run-*/审计报告.html"))
    assert int(Warehouse.from_url(f"duckdb:///{data / 'sample' / 'warehouse.duckdb'}")
               .query("select count(*) as n from marts.fund_flow")["n"].iloc[0]) > 0
    assert {p: sha256(p) for p in before} == before
    assert sorted(p.relative_to(data) for p in (data / "inbox").rglob("*")) == [
        Path("inbox/交通运输局"), user_file.relative_to(data)]
    # The sample's landing cache is its own: a run prunes what its inbox no longer has.
    assert (data / "sample" / "cache" / "landing").is_dir() and not (data / "cache").exists()

    # A sample folder that the sample did not make is refused, not emptied.
    for target in ("sample", "run"):
        refused = make(target, f"SAMPLE={data}", data=data, home=dagster_home)
        assert refused.returncode != 0 and "不会删除" in refused.stderr, target
        assert sha256(user_file) == before[user_file]

    clean = make("clean", data=data, home=dagster_home)
    assert clean.returncode == 0, clean.stderr
    assert not (data / "sample").exists()
    assert {p: sha256(p) for p in before} == before
