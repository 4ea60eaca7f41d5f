"""Dagster definitions, grouped by concept: ingest, publish, dbt, audit, automation."""
