"""Unattended operation under a live service: `fund-pipeline serve` (a real dagster-daemon and
dagster-webserver with their code servers) on a temporary instance — PostgreSQL storage when a server is
available (always in CI), SQLite otherwise — a DuckDB warehouse, and a local SMTP server.

One service serves the whole module, in this order: the inbox sensor's first run for the whole county;
a spreadsheet dropped into the inbox, whose run is killed with SIGKILL, failed, announced and retried to
success (exactly one successful run for that source and year); the notices; the test cron schedule's run;
a run whose worker is interrupted directly, as `serve`'s stop does when the code server does not take the
request; SIGTERM on serve with a run in flight. Then the command line: a killed `fund-pipeline run` is failed by
the next one, which succeeds. Every wait polls with a deadline; the fixtures end every process they start.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import psutil
import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from fund_pipeline.recovery import PID_TAG
from fund_pipeline.service import run_worker_pid

TRANSPORT_2016 = "交通运输局/2016年交通扶贫资金拨付台账.xlsx"
SOURCES_TAG = "fund_pipeline/sources"
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
BIN = Path(sys.prefix) / "bin"
RUN_DEADLINE = 900  # seconds a whole-county run may take on a loaded 2-core machine, queueing included
JUST_BEGUN_SECONDS = 3  # a run whose first step started this recently has more than that left (a lone file's: ~10 s)


def free_port() -> int:
    """A free port in the range this project's service tests use (3100-3199)."""
    for port in range(3100, 3200):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port in 3100-3199")


def wait_for(what: str, predicate, timeout: float, log: Path | None = None, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    tail = "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-40:]) if log and log.exists() else ""
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{tail}")


@dataclass
class Mailbox:
    messages: list = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


@pytest.fixture(scope="module")
def smtp_server():
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield mailbox, controller.port
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def instance_pg_url():
    """A fresh PostgreSQL database for the instance's storage (CI must have one); None: SQLite."""
    base = os.environ.get("FUND_PIPELINE_TEST_PG_URL")
    if not base:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but FUND_PIPELINE_TEST_PG_URL is not set: the service tests need PostgreSQL in CI")
        yield None
        return
    name = f"fund_pipeline_service_{os.getpid()}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as con:
        con.execute(sa.text(f'drop database if exists "{name}" with (force)'))
        con.execute(sa.text(f'create database "{name}"'))
    try:
        yield sa.engine.make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as con:
            con.execute(sa.text(f'drop database if exists "{name}" with (force)'))
        admin.dispose()


@dataclass
class Service:
    process: subprocess.Popen
    env: dict
    home: Path
    inbox: Path
    held: Path
    reports: Path
    log: Path
    port: int
    mailbox: Mailbox
    instance: dg.DagsterInstance

    def runs(self, **tags) -> list[dg.DagsterRun]:
        return list(self.instance.get_runs(filters=dg.RunsFilter(tags=tags) if tags else None))

    def run(self, run_id: str) -> dg.DagsterRun:
        return self.instance.get_run_by_id(run_id)

    def wait(self, what, predicate, timeout=RUN_DEADLINE, interval: float = 1.0):
        return wait_for(what, predicate, timeout, self.log, interval)


def _end_group(pgid: int) -> None:
    """Kill whatever is left in a process group (a finaliser's last resort)."""
    members = [p for p in psutil.process_iter() if _pgid(p.pid) == pgid]
    for p in members:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(members, timeout=10)


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


@pytest.fixture(scope="module")
def service(sample_inbox, tmp_path_factory, instance_pg_url, smtp_server):
    mailbox, smtp_port = smtp_server
    work = tmp_path_factory.mktemp("service")
    inbox, held, home, reports = work / "inbox", work / "held", work / "dagster_home", work / "reports"
    shutil.copytree(sample_inbox, inbox, ignore=shutil.ignore_patterns("expected_findings.csv", "sample.json"))
    held.mkdir()
    shutil.move(inbox / TRANSPORT_2016, held / "transport-2016.xlsx")  # dropped in later by a test
    fires = dt.datetime.now(SHANGHAI) + dt.timedelta(seconds=150)  # once, a little after the service is up
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "FUND_PIPELINE_INBOX": str(inbox),
           "FUND_PIPELINE_WAREHOUSE_URL": f"duckdb:///{work / 'warehouse.duckdb'}",
           "FUND_PIPELINE_REPORTS": str(reports), "FUND_PIPELINE_INBOX_INTERVAL": "5",
           "FUND_PIPELINE_MONTHLY_CRON": f"{fires.minute} {fires.hour} * * *",
           "FUND_PIPELINE_SMTP_HOST": "127.0.0.1", "FUND_PIPELINE_SMTP_PORT": str(smtp_port),
           "FUND_PIPELINE_SMTP_FROM": "pipeline@county.test", "FUND_PIPELINE_SMTP_TO": "bureau@county.test",
           "DO_NOT_TRACK": "1"}
    for name in ("FUND_PIPELINE_WEBSERVER_URL", "DAGSTER_PG_URL", "FUND_PIPELINE_DATA_DIR"):
        env.pop(name, None)
    if instance_pg_url:
        env["DAGSTER_PG_URL"] = instance_pg_url
        os.environ["DAGSTER_PG_URL"] = instance_pg_url  # this process reads the same instance
    log = work / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen([str(BIN / "fund-pipeline"), "serve", "--port", str(port)], env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for("the service's instance configuration", lambda: (home / "dagster.yaml").exists(), 120, log)
        instance = dg.DagsterInstance.from_config(str(home))
        yield Service(process, env, home, inbox, held, reports, log, port, mailbox, instance)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        _end_group(process.pid)
        os.environ.pop("DAGSTER_PG_URL", None)


def started_step(service: Service, run_id: str) -> bool:
    return bool(service.instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_START, limit=1).records)


