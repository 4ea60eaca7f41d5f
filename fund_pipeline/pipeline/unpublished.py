"""Empty published tables for the entities no run has published yet.

The marts read every entity's clean table, so on a fresh warehouse a run for some sources only
(`fund-pipeline run --source X`) could not build them. Before dbt runs, every missing `clean.<entity>`
and `quarantine.<entity>` is created empty, with exactly the columns and types a real publish of that
entity makes (the same validate-and-split path, on no rows). An existing table keeps its rows; it only
gains the columns a newer version publishes (e.g. `unit_slip_amount`), empty.
"""

from __future__ import annotations

import pandas as pd

from fund_pipeline.pipeline.publish import validate_and_split
from fund_pipeline.pipeline.step_inputs import inputs_digest, record, unchanged
from fund_pipeline.rules.catalogue import load_catalogue
from fund_pipeline.rules.derive import References
from fund_pipeline.sources.reader import empty_records
from fund_pipeline.sources.schemas import ENTITIES, conform
from fund_pipeline.warehouse import Warehouse

PUBLISHED_SCHEMAS = ("clean", "quarantine")
SHAPED_STEP = "shape/published"  # its record in audit.step_inputs: which code and configuration shaped the tables


def empty_published(entity: str) -> dict[str, pd.DataFrame]:
    """The clean and quarantine frames a publish of no rows makes, by schema."""
    # Shaped like a landed table (pipeline/ingest.py adds the set-aside reason, defs/ingest.py the run).
    text = pd.Series(dtype="string")
    landed = conform(entity, empty_records(entity)).assign(_set_aside=text, run_id=text)
    result = validate_and_split(entity, landed, References.empty(), load_catalogue(), run_id="")
    return {"clean": conform(entity, result.published), "quarantine": conform(entity, result.quarantined)}


def create_unpublished_tables(warehouse: Warehouse) -> list[str]:
    """Create the missing published tables empty, and give existing ones any column a newer version of the
    pipeline publishes (so the marts, which read every entity, build after a run of some sources only).
    Returns the names of the tables created (`clean.villages`, …).

    The shapes come from validating no rows of each entity, a second's work: skipped when this code and
    configuration already made them and every table still has at least the columns recorded then."""
    digest = inputs_digest(SHAPED_STEP, sorted(ENTITIES))
    shaped = unchanged(warehouse, SHAPED_STEP, digest, {})
    if shaped is not None and _have_columns(warehouse, shaped.metadata):
        return []
    created, shapes = [], {}
    for entity in ENTITIES:
        frames = empty_published(entity)
        shapes |= {f"{schema}.{entity}": list(frame.columns) for schema, frame in frames.items()}
        if not _needs_shaping(warehouse, entity, frames):
            continue
        # Under the entity's publish lock: a run publishing it right now finishes first and is never overwritten.
        with warehouse.lock(f"publish:{entity}"):
            for schema, frame in frames.items():
                existed = warehouse.table_exists(schema, entity)
                warehouse.append(schema, entity, frame)  # no rows: creates the table or adds missing columns
                if not existed:
                    created.append(f"{schema}.{entity}")
    record(warehouse, SHAPED_STEP, digest, shapes, run_id="")
    return created


def _have_columns(warehouse: Warehouse, shapes: dict[str, list[str]]) -> bool:
    """Every published table exists with at least these columns (by 'schema.table')."""
    schemas = ", ".join(f"'{schema}'" for schema in PUBLISHED_SCHEMAS)
    present = warehouse.query("select table_schema, table_name, column_name from information_schema.columns "
                              f"where table_schema in ({schemas})")
    columns: dict[str, set] = {}
    for schema, table, column in present.itertuples(index=False, name=None):  # the catalogue's rows, not data
        columns.setdefault(f"{schema}.{table}", set()).add(column)
    return len(shapes) == len(ENTITIES) * len(PUBLISHED_SCHEMAS) and all(
        set(wanted) <= columns.get(table, set()) for table, wanted in shapes.items())


def _needs_shaping(warehouse: Warehouse, entity: str, frames: dict[str, pd.DataFrame]) -> bool:
    for schema, frame in frames.items():
        if not warehouse.table_exists(schema, entity):
            return True
        if set(frame.columns) - set(warehouse.columns(schema, entity)):
            return True
    return False
