"""Unattended operation: a monthly refresh, the year-end close, and a sensor on the inbox that refreshes
just the departments whose spreadsheets arrived or changed (by content hash)."""

import hashlib
import json

import dagster as dg

from fund_pipeline.defs.ingest import landing_key
from fund_pipeline.defs.jobs import refresh_job
from fund_pipeline.defs.resources import FundPipelineResource
from fund_pipeline.sources.reader import file_sha256, find_files
from fund_pipeline.sources.spec import load_layouts

TIMEZONE = "Asia/Shanghai"
SOURCE_TAG = "fund_pipeline/sources"

monthly_refresh = dg.ScheduleDefinition(
    name="monthly_refresh",
    job=refresh_job,
    cron_schedule="0 2 1 * *",  # 02:00 on the 1st of every month
    execution_timezone=TIMEZONE,
    description="Every department's latest spreadsheets, validated and published, with a new auditors' report.",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)


@dg.schedule(job=refresh_job, cron_schedule="0 3 20 1 *", execution_timezone=TIMEZONE,
             default_status=dg.DefaultScheduleStatus.RUNNING)
def year_end_close(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """On 20 January, once the departments' year-end figures are in, a full refresh tagged with the fiscal
    year it closes, so its report is the year's record."""
    closed_year = context.scheduled_execution_time.year - 1
    return dg.RunRequest(run_key=f"close-{closed_year}",
                         tags={"fund_pipeline/closes_fiscal_year": str(closed_year)})


def inbox_fingerprints(inbox, previous: dict) -> dict[str, dict[str, list]]:
    """source -> {file: [size, mtime, sha256]}; a file whose size and mtime are unchanged is not re-hashed."""
    current: dict[str, dict[str, list]] = {}
    for spec in load_layouts():
        files = {}
        for path in find_files(spec, inbox):
            relative = path.relative_to(inbox).as_posix()
            stat = path.stat()
            known = previous.get(spec.name, {}).get(relative)
            same = known and known[0] == stat.st_size and known[1] == stat.st_mtime
            files[relative] = [stat.st_size, stat.st_mtime, known[2] if same else file_sha256(path)]
        current[spec.name] = files
    return current


def changed_sources(previous: dict, current: dict) -> list[str]:
    """Sources whose set of file contents differs (a touched but identical file is no change)."""
    def contents(files: dict) -> set:
        return {(name, entry[2]) for name, entry in files.items()}

    return sorted(s for s in current if contents(current[s]) != contents(previous.get(s, {})))


@dg.sensor(job=refresh_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def inbox_sensor(context: dg.SensorEvaluationContext, fund: FundPipelineResource):
    """Watches the inbox; when a department's spreadsheet arrives, changes or is removed, requests one run
    that re-reads just those departments and refreshes everything downstream of them."""
    previous = json.loads(context.cursor) if context.cursor else {}
    current = inbox_fingerprints(fund.inbox_path, previous)
    changed = changed_sources(previous, current)
    context.update_cursor(json.dumps(current, ensure_ascii=False))
    if not changed:
        return dg.SkipReason("no spreadsheet arrived or changed")
    selection = dg.AssetSelection.assets(*[landing_key(s) for s in changed]).downstream()
    keys = sorted(selection.resolve(context.repository_def.asset_graph), key=lambda k: k.to_user_string())
    digest = hashlib.sha256(json.dumps({s: current[s] for s in changed}, sort_keys=True).encode()).hexdigest()[:16]
    return dg.RunRequest(run_key=f"inbox-{digest}", asset_selection=keys, tags={SOURCE_TAG: ",".join(changed)})


schedules = [monthly_refresh, year_end_close]
sensors = [inbox_sensor]
