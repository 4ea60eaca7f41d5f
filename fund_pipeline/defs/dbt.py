"""The dbt project (staging -> intermediate -> marts) as Dagster assets."""


import hashlib
import json
from collections.abc import Iterator, Mapping
from graphlib import TopologicalSorter
from importlib.metadata import version
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtProject, dbt_assets

from fund_pipeline.access.roles import keep_grants
from fund_pipeline.defs.dbt_runner import run_dbt, stream_dbt
from fund_pipeline.defs.publish import publish_step
from fund_pipeline.defs.resources import FundPipelineResource
from fund_pipeline.instance_config import DBT_POOL
from fund_pipeline.pipeline.step_inputs import StepRecord, forget, inputs_digest, record, recorded, unchanged
from fund_pipeline.pipeline.unpublished import create_unpublished_tables
from fund_pipeline.settings import DBT_PROJECT_DIR, dbt_target_path
from fund_pipeline.sources.schemas import ENTITIES
from fund_pipeline.warehouse import Warehouse

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def _manifest_is_stale() -> bool:
    manifest = dbt_project.manifest_path
    if not manifest.exists():
        return True
    sources = [p for folder in ("models", "macros") for p in (DBT_PROJECT_DIR / folder).rglob("*") if p.is_file()]
    sources.append(DBT_PROJECT_DIR / "dbt_project.yml")
    return max(p.stat().st_mtime for p in sources) > manifest.stat().st_mtime


def ensure_manifest() -> None:
    """Parse the dbt project when there is no manifest yet (a fresh clone) or a model changed since."""
    if _manifest_is_stale():
        run_dbt(["parse"], DBT_PROJECT_DIR / dbt_project.target_path)


