"""Unattended operation: a monthly refresh, the year-end close, and a sensor on the inbox that refreshes
just the departments whose spreadsheets arrived or changed (by content hash)."""

import hashlib
import json
import re

import dagster as dg

from fund_pipeline.defs.ingest import landing_key
from fund_pipeline.defs.jobs import (
    FISCAL_YEARS,
    SCHEDULED_RUN_PRIORITY,
    all_years_tags,
    known_years,
    refresh_job,
    span_of,
)
from fund_pipeline.defs.resources import FundPipelineResource
from fund_pipeline.pipeline.fingerprints import FINGERPRINTS_METADATA_KEY, source_fingerprints
from fund_pipeline.sources.spec import load_layouts

TIMEZONE = "Asia/Shanghai"
SOURCE_TAG = "fund_pipeline/sources"

def build_schedules(fiscal_years: tuple[str, ...], monthly_cron: str = "0 2 1 * *") -> list[dg.ScheduleDefinition]:
    @dg.schedule(job=refresh_job, cron_schedule=monthly_cron, execution_timezone=TIMEZONE,
                 default_status=dg.DefaultScheduleStatus.RUNNING,
                 description="每月1日02:00(北京时间):读取各部门最新报表,全部财政年度一次运行,生成新的审计报告。\n\n"
                             "02:00 on the 1st of every month: every department's latest spreadsheets, every "
                             "fiscal year, in one run, with a new auditors' report.")
    def monthly_refresh(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        """02:00 on the 1st of every month: every department's latest spreadsheets, every fiscal year, in one
        run, with a new auditors' report. Before any fiscal year is known (a new instance), the spreadsheets
        are landed first, which registers the years they hold."""
        run_key = context.scheduled_execution_time.strftime("monthly-%Y-%m")
        years = _years(context, fiscal_years)
        if not years:
            return dg.RunRequest(run_key=run_key, asset_selection=_landing_keys(), tags=SCHEDULED_RUN_PRIORITY)
        return dg.RunRequest(run_key=run_key, tags={**all_years_tags(years), **SCHEDULED_RUN_PRIORITY})

    @dg.schedule(job=refresh_job, cron_schedule="0 3 20 1 *", execution_timezone=TIMEZONE,
                 default_status=dg.DefaultScheduleStatus.RUNNING,
                 description="每年1月20日03:00(北京时间)年终结账:各部门年终数据到齐后,重新校验并发布刚结束的财政年度"
                             "(只运行该年度分区),其报告即该年度的正式记录。\n\n"
                             "On 20 January the fiscal year just ended is re-validated and published (its "
                             "partition only), tagged so its report is the year's record.")
    def year_end_close(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        """On 20 January, once the departments' year-end figures are in, the fiscal year just ended is
        re-validated and published (its partition only), tagged so its report is the year's record."""
        closed = str(context.scheduled_execution_time.year - 1)
        known = _years(context, fiscal_years)
        if closed not in known:
            return dg.SkipReason(f"no data for fiscal year {closed} has arrived")
        return dg.RunRequest(run_key=f"close-{closed}",
                             tags={"fund_pipeline/closes_fiscal_year": closed, **all_years_tags([closed]),
                                   **SCHEDULED_RUN_PRIORITY})

    return [monthly_refresh, year_end_close]


def _years(context, seed: tuple[str, ...]) -> list[str]:
    """The registered fiscal years; in a bare evaluation context (no instance), the configured ones."""
    instance = getattr(context, "instance_ref", None) and context.instance
    return known_years(instance) if instance is not None else list(seed)


def _landing_keys() -> list[dg.AssetKey]:
    return [landing_key(spec.name) for spec in load_layouts()]


def inbox_fingerprints(inbox, previous: dict) -> dict[str, dict[str, list]]:
    """source -> {file: [size, mtime, sha256]}; a file whose size and mtime are unchanged is not re-hashed."""
    return {spec.name: source_fingerprints(spec, inbox, previous.get(spec.name)) for spec in load_layouts()}


def last_run_fingerprints(instance: dg.DagsterInstance) -> dict[str, dict[str, list]]:
    """What each source's latest landing run read (its materialization metadata): the sensor's starting
    point when it has no cursor yet, so a restarted `dagster dev` does not re-run an unchanged county.
    A source never landed, or landed before runs recorded this, is absent and so counts as changed."""
    previous = {}
    for spec in load_layouts():
        event = instance.get_latest_materialization_event(landing_key(spec.name))
        entry = event.asset_materialization.metadata.get(FINGERPRINTS_METADATA_KEY) if event and event.asset_materialization else None
        if entry is not None:
            previous[spec.name] = entry.value
    return previous


def _last_run_or_nothing(context: dg.SensorEvaluationContext) -> dict:
    try:
        instance = context.instance
    except dg.DagsterInvariantViolationError:  # a bare evaluation context (tests): no run to start from
        return {}
    return last_run_fingerprints(instance)


def changed_sources(previous: dict, current: dict) -> list[str]:
    """Sources whose set of file contents differs (a touched but identical file is no change)."""
    def contents(files: dict) -> set:
        return {(name, entry[2]) for name, entry in files.items()}

    return sorted(s for s in current if contents(current[s]) != contents(previous.get(s, {})))


def changed_years(previous: dict, current: dict, source: str, fiscal_years) -> set[str]:
    """The fiscal years a source's changed files belong to, read from their names where the layout says
    how (e.g. 2016年…); a file whose name tells no year may hold any year, so then all of them. A year not
    yet registered is returned too (the sensor registers it)."""
    spec = next(s for s in load_layouts() if s.name == source)
    old, new = previous.get(source, {}), current.get(source, {})
    touched = {f for f in set(old) | set(new) if (old.get(f) or [None] * 3)[2] != (new.get(f) or [None] * 3)[2]}
    patterns = [re.compile(p) for p in spec.filename_fields if "fiscal_year" in re.compile(p).groupindex]
    years: set[str] = set()
    for name in touched:
        match = next((m for p in patterns if (m := p.search(name))), None)
        if match is None:
            return set(fiscal_years)
        years.add(match.group("fiscal_year"))
    return years or set(fiscal_years)


INBOX_SENSOR_DESCRIPTION = (
    "收件箱传感器:每分钟查看收件箱;某部门的报表新到、更改(按内容 SHA-256,仅修改时间变化不算)或被删除时,"
    "请求一次运行,只重新读取这些部门并刷新其下游,年度限于所变文件所属的财政年度(更正2016年台账只重跑2016年)。"
    "首次检查时从上一次运行读取的文件指纹开始,收件箱未变则不运行。\n\n"
    "Watches the inbox; when a department's spreadsheet arrives, changes or is removed, requests one run "
    "that re-reads just those departments and refreshes what depends on them, for the fiscal years the "
    "changed files belong to. Its first tick starts from the fingerprints the last run recorded."
)


def build_sensors(fiscal_years: tuple[str, ...], interval_seconds: int = 60) -> list[dg.SensorDefinition]:
    @dg.sensor(job=refresh_job, minimum_interval_seconds=interval_seconds, default_status=dg.DefaultSensorStatus.RUNNING,
               description=INBOX_SENSOR_DESCRIPTION)
    def inbox_sensor(context: dg.SensorEvaluationContext, fund: FundPipelineResource):
        """See INBOX_SENSOR_DESCRIPTION."""
        previous = json.loads(context.cursor) if context.cursor else _last_run_or_nothing(context)
        current = inbox_fingerprints(fund.inbox_path, previous)
        changed = changed_sources(previous, current)
        cursor = json.dumps(current, ensure_ascii=False)
        if not changed:
            context.update_cursor(cursor)
            return dg.SkipReason("no spreadsheet arrived or changed")
        known = _years(context, fiscal_years)
        years = set().union(*(changed_years(previous, current, s, known) for s in changed))
        new = sorted(years - set(known))
        registered = known + new
        selection = dg.AssetSelection.assets(*[landing_key(s) for s in changed]).downstream()
        keys = sorted(selection.resolve(context.repository_def.asset_graph), key=lambda k: k.to_user_string())
        digest = hashlib.sha256(json.dumps({s: current[s] for s in changed}, sort_keys=True).encode()).hexdigest()[:16]
        span = span_of(years, registered)
        if not span:  # nothing yet says which years: land the files first, which registers their years
            keys = [landing_key(s) for s in changed]
        request = dg.RunRequest(run_key=f"inbox-{digest}", asset_selection=keys,
                                tags={SOURCE_TAG: ",".join(changed), **(all_years_tags(span) if span else {})})
        return dg.SensorResult(run_requests=[request], cursor=cursor, dynamic_partitions_requests=(
            [FISCAL_YEARS.build_add_request(new)] if new else []))

    return [inbox_sensor]
