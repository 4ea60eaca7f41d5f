"""Shared fixtures: a small sample county with planted violations, and one whole-pipeline run on DuckDB."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
import yaml

from fund_pipeline.instance_config import event_log_storage
from fund_pipeline.sample import generate
from fund_pipeline.settings import Settings

SCALE = 0.005
SEED = 20150805


@pytest.fixture(scope="session", autouse=True)
def _close_the_rule_tests_gx_worker():
    """The rule tests' GX worker (rules/harness.py) waits for its pages and ends with the session."""
    yield
    from fund_pipeline_tests.rules.harness import SESSION_WORKER

    for worker in SESSION_WORKER:
        worker.close()


@pytest.fixture(scope="session")
def sample_inbox(tmp_path_factory) -> Path:
    inbox = tmp_path_factory.mktemp("inbox")
    generate(inbox, seed=SEED, scale=SCALE, plant_violations=True)
    return inbox


@pytest.fixture(scope="session")
def expected_findings(sample_inbox) -> pd.DataFrame:
    return pd.read_csv(sample_inbox / "expected_findings.csv", dtype={"row_number": "Int64"})


@pytest.fixture(scope="session")
def dagster_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("dagster_home")
    # the embedded default's event log (fund_pipeline/event_log.py); the rest Dagster's defaults
    config = {"telemetry": {"enabled": False}, "event_log_storage": event_log_storage(home)}
    (home / "dagster.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def run_on(url: str, inbox: Path, reports: Path):
    from fund_pipeline.pipeline.runner import run_pipeline

    settings = Settings.from_env().with_overrides(inbox=inbox, warehouse_url=url, reports_dir=reports)
    return run_pipeline(settings)


@pytest.fixture(scope="session")
def duckdb_run(sample_inbox, dagster_home, tmp_path_factory):
    """The whole pipeline, materialised for real on the sample county, into a DuckDB file."""
    work = tmp_path_factory.mktemp("duckdb_run")
    url = f"duckdb:///{work / 'warehouse.duckdb'}"
    outcome = run_on(url, sample_inbox, work / "reports")
    assert outcome.success, outcome.error
    return outcome, url, work / "reports"


def warehouse_url(backend: str, tmp_path: Path, request) -> str:
    """For a test run on both back-ends: the PostgreSQL test database, or a new DuckDB file under tmp_path."""
    return request.getfixturevalue("postgres_url") if backend == "postgres" else f"duckdb:///{tmp_path / 'w.duckdb'}"


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A PostgreSQL database for the tests (FUND_PIPELINE_TEST_PG_URL, set by `make test` / .ci/run).
    Skipped on a machine without a server; in CI a missing server is a failure, never a skip."""
    url = os.environ.get("FUND_PIPELINE_TEST_PG_URL")
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but FUND_PIPELINE_TEST_PG_URL is not set: PostgreSQL tests must run in CI")
        pytest.skip("no PostgreSQL server (set FUND_PIPELINE_TEST_PG_URL or install Debian's postgresql)")
    return url
