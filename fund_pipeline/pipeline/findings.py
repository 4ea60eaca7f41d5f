"""The findings history: audit.validation_findings, appended per run, never overwritten across runs."""

from __future__ import annotations

import pandas as pd

from fund_pipeline.warehouse import Warehouse

FINDINGS_SCHEMA, FINDINGS_TABLE = "audit", "validation_findings"


def replace_findings(warehouse: Warehouse, findings: pd.DataFrame, run_id: str, *, source: str | None = None,
                     target: str | None = None, ingest: bool = False) -> int:
    """Add one stage's findings for a run; a retried step replaces its own earlier findings of that run only."""
    conditions = [f"run_id = '{run_id}'"]
    if source:
        conditions.append(f"source = '{source}'")
    if target:
        conditions.append(f"target = '{target}'")
    conditions.append("rule_id like 'INGEST-%'" if ingest else "rule_id not like 'INGEST-%'")
    delete = " and ".join(conditions) if warehouse.table_exists(FINDINGS_SCHEMA, FINDINGS_TABLE) else None
    return warehouse.append(FINDINGS_SCHEMA, FINDINGS_TABLE, findings, delete_where=delete)


def run_findings(warehouse: Warehouse, run_id: str) -> pd.DataFrame:
    if not warehouse.table_exists(FINDINGS_SCHEMA, FINDINGS_TABLE):
        return pd.DataFrame()
    return warehouse.query(
        f"select * from {FINDINGS_SCHEMA}.{FINDINGS_TABLE} where run_id = '{run_id}' "
        "order by rule_id, source, source_file, sheet, row_number")
