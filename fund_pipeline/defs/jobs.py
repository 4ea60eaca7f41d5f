"""Jobs and the executor."""

from __future__ import annotations

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from fund_pipeline.settings import Settings

refresh_job = dg.define_asset_job(
    "county_refresh",
    selection=dg.AssetSelection.all(),
    description="Read every department's spreadsheets, validate, publish, build the marts and the auditors' report.",
)


FISCAL_YEARS = dg.DynamicPartitionsDefinition(name="fiscal_year")


def fiscal_year_partitions(settings: Settings | None = None) -> dg.DynamicPartitionsDefinition:
    """The fiscal years found in the data: each department's landing step registers the years its rows
    carry, so a county's 2018 ledger becomes the 2018 partition without any setting. A correction to 2016
    re-runs 2016."""
    return FISCAL_YEARS


def known_years(instance: dg.DagsterInstance) -> list[str]:
    """The registered fiscal years, in the order Dagster ranges over them (the order they were found)."""
    return list(instance.get_dynamic_partitions(FISCAL_YEARS.name))


def register_years(instance: dg.DagsterInstance, years) -> list[str]:
    """Add fiscal years not yet known as partitions; returns the new ones."""
    new = sorted({str(int(y)) for y in years} - set(known_years(instance)))
    if new:
        instance.add_dynamic_partitions(FISCAL_YEARS.name, new)
    return new


def span_of(wanted, registered: list[str]) -> list[str]:
    """The contiguous run of registered years (in partition order) that covers every wanted year."""
    positions = [registered.index(y) for y in wanted if y in registered]
    return registered[min(positions): max(positions) + 1] if positions else []


def all_years_tags(years) -> dict[str, str]:
    """Run tags for one run over a range of fiscal years (the partitioned assets process the range at once);
    `years` is a contiguous span in partition order."""
    years = list(years)
    return {ASSET_PARTITION_RANGE_START_TAG: years[0], ASSET_PARTITION_RANGE_END_TAG: years[-1]}


def executor_for(settings: Settings) -> dg.ExecutorDefinition:
    """DuckDB allows one writing process, so the embedded default runs steps in one process;
    on PostgreSQL steps run in parallel processes."""
    if settings.warehouse_kind == "duckdb":
        return dg.in_process_executor
    return dg.multiprocess_executor.configured({"max_concurrent": 4})
