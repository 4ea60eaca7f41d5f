"""Jobs and the executor."""

from __future__ import annotations

import dagster as dg

from fund_pipeline.settings import Settings

refresh_job = dg.define_asset_job(
    "county_refresh",
    selection=dg.AssetSelection.all(),
    description="Read every department's spreadsheets, validate, publish, build the marts and the auditors' report.",
)


def executor_for(settings: Settings) -> dg.ExecutorDefinition:
    """DuckDB allows one writing process, so the embedded default runs steps in one process;
    on PostgreSQL steps run in parallel processes."""
    if settings.warehouse_kind == "duckdb":
        return dg.in_process_executor
    return dg.multiprocess_executor.configured({"max_concurrent": 4})
