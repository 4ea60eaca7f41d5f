"""One clean sample county, planted by hand (not by `fund_pipeline.sample`), and one real pipeline run on it."""

from __future__ import annotations

import duckdb
import pytest

from fund_pipeline.rules.gx_worker import validating_in_worker
from fund_pipeline.sample import generate
from fund_pipeline_tests.conftest import SCALE, SEED, run_on
from fund_pipeline_tests.planter2.plants import Planter


@pytest.fixture(scope="session")
def planter2(tmp_path_factory) -> Planter:
    inbox = tmp_path_factory.mktemp("planter2_inbox")
    generate(inbox, seed=SEED, scale=SCALE, plant_violations=False)
    planter = Planter(inbox)
    planter.plant_all()
    return planter


@pytest.fixture(scope="session")
def planter2_run(planter2, dagster_home, tmp_path_factory):
    work = tmp_path_factory.mktemp("planter2_run")
    url = f"duckdb:///{work / 'warehouse.duckdb'}"
    # Validated in a GX worker, as `fund-pipeline run` does on a small inbox: the planted violations are found
    # through that path too (the sample's own run, duckdb_run, validates in its process).
    with validating_in_worker():
        outcome = run_on(url, planter2.inbox, work / "reports")
    assert outcome.success, outcome.error
    return outcome, url


@pytest.fixture(scope="module")
def warehouse2(planter2_run):
    _, url = planter2_run
    con = duckdb.connect(url.removeprefix("duckdb:///"), read_only=True)
    yield con
    con.close()
