"""Memory a publishing step frees goes back to the system at once, so its peak is what it holds, not what it once held.

glibc serves a large block from a fresh mapping only while the block is larger than a threshold, and raises
that threshold (up to 32 MB) each time such a block is freed. After the first million-row column is dropped,
a million-row step's arrays are carved from the heap instead, and the heap keeps the pages of whatever is
freed: a step publishing a county-year's payments carried 120 MB of dropped columns into its peak, and the
warehouse's insert (DuckDB's own allocator, which cannot reuse them) came on top. While a step publishes,
every block over 128 kB is mapped when made and unmapped when freed; the page faults cost under a second of
system time on a county-year. `malloc_trim` alone, after each large frame is dropped, gave back half as much."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

_M_MMAP_THRESHOLD = -3  # mallopt's parameter number in glibc's malloc.h
MAPPED_FROM_BYTES = 128 * 1024  # glibc's own starting threshold
HEAP_UP_TO_BYTES = 32 * 1024 * 1024  # the most glibc's own adjustment raises it to, on 64-bit systems


@cache
def _mallopt():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c")).mallopt
    except (OSError, AttributeError, TypeError):  # not glibc: its allocator is left as it is
        return None


@contextmanager
def freed_blocks_returned() -> Iterator[None]:
    """Inside: large blocks are mapped and unmapped, never kept in the heap. After: blocks up to 32 MB come
    from the heap again, as they would once glibc had adjusted its threshold by itself."""
    mallopt = _mallopt()
    if mallopt is None:
        yield
        return
    mallopt(_M_MMAP_THRESHOLD, MAPPED_FROM_BYTES)
    try:
        yield
    finally:
        mallopt(_M_MMAP_THRESHOLD, HEAP_UP_TO_BYTES)


@contextmanager
def collections_held_off() -> Iterator[None]:
    """Python's garbage collector off within the block, and after it as it was: for work that makes hundreds of
    thousands of objects and no garbage in cycles (a sheet's rows of cells: its passes were 7% of a read)."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


@contextmanager
def loaded_out_of_the_collectors_way() -> Iterator[None]:
    """Around what a process that ends with the run loads once (a library, a parsed project): the garbage
    collector is off meanwhile (GX's import made four full passes, 0.3 s), and what was loaded is then frozen
    out of its later passes."""
    with collections_held_off():
        try:
            yield
        finally:
            gc.freeze()