class FundDbtTranslator(DagsterDbtTranslator):
    """dbt sources in schema `clean` are the clean/<entity> assets; models sit in the warehouse group."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey([dbt_resource_props["source_name"], dbt_resource_props["name"]])
        return dg.AssetKey(["warehouse", dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return "warehouse"


def build_dbt_assets() -> dg.AssetsDefinition:
    ensure_manifest()

    @dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project, dagster_dbt_translator=FundDbtTranslator(),
                pool=DBT_POOL)  # one dbt build at a time across runs
    def fund_dbt_models(context: dg.AssetExecutionContext, fund: FundPipelineResource):
        """Staging views over the clean tables, the integrated-spending intermediate, and the marts:
        fund_flow (channel -> project -> village -> household), county_year_measures, channel_summary,
        project_compliance, household_transfers, payment_accounts. One run at a time rebuilds them; only the
        models that read a table published anew since the last build are built again."""
        warehouse = fund.warehouse()
        with warehouse.lock("dbt"):
            inputs = build_inputs(warehouse)
            kept = unchanged_build(warehouse, inputs) if fund.cache_path is not None else None
            if kept is not None:
                yield from _keep_models(context, kept, context.selected_asset_keys, whole=True)
                return
            target_path = dbt_target_path(fund.warehouse_url)
            previous = recorded(warehouse, BUILD_STEP) if fund.cache_path is not None else None
            unaffected = _unaffected_models(context, warehouse, previous, inputs)
            forget(warehouse, BUILD_STEP)
            _prepare_partial_build(context, warehouse, target_path)
            warehouse.release()  # dbt opens the DuckDB file with its own connection
            if unaffected:
                yield from _keep_models(context, previous, unaffected, whole=False)
            rebuilt = set(context.selected_asset_keys) - unaffected
            tests_passed = True
            if rebuilt:
                for event in stream_dbt(context, ["build", *SKIPPED_ARTIFACTS], target_path,
                                        only=rebuilt if unaffected else None):
                    tests_passed &= not (isinstance(event, dg.AssetCheckResult) and not event.passed)
                    yield event
                keep_grants(warehouse)  # dbt rebuilt the marts as new tables: renew the read roles' grants
            if tests_passed and _builds_everything(context):
                built_by = {**(previous.metadata.get("built_by", {}) if unaffected else {}),
                            **{key.path[-1]: context.run_id for key in rebuilt}}
                record(warehouse, BUILD_STEP, digest_of(inputs),
                       {"models": len(context.assets_def.keys), "inputs": inputs, "built_by": built_by}, context.run_id)

    return fund_dbt_models


def _prepare_partial_build(context: dg.AssetExecutionContext, warehouse: Warehouse, target_path: Path) -> None:
    """A run for some sources only (`run --source X`) builds just the models downstream of them; on a fresh
    warehouse the others, and the clean tables they read, do not exist yet. Create the missing clean tables
    empty and build the missing models outside the selection (and what they read), so the selected ones build."""
    created = create_unpublished_tables(warehouse)
    if created:
        context.log.info(f"尚未发布的实体已建空表:{', '.join(created)}")
    missing = [name for name in missing_models(warehouse) if mart_key(name) not in context.selected_asset_keys]
    if missing:
        context.log.info(f"先建立本次未选中且尚不存在的 dbt 模型:{', '.join(missing)}")
        warehouse.release()
        run_dbt(["run", *SKIPPED_ARTIFACTS, "--select", " ".join(f"+{name}" for name in missing)], target_path)


def missing_models(warehouse: Warehouse) -> list[str]:
    """The dbt models whose table or view the warehouse does not hold."""
    present = warehouse.tables()
    manifest = json.loads(dbt_project.manifest_path.read_text(encoding="utf-8"))
    return sorted(node["name"] for node in manifest["nodes"].values()
                  if node["resource_type"] == "model" and (node["schema"], node["alias"]) not in present)


# -- a build whose inputs are unchanged ------------------------------------------------------------
# The models read only the published tables (clean.*, quarantine.*), which change only when a publishing step
# recomputes, and that step's record in audit.step_inputs changes with them (pipeline/step_inputs.py). A build
# is recorded with those records and the dbt project's files: while they are the same, a build would make the
# same models, so `fund-pipeline run` leaves the dbt step out (defs/reuse.py). When some entities were published
# anew, the record (its inputs, per entity) says which: only the models that read them, directly or through
# other models, are built again, with their tests; each model's record keeps the run that last built it.
BUILD_STEP = "warehouse/dbt_build"


def build_inputs(warehouse: Warehouse) -> dict:
    """What the models are built from: the dbt project (models, macros, configuration), the versions of dbt
    and its adapters, and every entity's published tables, as the record of the step that published them."""
    files = sorted(p for folder in ("models", "macros") for p in (DBT_PROJECT_DIR / folder).rglob("*") if p.is_file())
    files += [DBT_PROJECT_DIR / "dbt_project.yml", DBT_PROJECT_DIR / "profiles.yml"]
    project = hashlib.sha256()
    for path in files:
        project.update(path.relative_to(DBT_PROJECT_DIR).as_posix().encode() + b"\0" + path.read_bytes())
    published = {entity: getattr(recorded(warehouse, publish_step(entity)), "digest", None) for entity in sorted(ENTITIES)}
    versions = [version(package) for package in ("dbt-core", "dbt-duckdb", "dbt-postgres")]
    return {"project": project.hexdigest(), "versions": versions, "published": published}


def digest_of(inputs: dict) -> str:
    return inputs_digest("dbt", inputs["project"], inputs["versions"], inputs["published"])


def build_digest(warehouse: Warehouse) -> str:
    return digest_of(build_inputs(warehouse))


def unchanged_build(warehouse: Warehouse, inputs: dict | None = None) -> StepRecord | None:
    """The last build's record, if what it read (`inputs`, build_inputs' answer when the caller has it) is
    unchanged and every model it built is still there."""
    previous = unchanged(warehouse, BUILD_STEP, digest_of(inputs or build_inputs(warehouse)), {})
    return previous if previous is not None and not missing_models(warehouse) else None


