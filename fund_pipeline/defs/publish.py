"""clean/<entity>: validate an entity's landed rows with its row rules, publish or quarantine each row."""


from collections import defaultdict

import dagster as dg
import pandas as pd

from fund_pipeline.defs.ingest import landing_key
from fund_pipeline.defs.resources import FundPipelineResource
from fund_pipeline.pipeline.findings import replace_findings, years_condition
from fund_pipeline.pipeline.publish import validate_and_split
from fund_pipeline.rules.catalogue import load_catalogue
from fund_pipeline.rules.derive import References
from fund_pipeline.sources.reader import empty_records
from fund_pipeline.sources.schemas import ENTITIES, conform
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
    frames = [warehouse.read_table("landing", s.name) for s in specs if warehouse.table_exists("landing", s.name)]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else conform(entity, empty_records(entity))


def yearly(entity: str) -> bool:
    """Entities with a fiscal year are partitioned by it; the registers are not."""
    return any(f.name == "fiscal_year" for f in ENTITIES[entity])


def build_clean_asset(entity: str, specs: list[SourceSpec],
                      partitions: dg.PartitionsDefinition | None = None) -> dg.AssetsDefinition:
    registers = list(REGISTER_ORDER[: REGISTER_ORDER.index(entity)] if entity in REGISTER_ORDER else REGISTER_ORDER)
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
        group_name="publish",
        description=description,
        kinds={"great_expectations", "python"},
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run() if partitions else None,
        check_specs=[dg.AssetCheckSpec("rows_reconcile", asset=key,
                                       description="Per source and year: rows landed = rows published + rows quarantined.")],
    )
    def _clean(context: dg.AssetExecutionContext, fund: FundPipelineResource) -> dg.MaterializeResult:
        warehouse = fund.warehouse()
        years = sorted(context.partition_keys) if partitions is not None else None
        # One run at a time publishes an entity, reading every source's landed rows inside the lock, so two
        # runs for different departments never publish a stale mix.
        with warehouse.lock(f"publish:{entity}"):
            landed = _landed(warehouse, entity, specs)
            if years:
                landed = landed[landed["fiscal_year"].isna() | landed["fiscal_year"].astype("Int64").isin([int(y) for y in years])]
            refs = load_references(warehouse, upto=entity) if entity != "villages" else References.empty()
            result = validate_and_split(entity, landed, refs, load_catalogue(), context.run_id,
                                        docs_dir=fund.data_docs_path)
            tables = {("clean", entity): conform(entity, result.published),
                      ("quarantine", entity): conform(entity, result.quarantined)}
            if years:
                warehouse.replace_slices(tables, where=years_condition(years))
            else:
                warehouse.replace_tables(tables)
            replace_findings(warehouse, result.findings, context.run_id, target=entity, years=years)
        reconciliation = result.reconciliation.assign(run_id=context.run_id, entity=entity)
        scope = f"entity = '{entity}'" + (f" and {years_condition(years)}" if years else "")
        for table, run_scope in (("row_reconciliation", f"run_id = '{context.run_id}' and "), ("current_reconciliation", "")):
            warehouse.append("audit", table, reconciliation, delete_where=f"{run_scope}{scope}"
                             if warehouse.table_exists("audit", table) else None)
        reconciles = bool(reconciliation["reconciles"].all())
        return dg.MaterializeResult(
            metadata={
                "rows_landed": int(reconciliation["landed"].sum()),
                "rows_published": len(result.published),
                "rows_quarantined": len(result.quarantined),
                "findings": len(result.findings),
                "gx_suite_success": result.gx_success,
            },
            check_results=[dg.AssetCheckResult(
                check_name="rows_reconcile", passed=reconciles,
                metadata={"by_source": dg.MetadataValue.json(reconciliation.drop(columns=["run_id"]).to_dict("records"))},
            )],
        )

    return _clean


def specs_by_entity() -> dict[str, list[SourceSpec]]:
    grouped: dict[str, list[SourceSpec]] = defaultdict(list)
    for spec in load_layouts():
        grouped[spec.entity].append(spec)
    return dict(grouped)


def clean_assets(partitions: dg.PartitionsDefinition | None = None) -> list[dg.AssetsDefinition]:
    return [build_clean_asset(entity, specs, partitions if yearly(entity) else None)
            for entity, specs in specs_by_entity().items()]
