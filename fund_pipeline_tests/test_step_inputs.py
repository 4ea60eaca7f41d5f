"""audit.step_inputs: a step's digest follows everything its output depends on, and a step is taken as
unchanged only while its tables still hold the rows it recorded (on DuckDB and on PostgreSQL)."""

from __future__ import annotations

import uuid

import pytest

from fund_pipeline.configuration import activate
from fund_pipeline.pipeline.step_inputs import forget, inputs_digest, record, recorded, unchanged
from fund_pipeline.warehouse import Warehouse


def test_landing_depends_on_the_files_and_their_order_not_their_times():
    from fund_pipeline.defs.ingest import landing_inputs

    files = {"a.xlsx": [10, 100.0, "aa"], "b.xlsx": [20, 200.0, "bb"]}
    later = {name: [size, mtime + 3600, sha] for name, (size, mtime, sha) in files.items()}
    assert landing_inputs(later) == landing_inputs(files)  # the inbox copied or regenerated an hour later
    swapped = {"a.xlsx": [10, 300.0, "aa"], "b.xlsx": [20, 200.0, "bb"]}
    assert landing_inputs(swapped) != landing_inputs(files)  # b now arrived first: its copy of a row is kept
    changed = {**files, "b.xlsx": [20, 200.0, "cc"]}
    assert landing_inputs(changed) != landing_inputs(files)


def test_the_digest_follows_the_parts_and_the_county_configuration(tmp_path):
    files = {"交通运输局/台账.xlsx": [1024, 1700000000.0, "ab" * 32]}
    base = inputs_digest("landing", "transport", files)
    assert inputs_digest("landing", "transport", files) == base
    changed = {name: [size, mtime, "cd" * 32] for name, (size, mtime, sha) in files.items()}
    assert inputs_digest("landing", "transport", changed) != base
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
