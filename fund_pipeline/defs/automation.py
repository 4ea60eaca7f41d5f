"""Unattended operation: a monthly refresh, the year-end close, and a sensor on the inbox that refreshes
just the departments whose spreadsheets arrived or changed (by content hash)."""

import hashlib
import json
import re

import dagster as dg

from fund_pipeline.defs.ingest import landing_key
from fund_pipeline.defs.jobs import FISCAL_YEARS, all_years_tags, known_years, refresh_job, span_of
from fund_pipeline.defs.resources import FundPipelineResource
from fund_pipeline.sources.reader import file_sha256, find_files
from fund_pipeline.sources.spec import load_layouts

TIMEZONE = "Asia/Shanghai"
SOURCE_TAG = "fund_pipeline/sources"

def build_schedules(fiscal_years: tuple[str, ...]) -> list[dg.ScheduleDefinition]:
    @dg.schedule(job=refresh_job, cron_schedule="0 2 1 * *", execution_timezone=TIMEZONE,
                 default_status=dg.DefaultScheduleStatus.RUNNING)
    def monthly_refresh(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        """02:00 on the 1st of every month: every department's latest spreadsheets, every fiscal year, in one
        run, with a new auditors' report. Before any fiscal year is known (a new instance), the spreadsheets
        are landed first, which registers the years they hold."""
        run_key = context.scheduled_execution_time.strftime("monthly-%Y-%m")
        years = _years(context, fiscal_years)
        if not years:
            return dg.RunRequest(run_key=run_key, asset_selection=_landing_keys())
        return dg.RunRequest(run_key=run_key, tags=all_years_tags(years))

    @dg.schedule(job=refresh_job, cron_schedule="0 3 20 1 *", execution_timezone=TIMEZONE,
                 default_status=dg.DefaultScheduleStatus.RUNNING)
    def year_end_close(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        """On 20 January, once the departments' year-end figures are in, the fiscal year just ended is
        re-validated and published (its partition only), tagged so its report is the year's record."""
        closed = str(context.scheduled_execution_time.year - 1)
        known = _years(context, fiscal_years)
        if closed not in known:
            return dg.SkipReason(f"no data for fiscal year {closed} has arrived")
        return dg.RunRequest(run_key=f"close-{closed}",
                             tags={"fund_pipeline/closes_fiscal_year": closed, **all_years_tags([closed])})

    return [monthly_refresh, year_end_close]


def _years(context, seed: tuple[str, ...]) -> list[str]:
    """The registered fiscal years; in a bare evaluation context (no instance), the configured ones."""
    instance = getattr(context, "instance_ref", None) and context.instance
    return known_years(instance) if instance is not None else list(seed)


def _landing_keys() -> list[dg.AssetKey]:
    return [landing_key(spec.name) for spec in load_layouts()]


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


def build_sensors(fiscal_years: tuple[str, ...]) -> list[dg.SensorDefinition]:
    @dg.sensor(job=refresh_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
    def inbox_sensor(context: dg.SensorEvaluationContext, fund: FundPipelineResource):
        """Watches the inbox; when a department's spreadsheet arrives, changes or is removed, requests one run
        that re-reads just those departments and refreshes what depends on them, for the fiscal years the
        changed files belong to (a corrected 2016 ledger re-runs 2016)."""
        previous = json.loads(context.cursor) if context.cursor else {}
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
