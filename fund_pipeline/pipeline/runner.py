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
    """One run: every asset (or a selection), for every fiscal year (or a contiguous range of them)."""
    from fund_pipeline.defs.assemble import build_definitions
    from fund_pipeline.defs.jobs import all_years_tags

    defs = build_definitions(settings)
    job = defs.resolve_implicit_global_asset_job_def()
    instance = instance or dagster_instance(settings)
    keys = list(selection.resolve(defs.resolve_asset_graph())) if selection is not None else None
    chosen = sorted(years or settings.fiscal_years)
    unknown = set(chosen) - set(settings.fiscal_years)
    if unknown:
        raise ValueError(f"fiscal years {sorted(unknown)} are not among the partitions {settings.fiscal_years}")
    span = [y for y in settings.fiscal_years if chosen[0] <= y <= chosen[-1]]
    result = job.execute_in_process(instance=instance, raise_on_error=False, asset_selection=keys,
                                    tags={**all_years_tags(span), USER_TAG: settings.user})
    reports = {}
    failed = []
    for event in result.all_events:
        if event.event_type_value == "ASSET_MATERIALIZATION":
            materialization = event.event_specific_data.materialization
            if materialization.asset_key == dg.AssetKey(["reports", "audit_report"]):
                reports = {k: str(v.value) for k, v in materialization.metadata.items() if k in ("html", "excel")}
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            if not evaluation.passed:
                failed.append(evaluation.check_name)
    error = None
    if not result.success:
        failures = [e for e in result.all_events if e.is_step_failure]
        error = "; ".join(f"{e.step_key}: {_root_cause(e.event_specific_data.error)}" for e in failures)[:4000]
    return RunOutcome(result.success, result.run_id, _display(settings.warehouse_url), reports, sorted(set(failed)), error)


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
