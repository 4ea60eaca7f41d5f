"""Incremental runs: after one township roster is re-sent, only that file is read again and only the steps
that depend on it recompute; a run with nothing changed keeps every step's output; a table changed behind the
pipeline's back is rebuilt. After each, every table the pipeline publishes (landing, clean, quarantine,
findings, reconciliation, marts) equals a run from scratch."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import dagster as dg
import openpyxl
import pandas as pd
import pytest

from fund_pipeline.pipeline.runner import run_pipeline
from fund_pipeline.settings import Settings
from fund_pipeline.warehouse import Warehouse

SOURCE = "agriculture_policy_subsidies"
CHANGED = "农业农村局/惠农补贴/2016/中川镇.xlsx"
# Columns that name the run or the moment, not the data.
# A finding's status and first sighting say what happened across runs (新增 on a first run), not what the data is.
RUN_COLUMNS = {"run_id", "detected_at", "status", "first_seen_run", "first_seen_at", "recorded_at"}
# History kept across runs, not the state a run leaves.
HISTORY_TABLES = {("audit", "resolved_findings"), ("audit", "row_reconciliation"), ("audit", "validation_findings")}
# Kept per run: the rows the last run wrote are compared.
PER_RUN_TABLES = {("audit", "policy_measures"), ("audit", "rule_summary")}
SCHEMAS = ("landing", "clean", "quarantine", "audit", "marts")


def settings_for(inbox: Path, work: Path, cache: Path) -> Settings:
    return Settings.from_env().with_overrides(inbox=inbox, warehouse_url=f"duckdb:///{work / 'warehouse.duckdb'}",
                                              reports_dir=work / "reports", cache_dir=cache)


def resend_changed_roster(inbox: Path) -> None:
    """The township re-sends its roster: one amount corrected upwards, one typed as text."""
    path = inbox / CHANGED
    book = openpyxl.load_workbook(path)
    sheet = book.worksheets[0]
    sheet.cell(row=4, column=8).value = 98765.4
    sheet.cell(row=6, column=8).value = "见附件"
    book.save(path)
    later = time.time() + 5  # arrives after every other file
    os.utime(path, (later, later))


def landing_metadata(source: str, run_id: str) -> dict:
    """What the run's landing step for a source recorded (its materialization's metadata)."""
    records = dg.DagsterInstance.get().fetch_materializations(dg.AssetKey(["landing", source]), limit=50).records
    record = next(r for r in records if r.run_id == run_id)
    return {k: v.value for k, v in record.asset_materialization.metadata.items()}


def state(url: str, run_id: str) -> dict[str, pd.DataFrame]:
    """Every table the pipeline leaves after the run, without run ids and times, in one row order."""
    warehouse = Warehouse.from_url(url)
    tables = warehouse.query("select table_schema, table_name from information_schema.tables where table_schema in "
                             f"({', '.join(repr(s) for s in SCHEMAS)}) and table_type = 'BASE TABLE'")
    out = {}
    for schema, table in tables.itertuples(index=False):
        if (schema, table) in HISTORY_TABLES:
            continue
        frame = warehouse.read_table(schema, table, where=f"run_id = '{run_id}'" if (schema, table) in PER_RUN_TABLES else "")
        frame = frame.drop(columns=[c for c in frame.columns if c in RUN_COLUMNS])
        if (schema, table) == ("audit", "step_inputs"):  # how a step worked, not what it made: the run that built
            # each dbt model, how many files a landing kept in place
            frame["metadata"] = frame["metadata"].map(lambda text: json.dumps(
                {k: v for k, v in json.loads(text).items() if k not in ("built_by", "files_landed_in_place")},
                sort_keys=True, ensure_ascii=False))
        order = sorted(frame.columns)
        out[f"{schema}.{table}"] = frame[order].sort_values(order, ignore_index=True, na_position="first")
    return out


@pytest.fixture(scope="module")
def runs(sample_inbox, dagster_home, tmp_path_factory):
    """A first run, the roster re-sent and a second run on the same warehouse and cache, a third with nothing
    changed, a fourth after rows were deleted behind the pipeline's back; and a run from scratch (new
    warehouse, empty cache) on the inbox as it now is. The state each run leaves is kept to compare."""
    work = tmp_path_factory.mktemp("landing_incremental")
    inbox = work / "inbox"
    shutil.copytree(sample_inbox, inbox)
    kept = settings_for(inbox, work / "kept", work / "cache")
    out = {"kept": kept, "inbox": inbox, "first": run_pipeline(kept)}
    resend_changed_roster(inbox)
    out["second"] = run_pipeline(kept)
    out["second_state"] = state(kept.warehouse_url, out["second"].run_id)
    out["third"] = run_pipeline(kept)
    out["third_state"] = state(kept.warehouse_url, out["third"].run_id)
    warehouse = Warehouse.from_url(kept.warehouse_url)
    warehouse.execute("delete from clean.household_payments where row_number % 7 = 0")
    warehouse.execute("delete from clean.villages where row_number % 2 = 0")
    out["fourth"] = run_pipeline(kept)
    out["fourth_state"] = state(kept.warehouse_url, out["fourth"].run_id)
    out["scratch"] = run_pipeline(settings_for(inbox, work / "scratch", work / "scratch-cache"))
    out["scratch_state"] = state(f"duckdb:///{work / 'scratch' / 'warehouse.duckdb'}", out["scratch"].run_id)
    return out


def test_the_runs_succeed(runs):
    for name in ("first", "second", "third", "fourth", "scratch"):
        assert runs[name].success, runs[name].error


def test_only_the_resent_file_is_read_again(runs):
    rosters = sorted(p.relative_to(runs["inbox"]).as_posix() for p in (runs["inbox"] / "农业农村局" / "惠农补贴").rglob("*.xlsx"))
    assert CHANGED in rosters and len(rosters) > 2
    second = landing_metadata(SOURCE, runs["second"].run_id)
    assert second["files_read_list"] == [CHANGED]
    assert (second["files_read"], second["files_reused"]) == (1, len(rosters) - 1) == (1, second["files"] - 1)
    assert second["files_landed_in_place"] == len(rosters) - 1  # their landed rows stay; the roster's are replaced
    # A source with nothing re-sent is not even launched: the run leaves its landing step out.
    assert "landing/transport_disbursements" in left_out(runs["second"].run_id)
    assert landing_metadata("transport_disbursements", runs["first"].run_id)["files_read"] > 0


def test_a_first_run_reads_every_file(runs):
    for name in ("first", "scratch"):
        metadata = landing_metadata(SOURCE, runs[name].run_id)
        assert metadata["files_reused"] == 0 and metadata["files_read"] == metadata["files"] > 2


def test_the_changed_roster_shows_in_the_findings(runs):
    findings = Warehouse.from_url(runs["kept"].warehouse_url).query(
        f"select rule_id, row_number from audit.current_findings where source_file = '{CHANGED}'")
    by_row = findings.dropna(subset=["row_number"]).groupby(findings["row_number"].dropna().astype(int))["rule_id"].agg(set)
    assert "AMOUNT-SUSPECT" in by_row.get(4, set())  # the amount corrected upwards
    assert 6 in by_row.index  # the amount that is not a number


@pytest.mark.parametrize("run", ["second", "third", "fourth"])
def test_every_table_equals_a_run_from_scratch(runs, run):
    mine, scratch = runs[f"{run}_state"], runs["scratch_state"]
    assert sorted(mine) == sorted(scratch)
    assert {"landing." + SOURCE, "clean.household_payments", "quarantine.household_payments",
            "audit.current_findings", "audit.step_inputs"} <= set(mine)
    for name in mine:
        pd.testing.assert_frame_equal(mine[name], scratch[name], obj=name)


def materialized(run_id: str, stages=("landing", "clean")) -> dict[str, dict]:
    """Every landing and clean asset (or those of other stages) the run materialized: its metadata, by 'stage/name'."""
    instance = dg.DagsterInstance.get()
    out = {}
    for record in instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records:
        materialization = record.event_log_entry.asset_materialization
        if materialization.asset_key.path[0] in stages:
            out["/".join(materialization.asset_key.path)] = {k: v.value for k, v in materialization.metadata.items()}
    return out


def left_out(run_id: str, stages=("landing", "clean")) -> dict:
    """The landing and publishing steps (or those of other stages) the run left out, their inputs unchanged
    (its kept-steps tag)."""
    from fund_pipeline.defs.reuse import KEPT_STEPS_TAG

    steps = json.loads(dg.DagsterInstance.get().get_run_by_id(run_id).tags.get(KEPT_STEPS_TAG, "{}"))
    return {step: years for step, years in steps.items() if step.split("/")[0] in stages}


def every_step(run_id: str) -> set[str]:
    return {step for step in materialized(run_id)} | set(left_out(run_id))


def test_only_the_steps_that_depend_on_the_resent_roster_recompute(runs):
    steps = materialized(runs["second"].run_id)
    recomputed = sorted(step for step, metadata in steps.items() if "inputs_unchanged" not in metadata)
    assert recomputed == ["clean/household_payments", f"landing/{SOURCE}"]
    # The others are left out of the run; a step is either launched or left out, never both.
    assert not set(steps) & set(left_out(runs["second"].run_id))
    assert every_step(runs["second"].run_id) == every_step(runs["first"].run_id) and len(every_step(runs["first"].run_id)) > 20


def test_a_run_with_nothing_changed_keeps_every_step(runs):
    run_id = runs["third"].run_id
    assert materialized(run_id) == {}  # not one landing or publishing step launched
    steps = left_out(run_id)
    assert set(steps) == every_step(runs["first"].run_id)
    from fund_pipeline.defs.jobs import known_years

    # a publishing step with its fiscal years (every one the data holds), a register without
    assert steps["clean/household_payments"] == sorted(known_years(dg.DagsterInstance.get()))
    assert steps["clean/villages"] is None
    # and says so in its closing summary
    assert f"沿用上次结果的读取与发布步骤:{len(steps)} 个(共 {len(steps)} 个)" in runs["third"].describe()


def test_dbt_builds_only_when_the_published_tables_changed(runs):
    models = set(materialized(runs["first"].run_id, stages=("warehouse",)))
    assert len(models) > 10
    # Nothing published changed: every model is left out, and the run says so.
    assert materialized(runs["third"].run_id, stages=("warehouse",)) == {}
    assert set(left_out(runs["third"].run_id, stages=("warehouse",))) == models
    assert f"dbt 模型未重建:{len(models)} 个" in runs["third"].describe()
    # A re-sent roster publishes other payments: the models that read them are built again, the others (the
    # registers' and the ledgers' staging views) are kept as the first run built them.
    second = materialized(runs["second"].run_id, stages=("warehouse",))
    rebuilt = {model for model, metadata in second.items() if "inputs_unchanged" not in metadata}
    assert set(second) == models
    assert {"warehouse/stg_household_payments", "warehouse/payment_accounts", "warehouse/household_transfers",
            "warehouse/fund_flow", "warehouse/county_year_measures"} <= rebuilt
    assert {"warehouse/stg_villages", "warehouse/stg_disbursements", "warehouse/stg_fund_receipts"} <= models - rebuilt
    assert all(second[m]["built_by_run"] == runs["first"].run_id for m in models - rebuilt)
    # Rows deleted behind the pipeline's back are published again, the same rows: the publishing steps launch
    # (their tables lost rows), so dbt launches too, and then finds nothing it reads changed and builds nothing.
    fourth = materialized(runs["fourth"].run_id, stages=("warehouse",))
    assert set(fourth) == models and all(m["inputs_unchanged"] for m in fourth.values())
    # each model reported as the run that last built it
    assert {m: fourth[m]["built_by_run"] for m in models} == {
        m: runs["second"].run_id if m in rebuilt else runs["first"].run_id for m in models}
    for run in ("second", "fourth"):
        assert left_out(runs[run].run_id, stages=("warehouse",)) == {}


def test_left_out_steps_are_reconciled_again_in_the_run(runs):
    warehouse = Warehouse.from_url(runs["kept"].warehouse_url)
    per_run = warehouse.query("select run_id, count(*) as n, sum(landed) as landed from audit.row_reconciliation "
                              "group by run_id").set_index("run_id")
    assert per_run.loc[runs["third"].run_id].tolist() == per_run.loc[runs["second"].run_id].tolist()


def test_kept_steps_carry_their_findings_into_the_run(runs):
    warehouse = Warehouse.from_url(runs["kept"].warehouse_url)
    current = warehouse.query("select run_id, status, first_seen_run from audit.current_findings")
    # The last run kept most steps: every current finding is still that run's, seen before and found again.
    last = runs["fourth"].run_id
    assert len(current) > 0 and set(current["run_id"]) == {last}
    assert set(current["status"]) == {"持续"}
    assert not {runs["third"].run_id, last} & set(current["first_seen_run"])
    for run in ("third", "fourth"):  # each run's history holds every finding, none resolved
        run_id = runs[run].run_id
        history = warehouse.query(f"select count(*) as n from audit.validation_findings where run_id = '{run_id}'")
        assert int(history["n"].iloc[0]) == len(current)
        if warehouse.table_exists("audit", "resolved_findings"):
            resolved = warehouse.query(f"select count(*) as n from audit.resolved_findings where resolved_run = '{run_id}'")
            assert int(resolved["n"].iloc[0]) == 0


def test_rows_deleted_behind_the_pipelines_back_are_published_again(runs):
    steps = materialized(runs["fourth"].run_id)
    recomputed = sorted(step for step, metadata in steps.items() if "inputs_unchanged" not in metadata)
    # Their inputs did not change, so what depends on them is kept; their own rows are rebuilt.
    assert recomputed == ["clean/household_payments", "clean/villages"]


# -- the cache alone: the reader's own read_source is the reference ------------------------------------

def assert_same_read(mine, theirs) -> None:
    for part in ("records", "problems", "totals", "notes"):
        pd.testing.assert_frame_equal(getattr(mine, part), getattr(theirs, part), obj=part)
    assert mine.files == theirs.files


def test_a_read_through_the_cache_equals_the_readers_own(sample_inbox, tmp_path):
    from fund_pipeline.pipeline.ingest import read_source_by_file
    from fund_pipeline.pipeline.landing_cache import LandingCache
    from fund_pipeline.sources.reader import read_source
    from fund_pipeline.sources.spec import load_layouts

    inbox = tmp_path / "inbox"
    shutil.copytree(sample_inbox / "农业农村局", inbox / "农业农村局")
    spec = next(s for s in load_layouts() if s.name == SOURCE)
    cache = tmp_path / "cache"
    first, read, reused = read_source_by_file(spec, inbox, LandingCache(cache, spec))
    assert reused == [] and len(read) > 2
    assert_same_read(first, read_source(spec, inbox))

    resend_changed_roster(inbox)
    (cache / "landing" / SOURCE / "broken.pkl").write_bytes(b"not a pickle")  # left by a killed run: pruned
    again, read, reused = read_source_by_file(spec, inbox, LandingCache(cache, spec))
    assert read == [CHANGED] and len(reused) == len(first.files) - 1
    assert_same_read(again, read_source(spec, inbox))
    assert not (cache / "landing" / SOURCE / "broken.pkl").exists()
    assert len(list((cache / "landing" / SOURCE).iterdir())) == len(first.files)  # the old version is gone

    # A damaged entry is read again from the spreadsheet, not trusted.
    entry = next((cache / "landing" / SOURCE).iterdir())
    entry.write_bytes(entry.read_bytes()[:100])
    damaged, read, _ = read_source_by_file(spec, inbox, LandingCache(cache, spec))
    assert len(read) == 1
    assert_same_read(damaged, read_source(spec, inbox))


def test_a_changed_layout_reads_every_file_again(sample_inbox, tmp_path):
    import dataclasses

    from fund_pipeline.pipeline.ingest import read_source_by_file
    from fund_pipeline.pipeline.landing_cache import LandingCache
    from fund_pipeline.sources.spec import load_layouts

    spec = next(s for s in load_layouts() if s.name == "transport_disbursements")
    _, read, _ = read_source_by_file(spec, sample_inbox, LandingCache(tmp_path, spec))
    _, again, reused = read_source_by_file(spec, sample_inbox, LandingCache(tmp_path, spec))
    assert again == [] and len(reused) == len(read) > 0
    changed = dataclasses.replace(spec, header_rows=spec.header_rows)  # the same layout: still reused
    assert read_source_by_file(changed, sample_inbox, LandingCache(tmp_path, changed))[1] == []
    changed = dataclasses.replace(spec, unit="元" if spec.unit != "元" else "万元")
    _, again, reused = read_source_by_file(changed, sample_inbox, LandingCache(tmp_path, changed))
    assert reused == [] and again == read
