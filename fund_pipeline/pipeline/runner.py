"""Run every asset in this process on one Settings object (the CLI's `run`, and the tests)."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from fund_pipeline.pipeline.console import (
    RunSummary,
    add_publication,
    cause_message,
    findings_now,
    findings_recorded,
    progress_logger,
    render_summary,
    say_kept,
    summarise_events,
)
from fund_pipeline.settings import Settings, dagster_instance

_log = logging.getLogger(__name__)

USER_TAG = "fund_pipeline/user"  # who started a manual run: the proxy's authenticated user or the OS user


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
                 progress: bool = False, verbose: bool = True, read_ahead: frozenset[str] = frozenset(),
                 process_ends_with_run: bool = False) -> RunOutcome:
    """One refresh: every asset (or a selection), for every fiscal year (or some of them).

    One Dagster run over the fiscal years the inbox holds. Only on an instance that knows no year yet and
    whose file names state none are the spreadsheets landed in a run of their own first.
    With progress, Chinese progress lines are printed as the runs go; Dagster's own log only if verbose.
    `read_ahead` names the sources being read ahead (pipeline/read_ahead.py): their landing steps run last.
    `process_ends_with_run` (the `fund-pipeline run` command): what is loaded once Dagster, dbt and the definitions
    are is moved out of the garbage collector's reach (`gc.freeze`). It lives as long as the process anyway, and
    each full collection during the run no longer walks its 300,000 objects: 0.2-0.3 s each, two to four a run."""
    from dagster._loggers import colored_console_logger

    from fund_pipeline.defs.assemble import build_definitions
    from fund_pipeline.defs.dbt_worker import start_deferred
    from fund_pipeline.defs.jobs import all_years_tags, known_years, register_years, span_of
    from fund_pipeline.defs.reuse import kept_steps_tag
    from fund_pipeline.event_log import executing_in_process
    from fund_pipeline.pipeline.read_ahead import when_read
    from fund_pipeline.recovery import fail_dead_cli_runs, free_slots_of_finished_runs, process_tags
    from fund_pipeline.sources.reader import years_in_inbox
    from fund_pipeline.sources.spec import load_layouts

    started, stream = time.monotonic(), sys.stdout
    defs = build_definitions(settings, read_ahead)
    if process_ends_with_run:
        gc.freeze()
        gc.enable()  # the command turned it off while it loaded (cli.main)
    job = defs.resolve_implicit_global_asset_job_def()
    run_config = {}
    if progress:
        job = job.with_logger_defs({"console": colored_console_logger, "progress": progress_logger(started, stream)})
        run_config = {"loggers": {"progress": {}, **({"console": {"config": {"log_level": "DEBUG"}}} if verbose else {})}}
    instance = instance or dagster_instance(settings)
    fail_dead_cli_runs(instance)  # a killed earlier run would stay STARTED and hold its pool slots
    free_slots_of_finished_runs(instance)  # and one that ended holding a slot would keep it
    compared = findings_recorded(settings.warehouse_url)  # an earlier run's findings to compare with
    graph = defs.resolve_asset_graph()
    keys = set(selection.resolve(graph)) if selection is not None else set(graph.get_all_asset_keys())
    landing = sorted(k for k in keys if k.path[0] == "landing")
    # Years are registered from the file names first, so one run covers them; any other year the rows carry
    # is registered by its landing step and published by the same run (see defs/publish.py).
    register_years(instance, [*settings.fiscal_years, *years_in_inbox(load_layouts(), settings.inbox)])
    results, kept = [], []
    with _quiet(progress and not verbose), executing_in_process(instance):
        if not known_years(instance) and landing:  # nothing says which years yet: land first, which registers them
            results.append(job.execute_in_process(instance=instance, raise_on_error=False, asset_selection=landing,
                                                  tags={USER_TAG: settings.user, **process_tags()}, run_config=run_config))
            keys = keys - set(landing)
        registered = known_years(instance)
        wanted = [str(y) for y in years] if years else registered
        unknown = set(wanted) - set(registered)
        if unknown:
            raise ValueError(f"财政年度 {'、'.join(sorted(unknown))} 不在数据中(已有:{'、'.join(registered)})")
        span = span_of(wanted, registered)
        chosen = sorted(k for k in keys if graph.get(k).is_materializable
                        and (span or graph.get(k).partitions_def is None))
        if chosen:
            kept = _steps_to_keep(settings, instance, chosen, span)
            if progress:
                say_kept(started, kept, stream)
            chosen = [k for k in chosen if k not in {step.key for step in kept}]
            if any(k.path[0] == "warehouse" for k in chosen):  # dbt builds: its worker, if the run has one, starts
                when_read(start_deferred)  # now, or once a large source read ahead is read (defs/dbt_worker.py)
            tags = {**(all_years_tags(span) if span else {}), USER_TAG: settings.user, **process_tags(),
                    **kept_steps_tag(kept)}
            results.append(job.execute_in_process(instance=instance, raise_on_error=False, asset_selection=chosen,
                                                  tags=tags, run_config=run_config))
    outcome = _outcome(settings, results, kept)
    add_publication(outcome.summary, settings.warehouse_url)
    now = findings_now(settings.warehouse_url, [result.run_id for result in results])
    if now is not None:
        outcome.summary.errors, outcome.summary.warnings = now.errors, now.warnings
        if compared:
            outcome.summary.new, outcome.summary.resolved = now.new, now.resolved
    outcome.seconds = time.monotonic() - started
    return outcome


@contextlib.contextmanager
def _quiet(quiet: bool):
    """dbt's own log goes to stdout (dagster-dbt echoes it): shown with Dagster's log, not between the
    progress lines (which keep the real stdout)."""
    if not quiet:
        yield
        return
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        yield


def _steps_to_keep(settings: Settings, instance: dg.DagsterInstance, chosen: list[dg.AssetKey], years: list[str]) -> list:
    """The landing and publishing steps this run leaves out, their inputs unchanged (defs/reuse.py): only with
    step reuse on, and only when the run's audit step is there to carry their findings into the run."""
    from fund_pipeline.defs.audit import FINDINGS_KEY
    from fund_pipeline.defs.reuse import steps_to_keep
    from fund_pipeline.warehouse import Warehouse

    if settings.cache_dir is None or FINDINGS_KEY not in chosen:
        return []
    warehouse = Warehouse.from_url(settings.warehouse_url, keep_open=True)
    try:
        return steps_to_keep(warehouse, instance, settings.inbox, chosen, years)
    except Exception as error:  # only a saving: each step then decides for itself, as it always can
        _log.warning("无法预先判断哪些步骤的输入未变(%s),各步骤照常运行", error)
        return []
    finally:
        warehouse.release()


