"""clean/<entity>: validate an entity's landed rows with its row rules, publish or quarantine each row."""


from collections import defaultdict
from dataclasses import dataclass

import dagster as dg
import pandas as pd

from fund_pipeline.defs.ingest import landing_key, landing_step
from fund_pipeline.defs.resources import FundPipelineResource
from fund_pipeline.instance_config import publish_pool
from fund_pipeline.memory import freed_blocks_returned
from fund_pipeline.pipeline.accounting import SET_ASIDE_TABLE, money_field, recount
from fund_pipeline.pipeline.findings import (
    carry_findings_forward,
    findings_slice,
    replace_findings,
    years_condition,
)
from fund_pipeline.pipeline.publish import collect_if_large, validate_and_split
from fund_pipeline.pipeline.step_inputs import StepRecord, forget, inputs_digest, record, recorded, unchanged
from fund_pipeline.rules.catalogue import load_catalogue
from fund_pipeline.rules.derive import References
from fund_pipeline.sources.reader import empty_records
from fund_pipeline.sources.schemas import (
    ENTITIES,
    REPEATED_LINEAGE,
    concat_keeping_categories,
    conform,
    text_in_one_chunk,
)
from fund_pipeline.sources.spec import SourceSpec, load_layouts
from fund_pipeline.warehouse import Warehouse

# Registers come first: other entities are checked against them.
REGISTER_ORDER = ("villages", "poor_households", "projects")
ENTITY_DESCRIPTIONS = {
    "villages": "The register of administrative villages and which are poor villages.",
    "poor_households": "The register of poor households (建档立卡).",
    "county_fiscal": "County new fiscal revenue and poverty allocations per year.",
    "fund_receipts": "Integrated-fund receipts by channel and level.",
    "projects": "The project library.",
    "disbursements": "Project payments from the line departments' ledgers.",
    "household_payments": "Payments to households from every roster.",
    "loans": "Poverty microloans.",
    "mutual_aid": "Village mutual-aid funds.",
    "audits": "Project audit records.",
    "student_loans": "Student credit loans (生源地信用助学贷款).",
    "village_doctor_subsidies": "Monthly subsidies to village doctors.",
    "illness_claims": "Serious-illness insurance claims of residents.",
}


def clean_key(entity: str) -> dg.AssetKey:
    return dg.AssetKey(["clean", entity])


def load_references(warehouse: Warehouse, upto: str | None = None) -> References:
    """The published registers; before they exist, empty ones (every lookup then fails loudly as a finding)."""
    villages = (warehouse.read_table("clean", "villages") if warehouse.table_exists("clean", "villages")
                else References.empty().villages)
    poor = frozenset()
    if upto != "poor_households" and warehouse.table_exists("clean", "poor_households"):
        poor = frozenset(warehouse.query("select household_id from clean.poor_households")["household_id"].dropna())
    # Every project in the library counts as known, even one held in quarantine for its own faults.
    projects, allocation = frozenset(), None
    if upto not in ("poor_households", "projects"):
        library = [warehouse.query(f"select project_code, channel_name, purpose, budget from {schema}.projects")
                   for schema in ("clean", "quarantine") if warehouse.table_exists(schema, "projects")]
        allocation = pd.concat(library, ignore_index=True) if library else None
        projects = frozenset(allocation["project_code"].dropna()) if allocation is not None else frozenset()
    return References(villages=villages, poor_household_ids=poor, project_codes=projects, projects=allocation)


def _landed(warehouse: Warehouse, entity: str, specs: list[SourceSpec]) -> pd.DataFrame:
    frames = [warehouse.read_large_table("landing", s.name, categorical=REPEATED_LINEAGE)
              for s in specs if warehouse.table_exists("landing", s.name)]
    frames = [f for f in frames if len(f)]
    if len(frames) == 1:
        landed = frames.pop()
    else:
        landed = concat_keeping_categories(frames) if frames else conform(entity, empty_records(entity))
    del frames
    if "_set_aside" not in landed:  # landed before rows could be set aside, or nothing landed
        landed["_set_aside"] = pd.Series(pd.NA, index=landed.index, dtype="string")
    return text_in_one_chunk(landed)


