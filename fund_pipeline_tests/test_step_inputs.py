"""audit.step_inputs: a step's digest follows everything its output depends on, and a step is taken as
unchanged only while its tables still hold the rows it recorded (on DuckDB and on PostgreSQL)."""

from __future__ import annotations

import uuid

import pytest

from fund_pipeline.configuration import activate
from fund_pipeline.pipeline.step_inputs import forget, inputs_digest, record, recorded, unchanged
from fund_pipeline.warehouse import Warehouse


def test_the_digest_follows_the_parts_and_the_county_configuration(tmp_path):
    files = {"交通运输局/台账.xlsx": [1024, 1700000000.0, "ab" * 32]}
    base = inputs_digest("landing", "transport", files)
    assert inputs_digest("landing", "transport", files) == base
    touched = {name: [size, mtime + 1, sha] for name, (size, mtime, sha) in files.items()}
    assert inputs_digest("landing", "transport", touched) != base  # arrival order decides repeated rows
    assert inputs_digest("landing", "water", files) != base

    config = tmp_path / "county"
    (config / "reference").mkdir(parents=True)
    (config / "reference" / "townships.yaml").write_text("townships: []\n", encoding="utf-8")
    try:
        activate(config)
        in_county = inputs_digest("landing", "transport", files)
        assert in_county != base
        (config / "reference" / "townships.yaml").write_text("townships: [甘沟驿镇]\n", encoding="utf-8")
        activate(config)  # a configuration is read when activated, as a run does
        assert inputs_digest("landing", "transport", files) not in (base, in_county)
    finally:
        activate(None)
    assert inputs_digest("landing", "transport", files) == base


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse(request, tmp_path):
    if request.param == "duckdb":
        return Warehouse.from_url(f"duckdb:///{tmp_path / 'w.duckdb'}")
    return Warehouse.from_url(request.getfixturevalue("postgres_url"))


def test_a_step_is_unchanged_only_with_its_digest_and_its_rows(warehouse):
    step = f"clean/test-{uuid.uuid4().hex[:8]}"
    try:
        assert recorded(warehouse, step) is None
        record(warehouse, step, "d1", {"rows_published": 10, "rows_quarantined": 2}, "run-1")
        kept = unchanged(warehouse, step, "d1", {"rows_published": 10, "rows_quarantined": 2})
        assert kept is not None and kept.run_id == "run-1" and kept.metadata["rows_published"] == 10
        assert unchanged(warehouse, step, "d2", {"rows_published": 10, "rows_quarantined": 2}) is None
        assert unchanged(warehouse, step, "d1", {"rows_published": 9, "rows_quarantined": 2}) is None
        record(warehouse, step, "d2", {"rows_published": 9}, "run-2")  # replaces the step's record
        assert recorded(warehouse, step).digest == "d2"
        assert len(warehouse.query(f"select * from audit.step_inputs where step = '{step}'")) == 1
        forget(warehouse, step)  # a step about to recompute
        assert recorded(warehouse, step) is None and unchanged(warehouse, step, "d2", {}) is None
    finally:
        forget(warehouse, step)
