"""Run every asset in this process on one Settings object (the CLI's `run`, and the tests)."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from fund_pipeline.pipeline.console import (
    RunSummary,
    findings_snapshot,
    new_and_resolved,
    progress_logger,
    render_summary,
    summarise_events,
)
from fund_pipeline.settings import Settings, dagster_instance


@dataclass
class RunOutcome:
    success: bool
    run_id: str
    warehouse_url: str
    reports: dict[str, str] = field(default_factory=dict)
    failed_checks: list[str] = field(default_factory=list)  # Dagster check names (rule id, - as _)
    error: str | None = None
    failed_rules: list[str] = field(default_factory=list)  # the same, as rule ids: what a person reads
    summary: RunSummary = field(default_factory=RunSummary)
    seconds: float = 0.0

    def describe(self) -> str:
        return "\n".join(render_summary(self))


def run_pipeline(settings: Settings, instance: dg.DagsterInstance | None = None,
                 selection: dg.AssetSelection | None = None, years: list[str] | None = None,
                 progress: bool = False, verbose: bool = True) -> RunOutcome:
    """One run: every asset (or a selection), for every fiscal year (or a contiguous range of them).
    With progress, Chinese progress lines are printed as the run goes; Dagster's own log only if verbose."""
    from dagster._loggers import colored_console_logger

    from fund_pipeline.defs.assemble import build_definitions
    from fund_pipeline.defs.jobs import all_years_tags

    started = time.monotonic()
    defs = build_definitions(settings)
    job = defs.resolve_implicit_global_asset_job_def()
    run_config = {}
    if progress:
        job = job.with_logger_defs({"console": colored_console_logger, "progress": progress_logger(started, sys.stdout)})
        run_config = {"loggers": {"progress": {}, **({"console": {}} if verbose else {})}}
    instance = instance or dagster_instance(settings)
    before = findings_snapshot(settings.warehouse_url)
    keys = list(selection.resolve(defs.resolve_asset_graph())) if selection is not None else None
    chosen = sorted(years or settings.fiscal_years)
    unknown = set(chosen) - set(settings.fiscal_years)
    if unknown:
        raise ValueError(f"fiscal years {sorted(unknown)} are not among the partitions {settings.fiscal_years}")
    span = [y for y in settings.fiscal_years if chosen[0] <= y <= chosen[-1]]
    # dbt's own log goes to stdout (dagster-dbt echoes it): shown with Dagster's log, not between progress lines
    quiet = open(os.devnull, "w") if progress and not verbose else None  # noqa: SIM115
    try:
        with contextlib.redirect_stdout(quiet) if quiet else contextlib.nullcontext():
            result = job.execute_in_process(instance=instance, raise_on_error=False, asset_selection=keys,
                                            tags=all_years_tags(span), run_config=run_config)
    finally:
        if quiet:
            quiet.close()
    reports = {}
    failed, failed_rules = [], []
    for event in result.all_events:
        if event.event_type_value == "ASSET_MATERIALIZATION":
            materialization = event.event_specific_data.materialization
            if materialization.asset_key == dg.AssetKey(["reports", "audit_report"]):
                reports = {k: str(v.value) for k, v in materialization.metadata.items() if k in ("html", "excel")}
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            if not evaluation.passed:
                failed.append(evaluation.check_name)
                failed_rules.append(str(_rule_id(evaluation)))
    error = None
    if not result.success:
        failures = [e for e in result.all_events if e.is_step_failure]
        error = "; ".join(f"{e.step_key}: {_root_cause(e.event_specific_data.error)}" for e in failures)[:4000]
    summary = summarise_events(result.all_events)
    summary.failed_rules = sorted(set(failed_rules))
    summary.new, summary.resolved = new_and_resolved(before, findings_snapshot(settings.warehouse_url))
    return RunOutcome(result.success, result.run_id, _display(settings.warehouse_url), reports, sorted(set(failed)),
                      error, summary.failed_rules, summary, time.monotonic() - started)


def _rule_id(evaluation) -> str:
    """The rule id a check evaluates (its metadata says it); other checks keep their own name."""
    entry = evaluation.metadata.get("rule_id")
    if entry is not None:
        return entry.value
    return f"{evaluation.check_name}({evaluation.asset_key.to_user_string()})"


def sources_selection(sources: list[str]) -> dg.AssetSelection:
    """Just these departments' sources and everything downstream of them; a source is named by its layout
    or by its department (every layout of the department)."""
    from fund_pipeline.defs.ingest import landing_key
    from fund_pipeline.pipeline.clerk import sources_named
    from fund_pipeline.sources.spec import LayoutError, load_layouts

    specs = load_layouts()
    names = []
    for source in sources:
        named = sources_named(source, specs)
        if not named:
            raise LayoutError(f"未知的来源「{source}」;可用的来源:{'、'.join(s.name for s in specs)}")
        names += [s.name for s in named]
    return dg.AssetSelection.assets(*[landing_key(n) for n in dict.fromkeys(names)]).downstream()


def _root_cause(error) -> str:
    while error.cause is not None:
        error = error.cause
    return error.message.strip()


def _display(url: str) -> str:
    if url.startswith("duckdb:///"):
        return "duckdb:///" + str(Path(url.removeprefix("duckdb:///")).resolve())
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
