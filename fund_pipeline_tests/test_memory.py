"""A publishing step's freed columns go back to the system at once, and what a process loads once is kept out of
the garbage collector's way (fund_pipeline/memory.py)."""

import gc
import subprocess
import sys

import numpy as np
import pytest

from fund_pipeline.memory import _mallopt, freed_blocks_returned

MIB = 1024 * 1024


def _resident_mib() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def _returned_after_dropping_columns(context) -> float:
    """Resident memory given back when 200 columns of 1 MB are dropped while small arrays made between them
    stay alive (so the columns' space is not at the heap's top, where glibc trims by itself)."""
    np.ones(2 * MIB).sum()  # a freed 16 MB block: glibc's own threshold rises, 1 MB blocks come from the heap
    with context:
        columns, kept = [], []
        for _ in range(200):
            columns.append(np.ones(MIB // 8))
            kept.append(np.ones(4096))
        held = _resident_mib()
        del columns
        return held - _resident_mib()


def test_columns_dropped_while_publishing_leave_resident_memory():
    assert _mallopt() is not None  # Debian's C library: the setting exists
    assert _returned_after_dropping_columns(freed_blocks_returned()) > 150


def test_without_it_the_heap_keeps_them():
    """What the setting is for (run in a new process: the first test's setting lasts for its process)."""
    code = ("from contextlib import nullcontext\n"
            "from fund_pipeline_tests.test_memory import _returned_after_dropping_columns\n"
            "print(round(_returned_after_dropping_columns(nullcontext())))")
    returned = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert returned < 50


@pytest.mark.parametrize("was_on", [True, False])
def test_what_is_loaded_is_frozen_out_of_the_collectors_passes_which_are_off_meanwhile(was_on):
    from fund_pipeline.memory import loaded_out_of_the_collectors_way

    (gc.enable if was_on else gc.disable)()
    try:
        with loaded_out_of_the_collectors_way():
            assert not gc.isenabled()
            loaded = [{"cell": i} for i in range(50_000)]
        assert gc.get_freeze_count() >= len(loaded) and gc.isenabled() == was_on
    finally:
        gc.unfreeze()
        gc.enable()