def _keep_models(context: dg.AssetExecutionContext, kept: StepRecord, keys,
                 whole: bool) -> Iterator[dg.MaterializeResult]:
    """These models stay as the last build made them: nothing they read changed since (all of them: a run
    started by the sensor, the schedule or the UI launches every step, `fund-pipeline run` leaves this one out).
    dbt's tests on them are not run again: that build is recorded only because every test passed, on these same
    tables."""
    built_by = kept.metadata.get("built_by", {})
    if whole:
        context.log.info(f"发布的数据与 dbt 项目均未变,dbt 模型沿用运行 {kept.run_id[:8]} 的构建结果,不重建")
    else:
        context.log.info(f"以下 dbt 模型读取的已发布数据未变,沿用上次构建结果:{', '.join(sorted(k.path[-1] for k in keys))}")
    upstream = context.assets_def.asset_deps
    keys = set(keys)
    # Dagster takes a multi-asset's results only in dependency order.
    for key in TopologicalSorter({key: upstream.get(key, set()) & keys for key in keys}).static_order():
        yield dg.MaterializeResult(asset_key=key, metadata={"inputs_unchanged": True,
                                                            "built_by_run": built_by.get(key.path[-1], kept.run_id)})


def _unaffected_models(context: dg.AssetExecutionContext, warehouse: Warehouse, previous: StepRecord | None,
                       inputs: dict) -> set[dg.AssetKey]:
    """The selected models that read none of the tables published anew since the last recorded build (nor any
    table that is not an entity's published rows): only when that build is of this same dbt project and every
    model it made is still in the warehouse. The models downstream of a re-sent ledger are rebuilt; the
    million-row household marts, which do not read it, are not."""
    before = previous.metadata.get("inputs") if previous is not None else None
    if (not before or before["project"] != inputs["project"] or before["versions"] != inputs["versions"]
            or missing_models(warehouse)):
        return set()
    changed = {entity for entity, digest in inputs["published"].items()
               if digest is None or before["published"].get(entity) != digest}
    reads = entities_read_by_models()
    return {key for key in context.selected_asset_keys if not (reads.get(key.path[-1], {None}) & (changed | {None}))}


def entities_read_by_models() -> dict[str, set[str | None]]:
    """Per model, the entities whose published tables (clean.* and quarantine.*) it reads, directly or through
    other models; None stands for any other table."""
    manifest = json.loads(dbt_project.manifest_path.read_text(encoding="utf-8"))
    nodes, sources = manifest["nodes"], manifest["sources"]
    reads: dict[str, set[str | None]] = {}

    def read_by(unique_id: str) -> set[str | None]:
        if unique_id in sources:
            source = sources[unique_id]
            return {source["name"]} if source["source_name"] in ("clean", "quarantine") else {None}
        node = nodes.get(unique_id)
        if node is None or node["resource_type"] != "model":  # a seed or snapshot: not a published table
            return {None}
        if unique_id not in reads:
            reads[unique_id] = set().union(set(), *(read_by(parent) for parent in node["depends_on"]["nodes"]))
        return reads[unique_id]

    return {node["name"]: read_by(unique_id) for unique_id, node in nodes.items() if node["resource_type"] == "model"}


def _builds_everything(context: dg.AssetExecutionContext) -> bool:
    """Only a step over every model, with every test, is recorded: each model is then either built or left as
    the last recorded build made it because nothing it reads changed. A step over some models (`run --source X`)
    leaves the others as they were, whatever they read."""
    definition = context.assets_def
    return (set(context.selected_asset_keys) == set(definition.keys)
            and set(context.selected_asset_check_keys) == set(definition.check_keys))


# The run's manifest.json and run_results.json: Dagster learns each model's result from dbt's event stream, and
# the manifest the assets are defined from is the parse's (dbt/target), so writing them is work nobody reads.
SKIPPED_ARTIFACTS = ("--no-write-json",)


def mart_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["warehouse", name])