def _outcome(settings: Settings, results: list, kept: list) -> RunOutcome:
    reports, failed, failed_rules, failures = {}, [], [], []
    for result in results:
        for event in result.all_events:
            if event.event_type_value == "ASSET_MATERIALIZATION":
                materialization = event.event_specific_data.materialization
                if materialization.asset_key == dg.AssetKey(["reports", "audit_report"]):
                    reports = {k: str(v.value) for k, v in materialization.metadata.items() if k in ("html", "excel")}
            if event.event_type_value == "ASSET_CHECK_EVALUATION":
                evaluation = event.event_specific_data
                if not evaluation.passed:
                    failed.append(evaluation.check_name)
                    failed_rules.append(_rule_id(evaluation))
        failures += [e for e in result.all_events if e.is_step_failure]
    success = all(r.success for r in results)
    error = "; ".join(f"{e.step_key}: {cause_message(e.event_specific_data.error)}" for e in failures)[:4000] or None
    run_id = results[-1].run_id if results else ""
    summary = summarise_events([e for r in results for e in r.all_events], kept)
    summary.failed_rules = sorted(set(failed_rules))
    return RunOutcome(success, run_id, _display(settings.warehouse_url), reports, sorted(set(failed)), error,
                      summary.failed_rules, summary)


def _rule_id(evaluation) -> str:
    """The rule id a check evaluates (its metadata says it); other checks keep their own name."""
    entry = evaluation.metadata.get("rule_id")
    if entry is not None:
        return str(entry.value)
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


def _display(url: str) -> str:
    if url.startswith("duckdb:///"):
        return "duckdb:///" + str(Path(url.removeprefix("duckdb:///")).resolve())
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
