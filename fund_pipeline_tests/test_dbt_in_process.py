"""dbt runs inside the step's process (defs/dbt_runner.py): a failure fails the step with dbt's own error, and
the warehouse file is free for the steps after it."""

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
