"""Read ahead: the large sources' new files are read while the run is still starting.

On two cores a county-year's payment rosters take about ten seconds to read, in worker processes, while the
run's own process waits; before that, the same process spends about eight seconds loading Dagster, dbt and
the definitions, and afterwards a dozen on the small sources' steps, with the second core idle. So
`fund-pipeline run` starts reading, at once, every file of a large source that the landing cache does not
hold yet: the workers put each file's read into the cache. The source's landing step runs after the steps
that do not need it, waits for its files, and takes their reads from the cache.

What a file yields does not change: the same reader in the same kind of worker writes the same cache entry
the step would have written. A read ahead that fails leaves no entry, and the step reads that file itself.
Runs the Dagster daemon launches do not read ahead; their steps read as they always do.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from fund_pipeline.configuration import activate, config_dir
from fund_pipeline.pipeline.landing_cache import LandingCache
from fund_pipeline.settings import Settings, reader_workers
from fund_pipeline.sources.reader import (
    PARALLEL_MIN_BYTES,
    inbox_name,
    read_in_worker,
    reader_pool,
    select_files,
)
from fund_pipeline.sources.spec import SourceSpec, load_layouts

_log = logging.getLogger(__name__)
_pending: dict[str, list[Future]] = {}  # source -> its files being read ahead (this process's run)


@contextlib.contextmanager
def reading_ahead(settings: Settings, sources: list[str] | None = None,
                  min_bytes: int = PARALLEL_MIN_BYTES) -> Iterator[frozenset[str]]:
    """Within the block, the uncached files of the sources that have `min_bytes` of them (of `sources`, named by
    layout or department; default every source) are being read into the landing cache. Yields those sources."""
    plan = _files_to_read(settings, sources, min_bytes)
    if not plan:
        yield frozenset()
        return
    try:
        pool = reader_pool(max(1, reader_workers() - 1))  # one CPU stays with the run
        for spec, files in plan:
            _pending[spec.name] = [pool.submit(_read_into_cache, spec, path, settings.inbox, sha, config_dir(),
                                               settings.cache_dir) for path, sha in files]
    except (BrokenProcessPool, OSError, ValueError) as error:  # no child processes here: the steps read
        _log.warning("无法预先读取大的来源(%s),由各来源的读取步骤读取", error)
        _pending.clear()
        yield frozenset()
        return
    try:
        yield frozenset(spec.name for spec, _ in plan)
    finally:
        _pending.clear()
        pool.shutdown(wait=True, cancel_futures=True)


def wait_for(source: str) -> set[tuple[str, str]]:
    """Block until the files of this source being read ahead are in the landing cache (or have failed);
    returns those read, as (path in the inbox, SHA-256)."""
    done = set()
    for future in _pending.pop(source, []):
        with contextlib.suppress(Exception):  # the step reads a file whose entry is missing
            done.add(future.result())
    return done


def _files_to_read(settings: Settings, sources: list[str] | None, min_bytes: int) -> list[tuple[SourceSpec, list[tuple[Path, str]]]]:
    """Each large source with its files (path, SHA-256) the landing cache does not hold."""
    if settings.cache_dir is None or reader_workers() < 2:
        return []
    activate(settings.config_dir)
    plan = []
    for spec in _named(sources):
        chosen, _ = select_files(spec, settings.inbox)
        cache = LandingCache(settings.cache_dir, spec)
        missing = [(path, sha) for path, sha in chosen if not cache.holds(inbox_name(path, settings.inbox), sha)]
        if sum(path.stat().st_size for path, _ in missing) >= min_bytes:
            plan.append((spec, missing))
    return plan


def _named(sources: list[str] | None) -> list[SourceSpec]:
    from fund_pipeline.pipeline.clerk import sources_named

    specs = load_layouts()
    if not sources:
        return specs
    return list({spec.name: spec for name in sources for spec in sources_named(name, specs)}.values())


def _read_into_cache(spec: SourceSpec, path: Path, inbox: Path, sha: str, county_config: Path | None,
                     cache_root: Path) -> tuple[str, str]:
    """In a worker: read one file and keep its read where the landing step will look for it."""
    read = read_in_worker(spec, path, inbox, sha, county_config)
    relative = inbox_name(path, inbox)
    LandingCache(cache_root, spec).put(relative, sha, read)
    return relative, sha
