"""dbt runs inside the step's process (defs/dbt_runner.py), or in the run's dbt worker (defs/dbt_worker.py): a
failure fails the step with dbt's own error, and the warehouse file is free for the steps after it."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from fund_pipeline.defs.assemble import build_definitions
from fund_pipeline.defs.dbt_runner import DbtCommandFailed, run_dbt
from fund_pipeline.pipeline.unpublished import empty_published
from fund_pipeline.settings import Settings
from fund_pipeline.warehouse import Warehouse

CLI = str(Path(sys.executable).parent / "fund-pipeline")


def test_a_failed_dbt_command_fails_with_dbts_error_and_where_its_log_is(tmp_path):
    with pytest.raises(DbtCommandFailed) as failure:
        run_dbt(["run-operation", "no_such_macro"], tmp_path / "target")
    description = failure.value.description
    assert "no_such_macro" in description
    log = tmp_path / "target" / "dbt.log"
    assert description.splitlines()[-1] == f"dbt run-operation 未成功完成(详见 dbt 日志 {log})"
    assert "no_such_macro" in log.read_text(encoding="utf-8")  # the log the message points to is there


def test_a_model_that_cannot_build_fails_the_dbt_step_and_leaves_the_warehouse_usable(tmp_path, dagster_home):
    """clean.villages with a date where the poor-village flag belongs: stg_villages cannot be built. The step
    fails, naming the model, and the DuckDB file dbt had open in this process can be opened again at once."""
    path = tmp_path / "w.duckdb"
    url = f"duckdb:///{path}"
    columns = ", ".join(f'"{c}" {"date" if c == "is_poor_village" else "varchar"}'
                        for c in empty_published("villages")["clean"].columns)
    Warehouse.from_url(url).execute(f"create schema clean; create table clean.villages ({columns})")
    settings = Settings.from_env().with_overrides(inbox=tmp_path / "inbox", warehouse_url=url,
                                                  reports_dir=tmp_path / "reports")
    definitions = build_definitions(settings)
    models = [key for key in definitions.resolve_all_asset_keys() if key.path[0] == "warehouse"]
    job = definitions.resolve_implicit_global_asset_job_def()
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(instance=instance, asset_selection=models, raise_on_error=False)

    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failure.step_key == "fund_dbt_models"
    error = failure.event_specific_data.error
    assert error.cls_name == "DbtCommandFailed"
    assert "stg_villages" in error.message and "dbt build 未成功完成" in error.message
    built = {e.asset_key.path[-1] for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"}
    assert "stg_villages" not in built and "stg_fund_receipts" in built  # the others built, as dbt reported them
    with duckdb.connect(":memory:") as con:  # dbt's own connection to the file is closed
        con.execute(f"attach '{path}' as w")
        assert con.execute("select count(*) from w.clean.villages").fetchone() == (0,)


def test_ctrl_c_while_dbt_builds_stops_the_run_cleanly_and_the_next_run_completes(sample_inbox, tmp_path):
    """dbt runs in a thread of the run's process: Ctrl-C during the build waits for dbt's command to end (a
    thread cut off inside DuckDB would abort the process), then the run stops with a Chinese message."""
    inbox = tmp_path / "inbox"
    shutil.copytree(sample_inbox, inbox)
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "dagster_home"), "FUND_PIPELINE_CACHE": str(tmp_path / "cache")}
    command = [CLI, "run", "--inbox", str(inbox), "--warehouse", f"duckdb:///{tmp_path / 'w.duckdb'}",
               "--reports", str(tmp_path / "reports")]
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines = []
    for line in run.stdout:  # the progress lines, as they come
        lines.append(line)
        if "建模 dbt 模型(staging" in line:
            run.send_signal(signal.SIGINT)  # dbt is starting: importing, parsing, building
            break
    out, err = run.communicate(timeout=300)
    out = "".join(lines) + out

    assert run.returncode == 1, err[-3000:]
    assert "terminate called" not in err and "Traceback" not in err
    assert "错误:fund_dbt_models: 运行被中断(Ctrl-C,或运行被取消)" in out
    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert re.search(r"运行 \w{8}:完成", again.stdout) and "建模 fund_flow 完成" in again.stdout


def _build_models(url: str, tmp_path: Path):
    """The dbt step alone, every model, on the warehouse at `url` (no step kept: the cache is off)."""
    from dataclasses import replace

    settings = replace(Settings.from_env().with_overrides(inbox=tmp_path / "inbox", warehouse_url=url,
                                                          reports_dir=tmp_path / "reports"), cache_dir=None)
    definitions = build_definitions(settings)
    models = [key for key in definitions.resolve_all_asset_keys() if key.path[0] == "warehouse"]
    with dg.DagsterInstance.ephemeral() as instance:
        result = definitions.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, asset_selection=models, raise_on_error=False)
    built = sorted(e.asset_key.path[-1] for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION")
    checks = sorted((e.event_specific_data.check_name, e.event_specific_data.passed) for e in result.all_events
                    if e.event_type_value == "ASSET_CHECK_EVALUATION")
    with duckdb.connect(":memory:") as con:  # the worker closed its connection to the file too
        con.execute(f"attach '{url.removeprefix('duckdb:///')}' as w")
        rows = {m: con.execute(f"select count(*) from w.marts.{m}").fetchone()[0]
                for m in ("fund_flow", "channel_summary", "household_transfers")}
    return result.success, built, checks, rows


def test_the_runs_dbt_worker_builds_what_the_steps_own_process_builds(duckdb_run, tmp_path, monkeypatch):
    """`fund-pipeline run` builds dbt in a worker process that imported dbt and parsed the project as the run
    began (defs/dbt_worker.py): the same models, the same dbt tests passed, the same rows as a build in the
    step's own process, and the warehouse free again afterwards."""
    from fund_pipeline.defs import dbt_worker
    from fund_pipeline.settings import dbt_target_path

    _, source_url, _ = duckdb_run
    here, there = tmp_path / "here.duckdb", tmp_path / "there.duckdb"
    for copy in (here, there):
        shutil.copy(source_url.removeprefix("duckdb:///"), copy)
    in_process = _build_models(f"duckdb:///{here}", tmp_path)

    commands = []
    invoke = dbt_worker.DbtWorker.invoke
    monkeypatch.setattr(dbt_worker.DbtWorker, "invoke", lambda self, *a: commands.append(a[0]) or invoke(self, *a))
    url = f"duckdb:///{there}"
    settings = Settings.from_env().with_overrides(warehouse_url=url)
    with dbt_worker.building_in_worker(True, dbt_target_path(url), settings.dbt_env()):
        worker_pids = set(dbt_worker.active().pool._processes)
        in_worker = _build_models(url, tmp_path)
    assert in_worker == in_process and in_worker[0]
    assert len(in_worker[1]) == 16 and all(passed for _, passed in in_worker[2])
    assert [c[0] for c in commands] == ["build"] and os.getpid() not in worker_pids


