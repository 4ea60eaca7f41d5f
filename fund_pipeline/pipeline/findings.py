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


def _slice(source: str | None, target: str | None, ingest: bool, years=None, rule_ids=None) -> list[str]:
    if rule_ids:  # findings the audit step recomputes over every source at once
        return ["rule_id in (" + ", ".join(f"'{r}'" for r in rule_ids) + ")"]
    conditions = [years_condition(years)] if years else []
    if source:
        conditions.append(f"source = '{source}'")
    if target:
        conditions.append(f"target = '{target}'")
    file_rules = "(rule_id like 'INGEST-%' or rule_id like 'LAYOUT-%')"
    conditions.append(file_rules if ingest else f"not {file_rules}")
    return conditions


def replace_findings(warehouse: Warehouse, findings: pd.DataFrame, run_id: str, *, source: str | None = None,
                     target: str | None = None, ingest: bool = False, years=None, rule_ids=None) -> int:
    """Record one stage's findings: appended to the history (a retried step replaces its own earlier
    findings of that run only) and swapped into the current state for its slice (source or target,
    and the fiscal years the run covered)."""
    conditions = _slice(source, target, ingest, years, rule_ids)
    history_delete = " and ".join([f"run_id = '{run_id}'", *conditions])
    with warehouse.lock("findings"):
        # Each finding is 新增 or 持续 against the slice as it stood; what the slice no longer has is 已整改.
        previous = previous_state(warehouse, FINDINGS_SCHEMA, CURRENT_TABLE, " and ".join(conditions))
        findings = with_status(findings, previous, run_id)
        resolved = resolved_since(previous, findings, run_id)
        warehouse.append(FINDINGS_SCHEMA, FINDINGS_TABLE, findings,
                         delete_where=history_delete if warehouse.table_exists(FINDINGS_SCHEMA, FINDINGS_TABLE) else None)
        warehouse.append(FINDINGS_SCHEMA, CURRENT_TABLE, findings,
                         delete_where=" and ".join(conditions) if warehouse.table_exists(FINDINGS_SCHEMA, CURRENT_TABLE) else None)
        if len(resolved):
            warehouse.append(FINDINGS_SCHEMA, RESOLVED_TABLE, resolved)
    return len(findings)


def carry_findings_forward(warehouse: Warehouse, run_id: str, *, source: str | None = None, target: str | None = None,
                           ingest: bool = False, years=None, leave: tuple[str, ...] = ()) -> int:
    """A step that kept its output (its inputs unchanged) finds what it found last time: its slice's current
    findings become this run's, as if found again (持续, first sighting kept), minus the rules in `leave`
    that another step computes into the same slice."""
    if not warehouse.table_exists(FINDINGS_SCHEMA, CURRENT_TABLE):
        return 0
    conditions = _slice(source, target, ingest, years)
    if leave:
        conditions.append("rule_id not in (" + ", ".join(f"'{r}'" for r in leave) + ")")
    findings = warehouse.read_table(FINDINGS_SCHEMA, CURRENT_TABLE, where=" and ".join(conditions))
    findings = findings.assign(run_id=run_id, detected_at=pd.Timestamp.now())
    return replace_findings(warehouse, findings, run_id, source=source, target=target, ingest=ingest, years=years)


def current_findings(warehouse: Warehouse) -> pd.DataFrame:
    if not warehouse.table_exists(FINDINGS_SCHEMA, CURRENT_TABLE):
        return pd.DataFrame()
    return warehouse.query(f"select * from {FINDINGS_SCHEMA}.{CURRENT_TABLE} "
                           "order by rule_id, source, source_file, sheet, row_number")
