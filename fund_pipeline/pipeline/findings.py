"""Findings in the warehouse.

`audit.validation_findings` is the history: every run's findings, appended, never overwritten.
`audit.current_findings` is the state now: each stage replaces only its own slice (one source's
ingestion findings, one target's rule findings), so a run for one department leaves the other
departments' findings in place.
"""

from __future__ import annotations

import pandas as pd

from fund_pipeline.pipeline.lifecycle import RESOLVED_TABLE, previous_state, resolved_since, with_status
from fund_pipeline.warehouse import Warehouse

FINDINGS_SCHEMA, FINDINGS_TABLE, CURRENT_TABLE = "audit", "validation_findings", "current_findings"


def years_condition(years) -> str:
    """Rows of these fiscal years, and rows with no year (which every run of the slice rewrites)."""
    listed = ", ".join(str(int(y)) for y in years)
    return f"(fiscal_year in ({listed}) or fiscal_year is null)"


def findings_slice(source: str | None = None, target: str | None = None, ingest: bool = False, years=None,
                   rule_ids=None, leave: tuple[str, ...] = ()) -> str:
    """The SQL condition for one stage's findings: a source's reading findings or a target's rule findings
    (of some fiscal years), without the rules in `leave` that another step computes into the same slice;
    or, with `rule_ids`, the findings the audit step recomputes over every source at once."""
    if rule_ids:
        return "rule_id in (" + ", ".join(f"'{r}'" for r in rule_ids) + ")"
    conditions = [years_condition(years)] if years else []
    if source:
        conditions.append(f"source = '{source}'")
    if target:
        conditions.append(f"target = '{target}'")
    file_rules = "(rule_id like 'INGEST-%' or rule_id like 'LAYOUT-%')"
    conditions.append(file_rules if ingest else f"not {file_rules}")
    if leave:
        conditions.append("rule_id not in (" + ", ".join(f"'{r}'" for r in leave) + ")")
    return " and ".join(conditions)


def replace_findings(warehouse: Warehouse, findings: pd.DataFrame, run_id: str, *, source: str | None = None,
                     target: str | None = None, ingest: bool = False, years=None, rule_ids=None,
                     leave: tuple[str, ...] = ()) -> int:
    """Record one stage's findings: appended to the history (a retried step replaces its own earlier
    findings of that run only) and swapped into the current state for its slice (source or target,
    and the fiscal years the run covered)."""
    return _replace_slice(warehouse, findings, run_id, findings_slice(source, target, ingest, years, rule_ids, leave))


def _replace_slice(warehouse: Warehouse, findings: pd.DataFrame, run_id: str, where: str) -> int:
    with warehouse.lock("findings"):
        # Each finding is 新增 or 持续 against the slice as it stood; what the slice no longer has is 已整改.
        previous = previous_state(warehouse, FINDINGS_SCHEMA, CURRENT_TABLE, where)
        findings = with_status(findings, previous, run_id)
        resolved = resolved_since(previous, findings, run_id)
        warehouse.append(FINDINGS_SCHEMA, FINDINGS_TABLE, findings, delete_where=f"run_id = '{run_id}' and ({where})"
                         if warehouse.table_exists(FINDINGS_SCHEMA, FINDINGS_TABLE) else None)
        warehouse.append(FINDINGS_SCHEMA, CURRENT_TABLE, findings,
                         delete_where=where if warehouse.table_exists(FINDINGS_SCHEMA, CURRENT_TABLE) else None)
        if len(resolved):
            warehouse.append(FINDINGS_SCHEMA, RESOLVED_TABLE, resolved)
    return len(findings)


def carry_findings_forward(warehouse: Warehouse, run_id: str, slices: list[str]) -> int:
    """Steps that kept their output (their inputs unchanged) find what they found last time: their slices'
    current findings (`findings_slice` conditions) become this run's, as if found again (持续, first sighting
    kept). Several steps' slices are carried at once: they never overlap."""
    if not slices or not warehouse.table_exists(FINDINGS_SCHEMA, CURRENT_TABLE):
        return 0
    where = " or ".join(f"({condition})" for condition in slices)
    findings = warehouse.read_table(FINDINGS_SCHEMA, CURRENT_TABLE, where=where)
    findings = findings.assign(run_id=run_id, detected_at=pd.Timestamp.now())
    return _replace_slice(warehouse, findings, run_id, where)


def current_findings(warehouse: Warehouse) -> pd.DataFrame:
    if not warehouse.table_exists(FINDINGS_SCHEMA, CURRENT_TABLE):
        return pd.DataFrame()
    return warehouse.query(f"select * from {FINDINGS_SCHEMA}.{CURRENT_TABLE} "
                           "order by rule_id, source, source_file, sheet, row_number")
