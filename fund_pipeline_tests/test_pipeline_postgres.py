"""The same pipeline on PostgreSQL: warehouse through COPY, dbt's postgres target, and Dagster's
instance storage on dagster-postgres. It must publish what the DuckDB run publishes."""

import duckdb
import pandas as pd
import pytest
from sqlalchemy import create_engine, text

from fund_pipeline.pipeline.runner import run_pipeline
from fund_pipeline.settings import Settings
from fund_pipeline.warehouse import Warehouse

pytestmark = pytest.mark.postgres
SCHEMAS = ("landing", "clean", "quarantine", "audit", "staging", "intermediate", "marts")


def reset_database(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as con:
        for schema in SCHEMAS:
            con.execute(text(f"drop schema if exists {schema} cascade"))
    engine.dispose()


@pytest.fixture(scope="module")
def postgres_run(postgres_url, sample_inbox, tmp_path_factory):
    import dagster as dg

    reset_database(postgres_url)
    home = tmp_path_factory.mktemp("pg_dagster_home")
    (home / "dagster.yaml").write_text(
        f"telemetry:\n  enabled: false\nstorage:\n  postgres:\n    postgres_url: \"{postgres_url}\"\n", encoding="utf-8")
    instance = dg.DagsterInstance.from_config(str(home))
    settings = Settings.from_env().with_overrides(inbox=sample_inbox, warehouse_url=postgres_url,
                                                   reports_dir=tmp_path_factory.mktemp("pg_reports"))
    outcome = run_pipeline(settings, instance=instance)
    assert outcome.success, outcome.error
    yield outcome, instance
    instance.dispose()


def _duck(duckdb_run, sql):
    _, url, _ = duckdb_run
    con = duckdb.connect(url.removeprefix("duckdb:///"), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


def test_the_run_is_recorded_in_the_postgres_instance(postgres_run):
    outcome, instance = postgres_run
    record = instance.get_run_record_by_id(outcome.run_id)
    assert record is not None and record.dagster_run.is_success


@pytest.mark.parametrize("sql", [
    "select source, count(*) as n, cast(sum(amount) as decimal(20, 2)) as total from clean.disbursements group by 1",
    "select source, count(*) as n, cast(sum(amount) as decimal(20, 2)) as total from clean.household_payments group by 1",
    "select source, count(*) as n from quarantine.household_payments group by 1",
    "select fiscal_year, cast(poor_village_share as decimal(20, 9)) as s, cast(fiscal_poverty_share as decimal(20, 9)) as f "
    "from marts.county_year_measures",
    "select channel_name, count(*) as n, cast(sum(amount) as decimal(20, 2)) as total from marts.fund_flow group by 1",
])
def test_published_tables_match_the_duckdb_run(postgres_run, postgres_url, duckdb_run, sql):
    pg = Warehouse.from_url(postgres_url).query(sql)
    duck = _duck(duckdb_run, sql)
    key = list(pg.columns[:1])
    pd.testing.assert_frame_equal(_normalise(pg, key), _normalise(duck, key), check_dtype=False)


def _normalise(frame: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """Both back-ends' answers as plain values: numbers as floats, the rest as text, sorted by the key."""
    out = frame.copy()
    for column in out.columns:
        numbers = pd.to_numeric(out[column], errors="coerce")
        out[column] = numbers.astype(float) if numbers.notna().all() else out[column].astype(str)
    return out.sort_values(key).reset_index(drop=True)


def test_findings_match_the_duckdb_run(postgres_run, postgres_url, duckdb_run):
    outcome, _ = postgres_run
    duck_outcome, _, _ = duckdb_run
    columns = "rule_id, source, source_file, sheet, row_number, column_name, value, message"
    pg = Warehouse.from_url(postgres_url).query(
        f"select {columns} from audit.validation_findings where run_id = '{outcome.run_id}'")
    duck = _duck(duckdb_run, f"select {columns} from audit.validation_findings where run_id = '{duck_outcome.run_id}'")
    def as_set(frame):
        frame = frame.assign(row_number=pd.to_numeric(frame["row_number"]).astype("Int64"))
        return set(map(tuple, frame.astype(str).values.tolist()))

    assert len(pg) > 0 and as_set(pg) == as_set(duck)


def _state(warehouse: Warehouse) -> dict[str, pd.DataFrame]:
    """What a run leaves in the tables people read, without the columns that name the run or the moment."""
    run_columns = {"run_id", "detected_at", "status", "first_seen_run", "first_seen_at"}
    out = {}
    for schema, table in (("clean", "household_payments"), ("clean", "disbursements"), ("quarantine", "household_payments"),
                          ("audit", "current_findings"), ("audit", "current_reconciliation"), ("audit", "set_aside_rows"),
                          ("marts", "county_year_measures"), ("marts", "fund_flow")):
        if not warehouse.table_exists(schema, table):
            continue
        frame = warehouse.read_table(schema, table)
        frame = frame.drop(columns=[c for c in frame.columns if c in run_columns])
        order = sorted(frame.columns)
        out[f"{schema}.{table}"] = frame[order].sort_values(order, ignore_index=True, na_position="first")
    return out


def test_a_second_run_keeps_every_step_and_every_table(postgres_run, postgres_url, sample_inbox, tmp_path):
    # Nothing changed since the module's run: on PostgreSQL too, every landing and publishing step keeps its
    # output, carries its findings into the run, the dbt models are not built again, and the tables stay as
    # they were.
    _, instance = postgres_run
    warehouse = Warehouse.from_url(postgres_url)
    before = _state(warehouse)
    settings = Settings.from_env().with_overrides(inbox=sample_inbox, warehouse_url=postgres_url,
                                                   reports_dir=tmp_path / "reports", cache_dir=tmp_path / "cache")
    again = run_pipeline(settings, instance=instance)
    assert again.success, again.error
    assert len(again.summary.steps) > 20 and again.summary.kept == again.summary.steps
    assert again.summary.models_kept > 10  # nothing published changed: dbt is not run either
    after = _state(warehouse)
    assert set(after) == set(before) and {"clean.household_payments", "audit.current_findings"} <= set(after)
    for name, frame in before.items():
        pd.testing.assert_frame_equal(after[name], frame, obj=name)
    statuses = warehouse.query("select distinct run_id, status from audit.current_findings")
    assert set(statuses["run_id"]) <= {again.run_id} and set(statuses["status"]) <= {"持续"}