def run_story(service: Service, run_id: str) -> str:
    """What a failed stop test needs to tell why: the run's events in order (engine events with their message),
    and the end of the service's log."""
    events = [f"{e.dagster_event_type.value if e.dagster_event_type else 'LOG'} {e.step_key or ''} "
              f"{e.message if e.dagster_event_type == dg.DagsterEventType.ENGINE_EVENT else ''}".rstrip()
              for e in service.instance.all_logs(run_id)]
    tail = service.log.read_text(encoding="utf-8", errors="replace").splitlines()[-30:]
    return "\n".join(["run events:", *events, "service log:", *tail])


def a_run_just_begun(service: Service, copy_name: str) -> dg.DagsterRun:
    """A run whose first step started under JUST_BEGUN_SECONDS ago, so that it has seconds of steps left when a
    test stops it: a run caught in its last step may rightly end in success first. Whenever no run is active, a
    copy of the held ledger is dropped into the inbox (named `copy_name` and a number) for the sensor to run."""
    active_states = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
    runs_at_copy: list[int] = []  # how many runs the instance had when each copy was dropped

    def just_begun():
        active = service.instance.get_runs(filters=dg.RunsFilter(statuses=active_states))
        if not active and (not runs_at_copy or len(service.runs()) > runs_at_copy[-1]):
            runs_at_copy.append(len(service.runs()))
            copy = service.inbox / f"交通运输局/2016年交通扶贫资金拨付台账 - {copy_name}{len(runs_at_copy)}.xlsx"
            shutil.copy(service.held / "transport-2016.xlsx", copy)
        for run in active:
            first = service.instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.STEP_START,
                                                         limit=1).records
            if run.status == dg.DagsterRunStatus.STARTED and first and \
                    time.time() - first[0].event_log_entry.timestamp < JUST_BEGUN_SECONDS:
                return run
        return None
    return service.wait("a run that has just begun executing its steps", just_begun, interval=0.25)


