"""A finding the audit step computes over every source (here INGEST-NO-DATA: a department sent nothing for a
year) keeps its status across runs that leave the department's steps out and runs that land it again: a
landing step's own findings never include it, so neither leaving the step out nor recomputing it marks the
finding 已整改 and then 新增 again."""

from __future__ import annotations

import shutil

import openpyxl
import pytest

from fund_pipeline.pipeline.runner import run_pipeline
from fund_pipeline.settings import Settings
from fund_pipeline.warehouse import Warehouse

SOURCE = "transport_disbursements"
FOLDER = "交通运输局"
MISSING_YEAR = 2016


@pytest.fixture(scope="module")
def runs(sample_inbox, dagster_home, tmp_path_factory):
    work = tmp_path_factory.mktemp("kept_steps")
    inbox = work / "inbox"
    shutil.copytree(sample_inbox, inbox)
    missing = sorted((inbox / FOLDER).glob(f"{MISSING_YEAR}年*.xlsx"))
    assert len(missing) == 1
    missing[0].unlink()
    settings = Settings.from_env().with_overrides(inbox=inbox, warehouse_url=f"duckdb:///{work / 'warehouse.duckdb'}",
                                                  reports_dir=work / "reports", cache_dir=work / "cache")
    out = {"settings": settings, "first": run_pipeline(settings)}
    out["first_state"] = no_data_findings(settings)
    out["unchanged"] = run_pipeline(settings)
    out["unchanged_state"] = no_data_findings(settings)
    resend = next(p for p in sorted((inbox / FOLDER).glob("*.xlsx")) if str(MISSING_YEAR) not in p.name)
    book = openpyxl.load_workbook(resend)
    cell = book.worksheets[0]["H3"]
    cell.value = cell.value + 1
    book.save(resend)
    out["resent"] = run_pipeline(settings)
    out["resent_state"] = no_data_findings(settings)
    return out


def no_data_findings(settings: Settings):
    return Warehouse.from_url(settings.warehouse_url).query(
        "select fiscal_year, status, run_id, first_seen_run from audit.current_findings "
        f"where rule_id = 'INGEST-NO-DATA' and source = '{SOURCE}'")


def test_the_runs_succeed(runs):
    for name in ("first", "unchanged", "resent"):
        assert runs[name].success, runs[name].error


def test_the_missing_year_is_found_once_and_then_persists(runs):
    first = runs["first_state"]
    assert first["fiscal_year"].astype(int).tolist() == [MISSING_YEAR]
    assert first["status"].tolist() == ["新增"]
    for name in ("unchanged", "resent"):
        state = runs[f"{name}_state"]
        assert state["fiscal_year"].astype(int).tolist() == [MISSING_YEAR]
        assert state["status"].tolist() == ["持续"], name
        assert state["run_id"].tolist() == [runs[name].run_id]
        assert state["first_seen_run"].tolist() == [runs["first"].run_id]


def test_the_department_was_left_out_then_landed_again(runs):
    from fund_pipeline_tests.test_landing_incremental import left_out

    assert f"landing/{SOURCE}" in left_out(runs["unchanged"].run_id)
    assert f"landing/{SOURCE}" not in left_out(runs["resent"].run_id)


def test_it_is_never_marked_resolved(runs):
    warehouse = Warehouse.from_url(runs["settings"].warehouse_url)
    history = warehouse.query("select run_id, status from audit.validation_findings "
                              f"where rule_id = 'INGEST-NO-DATA' and source = '{SOURCE}' order by detected_at")
    assert history["run_id"].tolist() == [runs[name].run_id for name in ("first", "unchanged", "resent")]
    assert history["status"].tolist() == ["新增", "持续", "持续"]
    resolved = warehouse.query("select count(*) as n from audit.resolved_findings "
                               f"where rule_id = 'INGEST-NO-DATA' and source = '{SOURCE}'") \
        if warehouse.table_exists("audit", "resolved_findings") else None
    assert resolved is None or int(resolved["n"].iloc[0]) == 0


