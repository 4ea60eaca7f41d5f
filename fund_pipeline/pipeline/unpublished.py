"""Empty published tables for the entities no run has published yet.

The marts read every entity's clean table, so on a fresh warehouse a run for some sources only
(`fund-pipeline run --source X`) could not build them. Before dbt runs, every missing `clean.<entity>`
and `quarantine.<entity>` is created empty, with exactly the columns and types a real publish of that
entity makes (the same validate-and-split path, on no rows). An existing table is never touched.
"""

from __future__ import annotations

import pandas as pd

from fund_pipeline.pipeline.publish import validate_and_split
from fund_pipeline.rules.catalogue import load_catalogue
from fund_pipeline.rules.derive import References
from fund_pipeline.sources.reader import empty_records
from fund_pipeline.sources.schemas import ENTITIES, conform
from fund_pipeline.warehouse import Warehouse

PUBLISHED_SCHEMAS = ("clean", "quarantine")


def empty_published(entity: str) -> dict[str, pd.DataFrame]:
    """The clean and quarantine frames a publish of no rows makes, by schema."""
    # Shaped like a landed table (pipeline/ingest.py adds the set-aside reason, defs/ingest.py the run).
    text = pd.Series(dtype="string")
    landed = conform(entity, empty_records(entity)).assign(_set_aside=text, run_id=text)
    result = validate_and_split(entity, landed, References.empty(), load_catalogue(), run_id="")
    return {"clean": conform(entity, result.published), "quarantine": conform(entity, result.quarantined)}


def create_unpublished_tables(warehouse: Warehouse) -> list[str]:
    """Create the missing published tables empty; returns their names (`clean.villages`, …)."""
    created = []
    for entity in ENTITIES:
        if not _missing(warehouse, entity):
            continue
        # Under the entity's publish lock: a run publishing it right now finishes first and is never overwritten.
        with warehouse.lock(f"publish:{entity}"):
            for schema, frame in empty_published(entity).items():
                if not warehouse.table_exists(schema, entity):
                    warehouse.append(schema, entity, frame)
                    created.append(f"{schema}.{entity}")
    return created


def _missing(warehouse: Warehouse, entity: str) -> bool:
    return not all(warehouse.table_exists(schema, entity) for schema in PUBLISHED_SCHEMAS)
