"""Gather one run's report from the warehouse: the audit tables, the findings' lifecycle and the
figures behind each county-year share (which departments' spending, which rows)."""

from __future__ import annotations

import pandas as pd

from fund_pipeline.pipeline.findings import current_findings
from fund_pipeline.pipeline.lifecycle import latest_dispositions, resolved_in_run
from fund_pipeline.report.build import ReportInput
from fund_pipeline.rules.catalogue import Catalogue
from fund_pipeline.warehouse import Warehouse

ROWS_PER_DEPARTMENT = 20  # the largest rows behind each department's part of a share
# Shares of integrated spending: the measure, and the SQL for the part of each row that counts towards it.
SPENDING_SHARES = {
    "poor_village_share": "case when v.is_poor_village then s.amount else 0 end",
    "poor_household_share": "coalesce(s.poor_household_amount, 0)",
}


def _spending_relation(warehouse: Warehouse) -> str | None:
    """Where dbt put the integrated spending and the village register (schema names differ by target)."""
    found = warehouse.query("select table_schema, table_name from information_schema.tables "
                            "where table_name in ('int_integrated_spending', 'stg_villages')")
    schemas = dict(zip(found["table_name"], found["table_schema"], strict=False))
    if {"int_integrated_spending", "stg_villages"} - set(schemas):
        return None
    return (f'{schemas["int_integrated_spending"]}.int_integrated_spending as s left join '
            f'{schemas["stg_villages"]}.stg_villages as v on v.village_code = s.village_code')


def share_breakdown(warehouse: Warehouse) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per share measure, year and department: integrated spending and the part that counts; and the
    largest rows of each department with whether they count."""
    relation = _spending_relation(warehouse)
    if relation is None:
        return pd.DataFrame(), pd.DataFrame()
    totals, rows = [], []
    for measure, part in SPENDING_SHARES.items():
        totals.append(warehouse.query(
            f"select s.fiscal_year, '{measure}' as measure, s.department, sum(s.amount) as total, sum({part}) as part "
            f"from {relation} group by s.fiscal_year, s.department").assign(measure=measure))
        rows.append(warehouse.query(
            f"select * from (select s.fiscal_year, s.department, s.source_file, s.sheet, s.row_number, "
            f"coalesce(s.project_code, '') as item, s.amount, ({part}) > 0 as counted, "
            f"row_number() over (partition by s.fiscal_year, s.department order by s.amount desc) as rank_in_department "
            f"from {relation}) ranked where rank_in_department <= {ROWS_PER_DEPARTMENT}").assign(measure=measure))
    breakdown = pd.concat(totals, ignore_index=True)
    breakdown["department"] = breakdown["department"].fillna("(未注明部门)")
    detail = pd.concat(rows, ignore_index=True).drop(columns="rank_in_department")
    detail["department"] = detail["department"].fillna("(未注明部门)")
    return breakdown, detail


def report_input(warehouse: Warehouse, catalogue: Catalogue, run_id: str, data_docs: str | None) -> ReportInput:
    where = f"run_id = '{run_id}'"
    breakdown, breakdown_rows = share_breakdown(warehouse)
    return ReportInput(
        run_id=run_id, generated_at=pd.Timestamp.now().floor("s"), catalogue_version=catalogue.version,
        policy=catalogue.policy,
        summary=warehouse.read_table("audit", "rule_summary", where=where),
        findings=current_findings(warehouse),
        measures=warehouse.read_table("audit", "policy_measures", where=where),
        reconciliation=warehouse.read_table("audit", "current_reconciliation"),
        data_docs=data_docs, resolved=resolved_in_run(warehouse, run_id),
        dispositions=latest_dispositions(warehouse), breakdown=breakdown, breakdown_rows=breakdown_rows,
    )
