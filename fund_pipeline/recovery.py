"""Runs whose process died: marked failed with Dagster's own API, so nothing stays STARTED for good.

Runs the daemon launches are watched by Dagster (the code server fails a run whose worker died; run
monitoring fails runs stuck starting or cancelling). A run `fund-pipeline run` executes in its own
process has no one watching it, so it carries the host and process that run it in its tags, and the next
`fund-pipeline run` or `serve` on that host fails the runs whose process is gone and frees the pool
slots they held. A run that ended while one of its steps still held a slot (its executor stopped on an
error before it saw the step end) has its slots freed by the next run too: the service's run monitoring
does that for the runs it launched, and no one else would, so every later run of that pool would wait.
"""

from __future__ import annotations

import os
import socket

import dagster as dg
import psutil

HOST_TAG = "fund_pipeline/host"
PID_TAG = "fund_pipeline/pid"
PROCESS_STARTED_TAG = "fund_pipeline/process_started"  # the process's start time: a reused pid is not it

UNFINISHED = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
FINISHED = (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.CANCELED)


def process_tags() -> dict[str, str]:
    """Tags naming this process, for a run executed in it."""
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid()),
            PROCESS_STARTED_TAG: f"{psutil.Process().create_time():.3f}"}


def process_alive(pid: int, started: str | None) -> bool:
    try:
        process = psutil.Process(pid)
        return started is None or f"{process.create_time():.3f}" == started
    except (psutil.NoSuchProcess, ValueError):
        return False


def fail_dead_cli_runs(instance: dg.DagsterInstance) -> list[str]:
    """Fail this host's in-process runs whose process is gone; returns their run ids."""
    host = socket.gethostname()
    failed = []
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=UNFINISHED, tags={HOST_TAG: host})):
        run = record.dagster_run
        pid = int(run.tags.get(PID_TAG, "0"))
        if pid == os.getpid() or process_alive(pid, run.tags.get(PROCESS_STARTED_TAG)):
            continue
        _fail(instance, run, f"运行所在的进程(主机 {host},进程号 {pid})已不存在,运行未完成:标记为失败。")
        failed.append(run.run_id)
    return failed


def fail_orphaned_service_runs(instance: dg.DagsterInstance) -> list[str]:
    """After a service that died without stopping (its process group was ended since), the runs it had
    launched have no process left: fail them, so their retries start and their pool slots free."""
    failed = []
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=UNFINISHED)):
        run = record.dagster_run
        if HOST_TAG in run.tags:
            continue  # a command-line run: fail_dead_cli_runs decides by its process
        _fail(instance, run, "上一次服务未正常停止,其启动的运行已无进程:标记为失败。")
        failed.append(run.run_id)
    return failed


def free_slots_of_finished_runs(instance: dg.DagsterInstance) -> list[str]:
    """Free the pool slots and queued claims of runs that are over (or gone); returns their run ids."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    holders = storage.get_concurrency_run_ids()
    if not holders:  # the usual case: one small query
        return []
    status = {record.dagster_run.run_id: record.dagster_run.status
              for record in instance.get_run_records(filters=dg.RunsFilter(run_ids=list(holders)))}
    over = sorted(run_id for run_id in holders if run_id not in status or status[run_id] in FINISHED)
    for run_id in over:
        storage.free_concurrency_slots_for_run(run_id)
    return over


def _fail(instance: dg.DagsterInstance, run: dg.DagsterRun, message: str) -> None:
    instance.report_run_failed(run, message=message)
    if instance.event_log_storage.supports_global_concurrency_limits:
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
