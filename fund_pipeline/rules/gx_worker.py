"""Great Expectations in a second process, for the runs of `fund-pipeline run`.

Importing GX takes about a second and its Data Docs pages another half second per run, all on the one core the
run's steps use, while the second core idles: a re-sent ledger's run spent a fifth of its time on them. So
`run` starts one worker process as it begins; the worker imports GX while Dagster and dbt load, then validates
every suite of the run. It renders the Data Docs pages in between, one page at a time, never while a suite waits
to be validated; the run waits for the last pages before it says where they are.

A suite's frame (only the columns it reads) goes to the worker as an Arrow file, not pickled: the payments'
columns would otherwise be copied once more in the run's process, at its peak. Only columns of Python objects
are pickled (Arrow would give them back as another dtype). The suites, the expectations and what is made of
their results are the same in either process (`validation.validate_with_gx`). If the worker dies, the run
validates in its own process from then on.

A run whose large source is read ahead validates in its own process: the second CPU is the reader's until that
source is landed, and the run waits for its reading either way (measured on a county-year, the worker gave no
time back and sending the payments' suite across cost half a second). So do runs on one CPU, runs the Dagster
daemon launches, tests and `dagster dev`.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa

from fund_pipeline.configuration import activate, config_dir

_log = logging.getLogger(__name__)


class Worker:
    """One process that imports GX, validates suites and renders their Data Docs pages."""

    def __init__(self):
        self.pool = ProcessPoolExecutor(1, mp_context=start_method(), initializer=_start_in_worker)
        self.pool.submit(int)  # starts the process now, so that GX is imported while the run starts
        self.broken = False

    def validate(self, name: str, frame: pd.DataFrame, compiled: list, docs_dir: Path | None, run_name: str | None):
        with _sendable(frame) as sent:
            return self.pool.submit(_validate_in_worker, name, sent, compiled, docs_dir, run_name,
                                    config_dir()).result()

    def close(self) -> None:
        """Waits for the Data Docs pages, then ends the process."""
        if not self.broken:
            try:
                problems = self.pool.submit(_finish_pages_in_worker).result()
            except BrokenProcessPool:
                problems = ["校验进程意外退出"]
            for problem in problems:
                _log.warning("Great Expectations 数据文档未能生成:%s", problem)
        self.pool.shutdown(wait=True, cancel_futures=True)


_active: Worker | None = None


@contextlib.contextmanager
def validating_in(worker: Worker | None) -> Iterator[None]:
    """Within the block, suites are validated by `worker` (None: in this process)."""
    global _active
    before, _active = _active, worker
    try:
        yield
    finally:
        _active = before


@contextlib.contextmanager
def validating_in_worker(enabled: bool = True) -> Iterator[None]:
    """Within the block, suites are validated in a worker process started now (when `enabled`); the block ends
    once the worker has rendered every Data Docs page."""
    if not enabled or _active is not None:
        yield
        return
    try:
        worker = Worker()
    except (OSError, ValueError) as error:
        _log.warning("无法启动校验进程(%s),由运行进程自行校验", error)
        yield
        return
    try:
        with validating_in(worker):
            yield
    finally:
        worker.close()


def validate(name: str, frame: pd.DataFrame, compiled: list, docs_dir: Path | None, run_name: str | None):
    """validation.validate_with_gx, in the active worker if there is one (its pages rendered there afterwards)."""
    from fund_pipeline.rules.validation import validate_with_gx

    worker = _active
    if worker is not None and not worker.broken:
        try:
            return worker.validate(name, frame, compiled, docs_dir, run_name)
        except BrokenProcessPool:
            _log.warning("校验进程意外退出,此后由运行进程自行校验")
            worker.broken = True
    return validate_with_gx(name, frame, compiled, docs_dir, run_name)


@dataclass
class _SentFrame:
    """A frame on its way to the worker: its columns in an Arrow file, but for those of Python objects, which
    are pickled, as is the whole frame if Arrow cannot hold it."""

    arrow_path: str | None
    pickled: pd.DataFrame
    columns: list[str]

    def frame(self) -> pd.DataFrame:
        if self.arrow_path is None:
            return self.pickled
        with pa.OSFile(self.arrow_path, "rb") as source:
            frame = pa.ipc.open_file(source).read_all().to_pandas()
        for column in self.pickled.columns:
            frame[column] = self.pickled[column]
        return frame[self.columns]


@contextlib.contextmanager
def _sendable(frame: pd.DataFrame) -> Iterator[_SentFrame]:
    objects = [column for column, dtype in frame.dtypes.items() if dtype == "object"]
    try:
        table = pa.Table.from_pandas(frame.drop(columns=objects), preserve_index=True)
    except (pa.ArrowException, TypeError, ValueError):
        yield _SentFrame(None, frame, list(frame.columns))
        return
    handle, path = tempfile.mkstemp(prefix="fund_pipeline_suite_", suffix=".arrow")
    os.close(handle)
    try:
        with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        del table
        yield _SentFrame(path, frame[objects], list(frame.columns))
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def start_method():
    """forkserver where there is one: the worker starts from a clean process, never from a copy of this
    threaded one. Windows has only spawn."""
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    return multiprocessing.get_context(method)


# In the worker. GX's context is used by one thread at a time: the task's (validating) or the pages' (rendering
# one page); a suite waiting to be validated goes first.
_gx_in_use = threading.Lock()
_suite_waiting = threading.Event()
_pages_due = threading.Condition()
_page_problems: list[str] = []


def _start_in_worker() -> None:
    from fund_pipeline.memory import loaded_out_of_the_collectors_way
    from fund_pipeline.rules.validation import gx

    with loaded_out_of_the_collectors_way():
        gx.expectations  # noqa: B018 - the attribute read imports GX
    threading.Thread(target=_render_pages, name="gx-data-docs", daemon=True).start()


def _validate_in_worker(name: str, sent: _SentFrame, compiled, docs_dir, run_name, county_config):
    from fund_pipeline.rules.validation import validate_with_gx

    if config_dir() != county_config:
        activate(county_config)
    frame = sent.frame()
    _suite_waiting.set()
    try:
        with _gx_in_use:
            outcome = validate_with_gx(name, frame, compiled, docs_dir, run_name, render=False)
    finally:
        _suite_waiting.clear()
    with _pages_due:
        _pages_due.notify()
    return outcome


def _render_pages() -> None:
    from fund_pipeline.rules.validation import pages_pending

    def due() -> bool:
        return bool(pages_pending()) and not _suite_waiting.is_set()

    while True:
        with _pages_due:
            _pages_due.wait_for(due, timeout=0.05)
        if due():
            with _gx_in_use:
                _render_next_page()


def _render_next_page() -> bool:
    from fund_pipeline.rules.validation import render_next_page

    try:
        return render_next_page()
    except Exception as error:  # noqa: BLE001 - told to the run when it ends; the findings stand
        _page_problems.append(str(error) or type(error).__name__)
        return True


def _finish_pages_in_worker() -> list[str]:
    with _gx_in_use:
        while _render_next_page():
            pass
    problems, _page_problems[:] = list(_page_problems), []
    return problems