def notices(service: Service, kind: str) -> dict[str, str]:
    folder = service.reports / "通知"
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.glob(f"*-{kind}-*.txt"))} if folder.exists() else {}


def drop_the_held_file(service: Service) -> None:
    if not (service.inbox / TRANSPORT_2016).exists():
        shutil.copy(service.held / "transport-2016.xlsx", service.inbox / TRANSPORT_2016)


def test_the_inbox_sensor_runs_the_whole_county_on_its_first_look(service):
    def first_run():
        runs = [r for r in service.runs(**{"dagster/sensor_name": "inbox_sensor"}) if r.tags.get(SOURCES_TAG, "").count(",") >= 16]
        return runs and runs[-1]
    service.wait("the inbox sensor's first run", first_run)
    # The department's file arrives while that run works: its run queues ahead of the scheduled refresh.
    drop_the_held_file(service)
    run = service.wait("the inbox sensor's first run to finish", lambda: first_run().is_finished and first_run())
    assert run.status == dg.DagsterRunStatus.SUCCESS


def test_a_second_serve_on_the_same_instance_refuses_to_start(service):
    lock = service.home / "serve.pid"
    assert str(service.process.pid) in lock.read_text(encoding="utf-8")
    second = subprocess.run([str(BIN / "fund-pipeline"), "serve", "--port", str(free_port())], env=service.env,
                            capture_output=True, text=True, timeout=300)
    assert second.returncode == 1
    assert "已有服务在运行" in second.stderr and str(service.process.pid) in second.stderr
    assert service.process.poll() is None


def test_a_dropped_file_whose_run_is_killed_is_retried_to_exactly_one_success(service):
    drop_the_held_file(service)
    scope = {SOURCES_TAG: "transport_disbursements", RANGE_START: "2016", RANGE_END: "2016"}

    def executing():
        first = [r for r in service.runs(**scope) if not r.tags.get("dagster/parent_run_id")]
        return first and first[0].status == dg.DagsterRunStatus.STARTED and started_step(service, first[0].run_id) \
            and first[0]
    run = service.wait("the dropped file's run to execute a step", executing)
    worker = service.wait("the run worker's pid", lambda: run_worker_pid(service.instance, run.run_id), 60)
    os.kill(worker, signal.SIGKILL)

    failed = service.wait("the killed run to be marked failed",
                          lambda: service.run(run.run_id).is_finished and service.run(run.run_id), 120)
    assert failed.status == dg.DagsterRunStatus.FAILURE

    def retried():
        retries = service.runs(**{"dagster/parent_run_id": run.run_id})
        return retries and retries[0].is_finished and retries[0]
    retry = service.wait("the automatic retry to finish", retried)
    assert retry.status == dg.DagsterRunStatus.SUCCESS
    assert retry.tags["dagster/retry_number"] == "1"
    assert {k: retry.tags[k] for k in scope} == scope
    # exactly one successful run for that source and year; nothing else was started for it
    for_scope = service.runs(**scope)
    assert sorted(r.status.value for r in for_scope) == ["FAILURE", "SUCCESS"]
    assert [r.run_id for r in for_scope if r.status == dg.DagsterRunStatus.SUCCESS] == [retry.run_id]


def test_the_failed_run_is_announced_in_the_reports_folder_and_by_email(service):
    [killed] = [r for r in service.runs(**{SOURCES_TAG: "transport_disbursements"}) if r.status == dg.DagsterRunStatus.FAILURE]
    texts = service.wait("the failure notice", lambda: [t for t in notices(service, "运行失败").values() if killed.run_id in t], 120)
    [text] = texts
    assert "交通运输局(transport_disbursements)" in text and "2016 年度" in text
    assert "失败步骤" in text and "自动重试" in text
    assert f"http://127.0.0.1:{service.port}/runs/{killed.run_id}" in text
    mails = service.wait("the failure email", lambda: [m for m in service.mailbox.messages
                                                       if killed.run_id in m.get_content()], 120)
    assert "运行失败" in mails[0]["Subject"] and mails[0]["To"] == "bureau@county.test"


