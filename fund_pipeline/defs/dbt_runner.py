"""dbt run in the step's own process, through dbt's programmatic entry point (`dbtRunner`), its results turned into
Dagster events by dagster-dbt's own translation.

dagster-dbt's `DbtCliResource.cli` starts `dbt` as a new process for every command: an interpreter that imports
dbt and its adapter again (about 2 s of a 5 s build on the default sample) before any SQL runs, on every build and
every re-sent file. The step's process has most of dbt imported already (dagster-dbt needs it), so the build runs
here, in a thread, while the step yields each model's and each test's result as dbt reports it. In the runs of
`fund-pipeline run`, a worker process that loaded dbt and parsed the project while the run began builds instead
(defs/dbt_worker.py), its results coming back to the step the same way.

What dagster-dbt does around the subprocess is kept: the selection of the run's assets (its own helper), the
environment it gives dbt (no usage statistics, the target and log folders), the partial-parse state seeded from
dbt/target, dbt's log lines on stdout (Dagster's compute log; `run` shows them with --verbose), and a failed
command failing the step with dbt's error messages.
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import wait as futures_wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import dagster as dg
from dagster_dbt.asset_utils import (
    get_dbt_resource_names_for_asset_keys,
    get_manifest_and_translator_from_dbt_assets,
    get_updated_cli_invocation_params_for_context,
)
from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage

from fund_pipeline.defs import dbt_worker
from fund_pipeline.defs.dbt_worker import LOGGED_LEVELS, RESULT_EVENTS, invoke


class DbtCommandFailed(dg.Failure):
    """A dbt command ended unsuccessfully: a model or test errored, or dbt itself could not run."""


def run_dbt(args: list[str], target_path: Path) -> None:
    """A dbt command with no Dagster events (a parse, or a `run` of models outside the selection); raises
    DbtCommandFailed when it does not succeed."""
    errors: list[str] = []
    result = invoke(args, target_path, lambda msg: _collect_error(msg, errors))
    _raise_if_failed(args, result, errors, target_path)


def stream_dbt(context: dg.AssetExecutionContext, args: list[str], target_path: Path,
               only: Iterable[dg.AssetKey] | None = None) -> Iterator:
    """A dbt command over the step's selected models and tests (or `only` these of its models, with their tests):
    yields each result as dbt reports it (an Output per model, an AssetCheckResult per test), then raises
    DbtCommandFailed if the command did not succeed."""
    manifest, translator, project = get_manifest_and_translator_from_dbt_assets([context.assets_def])
    if only is None:
        params = get_updated_cli_invocation_params_for_context(context=context, manifest=manifest,
                                                               dagster_dbt_translator=translator)
        selection = params.selection_args
        environment = {"DBT_INDIRECT_SELECTION": params.indirect_selection} if params.indirect_selection else {}
    else:  # dbt's default (eager) indirect selection runs the tests on these models
        names = get_dbt_resource_names_for_asset_keys(translator, manifest, context.assets_def, sorted(only))
        selection, environment = ["--select", " ".join(names)], {}
    errors: list[str] = []
    outcome: dict = {}
    worker = dbt_worker.active()
    command = [*args, *selection]
    messages = (_messages_from_worker(worker, command, target_path, environment, outcome, context.log.warning)
                if worker else _messages_from_thread(command, target_path, environment, outcome, context.log.warning))
    try:
        for raw in messages:
            info = raw["info"]
            if info["level"] in LOGGED_LEVELS and info.get("msg"):
                sys.stdout.write(info["msg"] + "\n")
            if info["level"] == "error":
                errors.append(info["msg"])
            if info["name"] in RESULT_EVENTS:
                yield from DbtCoreCliEventMessage(raw_event=raw, event_history_metadata={}).to_default_asset_events(
                    manifest=manifest, dagster_dbt_translator=translator, context=context, target_path=target_path,
                    project=project)
    finally:
        messages.close()  # interrupted while dbt runs: waits for its command, which holds the warehouse
    if "error" in outcome:
        raise outcome["error"]
    _raise_if_failed(args, outcome["result"], errors, target_path)


def _messages_from_thread(args: list[str], target_path: Path, environment: dict, outcome: dict,
                          warn) -> Iterator[dict]:
    """dbt's result and log messages (as dicts) of a command run in a thread of this process; its result (or
    what it raised) goes to `outcome`."""
    messages: queue.Queue = queue.Queue()
    finished = object()

    def on_event(msg) -> None:  # in dbt's thread: only hand over, the step's thread does the rest
        if msg.info.name in RESULT_EVENTS or msg.info.level in LOGGED_LEVELS:
            from dbt_common.events.functions import msg_to_dict

            messages.put(msg_to_dict(msg))

    def build() -> None:
        try:
            outcome["result"] = invoke(args, target_path, on_event, environment)
        except BaseException as error:  # noqa: BLE001 - handed to the step's thread, raised there
            outcome["error"] = error
        finally:
            messages.put(finished)

    # Not a daemon: the process never ends under a running dbt (a thread cut off inside DuckDB aborts the process).
    thread = threading.Thread(target=build, name="dbt")
    thread.start()
    try:
        while (raw := messages.get()) is not finished:
            yield raw
    except BaseException:
        # Interrupted (Ctrl-C, the run cancelled) while dbt runs: a thread cannot be stopped from outside, and
        # dbt holds the warehouse, so its command ends first (seconds), then the step stops.
        warn("运行被中断:等待 dbt 结束当前命令后停止")
        _join_through_interrupts(thread.join, thread.is_alive)
        raise
    thread.join()


def _messages_from_worker(worker, args: list[str], target_path: Path, environment: dict, outcome: dict,
                          warn) -> Iterator[dict]:
    """The same, of a command run by the run's dbt worker (defs/dbt_worker.py); in a thread of this process if
    the worker has died."""
    try:
        command = worker.invoke(args, target_path, environment)
    except BrokenProcessPool:
        worker.broken = True
        yield from _messages_from_thread(args, target_path, environment, outcome, warn)
        return
    received = False
    try:
        while (raw := worker.next_message(command)) is not None:
            received = True
            yield raw
    except BaseException:
        warn("运行被中断:等待 dbt 结束当前命令后停止")  # the worker holds the warehouse until it ends
        _join_through_interrupts(lambda: futures_wait([command]), lambda: not command.done())
        worker.drain()
        raise
    try:
        outcome["result"] = command.result()
    except BrokenProcessPool as error:
        worker.broken = True
        if received:  # part of the build reported already: it is not started again
            outcome["error"] = DbtCommandFailed(description=f"dbt 进程意外退出:{error}")
        else:
            yield from _messages_from_thread(args, target_path, environment, outcome, warn)


def _join_through_interrupts(wait, still_running) -> None:
    """Wait for dbt's command even when interrupted again meanwhile (a second Ctrl-C, or the service repeating
    its interrupt): the step must not stop while dbt still holds the warehouse."""
    while still_running():
        try:
            wait()
        except BaseException:  # noqa: BLE001, S112 - the first interrupt is raised once dbt has ended
            continue


def _collect_error(msg, errors: list[str]) -> None:
    if msg.info.level == "error" and msg.info.msg:
        errors.append(msg.info.msg)


def _raise_if_failed(args: list[str], result, errors: list[str], target_path: Path) -> None:
    if result.success:
        return
    detail = "\n".join(errors[-20:]) or (str(result.exception) if result.exception else "")
    raise DbtCommandFailed(
        description=f"{detail}\ndbt {args[0]} 未成功完成(详见 dbt 日志 {target_path / 'dbt.log'})".strip(),
        metadata={"dbt_command": " ".join(args), "errors": len(errors)},
    )
