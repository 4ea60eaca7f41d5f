"""Assemble the Definitions for one Settings object (definitions.py and the CLI both use this)."""

from __future__ import annotations

import dagster as dg

from fund_pipeline.configuration import activate
from fund_pipeline.defs.alerts import build_alert_sensors
from fund_pipeline.defs.audit import audit_report, policy_measures, validation_findings
from fund_pipeline.defs.automation import build_schedules, build_sensors
from fund_pipeline.defs.dbt import build_dbt_assets
from fund_pipeline.defs.ingest import ingest_assets
from fund_pipeline.defs.jobs import executor_for, fiscal_year_partitions, refresh_job
from fund_pipeline.defs.publish import clean_assets
from fund_pipeline.defs.resources import FundPipelineResource
from fund_pipeline.settings import Settings


def build_definitions(settings: Settings, read_ahead: frozenset[str] = frozenset()) -> dg.Definitions:
    """`read_ahead`: the sources whose files this process is reading ahead (the CLI's run)."""
    activate(settings.config_dir)
    settings.export_dbt_env()
    return dg.Definitions(
        assets=[*ingest_assets(read_ahead), *clean_assets(fiscal_year_partitions(settings)), build_dbt_assets(), policy_measures,
                validation_findings, audit_report],
        jobs=[refresh_job],
        schedules=build_schedules(settings.fiscal_years, settings.service.monthly_cron),
        sensors=[*build_sensors(settings.fiscal_years, settings.service.inbox_interval_seconds),
                 *build_alert_sensors(settings)],
        resources={"fund": FundPipelineResource.from_settings(settings)},
        executor=executor_for(settings),
    )
