"""Evaluate one catalogue rule through the real GX suite on a few hand-written rows."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pandas as pd

from fund_pipeline.rules import gx_worker
from fund_pipeline.rules.catalogue import load_catalogue
from fund_pipeline.rules.derive import References, add_derived_columns
from fund_pipeline.rules.validation import evaluate
from fund_pipeline.sources.schemas import ENTITIES, conform

VILLAGES = pd.DataFrame({
    "township_code": ["620422100", "620422100", "620422100"], "village": ["南什村", "南咀村", "西岩村"],
    "village_code": ["620422100200", "620422100201", "620422100202"], "is_poor_village": [True, False, True],
    "population": [2400, 1800, 850],
})
POOR_ID = "620422194001010010"
OTHER_ID = "620422195503030024"  # valid, but not a registered poor household
MORE_POOR_IDS = ("620422199112079646", "620422197405107904", "620422198904245679", "620422197708089117")
PROJECTS = pd.DataFrame({"project_code": ["HN2016-001", "HN2016-002"], "channel_name": ["财政专项扶贫资金", "林业补助资金"],
                         "purpose": ["道路", "林果"], "budget": [1_000_000.0, 500_000.0]})
REFS = References(villages=VILLAGES, poor_household_ids=frozenset({POOR_ID, *MORE_POOR_IDS}),
                  project_codes=frozenset(PROJECTS["project_code"]), projects=PROJECTS)


def rule_clause(rule_id: str) -> str | None:
    return load_catalogue().rule(rule_id).clause


def evaluate_rule(rule_id: str, rows: list[dict], refs: References = REFS, target: str | None = None) -> pd.DataFrame:
    """Findings of one rule on rows of its target (or another target it checks); lineage is filled in as
    sheet rows 5, 6, ..."""
    catalogue = load_catalogue()
    rule = catalogue.rule(rule_id)
    target = target or rule.target
    frame = pd.DataFrame(rows)
    frame["source"] = "test_source"
    frame["source_file"] = "test.xlsx"
    frame["sheet"] = "Sheet1"
    frame["row_number"] = range(5, 5 + len(frame))
    frame["row_key"] = "test:Sheet1:" + frame["row_number"].astype(str)
    if target in ENTITIES:
        frame = conform(target, frame)
        if "township" in frame and "township_code" not in frame:
            frame["township_code"] = "620422100"
        frame = add_derived_columns(target, frame, refs)
    detected_at = pd.Timestamp.now()
    findings, _ = evaluate(target, frame, [rule], catalogue, "test-run", detected_at)
    with gx_worker.validating_in(session_gx_worker()):  # what `fund-pipeline run` does: the same findings
        in_worker, _ = evaluate(target, frame, [rule], catalogue, "test-run", detected_at)
    pd.testing.assert_frame_equal(in_worker, findings)
    if rule.thresholds_by_year or any(check.where for check in rule.checks):
        with gx_own_row_filter():  # the frame taken whole where every row meets a condition: GX's own answer
            by_gx, _ = evaluate(target, frame, [rule], catalogue, "test-run", detected_at)
        pd.testing.assert_frame_equal(by_gx, findings)
    return findings


@contextlib.contextmanager
def gx_own_row_filter() -> Iterator[None]:
    """Within the block, GX filters rows by a row condition as it does itself (rules/validation.py's `_context`
    lets a frame every row of which meets the condition through whole)."""
    from great_expectations.execution_engine.pandas_execution_engine import PandasExecutionEngine

    shortcut = PandasExecutionEngine._apply_row_condition_filter
    PandasExecutionEngine._apply_row_condition_filter = shortcut.__wrapped__
    try:
        yield
    finally:
        PandasExecutionEngine._apply_row_condition_filter = shortcut


SESSION_WORKER: list[gx_worker.Worker] = []  # closed by conftest.py as the session ends


def session_gx_worker() -> gx_worker.Worker:
    """One GX worker process for the whole test session: GX is imported once."""
    if not SESSION_WORKER:
        SESSION_WORKER.append(gx_worker.Worker())
    return SESSION_WORKER[0]


def failing_rows(findings: pd.DataFrame) -> list[int]:
    return sorted(int(r) for r in findings["row_number"])


def evaluate_county_years(rule_id: str, column: str, values: dict[int, float]) -> pd.DataFrame:
    """A county-year rule on one measure, one row per fiscal year (sheet rows 5, 6, …)."""
    return evaluate_rule(rule_id, [{"fiscal_year": year, column: value} for year, value in values.items()])


def small_warehouse(tmp_path, tables: dict[tuple[str, str], list[dict]]):
    """A real DuckDB warehouse holding just these tables (e.g. a mart and the staging rows behind it)."""
    from fund_pipeline.warehouse import Warehouse

    warehouse = Warehouse.from_url(f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    for (schema, table), rows in tables.items():
        warehouse.append(schema, table, pd.DataFrame(rows))
    return warehouse
