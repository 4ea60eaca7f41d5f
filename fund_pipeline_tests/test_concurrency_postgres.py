"""Two runs for different departments at once, on PostgreSQL, do not corrupt each other."""

import os
import subprocess
import sys

import pandas as pd
import pytest

from fund_pipeline.warehouse import Warehouse
from fund_pipeline_tests.test_pipeline_postgres import reset_database

pytestmark = pytest.mark.postgres


def _run(url, inbox, reports, home, *sources):
    """A `fund-pipeline run` in its own process; its log goes to a file (a pipe nobody reads would block it)."""
    args = [sys.executable, "-m", "fund_pipeline.cli", "run", "--inbox", str(inbox), "--reports", str(reports)]
    for source in sources:
        args += ["--source", source]
    # The URL carries a password, so it goes in the environment: `--warehouse` refuses one.
    env = dict(os.environ, DAGSTER_HOME=str(home), FUND_PIPELINE_WAREHOUSE_URL=url)
    log = open(f"{reports}.log", "w", encoding="utf-8")  # noqa: SIM115 - read back by _finished
    process = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    process.log_path = log.name
    return process


def _finished(process) -> None:
    code = process.wait(timeout=600)
    with open(process.log_path, encoding="utf-8") as log:
        assert code == 0, log.read()[-3000:]


def test_concurrent_runs_for_two_departments(postgres_url, sample_inbox, tmp_path):
    reset_database(postgres_url)
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    full = _run(postgres_url, sample_inbox, tmp_path / "r0", home)
    _finished(full)
    warehouse = Warehouse.from_url(postgres_url)
    sql = "select source, count(*) as n, sum(amount) as total from clean.disbursements group by 1 order by 1"
    before = warehouse.query(sql)
    flow_before = warehouse.query("select count(*) as n from marts.fund_flow")

    runs = [_run(postgres_url, sample_inbox, tmp_path / "r1", home, "transport_disbursements"),
            _run(postgres_url, sample_inbox, tmp_path / "r2", home, "water_disbursements", "poverty_yulu")]
    for run in runs:
        _finished(run)
    pd.testing.assert_frame_equal(warehouse.query(sql), before)
    pd.testing.assert_frame_equal(warehouse.query("select count(*) as n from marts.fund_flow"), flow_before)
    reconciliation = warehouse.query("select * from audit.current_reconciliation")
    assert reconciliation["reconciles"].all()