def years_to_publish(instance: dg.DagsterInstance, key: dg.AssetKey, warehouse: Warehouse, specs: list[SourceSpec],
                     asked) -> list[str]:
    """The run's fiscal years (`asked`), and every landed year this asset has never published (a county's
    first 2018 ledger is published by the next run that reads it, whatever years that run was asked for)."""
    asked = set(asked)
    found = set()
    for spec in specs:
        if warehouse.table_exists("landing", spec.name) and "fiscal_year" in warehouse.columns("landing", spec.name):
            landed = warehouse.query(f'select distinct fiscal_year from landing."{spec.name}" where fiscal_year is not null')
            found |= {str(int(y)) for y in landed["fiscal_year"]}
    published = instance.get_materialized_partitions(key)
    return sorted(asked | (found - set(published)))


def _set_aside_rows(entity: str, rows: pd.DataFrame) -> pd.DataFrame:
    """Rows landed but deliberately not published (e.g. a repeat of another file's row), with the reason."""
    money = money_field(entity)
    year = rows["fiscal_year"].astype("Int64") if "fiscal_year" in rows else pd.Series(pd.NA, index=rows.index, dtype="Int64")
    return pd.DataFrame({
        "entity": entity, "source": rows["source"].astype("string"), "department": rows["department"].astype("string"),
        "source_file": rows["source_file"].astype("string"), "sheet": rows["sheet"].astype("string"),
        "row_number": rows["row_number"].astype("Int64"), "row_key": rows["row_key"].astype("string"),
        "fiscal_year": year, "amount": rows[money].astype(float) if money else 0.0,
        "reason_rule": rows["_set_aside"].astype("string"),
    }, index=rows.index).reset_index(drop=True)


@dataclass
class _RowsToPublish:
    landed: pd.DataFrame | None  # the landed rows to validate, set-aside rows excluded
    set_aside: pd.DataFrame  # the rows set aside, as audit.set_aside_rows records
    years: list[str] | None  # the fiscal years published (None: the entity has no years)

    def take_landed(self) -> pd.DataFrame:
        """The landed rows, handed over: no reference stays here to keep a copy alive."""
        landed, self.landed = self.landed, None
        return landed


def _rows_to_publish(warehouse: Warehouse, entity: str, specs: list[SourceSpec], years: list[str] | None) -> _RowsToPublish:
    """The landed rows of the years this run publishes. A filter that keeps every row makes no copy."""
    landed = _landed(warehouse, entity, specs)
    if years is not None:
        in_years = (landed["fiscal_year"].isna() | landed["fiscal_year"].astype("Int64").isin([int(y) for y in years]))
        in_years = in_years.to_numpy(dtype=bool)
        if not in_years.all():
            landed = landed[in_years]
    aside = landed["_set_aside"].notna().to_numpy(dtype=bool)
    if not aside.any():  # the usual case: no mask over a million rows to build an empty frame
        return _RowsToPublish(landed, _set_aside_rows(entity, landed.iloc[0:0]), years)
    set_aside = _set_aside_rows(entity, landed[aside])
    landed = landed[~aside]
    return _RowsToPublish(landed, set_aside, years)


def yearly(entity: str) -> bool:
    """Entities with a fiscal year are partitioned by it; the registers are not."""
    return any(f.name == "fiscal_year" for f in ENTITIES[entity])


def registers_of(entity: str) -> list[str]:
    """The registers an entity is checked against (a register, against those before it)."""
    return list(REGISTER_ORDER[: REGISTER_ORDER.index(entity)] if entity in REGISTER_ORDER else REGISTER_ORDER)


