"""Every landed row is accounted for: published, quarantined, or set aside with a reason.

The counts and money here are read back from the warehouse tables themselves, not from the frames a
step built, so a row lost anywhere between landing and publishing shows up as a difference.
"""

from __future__ import annotations

import pandas as pd

from fund_pipeline.rules.catalogue import Catalogue
from fund_pipeline.rules.validation import normalise_findings
from fund_pipeline.sources.schemas import ENTITIES
from fund_pipeline.sources.spec import InvalidLayout, SourceSpec
from fund_pipeline.warehouse import Warehouse

SET_ASIDE_TABLE = "set_aside_rows"
ACCOUNTING_RULES = ("INGEST-UNACCOUNTED", "INGEST-NO-DATA", "LAYOUT-INVALID")
KEYS = ["source", "source_file", "fiscal_year"]


def money_field(entity: str) -> str | None:
    """The amount that reconciles for an entity (its first money field), if it has one."""
    return next((f.name for f in ENTITIES[entity] if f.type == "money"), None)


PARTS = ("landed", "published", "quarantined", "set_aside")


def _counted(item: int, entity: str, schema: str, table: str, part: str, where: str) -> str:
    """One part's rows and money per source, file and year, as a select to be unioned with the others."""
    money = money_field(entity) and ("amount" if table == SET_ASIDE_TABLE else money_field(entity))
    year = "fiscal_year" if any(f.name == "fiscal_year" for f in ENTITIES[entity]) else "cast(null as bigint)"
    amount = f"coalesce(sum({money}), 0)" if money else "0"
    return (f"select {item} as item, '{part}' as part, source, source_file, {year} as fiscal_year, "
            f'count(*) as rows, cast({amount} as double precision) as amount '
            f'from {schema}."{table}" where {where or "true"} group by 3, 4, 5')


def recount(warehouse: Warehouse, entities: list[tuple[str, list[SourceSpec], str]]) -> pd.DataFrame:
    """Per entity (with its sources and a scope, a condition on fiscal years or none), source, file and year:
    landed = published + quarantined + set aside, in rows and in money; the counts read by one query."""
    present = warehouse.tables()
    selects = []
    for item, (entity, specs, scope) in enumerate(entities):
        scope_and = f"({scope}) and " if scope else ""
        parts = [*(("landing", s.name, "landed", scope) for s in specs),
                 ("clean", entity, "published", scope), ("quarantine", entity, "quarantined", scope),
                 ("audit", SET_ASIDE_TABLE, "set_aside", f"{scope_and}entity = '{entity}'")]
        selects += [_counted(item, entity, *part) for part in parts if part[:2] in present]
    counted = (warehouse.query(" union all ".join(selects)) if selects else
               pd.DataFrame(columns=["item", "part", *KEYS, "rows", "amount"]))
    counted["fiscal_year"] = pd.to_numeric(counted["fiscal_year"]).astype("Int64").fillna(-1)
    wide = counted.groupby(["item", *KEYS, "part"], dropna=False)[["rows", "amount"]].sum().unstack("part")
    return pd.concat([_reconciled(wide, item, entity, {s.name for s in specs})
                      for item, (entity, specs, _) in enumerate(entities)], ignore_index=True)


def _reconciled(wide: pd.DataFrame, item: int, entity: str, sources: set[str]) -> pd.DataFrame:
    columns = {}
    for part in PARTS:
        columns[part] = _part(wide, "rows", part)
        columns[f"{part}_amount"] = _part(wide, "amount", part)
    table = pd.DataFrame(columns, index=wide.index).astype(float)
    table = table[table.index.get_level_values("item") == item].droplevel("item").reset_index()
    table = table[table["source"].isin(sources)]
    for name in PARTS:
        table[name] = table[name].astype(int)
    table["reconciles"] = (table["landed"] == table["published"] + table["quarantined"] + table["set_aside"]) & (
        (table["landed_amount"] - table["published_amount"] - table["quarantined_amount"]
         - table["set_aside_amount"]).abs() <= 1.0)
    table["fiscal_year"] = table["fiscal_year"].replace(-1, pd.NA).astype("Int64")
    return table.assign(entity=entity).sort_values(KEYS).reset_index(drop=True)


def _part(wide: pd.DataFrame, measure: str, part: str) -> pd.Series:
    if (measure, part) in wide.columns:
        return wide[(measure, part)].fillna(0.0)
    return pd.Series(0.0, index=wide.index)