def test_a_dbt_worker_that_died_leaves_the_build_to_the_steps_process(duckdb_run, tmp_path):
    from fund_pipeline.defs import dbt_worker
    from fund_pipeline.settings import dbt_target_path

    _, source_url, _ = duckdb_run
    path = tmp_path / "w.duckdb"
    shutil.copy(source_url.removeprefix("duckdb:///"), path)
    url = f"duckdb:///{path}"
    with dbt_worker.building_in_worker(True, dbt_target_path(url), Settings.from_env().with_overrides(
            warehouse_url=url).dbt_env()):
        worker = dbt_worker.active()
        for pid in list(worker.pool._processes):
            os.kill(pid, signal.SIGKILL)
        result = _build_models(url, tmp_path)
        assert worker.broken and dbt_worker.active() is None
    assert result[0] and len(result[1]) == 16


def test_the_dbt_worker_starts_only_for_a_run_that_builds_models(sample_inbox, dagster_home, tmp_path, monkeypatch):
    """The worker costs a process that imports dbt and parses the project: a run whose steps all keep their
    output (nothing new in the inbox) builds no model and starts none; the first run started one and built in it."""
    from fund_pipeline.defs import dbt_worker
    from fund_pipeline.pipeline.runner import run_pipeline
    from fund_pipeline.settings import dbt_target_path
    from fund_pipeline_tests.test_landing_incremental import settings_for

    started, commands = [], []
    start, invoke = dbt_worker._start, dbt_worker.DbtWorker.invoke
    monkeypatch.setattr(dbt_worker, "_start", lambda *a: started.append(1) or start(*a))
    monkeypatch.setattr(dbt_worker.DbtWorker, "invoke", lambda self, args, *rest: commands.append(args[0])
                        or invoke(self, args, *rest))
    settings = settings_for(sample_inbox, tmp_path / "work", tmp_path / "cache")
    for run in ("first", "again"):
        with dbt_worker.building_in_worker(True, dbt_target_path(settings.warehouse_url), settings.dbt_env(),
                                           deferred=True):
            outcome = run_pipeline(settings)
        assert outcome.success, outcome.error
        assert (started, commands) == ([1], ["build"]), run  # the second run added neither