def build_clean_asset(entity: str, specs: list[SourceSpec],
                      partitions: dg.PartitionsDefinition | None = None) -> dg.AssetsDefinition:
    registers = registers_of(entity)
    key = clean_key(entity)
    rules = [r.id for r in load_catalogue().for_target(entity)]
    description = (
        f"{ENTITY_DESCRIPTIONS.get(entity, entity)}\n\n"
        f"Runs the Great Expectations suite compiled from the catalogue's row rules for `{entity}` "
        f"({', '.join(rules) or 'none'}) over the rows landed from {', '.join(s.name for s in specs)}. "
        f"Rows breaking an error rule, or with unreadable cells, go to `quarantine.{entity}` with their reasons; "
        f"the rest are published to `clean.{entity}`, warnings flagged in `warning_rules`."
        + (" Partitioned by fiscal year: a run for 2016 validates and republishes 2016's rows only." if partitions else "")
    )

    @dg.asset(
        key=key,
        deps=[landing_key(s.name) for s in specs] + [clean_key(r) for r in registers],
        group_name="clean",
        description=description,
        kinds={"great_expectations", "python"},
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run() if partitions else None,
        pool=publish_pool(entity),  # one run at a time publishes an entity (Dagster's pool, backing the lock)
        check_specs=[dg.AssetCheckSpec("rows_reconcile", asset=key,
                                       description="Per source, file and year: rows and money landed = published + quarantined + set aside.")],
    )
    def _clean(context: dg.AssetExecutionContext, fund: FundPipelineResource) -> dg.MaterializeResult:
        warehouse = fund.warehouse()
        # One run at a time publishes an entity, reading every source's landed rows inside the lock, so two
        # runs for different departments never publish a stale mix.
        with warehouse.lock(f"publish:{entity}"), freed_blocks_returned():
            years = (years_to_publish(context.instance, key, warehouse, specs, context.partition_keys)
                     if partitions is not None else None)
            step, digest = publish_step(entity), publish_digest(warehouse, entity, specs, registers, years)
            kept = kept_publication(warehouse, entity, step, digest, years) if fund.cache_path is not None else None
            if kept is not None:
                return keep_publication(context, warehouse, entity, specs, years, kept.metadata)
            forget(warehouse, step)
            rows = _rows_to_publish(warehouse, entity, specs, years)
            refs = load_references(warehouse, upto=entity) if entity != "villages" else References.empty()
            # The landed frame is handed over, not kept here: at a million rows each copy is a gigabyte.
            result = validate_and_split(entity, rows.take_landed(), refs, load_catalogue(), context.run_id,
                                        docs_dir=fund.data_docs_path)
            counts = {"rows_published": len(result.published), "rows_quarantined": len(result.quarantined),
                      "findings": len(result.findings)}
            tables = {("clean", entity): conform(entity, result.published)}
            result.published = None  # conformed: the frame validation built is no longer needed
            tables[("quarantine", entity)] = conform(entity, result.quarantined)
            result.quarantined = None
            collect_if_large(counts["rows_published"] + counts["rows_quarantined"])
            scope = years_condition(years) if years else ""
            if years:
                warehouse.replace_slices(tables, where=scope)
            else:
                warehouse.replace_tables(tables)
            del tables
            warehouse.append("audit", SET_ASIDE_TABLE, rows.set_aside,
                             delete_where=f"entity = '{entity}'" + (f" and {scope}" if scope else "")
                             if warehouse.table_exists("audit", SET_ASIDE_TABLE) else None)
            replace_findings(warehouse, result.findings, context.run_id, target=entity, years=years)
            summary = {**counts, "rows_set_aside": len(rows.set_aside), "gx_suite_success": bool(result.gx_success)}
            outcome = _reconciled(context, warehouse, entity, specs, years, summary)
            if digest is not None:
                record(warehouse, step, digest, summary, context.run_id)
            return outcome

    return _clean


def publish_step(entity: str) -> str:
    return f"clean/{entity}"


def publish_digest(warehouse: Warehouse, entity: str, specs: list[SourceSpec], registers: list[str],
                   years: list[str] | None) -> str | None:
    """What publishing the entity depends on: its sources' landed rows and the registers it is checked
    against (each as the digest its step recorded), and the years it publishes. None when one is unknown."""
    upstream = [recorded(warehouse, step) for step in [landing_step(s.name) for s in specs]
                + [publish_step(r) for r in registers]]
    if any(r is None for r in upstream):
        return None
    return inputs_digest("clean", entity, [r.digest for r in upstream], years)


