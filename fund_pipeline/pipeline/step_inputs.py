"""What a step's output was made from, so a step whose inputs are unchanged keeps its output.

A township re-sends one ledger: the other seventeen sources, and the million household payments, need not
be landed and validated again. Each landing and publishing step records in `audit.step_inputs` a digest of
everything its output depends on:

- landing/<source>: each file's path, size and SHA-256, and the order the files arrived in (it decides
  which copy of a repeated row is kept), plus the code and the configuration (layouts, catalogue, reference
  lists);
- clean/<entity>: the digests its sources' landing steps recorded, those of the registers it is checked
  against, the fiscal years it publishes, plus the code and the configuration.

A step whose digest equals the recorded one, and whose tables still hold the rows it recorded, keeps them:
it carries its findings forward into this run (still 持续, the run's history complete) instead of
recomputing the same ones. The record is removed before a step recomputes and written after it has
published, so a step stopped halfway never looks unchanged. With the landing cache off, every step
recomputes on every run. `fund-pipeline run` asks the same question before it launches and leaves such
steps out of the run altogether (defs/reuse.py).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from fund_pipeline.configuration import cached, config_dir
from fund_pipeline.warehouse import Warehouse

SCHEMA, TABLE = "audit", "step_inputs"
_PACKAGE = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class StepRecord:
    digest: str
    metadata: dict
    run_id: str


@cached  # like the layouts and the catalogue: read again when a configuration is activated
def code_and_configuration() -> str:
    """Every file of the package (code, layouts, catalogue, reference lists, templates) and of the county's
    configuration folder: a change to any of them may change what a step yields."""
    digest = hashlib.sha256()
    folder = config_dir()
    roots = [_PACKAGE] + ([folder] if folder is not None else [])
    for root in roots:
        for file in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            digest.update(f"{root.name}/{file.relative_to(root).as_posix()}".encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()


def inputs_digest(*parts) -> str:
    """One digest of the step's inputs (JSON-able parts), always with the code and configuration."""
    text = json.dumps([code_and_configuration(), *parts], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _quote(text: str) -> str:
    return text.replace("'", "''")


def recorded(warehouse: Warehouse, step: str) -> StepRecord | None:
    if not warehouse.table_exists(SCHEMA, TABLE):
        return None
    # Every step's record (a few dozen rows): read once where the warehouse is read as a snapshot.
    rows = warehouse.query(f"select step, digest, metadata, run_id from {SCHEMA}.{TABLE}")
    rows = rows[rows["step"] == step]
    if len(rows) != 1:
        return None
    row = rows.iloc[0]
    return StepRecord(str(row["digest"]), json.loads(row["metadata"]), str(row["run_id"]))


def forget(warehouse: Warehouse, step: str) -> None:
    """Before a step recomputes: if it stops halfway, the next run must not take its tables as current."""
    if warehouse.table_exists(SCHEMA, TABLE):
        warehouse.execute(f"delete from {SCHEMA}.{TABLE} where step = '{_quote(step)}'")


def record(warehouse: Warehouse, step: str, digest: str, metadata: dict, run_id: str) -> None:
    row = pd.DataFrame({"step": [step], "digest": [digest], "metadata": [json.dumps(metadata, ensure_ascii=False)],
                        "run_id": [run_id], "recorded_at": [pd.Timestamp.now().floor("s")]})
    warehouse.append(SCHEMA, TABLE, row, delete_where=f"step = '{_quote(step)}'"
                     if warehouse.table_exists(SCHEMA, TABLE) else None)


def unchanged(warehouse: Warehouse, step: str, digest: str, counts: dict[str, int]) -> StepRecord | None:
    """The step's record, if its digest is the same and the tables still hold the rows it recorded
    (`counts`: the rows the tables hold now, by the names the record's metadata uses)."""
    previous = recorded(warehouse, step)
    if previous is None or previous.digest != digest:
        return None
    if any(int(previous.metadata.get(name, -1)) != rows for name, rows in counts.items()):
        return None
    return previous
