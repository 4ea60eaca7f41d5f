"""dbt run in the step's own process, through dbt's programmatic entry point (`dbtRunner`), its results turned into
Dagster events by dagster-dbt's own translation.

dagster-dbt's `DbtCliResource.cli` starts `dbt` as a new process for every command: an interpreter that imports
dbt and its adapter again (about 2 s of a 5 s build on the default sample) before any SQL runs, on every build and
every re-sent file. The step's process has most of dbt imported already (dagster-dbt needs it), so the build runs
here, in a thread, while the step yields each model's and each test's result as dbt reports it.

What dagster-dbt does around the subprocess is kept: the selection of the run's assets (its own helper), the
environment it gives dbt (no usage statistics, the target and log folders), the partial-parse state seeded from
dbt/target, dbt's log lines on stdout (Dagster's compute log; `run` shows them with --verbose), and a failed
command failing the step with dbt's error messages.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import sys
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import dagster as dg
from dagster_dbt.asset_utils import (
    get_dbt_resource_names_for_asset_keys,
    get_manifest_and_translator_from_dbt_assets,
    get_updated_cli_invocation_params_for_context,
)
from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage

from fund_pipeline.settings import DBT_PROJECT_DIR

RESULT_EVENTS = frozenset({"LogModelResult", "LogTestResult", "LogSeedResult", "LogSnapshotResult"})
LOGGED_LEVELS = frozenset({"info", "warn", "error"})  # what `dbt` prints by default
PARTIAL_PARSE_FILE = "partial_parse.msgpack"


class DbtCommandFailed(dg.Failure):
    """A dbt command ended unsuccessfully: a model or test errored, or dbt itself could not run."""


def run_dbt(args: list[str], target_path: Path) -> None:
    """A dbt command with no Dagster events (a parse, or a `run` of models outside the selection); raises
    DbtCommandFailed when it does not succeed."""
    errors: list[str] = []
    result = _invoke(args, target_path, lambda msg: _collect_error(msg, errors))
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
    messages: queue.Queue = queue.Queue()
    finished = object()

    def on_event(msg) -> None:  # in dbt's thread: only hand over, the step's thread does the rest
        name, level = msg.info.name, msg.info.level
        if name in RESULT_EVENTS or level in LOGGED_LEVELS:
            from dbt_common.events.functions import msg_to_dict

            messages.put(msg_to_dict(msg))

    outcome: dict = {}

    def build() -> None:
        try:
            outcome["result"] = _invoke([*args, *selection], target_path, on_event, environment)
        except BaseException as error:  # noqa: BLE001 - handed to the step's thread, raised there
            outcome["error"] = error
        finally:
            messages.put(finished)

    # Not a daemon: the process never ends under a running dbt (a thread cut off inside DuckDB aborts the process).
    thread = threading.Thread(target=build, name="dbt")
    thread.start()
    errors: list[str] = []
    try:
        while (raw := messages.get()) is not finished:
            info = raw["info"]
            if info["level"] in LOGGED_LEVELS and info.get("msg"):
                sys.stdout.write(info["msg"] + "\n")
            if info["level"] == "error":
                errors.append(info["msg"])
            if info["name"] in RESULT_EVENTS:
                yield from DbtCoreCliEventMessage(raw_event=raw, event_history_metadata={}).to_default_asset_events(
                    manifest=manifest, dagster_dbt_translator=translator, context=context, target_path=target_path,
                    project=project)
    except BaseException:
        # Interrupted (Ctrl-C, the run cancelled) while dbt runs: a thread cannot be stopped from outside, and
        # dbt holds the warehouse, so its command ends first (seconds), then the step stops.
        context.log.warning("运行被中断:等待 dbt 结束当前命令后停止")
        _join_through_interrupts(thread)
        raise
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    _raise_if_failed(args, outcome["result"], errors, target_path)


def _join_through_interrupts(thread: threading.Thread) -> None:
    """Wait for dbt's thread even when interrupted again meanwhile (a second Ctrl-C, or the service repeating
    its interrupt): the step must not stop while dbt still holds the warehouse."""
    while thread.is_alive():
        try:
            thread.join()
        except BaseException:  # noqa: BLE001, S112 - the first interrupt is raised once dbt has ended
            continue


def _invoke(args: list[str], target_path: Path, on_event, environment: dict[str, str] | None = None):
    from dbt.cli.main import dbtRunner

    _seed_partial_parse(target_path)
    full_args = [*args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
                 "--target-path", str(target_path), "--log-path", str(target_path),
                 "--log-level", "none",  # dbt's console lines come back through the callback
                 "--log-level-file", "debug"]  # its debug log, dbt.log in the target folder, as the dbt command writes
    with _environment({"DBT_SEND_ANONYMOUS_USAGE_STATS": "false", **(environment or {})}):
        try:
            return dbtRunner(callbacks=[on_event]).invoke(full_args)
        finally:
            _close_duckdb_environment()


def _seed_partial_parse(target_path: Path) -> None:
    """A new target folder starts from the project's parse state, as dagster-dbt seeds its own folders."""
    seed = DBT_PROJECT_DIR / "target" / PARTIAL_PARSE_FILE
    destination = target_path / PARTIAL_PARSE_FILE
    if seed.exists() and not destination.exists():
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(seed, destination)


def _close_duckdb_environment() -> None:
    """dbt-duckdb keeps its database open in a class attribute until the process exits; the warehouse file must
    be free again for the steps after dbt, which open it in this same process."""
    with contextlib.suppress(ImportError):
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager

        with DuckDBConnectionManager._LOCK:
            environment, DuckDBConnectionManager._ENV = DuckDBConnectionManager._ENV, None
        if environment is not None:
            environment.close()


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


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
