"""`fund-pipeline run` validates in a GX worker process (rules/gx_worker.py): the same findings, the same safe
Data Docs pages, frames that arrive as they were sent, and a run that goes on in its own process if the worker dies.
Every rule test also compares the worker's findings with this process's (rules/harness.py)."""

from __future__ import annotations

import logging
import os
import signal

import pandas as pd
import pytest

from fund_pipeline.rules import gx_worker
from fund_pipeline.rules.catalogue import load_catalogue
from fund_pipeline.rules.validation import evaluate

ID = "620422198001020015"


def _loans() -> pd.DataFrame:
    """A loan register breaking several rules: an over-limit amount, a long term, HTML and a resident ID."""
    return pd.DataFrame({
        "fiscal_year": [2016, 2016, 2016, 2017], "guarantee": ["<script>alert('x')</script>", "免担保", "信用", "免担保"],
        "collateral": ["无", "无", "无", "房产"], "amount": [80000.0, 30000.0, 20000.0, 50000.0],
        "term_months": [36, 48, 36, 36], "interest_rate": [0.0435] * 4, "benchmark_rate": [0.0435] * 4,
        "borrower_registered_poor": [False, True, True, True], "borrower_id": [ID, "x", "y", "z"],
        "borrower_id_status": ["ok", "ok", "ok", "ok"],
        "source": "poverty_microloans", "department": "会宁县扶贫开发办公室", "source_file": "扶贫办/贷款.xlsx",
        "sheet": "台账", "row_number": [5, 6, 7, 8], "row_key": ["a", "b", "c", "d"],
    }, index=[10, 11, 12, 13])


def _evaluate(frame: pd.DataFrame, docs_dir, detected_at: pd.Timestamp) -> pd.DataFrame:
    catalogue = load_catalogue()
    findings, _ = evaluate("loans", frame, catalogue.for_target("loans"), catalogue, "run-0000-wkr",
                           detected_at, docs_dir=docs_dir)
    return findings


def _pages(folder) -> set[str]:
    names = set()
    for page in folder.rglob("*.html"):
        parts = page.relative_to(folder).parts
        if parts[0] == "validations":  # validations/<suite>/<run>/<time>/<page>: not the time
            parts = parts[:3] + parts[4:]
        names.add("/".join(parts))
    return names


def test_the_worker_finds_what_this_process_finds_and_renders_the_same_pages(tmp_path):
    here_docs, worker_docs, now = tmp_path / "here", tmp_path / "worker", pd.Timestamp.now()
    here = _evaluate(_loans(), here_docs, now)
    with gx_worker.validating_in_worker():
        in_worker = _evaluate(_loans(), worker_docs, now)
    assert len(here) >= 2
    pd.testing.assert_frame_equal(in_worker, here)
    # The block ends once the worker has rendered the pages: they are there, and they are the same pages.
    assert _pages(worker_docs) == _pages(here_docs) and any(p.startswith("validations/") for p in _pages(worker_docs))
    for page in worker_docs.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert ID not in text and "<script>alert" not in text, page


def test_a_frame_reaches_the_worker_as_it_was_sent():
    columns = {
        "whole": pd.array([1, None, 3], dtype="Int64"), "amount": pd.array([1.5, None, 2.0], dtype="Float64"),
        "numpy_float": [1.0, float("nan"), 2.0], "flag": pd.array([True, None, False], dtype="boolean"),
        "text": pd.array(["甲", None, "丙"], dtype="str"), "nullable_text": pd.array(["a", None, "c"], dtype="string"),
        "category": pd.Categorical(["x", "y", "x"]), "date": pd.to_datetime(["2016-01-01", None, "2016-03-01"]),
        "objects": pd.array(["甲", None, 3], dtype=object), "empty": pd.array([None, None, None], dtype=object),
    }
    frame = pd.DataFrame(columns, index=[7, 3, 9])
    assert frame["objects"].tolist()[1] is None
    with gx_worker._sendable(frame) as sent:
        arrived = sent.frame()
    pd.testing.assert_frame_equal(arrived, frame)
    assert arrived["objects"].tolist()[1] is None


def test_the_run_validates_in_its_own_process_once_the_worker_has_died(caplog):
    worker, now = gx_worker.Worker(), pd.Timestamp.now()
    try:
        os.kill(worker.pool.submit(os.getpid).result(), signal.SIGKILL)
        with gx_worker.validating_in(worker), caplog.at_level(logging.WARNING):
            after = _evaluate(_loans(), None, now)
        assert worker.broken
        assert "校验进程意外退出,此后由运行进程自行校验" in caplog.text
        pd.testing.assert_frame_equal(after, _evaluate(_loans(), None, now))
    finally:
        worker.close()


def test_the_worker_imports_gx_out_of_the_collectors_way():
    """GX's import makes hundreds of thousands of objects and no garbage: the worker loads it with the garbage
    collector off, then freezes it out of the collector's passes, which are on again for the suites' frames."""
    import gc

    worker = gx_worker.Worker()
    try:
        frozen, on = worker.pool.submit(gc.get_freeze_count).result(), worker.pool.submit(gc.isenabled).result()
        assert frozen > 100_000 and on
    finally:
        worker.close()


@pytest.mark.parametrize("enabled", [False, True])
def test_a_run_without_a_worker_or_with_one_validates_all_the_same(enabled, tmp_path):
    now = pd.Timestamp.now()
    with gx_worker.validating_in_worker(enabled):
        assert (gx_worker._active is not None) == enabled
        findings = _evaluate(_loans(), tmp_path, now)
    assert gx_worker._active is None
    pd.testing.assert_frame_equal(findings, _evaluate(_loans(), None, now))
