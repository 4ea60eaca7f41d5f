"""`fund-pipeline serve`: the Dagster webserver and daemon as one well-behaved service.

- One service per instance: a lock file in DAGSTER_HOME (serve.pid) holds the pid; a second `serve`
  refuses while that process lives. A lock left by a service that died is taken over: whatever of its
  process group still runs (daemon, webserver, code servers, runs) is ended first, and the runs it had
  launched are failed with Dagster's API so their retries start.
- The service leads its own process group, so everything it starts (daemon, webserver, their code
  servers, run workers, dbt) is its own.
- SIGTERM or SIGINT: in-flight runs are asked to terminate through the run coordinator (Dagster cancels
  the run, dagster-dbt interrupts its dbt child; a run whose code server does not take the request, or
  that still runs 3 s after it did, is interrupted directly, as that server would), then the daemon and
  the webserver are stopped, and whatever is left of the process tree is killed when the time (30 s by
  default) is up. Exit 0.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import psutil

from fund_pipeline.recovery import fail_dead_cli_runs, fail_orphaned_service_runs, process_alive
from fund_pipeline.settings import PROJECT_ROOT, Settings, child_environment, dagster_instance

LOCK_NAME = "serve.pid"
IN_FLIGHT = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
# A run still going this long after its termination was requested is interrupted directly (and again each time).
REQUEST_GRACE_SECONDS = 3.0
# How a run in flight at the stop ended, as the service's log says it.
ENDED_AS = {dg.DagsterRunStatus.CANCELED: "已取消", dg.DagsterRunStatus.FAILURE: "失败",
            dg.DagsterRunStatus.SUCCESS: "已完成(终止请求生效前已运行完毕)"}


class AlreadyServing(Exception):
    pass


class ServiceLock:
    """DAGSTER_HOME/serve.pid: {"pid", "started", "pgid"} of the living service."""

    def __init__(self, home: Path):
        self.path = home / LOCK_NAME
        self.previous: dict | None = None  # the dead service's lock, when taken over

    def acquire(self) -> None:
        me = psutil.Process()
        mine = json.dumps({"pid": me.pid, "started": f"{me.create_time():.3f}", "pgid": _pgid()})
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._read()
                if holder and process_alive(int(holder.get("pid", 0)), holder.get("started")):
                    raise AlreadyServing(f"实例 {self.path.parent} 已有服务在运行(进程号 {holder['pid']}),"
                                         f"不再启动第二个。先停止它(kill -TERM {holder['pid']}),或等它退出。") from None
                self.previous = holder or {}
                self.path.unlink(missing_ok=True)  # a dead service's lock: take over
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(mine)
            return
        raise AlreadyServing(f"无法取得服务锁 {self.path}:另一个服务正在同时启动。")

    def release(self) -> None:
        holder = self._read()
        if holder and int(holder.get("pid", 0)) == os.getpid():
            self.path.unlink(missing_ok=True)

    def _read(self) -> dict | None:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None


def _pgid() -> int | None:
    return os.getpgid(0) if hasattr(os, "getpgid") else None


def _lead_own_process_group() -> None:
    """Everything started from here on shares our group (POSIX; on Windows the service manager's job
    object plays that part)."""
    if hasattr(os, "setpgid") and os.getpgid(0) != os.getpid():
        try:
            os.setpgid(0, 0)
        except PermissionError:  # already a session leader (e.g. under systemd): our group already
            pass


def _end_previous_group(previous: dict | None) -> None:
    """A dead service may have left its daemon or webserver running: end its process group first, so two
    daemons never tick the same schedules."""
    pgid = (previous or {}).get("pgid")
    if not pgid or not hasattr(os, "killpg") or pgid == _pgid():
        return
    leftovers = [p for p in psutil.process_iter() if _safe_pgid(p.pid) == pgid]
    _terminate(leftovers, timeout=10)


def _safe_pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def _terminate(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """SIGTERM, then SIGKILL what is left after `timeout`; returns the processes that had to be killed."""
    for process in processes:
        try:
            process.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(processes, timeout=max(timeout, 0.1))
    for process in alive:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)
    return alive


def terminate_in_flight_runs(instance: dg.DagsterInstance, deadline: float) -> list[str]:
    """Ask every in-flight run to terminate (Dagster's run coordinator: the code server interrupts the
    run, dagster-dbt interrupts dbt), and wait for them to finish until `deadline`. Returns the runs
    that did not finish."""
    runs = instance.get_runs(filters=dg.RunsFilter(statuses=IN_FLIGHT))
    for run in runs:
        try:
            delivered = instance.run_coordinator.cancel_run(run.run_id)
        except Exception as error:  # a code server already gone
            print(f"无法通过代码服务器通知运行 {run.run_id} 终止:{error}", file=sys.stderr)
            delivered = False
        if delivered:
            print(f"服务停止:已请求运行 {run.run_id} 终止", flush=True)
        elif interrupt_run_worker(instance, run.run_id):
            print(f"运行 {run.run_id} 的代码服务器未接收终止请求,已直接中断其运行进程", file=sys.stderr)
    pending = [r.run_id for r in runs]
    asked, told = time.monotonic(), set()
    while pending and time.monotonic() < deadline:
        time.sleep(0.5)
        pending = [i for i in pending if not _finished(instance, i)]
        if time.monotonic() - asked < REQUEST_GRACE_SECONDS:
            continue
        # The request reached the code server, yet the run goes on: seen in the test suite, its interrupt lost
        # in the run worker. Interrupted directly, as the code server would, until it ends or time is up.
        for run_id in pending:
            if interrupt_run_worker(instance, run_id) and run_id not in told:
                told.add(run_id)
                print(f"运行 {run_id} 在终止请求后仍在运行,已直接中断其运行进程", file=sys.stderr)
        asked = time.monotonic()
    for run in runs:
        ended = instance.get_run_by_id(run.run_id)
        if run.run_id not in pending and ended is not None:
            print(f"运行 {run.run_id} 已结束:{ENDED_AS.get(ended.status, ended.status.value)}", flush=True)
    return pending


def interrupt_run_worker(instance: dg.DagsterInstance, run_id: str) -> bool:
    """Interrupt a run's worker process as its code server would (SIGINT: Dagster cancels the run at the step
    under way), when that code server did not take the request (it no longer knows the run, or is gone). Only
    a process of this service's own tree is signalled, and only while the run has not ended."""
    run = instance.get_run_by_id(run_id)
    if run is None or run.is_finished:
        return False
    pid = run_worker_pid(instance, run_id)
    if pid is None or pid not in {p.pid for p in _descendants()}:
        return False
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        return False
    return True


