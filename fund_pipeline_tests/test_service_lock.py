"""The service lock in DAGSTER_HOME: a living service is never doubled; a dead one's lock is taken over and
what is left of its process group is ended. The instance configuration the project writes loads."""

import json
import subprocess
import sys

import dagster as dg
import psutil
import pytest

from fund_pipeline.instance_config import instance_yaml
from fund_pipeline.service import AlreadyServing, ServiceLock, _end_previous_group
from fund_pipeline.settings import Settings


def test_a_living_service_lock_refuses_a_second_one(tmp_path):
    first = ServiceLock(tmp_path)
    first.acquire()
    with pytest.raises(AlreadyServing, match="已有服务在运行"):
        ServiceLock(tmp_path).acquire()
    first.release()
    assert not (tmp_path / "serve.pid").exists()


def test_a_dead_service_lock_is_taken_over_and_its_leftovers_ended(tmp_path):
    # a leftover of a service killed with SIGKILL: still running, in the dead service's process group
    leftover = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True)
    try:
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
        lock = {"pid": int(dead.stdout), "started": "0.000", "pgid": leftover.pid}
        (tmp_path / "serve.pid").write_text(json.dumps(lock), encoding="utf-8")
        taker = ServiceLock(tmp_path)
        taker.acquire()
        assert taker.previous == lock
        _end_previous_group(taker.previous)
        assert leftover.wait(timeout=30) is not None
        assert json.loads((tmp_path / "serve.pid").read_text(encoding="utf-8"))["pid"] == psutil.Process().pid
        taker.release()
    finally:
        leftover.kill()


@pytest.mark.parametrize("env", [{}, {"DAGSTER_PG_URL": "postgresql+psycopg2://u:p@h/db"}])
def test_the_instance_configuration_the_project_writes_is_valid(tmp_path, env):
    (tmp_path / "dagster.yaml").write_text(instance_yaml(Settings.from_env(env), tmp_path), encoding="utf-8")
    from dagster._core.instance.config import dagster_instance_config

    config, _ = dagster_instance_config(str(tmp_path))
    assert config["run_monitoring"]["enabled"] and config["run_retries"]["enabled"]
    assert config["concurrency"]["pools"]["default_limit"] == 1
    assert ("storage" in config) == bool(env)
    if not env:
        instance = dg.DagsterInstance.from_config(str(tmp_path))
        assert instance.run_monitoring_enabled and instance.run_retries_enabled
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 1
