"""dbt in a second process, for the runs of `fund-pipeline run` that build dbt models.

A dbt build in the step's own process (defs/dbt_runner.py) first loads what its command needs: the rest of dbt
(its tasks, networkx), the adapter, the project's parse state. On a re-sent ledger that is 0.6 s of a 1.5 s dbt
step, on the one core the run's steps use. Here a worker process does it while the run lands and publishes: it
imports dbt and parses the project as it starts, then runs the run's dbt build from that parsed manifest (dbt
skips its own parse for a manifest handed to `dbtRunner`). dbt's events come back to the step as they happen,
through a queue, and become Dagster events there, exactly as from the step's own thread.

`invoke`, the dbt command itself through dbt's programmatic entry point, is the same in either process; this
module imports nothing of Dagster's, so the worker loads dbt alone.

The worker has the warehouse only while its command runs: the step releases its connection first, and the
worker closes dbt's DuckDB database before it answers, as the in-process build does. If the worker cannot start
or dies, the step builds in its own process. The worker starts (`start_deferred`) once the run knows it will
build models (pipeline/runner.py: a run whose steps all keep their output starts none); in a run whose large
source is read ahead, only once that source is read, the second CPU being the reader's until then, with the
source's landing and publishing still ahead of the dbt step.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import shutil
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from types import SimpleNamespace

from fund_pipeline.memory import loaded_out_of_the_collectors_way
from fund_pipeline.settings import DBT_PROJECT_DIR

_log = logging.getLogger(__name__)

RESULT_EVENTS = frozenset({"LogModelResult", "LogTestResult", "LogSeedResult", "LogSnapshotResult"})
LOGGED_LEVELS = frozenset({"info", "warn", "error"})  # what `dbt` prints by default
PARTIAL_PARSE_FILE = "partial_parse.msgpack"
FINISHED = "__finished__"  # the last message of a command on the event queue


class DbtWorker:
    """One process that imports dbt, parses the project, then runs the run's dbt commands."""

    def __init__(self, target_path: Path, environment: dict[str, str]):
        from fund_pipeline.rules.gx_worker import start_method

        context = start_method()
        self.events = context.Queue()
        self.pool = ProcessPoolExecutor(1, mp_context=context, initializer=_start_in_worker,
                                        initargs=(self.events, str(target_path), environment))
        self.pool.submit(int)  # starts the process now: dbt is imported and parsed while the run goes on
        self.broken = False

    def invoke(self, args: list[str], target_path: Path, environment: dict[str, str]) -> Future:
        return self.pool.submit(_invoke_in_worker, args, str(target_path), environment)

    def next_message(self, command: Future, wait_s: float = 0.2) -> dict | None:
        """The command's next message from dbt, or None when it is finished (or the worker died)."""
        while True:
            try:
                message = self.events.get(timeout=wait_s)
            except queue.Empty:
                if command.done() and command.exception() is not None:
                    return None  # died without its end marker
                continue
            return None if message == FINISHED else message

    def drain(self) -> None:
        """Drop what is left of an interrupted command's messages, up to its end marker."""
        with contextlib.suppress(queue.Empty, OSError, EOFError, ValueError):
            while self.events.get(timeout=1.0) != FINISHED:
                pass

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.events.close()


_active: DbtWorker | None = None
_start_later = None  # starts the worker of a deferred block, once the run calls for it


def active() -> DbtWorker | None:
    return _active if _active is not None and not _active.broken else None


@contextlib.contextmanager
def building_in_worker(enabled: bool, target_path: Path, environment: dict[str, str],
                       deferred: bool = False) -> Iterator[None]:
    """Within the block, dbt commands run in a worker process started now (when `enabled`), or, if `deferred`,
    when `start_deferred` is called (by a run that builds models); until then they run in this process."""
    global _active, _start_later
    if not enabled or _active is not None or _start_later is not None:
        yield
        return
    if deferred:
        _start_later = lambda: _start(target_path, environment)  # noqa: E731
    else:
        _start(target_path, environment)
    try:
        yield
    finally:
        worker, _active, _start_later = _active, None, None
        if worker is not None:
            with contextlib.suppress(BrokenProcessPool, OSError):
                worker.close()


def start_deferred() -> None:
    """Start the worker of a `deferred` block, if it has not started."""
    global _start_later
    start, _start_later = _start_later, None
    if start is not None:
        start()


def _start(target_path: Path, environment: dict[str, str]) -> None:
    global _active
    try:
        _active = DbtWorker(target_path, environment)
    except (OSError, ValueError, RuntimeError) as error:  # RuntimeError: BrokenProcessPool
        _log.warning("无法启动 dbt 进程(%s),由运行进程自行构建", error)


def invoke(args: list[str], target_path: Path, on_event, environment: dict[str, str] | None = None,
           manifest=None):
    """One dbt command in this process; `manifest`, when given, is used instead of parsing the project."""
    from dbt.cli.main import dbtRunner

    _seed_partial_parse(target_path)
    full_args = [*args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
                 "--target-path", str(target_path), "--log-path", str(target_path),
                 "--log-level", "none",  # dbt's console lines come back through the callback
                 "--log-level-file", "debug"]  # its debug log, dbt.log in the target folder, as the dbt command writes
    with _environment({"DBT_SEND_ANONYMOUS_USAGE_STATS": "false", **(environment or {})}):
        try:
            return dbtRunner(manifest=manifest, callbacks=[on_event]).invoke(full_args)
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


# In the worker.
_events = None
_parsed: dict[str, object] = {}  # target folder -> the manifest parsed for it, used by one command


def _start_in_worker(events, target_path: str, environment: dict[str, str]) -> None:
    global _events
    _events = events
    # Every command's messages reach the run before its end marker does; what an interrupted run leaves unread
    # must not keep this process from ending.
    events.cancel_join_thread()
    os.environ.update(environment)  # the forkserver's environment predates the run's settings
    with contextlib.suppress(Exception), loaded_out_of_the_collectors_way():
        # A parse that fails leaves the build to parse (and report) itself.
        result = invoke(["parse", "--no-write-json"], Path(target_path), lambda msg: None)
        if result.success:
            _parsed[target_path] = result.result


def _invoke_in_worker(args: list[str], target_path: str, environment: dict[str, str]) -> SimpleNamespace:
    from dbt_common.events.functions import msg_to_dict

    def on_event(msg) -> None:
        if msg.info.name in RESULT_EVENTS or msg.info.level in LOGGED_LEVELS:
            _events.put(msg_to_dict(msg))

    try:
        result = invoke(args, Path(target_path), on_event, environment, manifest=_parsed.pop(target_path, None))
        return SimpleNamespace(success=result.success, exception=str(result.exception) if result.exception else None)
    finally:
        _events.put(FINISHED)
