"""Steps a run leaves out: landing, publishing and dbt steps whose inputs are unchanged since they last ran.

A step whose inputs are unchanged keeps its output (pipeline/step_inputs.py). Launched anyway, each such
step still costs its Dagster events and queries, and a re-sent ledger waited on thirty of them. Before a
run, `fund-pipeline run` asks every landing and publishing step of its selection the same question the
step would ask itself, with the same functions, and launches only the steps that must recompute, with
everything downstream of them. Dagster shows the left-out assets as they were, materialized by the run
that made them. When no publishing step recomputes and the last whole dbt build read the same published
tables with the same dbt project (defs/dbt.py), the dbt models are left out too.

What a kept step does in a run is still done, once, by the audit step (`carry_kept_steps`): the steps'
findings become this run's (持续, their first sighting kept) and their rows are reconciled again for the
run. The run's tag `fund_pipeline/kept_steps` names the steps (with the fiscal years of a publishing step).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import dagster as dg

from fund_pipeline.defs.dbt import unchanged_build
from fund_pipeline.defs.ingest import (
    landed_rows,
    landing_findings,
    landing_inputs,
    landing_key,
    landing_step,
    register_landed_years,
)
from fund_pipeline.defs.publish import (
    REGISTER_ORDER,
    clean_key,
    kept_publication,
    publish_digest,
    publish_step,
    record_reconciliations,
    registers_of,
    specs_by_entity,
    yearly,
    years_to_publish,
)
from fund_pipeline.pipeline.findings import carry_findings_forward, findings_slice
from fund_pipeline.pipeline.fingerprints import source_fingerprints
from fund_pipeline.pipeline.step_inputs import inputs_digest, unchanged
from fund_pipeline.sources.spec import load_layouts
from fund_pipeline.warehouse import Warehouse

KEPT_STEPS_TAG = "fund_pipeline/kept_steps"


@dataclass(frozen=True)
class KeptStep:
    key: dg.AssetKey  # landing/<source>, clean/<entity> or warehouse/<dbt model>
    years: list[str] | None  # the fiscal years a publishing step publishes; None: all it has
    metadata: dict  # what the step recorded when it last ran (rows read, published, findings...)

    @property
    def step(self) -> str:
        return "/".join(self.key.path)


def steps_to_keep(warehouse: Warehouse, instance: dg.DagsterInstance, inbox, selected, asked_years) -> list[KeptStep]:
    """The landing, publishing and dbt steps of `selected` (asset keys) whose inputs are unchanged and whose
    tables still hold what they recorded. A step qualifies only when every selected step it reads from does:
    one that recomputes may change what it reads."""
    with warehouse.read_as_snapshot():
        return _steps_to_keep(warehouse, instance, inbox, set(selected), asked_years)


def _steps_to_keep(warehouse: Warehouse, instance: dg.DagsterInstance, inbox, selected: set,
                   asked_years) -> list[KeptStep]:
    kept: dict[dg.AssetKey, KeptStep] = {}
    specs = {spec.name: spec for spec in load_layouts()}
    for name, spec in specs.items():
        if landing_key(name) not in selected:
            continue
        digest = inputs_digest("landing", name, landing_inputs(source_fingerprints(spec, inbox)))
        record = unchanged(warehouse, landing_step(name), digest, {"rows_read": landed_rows(warehouse, name)})
        if record is not None:
            register_landed_years(instance, warehouse, name)
            kept[landing_key(name)] = KeptStep(landing_key(name), None, record.metadata)
    for entity, entity_specs in _in_publishing_order(specs_by_entity()):
        key = clean_key(entity)
        reads = [landing_key(s.name) for s in entity_specs] + [clean_key(r) for r in registers_of(entity)]
        if key not in selected or any(k in selected and k not in kept for k in reads):
            continue
        years = years_to_publish(instance, key, warehouse, entity_specs, asked_years) if yearly(entity) else None
        record = kept_publication(warehouse, entity, publish_step(entity),
                                  publish_digest(warehouse, entity, entity_specs, registers_of(entity), years), years)
        if record is not None:
            kept[key] = KeptStep(key, years, record.metadata)
    models = [key for key in selected if key.path[0] == "warehouse"]
    if models and all(key in kept for key in selected if key.path[0] == "clean"):
        record = unchanged_build(warehouse)
        if record is not None:
            kept |= {key: KeptStep(key, None, record.metadata) for key in sorted(models)}
    return list(kept.values())


def _in_publishing_order(by_entity: dict) -> list:
    """Registers first, in their order: the entities after them are checked against them."""
    order = {name: position for position, name in enumerate(REGISTER_ORDER)}
    return sorted(by_entity.items(), key=lambda item: order.get(item[0], len(order)))


def kept_steps_tag(kept: list[KeptStep]) -> dict[str, str]:
    if not kept:
        return {}
    return {KEPT_STEPS_TAG: json.dumps({step.step: step.years for step in kept}, ensure_ascii=False)}


def carry_kept_steps(warehouse: Warehouse, run_id: str, tags: dict) -> int:
    """What each left-out step would have done in the run: its findings carried into it, its rows reconciled
    again. Returns how many steps."""
    steps = json.loads(tags.get(KEPT_STEPS_TAG) or "{}")
    specs = specs_by_entity()
    slices, published = [], []
    for step, years in steps.items():
        stage, name = step.split("/", 1)
        if stage == "landing":
            slices.append(landing_findings(name))
        elif stage == "clean":  # a dbt model has no findings of its own
            slices.append(findings_slice(target=name, years=years))
            published.append((name, specs[name], years))
    # At once: one read and one swap of the findings, one of the reconciliation, for every step.
    carry_findings_forward(warehouse, run_id, slices)
    if published:
        record_reconciliations(warehouse, published, run_id)
    return len(steps)