def test_published_tables_are_shaped_again_only_when_they_need_it(runs, tmp_path):
    """Before dbt, the published tables are given their shape (pipeline/unpublished.py): after a run nothing
    is left to do, but a table or column lost behind the pipeline's back is made again."""
    from fund_pipeline.pipeline.step_inputs import recorded
    from fund_pipeline.pipeline.unpublished import SHAPED_STEP, create_unpublished_tables

    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(runs["settings"].warehouse_url.removeprefix("duckdb:///"), copy)
    warehouse = Warehouse.from_url(f"duckdb:///{copy}")
    shapes = recorded(warehouse, SHAPED_STEP).metadata
    assert "clean.household_payments" in shapes and "quarantine.villages" in shapes
    assert create_unpublished_tables(warehouse) == []
    lost = shapes["quarantine.loans"][-1]
    warehouse.execute(f'alter table quarantine.loans drop column "{lost}"')
    warehouse.execute("drop table clean.audits")
    assert create_unpublished_tables(warehouse) == ["clean.audits"]
    assert lost in warehouse.columns("quarantine", "loans")
    assert warehouse.columns("clean", "audits") == shapes["clean.audits"]


def test_the_dbt_build_is_kept_only_while_what_it_read_is_unchanged(runs, tmp_path):
    """The models are left out of a run only when the published tables are those the last whole build read
    (their publishing steps' records) and every model is still in the warehouse."""
    from fund_pipeline.defs.dbt import BUILD_STEP, build_digest, unchanged_build
    from fund_pipeline.pipeline.step_inputs import record, recorded

    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(runs["settings"].warehouse_url.removeprefix("duckdb:///"), copy)
    warehouse = Warehouse.from_url(f"duckdb:///{copy}")
    assert recorded(warehouse, BUILD_STEP).run_id == runs["resent"].run_id  # the last run built the models
    assert unchanged_build(warehouse) is not None
    digest = build_digest(warehouse)
    villages = recorded(warehouse, "clean/villages")
    record(warehouse, "clean/villages", "published again from other rows", villages.metadata, "another run")
    assert build_digest(warehouse) != digest and unchanged_build(warehouse) is None
    record(warehouse, "clean/villages", villages.digest, villages.metadata, villages.run_id)
    assert unchanged_build(warehouse) is not None
    warehouse.execute("drop table marts.fund_flow")
    assert unchanged_build(warehouse) is None


@pytest.mark.parametrize("changed", ["models/marts/fund_flow.sql", "macros", "dbt_project.yml", "profiles.yml"])
def test_the_dbt_build_digest_follows_the_dbt_project(changed, tmp_path, monkeypatch):
    """A changed model, macro or dbt configuration means the models must be built again."""
    import fund_pipeline.defs.dbt as dbt_defs

    project = tmp_path / "dbt"
    shutil.copytree(dbt_defs.DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    monkeypatch.setattr(dbt_defs, "DBT_PROJECT_DIR", project)
    warehouse = Warehouse.from_url(f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    before = dbt_defs.build_digest(warehouse)
    assert dbt_defs.build_digest(warehouse) == before
    path = project / changed
    if path.is_dir():  # a new macro file
        path = path / "new_macro.sql"
        path.write_text("{% macro new_macro() %}1{% endmacro %}\n", encoding="utf-8")
    else:
        path.write_text(path.read_text(encoding="utf-8") + "\n# changed\n", encoding="utf-8")
    assert dbt_defs.build_digest(warehouse) != before


def test_a_resent_ledger_rebuilds_only_the_models_that_read_the_ledgers(runs):
    """The re-sent ledger republishes disbursements: dbt builds again the models that read them (directly or
    through int_integrated_spending), with their tests; the household marts, which do not, stay as built."""
    from fund_pipeline.defs.dbt import entities_read_by_models
    from fund_pipeline_tests.test_landing_incremental import materialized

    resent = materialized(runs["resent"].run_id, stages=("warehouse",))
    rebuilt = {key.split("/")[1] for key, metadata in resent.items() if "inputs_unchanged" not in metadata}
    kept = {key.split("/")[1] for key, metadata in resent.items() if metadata.get("inputs_unchanged")}
    assert {"stg_disbursements", "int_integrated_spending", "fund_flow", "county_year_measures",
            "project_compliance"} <= rebuilt
    assert {"payment_accounts", "household_transfers", "stg_household_payments", "stg_villages"} <= kept
    assert rebuilt == {model for model, entities in entities_read_by_models().items() if "disbursements" in entities}
    assert rebuilt | kept == set(entities_read_by_models())
