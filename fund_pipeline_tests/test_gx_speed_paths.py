"""What rules/validation.py changes in how GX works, and why the answers stay GX's own.

- A frame every row of which meets an expectation's row condition is not filtered (copied) for every metric:
  it is the filtered frame. The filtered frame is otherwise GX's own. Every rule test with a row condition
  compares its findings with GX's own filtering too (rules/harness.py).
- GX no longer hashes each frame into its batch markers (nothing reads the fingerprint).
"""

from __future__ import annotations

import pandas as pd
import pytest

from fund_pipeline.rules.validation import _context


@pytest.fixture(scope="module")
def engine():
    _context()  # GX imported and prepared as a run prepares it
    from great_expectations.execution_engine.pandas_execution_engine import PandasExecutionEngine

    return PandasExecutionEngine()


def _conditions():
    from great_expectations.expectations.row_conditions import Column

    return {
        "village named": Column("village").is_not_null(),
        "one programme": Column("program") == "易地搬迁",
        "special channel": Column("is_special_channel") == True,  # noqa: E712 (a GX condition, not a test)
        "no row": Column("program") == "雨露计划",
    }


FRAME = pd.DataFrame({
    "village": pd.array(["南什村", "南咀村", "西岩村", "南什村"], dtype="str"),
    "program": pd.array(["易地搬迁", "易地搬迁", None, "惠农补贴"], dtype="string"),
    "is_special_channel": [True, True, True, True],
    "amount": [1.0, 2.0, None, 4.0],
}, index=[10, 11, 12, 13])


@pytest.mark.parametrize("name", ["village named", "one programme", "special channel", "no row"])
def test_rows_are_filtered_as_gx_filters_them(engine, name):
    condition = _conditions()[name]
    shortcut = type(engine)._apply_row_condition_filter
    filtered = shortcut(engine, FRAME, condition, {})
    by_gx = shortcut.__wrapped__(engine, FRAME, condition, {})
    pd.testing.assert_frame_equal(filtered, by_gx)
    every_row = name in ("village named", "special channel")
    assert (filtered is FRAME) == every_row  # taken whole, not copied, exactly when every row meets it


def test_gx_does_not_fingerprint_frames(engine):
    from great_expectations.core.batch_spec import RuntimeDataBatchSpec

    _, markers = engine.get_batch_data_and_markers(RuntimeDataBatchSpec(batch_data=FRAME))
    assert "pandas_data_fingerprint" not in markers
