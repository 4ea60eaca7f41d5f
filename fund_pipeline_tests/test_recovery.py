"""Pool slots left behind by a run that is over are freed by the next run, on the product's own instance
storage (fund_pipeline/event_log.py): otherwise every later run of that pool waits for them, forever."""

from __future__ import annotations

import dagster as dg
import pytest
import yaml
from dagster._core.utils import make_new_run_id

from fund_pipeline.instance_config import event_log_storage
from fund_pipeline.recovery import free_slots_of_finished_runs

POOL = "publish_household_payments"
STEP = "clean__household_payments"


@pytest.fixture
def instance(tmp_path):
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(
        {"telemetry": {"enabled": False}, "event_log_storage": event_log_storage(tmp_path)}), encoding="utf-8")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        instance.event_log_storage.set_concurrency_slots(POOL, 1)
        yield instance


def a_run(instance: dg.DagsterInstance, status: dg.DagsterRunStatus) -> str:
    run = instance.add_run(dg.DagsterRun(job_name="__ASSET_JOB", run_id=make_new_run_id(), status=status))
    return run.run_id


def holders(instance: dg.DagsterInstance) -> dict[str, set[str]]:
    info = instance.event_log_storage.get_concurrency_info(POOL)
    return {"claimed": {slot.run_id for slot in info.claimed_slots},
            "waiting": {step.run_id for step in info.pending_steps if step.assigned_timestamp is None}}


def test_the_slot_of_a_run_that_ended_holding_it_is_freed_and_a_running_runs_is_kept(instance):
    storage = instance.event_log_storage
    ended, also_ended, running = (a_run(instance, s) for s in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.FAILURE,
                                                                   dg.DagsterRunStatus.STARTED))
    assert storage.claim_concurrency_slot(POOL, ended, STEP).is_claimed
    assert not storage.claim_concurrency_slot(POOL, also_ended, STEP).is_claimed  # queued behind it
    assert not storage.claim_concurrency_slot(POOL, running, STEP).is_claimed
    assert holders(instance) == {"claimed": {ended}, "waiting": {also_ended, running}}

    assert set(free_slots_of_finished_runs(instance)) == {ended, also_ended}
    # The run still going is next: its step's claim, asked again as its executor does, is granted.
    assert holders(instance) == {"claimed": set(), "waiting": set()}
    assert storage.claim_concurrency_slot(POOL, running, STEP).is_claimed
    assert free_slots_of_finished_runs(instance) == []
    assert holders(instance) == {"claimed": {running}, "waiting": set()}


def test_no_slot_held_is_one_query_and_frees_nothing(instance):
    assert free_slots_of_finished_runs(instance) == []
    assert holders(instance) == {"claimed": set(), "waiting": set()}