def test_a_run_with_error_findings_is_announced_with_its_report(service):
    texts = service.wait("a findings notice", lambda: list(notices(service, "错误级问题").values()), 120)
    report = next(line.split(":", 1)[1] for line in texts[0].splitlines() if line.startswith("审计报告(html)"))
    assert Path(report).exists()
    assert "错误级规则未通过" in texts[0]
    service.wait("the findings email", lambda: [m for m in service.mailbox.messages if "错误级问题" in m["Subject"]], 120)


def test_the_test_cron_schedule_fires_a_run(service):
    runs = service.wait("the scheduled run", lambda: service.runs(**{"dagster/schedule_name": "monthly_refresh"}))
    assert len(runs) == 1
    assert (runs[0].tags[RANGE_START], runs[0].tags[RANGE_END]) == ("2015", "2017")


def test_a_run_its_code_server_cannot_stop_is_interrupted_directly(service):
    """What `serve`'s stop falls back on when the run coordinator's request does not reach the run (its code
    server does not know it, or is gone): the worker is interrupted as the code server would, and Dagster
    cancels the run at the step under way."""
    from fund_pipeline.service import interrupt_run_worker

    run = a_run_just_begun(service, "复件")
    service.instance.report_run_canceling(run)  # as the run coordinator does before it asks the code server
    assert interrupt_run_worker(service.instance, run.run_id)
    ended = service.wait("the interrupted run to end", lambda: service.run(run.run_id).is_finished and service.run(run.run_id))
    assert ended.status == dg.DagsterRunStatus.CANCELED, run_story(service, run.run_id)
    assert not interrupt_run_worker(service.instance, run.run_id)  # an ended run's worker is never signalled


def test_sigterm_on_serve_stops_everything_and_ends_the_run_in_flight(service):
    run = a_run_just_begun(service, "副本")
    serve = psutil.Process(service.process.pid)
    tree = serve.children(recursive=True)
    assert len(tree) >= 5  # daemon, webserver, their code servers, the run worker
    service.process.send_signal(signal.SIGTERM)
    assert service.process.wait(timeout=90) == 0
    gone, alive = psutil.wait_procs(tree, timeout=1)
    assert alive == []
    assert [p.pid for p in psutil.process_iter() if _pgid(p.pid) == service.process.pid] == []
    assert service.run(run.run_id).status in (dg.DagsterRunStatus.CANCELED, dg.DagsterRunStatus.FAILURE), \
        run_story(service, run.run_id)
    assert f"运行 {run.run_id} 已结束:" in service.log.read_text(encoding="utf-8")  # the operator is told how
    assert not (service.home / "serve.pid").exists()


def test_a_killed_command_line_run_is_failed_by_the_next_run_which_succeeds(service):
    assert service.process.poll() is not None  # the service is stopped: the command line has the warehouse
    command = [str(BIN / "fund-pipeline"), "run", "--source", "transport_disbursements", "--year", "2016"]
    log = service.log.with_name("cli.log")
    with log.open("wb") as out:
        first = subprocess.Popen(command, env=service.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def executing():
            runs = service.runs(**{PID_TAG: str(first.pid)})
            return runs and started_step(service, runs[0].run_id) and runs[0]
        run = wait_for("the command-line run to execute a step", executing, RUN_DEADLINE, log)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        _end_group(first.pid)
    assert service.run(run.run_id).status == dg.DagsterRunStatus.STARTED  # nobody else can tell it died

    second = subprocess.run(command, env=service.env, capture_output=True, text=True, timeout=RUN_DEADLINE)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "完成" in second.stdout
    assert service.run(run.run_id).status == dg.DagsterRunStatus.FAILURE
    [message] = [e.message for e in service.instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)]
    assert f"进程号 {first.pid}" in message
