"""Someone is told: a run that fails, or ends with error-severity findings, is announced by a notice in the
reports folder (reports/通知/) and, when SMTP settings are given, by email (fund_pipeline/notices.py)."""

from __future__ import annotations

import dagster as dg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    MAX_RETRIES_TAG,
    PARTITION_NAME_TAG,
    RETRY_NUMBER_TAG,
)

from fund_pipeline.instance_config import SOURCES_TAG
from fund_pipeline.notices import Notice, deliver
from fund_pipeline.pipeline.console import innermost
from fund_pipeline.settings import Settings
from fund_pipeline.sources.spec import load_layouts

REPORT_KEY = dg.AssetKey(["reports", "audit_report"])


def run_scope(run: dg.DagsterRun) -> tuple[str, str]:
    """(departments, fiscal years) a run covered, from its tags, in words."""
    departments = {s.name: f"{s.department}({s.name})" for s in load_layouts()}
    sources = [s for s in run.tags.get(SOURCES_TAG, "").split(",") if s]
    who = "、".join(departments.get(s, s) for s in sources) if sources else "全部部门"
    if len(sources) >= len(departments):
        who = "全部部门"
    start, end = run.tags.get(ASSET_PARTITION_RANGE_START_TAG), run.tags.get(ASSET_PARTITION_RANGE_END_TAG)
    if start and end:
        years = f"{start} 年度" if start == end else f"{start}–{end} 年度"
    elif run.tags.get(PARTITION_NAME_TAG):
        years = f"{run.tags[PARTITION_NAME_TAG]} 年度"
    else:
        years = "全部年度"
    return who, years


def _started_by(run: dg.DagsterRun) -> str:
    if run.tags.get("dagster/schedule_name"):
        return f"定时任务 {run.tags['dagster/schedule_name']}"
    if run.tags.get("dagster/sensor_name"):
        return f"收件箱传感器 {run.tags['dagster/sensor_name']}"
    return "手动启动"


def failure_notice(run: dg.DagsterRun, step_failures: list[dg.DagsterEvent], run_failure: dg.DagsterEvent | None,
                   link: str, crash: str | None = None) -> Notice:
    who, years = run_scope(run)
    lines = [f"运行编号:{run.run_id}", f"作业:{run.job_name}({_started_by(run)})",
             f"部门:{who}", f"财政年度:{years}"]
    for event in step_failures:
        error = event.step_failure_data.error if event.step_failure_data else None
        lines.append(f"失败步骤:{event.step_key}")
        if error is not None:
            lines.append(f"  原因:{_root_cause(error)}")
    if not step_failures:
        lines.append("失败步骤:无(运行进程中断或未能启动)")
        if crash:
            lines.append(f"  原因:{crash}")
        elif run_failure is not None and run_failure.message:
            lines.append(f"  原因:{run_failure.message.strip()}")
    retries, attempt = int(run.tags.get(MAX_RETRIES_TAG, "0")), int(run.tags.get(RETRY_NUMBER_TAG, "0"))
    if step_failures:
        lines.append("处理:步骤出错不会自动重试;请按原因修正数据或配置后重新运行。")
    elif attempt < retries:
        lines.append(f"处理:守护进程将自动重试(第 {attempt + 1} 次,最多 {retries} 次)。")
    else:
        lines.append("处理:已不再自动重试;请查明原因后在界面中重新运行。")
    lines.append(f"查看运行:{link}")
    subject = f"【资金监管流水线】运行失败:{who} {years}"
    return Notice("运行失败", run.run_id, subject, tuple(lines))


def findings_notice(run: dg.DagsterRun, failed_checks: list[str], reports: dict[str, str], link: str) -> Notice:
    who, years = run_scope(run)
    lines = [f"运行编号:{run.run_id}", f"作业:{run.job_name}({_started_by(run)})",
             f"部门:{who}", f"财政年度:{years}",
             f"运行已完成,但有 {len(failed_checks)} 条错误级规则未通过:{', '.join(failed_checks)}"]
    lines += [f"审计报告({kind}):{path}" for kind, path in sorted(reports.items())]
    lines.append(f"查看运行:{link}")
    subject = f"【资金监管流水线】发现错误级问题:{who} {years}"
    return Notice("错误级问题", run.run_id, subject, tuple(lines))


def _root_cause(error) -> str:
    error = innermost(error)
    return error.message.strip().splitlines()[0] if error.message.strip() else error.cls_name or "未知错误"


def crash_explanation(instance: dg.DagsterInstance, run_id: str) -> str | None:
    """What Dagster recorded about a run process that died (e.g. 'terminated by signal 9 (SIGKILL)')."""
    for entry in reversed(instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)):
        message = entry.message or ""
        if message.startswith("Run execution process") or "terminated unexpectedly" in message:
            return entry.message.strip()
    return None


def failed_error_checks(instance: dg.DagsterInstance, run_id: str) -> tuple[list[str], dict[str, str]]:
    """The error-severity asset checks a run failed, and the report it wrote (kind -> path)."""
    failed, reports = [], {}
    for record in instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION,
                                               limit=10_000).records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        if not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR:
            failed.append(evaluation.check_name)
    for record in instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION,
                                               limit=10_000).records:
        materialization = record.event_log_entry.dagster_event.event_specific_data.materialization
        if materialization.asset_key == REPORT_KEY:
            reports = {k: str(v.value) for k, v in materialization.metadata.items() if k in ("html", "excel")}
    return sorted(set(failed)), reports


def build_alert_sensors(settings: Settings) -> list[dg.SensorDefinition]:
    service = settings.service

    def run_link(run_id: str) -> str:
        return f"{service.webserver_url or 'http://127.0.0.1:3000'}/runs/{run_id}"

    @dg.run_failure_sensor(name="run_failure_notice", minimum_interval_seconds=10,
                           default_status=dg.DefaultSensorStatus.RUNNING)
    def run_failure_notice(context: dg.RunFailureSensorContext):
        """Writes a notice (what failed, in which step, for which department and year, the link to the run)
        into reports/通知/ and emails it when SMTP settings are given."""
        run = context.dagster_run
        notice = failure_notice(run, context.get_step_failure_events(), context.failure_event, run_link(run.run_id),
                                crash_explanation(context.instance, run.run_id))
        path, problem = deliver(settings.reports_dir, service.smtp, notice)
        context.log.info(f"failure notice for run {run.run_id}: {path}" + (f" ({problem})" if problem else ""))

    @dg.run_status_sensor(run_status=dg.DagsterRunStatus.SUCCESS, name="error_findings_notice",
                          minimum_interval_seconds=10, default_status=dg.DefaultSensorStatus.RUNNING)
    def error_findings_notice(context: dg.RunStatusSensorContext):
        """A run that ended with error-severity findings is announced the same way, with its report linked."""
        run = context.dagster_run
        failed, reports = failed_error_checks(context.instance, run.run_id)
        if not failed:
            return dg.SkipReason(f"run {run.run_id} ended without error-severity findings")
        path, problem = deliver(settings.reports_dir, service.smtp, findings_notice(run, failed, reports,
                                                                                   run_link(run.run_id)))
        context.log.info(f"findings notice for run {run.run_id}: {path}" + (f" ({problem})" if problem else ""))

    return [run_failure_notice, error_findings_notice]