def kept_publication(warehouse: Warehouse, entity: str, step: str, digest: str | None,
                     years: list[str] | None) -> StepRecord | None:
    if digest is None:
        return None
    scope = f" where {years_condition(years)}" if years else ""
    counts = {}
    for schema, name in (("clean", "rows_published"), ("quarantine", "rows_quarantined")):
        counts[name] = int(warehouse.query(f"select count(*) as n from {schema}.{entity}{scope}")["n"].iloc[0]) \
            if warehouse.table_exists(schema, entity) else -1
    return unchanged(warehouse, step, digest, counts)


def keep_publication(context: dg.AssetExecutionContext, warehouse: Warehouse, entity: str, specs: list[SourceSpec],
                     years: list[str] | None, summary: dict) -> dg.MaterializeResult:
    """Nothing the entity's rows depend on changed: the published and quarantined rows stay, the findings
    are carried into this run, and the rows are reconciled again."""
    carry_findings_forward(warehouse, context.run_id, [findings_slice(target=entity, years=years)])
    context.log.info(f"{entity}:来源与名册均未变,沿用上次的发布结果(发布 {summary['rows_published']:,} 行,"
                     f"隔离 {summary['rows_quarantined']:,} 行)")
    return _reconciled(context, warehouse, entity, specs, years, {**summary, "inputs_unchanged": True})


def _reconciled(context: dg.AssetExecutionContext, warehouse: Warehouse, entity: str, specs: list[SourceSpec],
                years: list[str] | None, summary: dict) -> dg.MaterializeResult:
    """Per source, file and year, rows and money landed = published + quarantined + set aside: recorded for
    the run and as the current state, and checked."""
    reconciliation = record_reconciliations(warehouse, [(entity, specs, years)], context.run_id)
    return dg.MaterializeResult(
        metadata={"rows_landed": int(reconciliation["landed"].sum()), **summary,
                  "fiscal_years": ", ".join(years) if years else "-"},
        check_results=[dg.AssetCheckResult(
            check_name="rows_reconcile", passed=bool(reconciliation["reconciles"].all()),
            metadata={"by_file": dg.MetadataValue.json(
                reconciliation.drop(columns=["run_id"]).astype(str).to_dict("records")[:200])},
        )],
    )


def record_reconciliations(warehouse: Warehouse, entities: list[tuple[str, list[SourceSpec], list[str] | None]],
                           run_id: str) -> pd.DataFrame:
    """Per source, file and year of each entity (entity, its sources, its years), rows and money landed =
    published + quarantined + set aside: recorded for the run (audit.row_reconciliation) and as the current
    state (audit.current_reconciliation), for all the entities in one write of each."""
    scoped = [(entity, specs, years_condition(years) if years else "") for entity, specs, years in entities]
    reconciliation = recount(warehouse, scoped).assign(run_id=run_id)
    slices = [f"entity = '{entity}'" + (f" and {scope}" if scope else "") for entity, _, scope in scoped]
    where = " or ".join(f"({s})" for s in slices)
    for table, run_scope in (("row_reconciliation", f"run_id = '{run_id}' and "), ("current_reconciliation", "")):
        warehouse.append("audit", table, reconciliation, delete_where=f"{run_scope}({where})"
                         if warehouse.table_exists("audit", table) else None)
    return reconciliation


def specs_by_entity() -> dict[str, list[SourceSpec]]:
    grouped: dict[str, list[SourceSpec]] = defaultdict(list)
    for spec in load_layouts():
        grouped[spec.entity].append(spec)
    return dict(grouped)


def clean_assets(partitions: dg.PartitionsDefinition | None = None) -> list[dg.AssetsDefinition]:
    return [build_clean_asset(entity, specs, partitions if yearly(entity) else None)
            for entity, specs in specs_by_entity().items()]
