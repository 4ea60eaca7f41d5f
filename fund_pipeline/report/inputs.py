"""Gather one run's report from the warehouse: the audit tables, the findings' lifecycle and the
figures behind each county-year share (which departments or implementing units, which rows)."""

from __future__ import annotations

import pandas as pd

from fund_pipeline.pipeline.findings import current_findings
from fund_pipeline.pipeline.lifecycle import latest_dispositions, resolved_in_run
from fund_pipeline.report.build import ReportInput
from fund_pipeline.report.present import department_of
from fund_pipeline.rules.catalogue import Catalogue
from fund_pipeline.warehouse import Warehouse

ROWS_PER_PART = 20  # the largest rows behind each department's (or unit's) part of a share
# Each share: the relation it is computed from, who the parts are, the denominator's rows, the numerator.
SHARES = {
    "poor_village_share": ("spending", "s.department", "true", "case when v.is_poor_village then s.amount else 0 end",
                           "s.amount", "s.project_code"),
    "poor_household_share": ("spending", "s.department", "true", "coalesce(s.poor_household_amount, 0)", "s.amount",
                             "s.project_code"),
    "infra_department_share": ("projects", "p.implementing_unit", "p.category = '基础设施'",
                               "case when p.implementing_unit_kind = '部门' then p.budget else 0 end", "p.budget",
                               "p.project_code"),
    "industry_township_share": ("projects", "p.implementing_unit", "p.category = '产业发展'",
                                "case when p.implementing_unit_kind = '乡镇' then p.budget else 0 end", "p.budget",
                                "p.project_code"),
}
# Shares read from one row of a department's sheet: the row behind them is that row.
ROW_SHARES = {"fiscal_poverty_share": "stg_county_fiscal", "idle_funds_poverty_share": "stg_county_fiscal"}


def _schemas(warehouse: Warehouse, *tables: str) -> dict[str, str]:
    """Where dbt put these models (schema names differ by target)."""
    listed = ", ".join(f"'{t}'" for t in tables)
    found = warehouse.query(f"select table_schema, table_name from information_schema.tables where table_name in ({listed})")
    return dict(zip(found["table_name"], found["table_schema"], strict=False))


def _relations(warehouse: Warehouse) -> dict[str, str]:
    schemas = _schemas(warehouse, "int_integrated_spending", "stg_villages", "stg_projects", "stg_county_fiscal")
    relations = {}
    if {"int_integrated_spending", "stg_villages"} <= set(schemas):
        relations["spending"] = (f'{schemas["int_integrated_spending"]}.int_integrated_spending as s left join '
                                 f'{schemas["stg_villages"]}.stg_villages as v on v.village_code = s.village_code')
    if "stg_projects" in schemas:
        relations["projects"] = f'{schemas["stg_projects"]}.stg_projects as p'
    if "stg_county_fiscal" in schemas:
        relations["stg_county_fiscal"] = f'{schemas["stg_county_fiscal"]}.stg_county_fiscal'
    return relations


def share_breakdown(warehouse: Warehouse) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per share, year and part (department or implementing unit): the total and the part that counts;
    and the largest rows of each part with whether they count."""
    relations = _relations(warehouse)
    totals, rows = [], []
    for measure, (relation, who, where, part, amount, item) in SHARES.items():
        if relation not in relations:
            continue
        alias = relation[0]
        source = relations[relation]
        totals.append(warehouse.query(
            f"select {alias}.fiscal_year, {who} as department, sum({amount}) as total, sum({part}) as part "
            f"from {source} where {where} group by {alias}.fiscal_year, {who}").assign(measure=measure))
        rows.append(warehouse.query(
            f"select * from (select {alias}.fiscal_year, {who} as department, {alias}.source_file, {alias}.sheet, "
            f"{alias}.row_number, coalesce({item}, '') as item, {amount} as amount, ({part}) > 0 as counted, "
            f"row_number() over (partition by {alias}.fiscal_year, {who} order by {amount} desc) as rank_in_part "
            f"from {source} where {where}) ranked where rank_in_part <= {ROWS_PER_PART}").assign(measure=measure))
    for measure, relation in ROW_SHARES.items():
        if relation not in relations:
            continue
        lineage = warehouse.query(f"select fiscal_year, source, source_file, sheet, row_number from {relations[relation]}")
        lineage["department"] = [department_of(s, None, None) for s in lineage["source"]]
        totals.append(lineage[["fiscal_year", "department"]].assign(measure=measure, total=float("nan"), part=float("nan")))
        rows.append(lineage.drop(columns="source").assign(measure=measure, item="", amount=float("nan"), counted=True))
    if not totals:
        return pd.DataFrame(), pd.DataFrame()
    breakdown = pd.concat(totals, ignore_index=True)
    breakdown["department"] = breakdown["department"].fillna("(未注明)")
    detail = pd.concat(rows, ignore_index=True).drop(columns="rank_in_part", errors="ignore")
    detail["department"] = detail["department"].fillna("(未注明)")
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