def unaccounted_findings(warehouse: Warehouse, specs: list[SourceSpec], catalogue: Catalogue, run_id: str) -> pd.DataFrame:
    """INGEST-UNACCOUNTED: landed rows found in none of clean, quarantine and the set-aside rows."""
    rule = catalogue.rule("INGEST-UNACCOUNTED")
    rows, present = [], warehouse.tables()
    for spec in specs:
        if ("landing", spec.name) not in present:
            continue
        homes = [f'select row_key from {schema}."{table}" where source = \'{spec.name}\''
                 for schema, table in (("clean", spec.entity), ("quarantine", spec.entity), ("audit", SET_ASIDE_TABLE))
                 if (schema, table) in present]
        known = " union all ".join(homes) if homes else "select cast(null as varchar) as row_key where false"
        if _same_keys(warehouse, f'select row_key from landing."{spec.name}"', known):
            continue
        year = "fiscal_year" if any(f.name == "fiscal_year" for f in ENTITIES[spec.entity]) else "cast(null as bigint)"
        # An anti-join (not `not in`): PostgreSQL compares `not in` row by row, quadratic at a million keys.
        lost = warehouse.query(
            f'with homes as ({known}) '
            f'select source_file, {year} as fiscal_year, count(*) as n, min(row_number) as first_row, '
            f'min(sheet) as sheet from landing."{spec.name}" l where l.row_key is not null '
            f'and not exists (select 1 from homes h where h.row_key = l.row_key) group by 1, 2')
        for item in lost.itertuples():
            year_text = f"{int(item.fiscal_year)}年度" if pd.notna(item.fiscal_year) else ""
            rows.append({
                "rule_id": rule.id, "severity": rule.severity, "level": rule.level, "target": spec.entity,
                "source": spec.name, "department": spec.department, "source_file": item.source_file,
                "sheet": item.sheet, "row_number": item.first_row, "fiscal_year": item.fiscal_year,
                "value": str(int(item.n)), "expected": "0",
                "message": f"文件「{item.source_file}」{year_text}有{int(item.n)}行已读取,但既未发布、未隔离,也未记录搁置原因"
                           f"(首行为工作表「{item.sheet}」第{item.first_row}行)",
            })
    return _stamp(pd.DataFrame(rows), catalogue, run_id)


def _same_keys(warehouse: Warehouse, landed: str, homes: str) -> bool:
    """Whether the landed rows' keys and their homes' keys are one multiset: the same count and the same sum of
    their 64-bit hashes. Then no landed row is missing from its homes, and the anti-join, which builds a hash
    table of a million keys, is not needed; any difference (a row missing, one published twice) runs it. Two
    different multisets agree here only if their hash sums collide, about once in 2^64."""
    def measured(keys: str) -> str:  # DuckDB hashes a NULL too: missing keys are left out, as the anti-join does
        return (f"select count(*) as n, cast(sum({warehouse.key_hash.format('row_key')}) as varchar) as s "
                f"from ({keys}) k where row_key is not null")

    sums = warehouse.query(f"select l.n as landed_rows, l.s as landed_sum, h.n as home_rows, h.s as home_sum "
                           f"from ({measured(landed)}) l cross join ({measured(homes)}) h")
    row = sums.iloc[0]
    return int(row["landed_rows"]) == int(row["home_rows"]) and row["landed_sum"] == row["home_sum"]


def missing_year_findings(warehouse: Warehouse, specs: list[SourceSpec], catalogue: Catalogue,
                          run_id: str) -> pd.DataFrame:
    """INGEST-NO-DATA: a year for which other departments sent data and this source sent nothing."""
    yearly = [s for s in specs if s.expected_every_year and any(f.name == "fiscal_year" for f in ENTITIES[s.entity])]
    present = warehouse.tables()
    landed = [f"select distinct '{s.name}' as source, fiscal_year from landing.\"{s.name}\" where fiscal_year is not null"
              for s in yearly if ("landing", s.name) in present]
    found = warehouse.query(" union all ".join(landed)) if landed else pd.DataFrame(columns=["source", "fiscal_year"])
    years_of = {spec.name: set() for spec in yearly}
    for source, year in found.itertuples(index=False, name=None):
        years_of[source].add(int(year))
    county_years = set().union(*years_of.values()) if years_of else set()
    rule = catalogue.rule("INGEST-NO-DATA")
    rows = [{
        "rule_id": rule.id, "severity": rule.severity, "level": rule.level, "target": spec.entity, "source": spec.name,
        "department": spec.department, "fiscal_year": year, "value": "0", "expected": "至少一个文件",
        "message": f"{spec.department}({spec.name})未报送{year}年度的数据(其他部门已报送该年度);应有文件:{'、'.join(spec.files)}",
    } for spec in yearly for year in sorted(county_years - years_of[spec.name])]
    return _stamp(pd.DataFrame(rows), catalogue, run_id)


def layout_findings(invalid: tuple[InvalidLayout, ...], catalogue: Catalogue, run_id: str) -> pd.DataFrame:
    """LAYOUT-INVALID: a layout that could not be used; its source is disabled, the rest run."""
    rule = catalogue.rule("LAYOUT-INVALID")
    rows = [{"rule_id": rule.id, "severity": rule.severity, "level": rule.level, "target": "ingest",
             "source": item.source, "source_file": item.layout_file, "value": item.layout_file,
             "expected": "有效的来源布局", "message": f"{item.message};来源「{item.source}」本次未读取"} for item in invalid]
    return _stamp(pd.DataFrame(rows), catalogue, run_id)


def _stamp(findings: pd.DataFrame, catalogue: Catalogue, run_id: str) -> pd.DataFrame:
    findings["run_id"] = run_id
    findings["catalogue_version"] = catalogue.version
    findings["detected_at"] = pd.Timestamp.now()
    return normalise_findings(findings)
