"""Jobs and the executor."""

from __future__ import annotations

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from fund_pipeline.settings import Settings

refresh_job = dg.define_asset_job(
    "county_refresh",
    selection=dg.AssetSelection.all(),
    description="全县刷新:读取各部门报表,校验、发布,构建数据集市并生成审计报告。\n\n"
                "Read every department's spreadsheets, validate, publish, build the marts and the auditors' report.",
)


def fiscal_year_partitions(settings: Settings) -> dg.StaticPartitionsDefinition:
    """The fiscal years the county publishes (FUND_PIPELINE_FISCAL_YEARS): a correction to 2016 re-runs 2016."""
    return dg.StaticPartitionsDefinition(list(settings.fiscal_years))


def all_years_tags(years) -> dict[str, str]:
    """Run tags for one run over every fiscal year (the partitioned assets process the range at once)."""
    years = sorted(years)
    return {ASSET_PARTITION_RANGE_START_TAG: years[0], ASSET_PARTITION_RANGE_END_TAG: years[-1]}


def executor_for(settings: Settings) -> dg.ExecutorDefinition:
    """DuckDB allows one writing process, so the embedded default runs steps in one process;
    on PostgreSQL steps run in parallel processes."""
    if settings.warehouse_kind == "duckdb":
        return dg.in_process_executor
    return dg.multiprocess_executor.configured({"max_concurrent": 4})