def run_worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The pid of the process executing the run, from the engine event Dagster writes as it starts it."""
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        if entry.message and entry.message.startswith("Started process for run (pid: "):
            return int(entry.message.split("pid: ")[1].split(")")[0])
    return None


def _finished(instance: dg.DagsterInstance, run_id: str) -> bool:
    run = instance.get_run_by_id(run_id)
    return run is None or run.is_finished


def serve(settings: Settings, host: str, port: int) -> int:
    instance = dagster_instance(settings)  # makes DAGSTER_HOME and its dagster.yaml when missing
    lock = ServiceLock(Path(instance.root_directory))
    try:
        lock.acquire()
    except AlreadyServing as error:
        print(error, file=sys.stderr)
        return 1
    try:
        _lead_own_process_group()
        if lock.previous is not None:
            _end_previous_group(lock.previous)
            for run_id in fail_orphaned_service_runs(instance):
                print(f"上一次服务未正常停止:运行 {run_id} 已标记为失败。", file=sys.stderr)
        fail_dead_cli_runs(instance)
        return _run_until_stopped(instance, settings, host, port)
    finally:
        lock.release()


def _run_until_stopped(instance: dg.DagsterInstance, settings: Settings, host: str, port: int) -> int:
    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum, _frame):
        received.append(signum)
        stop.set()

    previous_handlers = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    workspace = str(PROJECT_ROOT / "workspace.yaml")
    bin_dir = Path(sys.prefix) / "bin"
    url = settings.service.webserver_url or f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    env = child_environment(FUND_PIPELINE_WEBSERVER_URL=url)  # links in failure notices point here
    children = [
        subprocess.Popen([str(bin_dir / "dagster-daemon"), "run", "-w", workspace], env=env),
        subprocess.Popen([str(bin_dir / "dagster-webserver"), "-w", workspace, "-h", host, "-p", str(port)],
                         env=env),
    ]
    print(f"服务已启动(进程号 {os.getpid()}):界面 {url},实例 {instance.root_directory}", flush=True)
    try:
        while not stop.wait(1.0):
            if any(child.poll() is not None for child in children):
                break  # the daemon or the webserver died: stop the rest, and let the service manager restart us
        crashed = not received
        _stop(instance, settings, children)
        if crashed:
            dead = [c.args[0] for c in children if c.returncode not in (None, 0)]
            print(f"服务的子进程意外退出({', '.join(map(str, dead)) or '未知'}):服务已停止。", file=sys.stderr)
            return 1
        print("服务已停止。", flush=True)
        return 0
    finally:
        for signum, handler in previous_handlers.items():
            signal.signal(signum, handler)


def _stop(instance: dg.DagsterInstance, settings: Settings, children: list[subprocess.Popen]) -> None:
    """Runs first (their code servers must still be up to hear the request), then the daemon and the
    webserver, then whatever of the tree remains; all within the stop timeout."""
    deadline = time.monotonic() + settings.service.stop_timeout_seconds
    tree = _descendants()
    unfinished = terminate_in_flight_runs(instance, deadline=time.monotonic() + settings.service.stop_timeout_seconds / 2)
    tree += [p for p in _descendants() if p not in tree]
    top = [psutil.Process(c.pid) for c in children if c.poll() is None]
    _terminate(top, timeout=max(deadline - time.monotonic() - 5, 1))
    tree += [p for p in _descendants() + _group_members() if p not in tree]
    _terminate([p for p in tree if p.is_running()], timeout=max(deadline - time.monotonic(), 1))
    for run_id in unfinished:
        run = instance.get_run_by_id(run_id)
        if run is not None and not run.is_finished:
            instance.report_run_canceled(run, message="服务停止:运行未能在时限内自行结束,其进程已被终止。")


def _group_members() -> list[psutil.Process]:
    """Processes of our group that lost their parent (e.g. a killed run worker's log tailers)."""
    group = _pgid()
    if group is None or group != os.getpid():
        return []
    return [p for p in psutil.process_iter() if p.pid != os.getpid() and _safe_pgid(p.pid) == group]


def _descendants() -> list[psutil.Process]:
    try:
        return psutil.Process().children(recursive=True)
    except psutil.NoSuchProcess:
        return []
