"""Run every asset in this process on one Settings object (the CLI's `run`, and the tests)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from fund_pipeline.settings import Settings, dagster_instance

USER_TAG = "fund_pipeline/user"  # who started a manual run: the proxy's authenticated user or the OS user


@dataclass
class RunOutcome:
    success: bool
    run_id: str
    warehouse_url: str
    reports: dict[str, str] = field(default_factory=dict)
    failed_checks: list[str] = field(default_factory=list)
    error: str | None = None

    def describe(self) -> str:
        lines = [f"运行 {self.run_id}:{'完成' if self.success else '失败'}", f"数据仓库:{self.warehouse_url}"]
        lines += [f"审计报告({kind}):{path}" for kind, path in self.reports.items()]
        if self.failed_checks:
            lines.append(f"未通过的规则检查:{', '.join(self.failed_checks)}")
        if self.error:
            lines.append(f"错误:{self.error}")
        return "\n".join(lines)


def run_pipeline(settings: Settings, instance: dg.DagsterInstance | None = None,
                 selection: dg.AssetSelection | None = None, years: list[str] | None = None) -> RunOutcome:
    """One refresh: every asset (or a selection), for every fiscal year (or some of them).

    One Dagster run over the fiscal years the inbox holds. Only on an instance that knows no year yet and
    whose file names state none are the spreadsheets landed in a run of their own first."""
    from fund_pipeline.defs.assemble import build_definitions
    from fund_pipeline.defs.jobs import all_years_tags, known_years, register_years, span_of
    from fund_pipeline.sources.reader import years_in_inbox
    from fund_pipeline.sources.spec import load_layouts

    defs = build_definitions(settings)
    job = defs.resolve_implicit_global_asset_job_def()
    instance = instance or dagster_instance(settings)
    graph = defs.resolve_asset_graph()
    keys = set(selection.resolve(graph)) if selection is not None else set(graph.get_all_asset_keys())
    landing = sorted(k for k in keys if k.path[0] == "landing")
    # Years are registered from the file names first, so one run covers them; any other year the rows carry
    # is registered by its landing step and published by the same run (see defs/publish.py).
    register_years(instance, [*settings.fiscal_years, *years_in_inbox(load_layouts(), settings.inbox)])
    results = []
    if not known_years(instance) and landing:  # nothing says which years yet: land first, which registers them
        results.append(job.execute_in_process(instance=instance, raise_on_error=False, asset_selection=landing,
                                              tags={USER_TAG: settings.user}))
        keys = keys - set(landing)
    registered = known_years(instance)
    wanted = [str(y) for y in years] if years else registered
    unknown = set(wanted) - set(registered)
    if unknown:
        raise ValueError(f"fiscal years {sorted(unknown)} are not in the data (known: {registered})")
    span = span_of(wanted, registered)
    chosen = sorted(k for k in keys if graph.get(k).is_materializable
                    and (span or graph.get(k).partitions_def is None))
    if chosen:
        tags = {**(all_years_tags(span) if span else {}), USER_TAG: settings.user}
        results.append(job.execute_in_process(instance=instance, raise_on_error=False, asset_selection=chosen, tags=tags))
    return _outcome(settings, results)


def _outcome(settings: Settings, results: list) -> RunOutcome:
    reports, failed, failures = {}, [], []
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
        failures += [e for e in result.all_events if e.is_step_failure]
    success = all(r.success for r in results)
    error = "; ".join(f"{e.step_key}: {_root_cause(e.event_specific_data.error)}" for e in failures)[:4000] or None
    run_id = results[-1].run_id if results else ""
    return RunOutcome(success, run_id, _display(settings.warehouse_url), reports, sorted(set(failed)), error)


def sources_selection(sources: list[str]) -> dg.AssetSelection:
    """Just these departments' sources and everything downstream of them."""
    from fund_pipeline.defs.ingest import landing_key
    from fund_pipeline.sources.spec import layout_by_name

    return dg.AssetSelection.assets(*[landing_key(layout_by_name(s).name) for s in sources]).downstream()


def _root_cause(error) -> str:
    while error.cause is not None:
        error = error.cause
    return error.message.strip()


def _display(url: str) -> str:
    if url.startswith("duckdb:///"):
        return "duckdb:///" + str(Path(url.removeprefix("duckdb:///")).resolve())
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
