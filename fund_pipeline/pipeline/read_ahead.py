"""Read ahead: the inbox's new files are read while the run is still starting.

On two cores a county-year's payment rosters take about ten seconds to read, in worker processes, while the
run's own process waits; before that, the same process spends about eight seconds loading Dagster, dbt and
the definitions, and afterwards a dozen on the small sources' steps, with the second core idle. So
`fund-pipeline run` starts reading at once, in a worker, every file the landing cache does not hold yet,
each file's read going into the cache: first the large sources', whose landing steps then run after the
steps that do not need them and wait for their files; then the small sources' files, in the order of their
steps, which take back the files the worker has not begun (when it is still busy with a large source).

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
_waits_for_every_file: set[str] = set()  # the large sources: their landing steps run last and wait


@contextlib.contextmanager
def reading_ahead(settings: Settings, sources: list[str] | None = None,
                  min_bytes: int = PARALLEL_MIN_BYTES) -> Iterator[frozenset[str]]:
    """Within the block, the files the landing cache does not hold (of `sources`, named by layout or department;
    default every source) are being read into it, when they come to `min_bytes` at least. The large sources
    (`min_bytes` of such files on their own) are read first, and yielded: their landing steps should run last.
    The other sources' files follow in the order their steps run; a step reads itself those not yet begun."""
    plan = _files_to_read(settings, sources)
    if sum(size for _, _, size in plan) < min_bytes:
        yield frozenset()  # not worth starting a worker
        return
    late = frozenset(spec.name for spec, _, size in plan if size >= min_bytes)
    pool = None
    try:
        pool = reader_pool(max(1, reader_workers() - 1))  # one CPU stays with the run
        for spec, files, _ in sorted(plan, key=lambda item: item[0].name not in late):  # stable: steps' order
            _pending[spec.name] = [pool.submit(_read_into_cache, spec, path, settings.inbox, sha, config_dir(),
                                               settings.cache_dir) for path, sha in files]
        _waits_for_every_file.update(late)
    except (BrokenProcessPool, OSError, ValueError) as error:  # no child processes here: the steps read
        _log.warning("无法预先读取来源文件(%s),由各来源的读取步骤读取", error)
        _forget(pool)
        yield frozenset()
        return
    try:
        yield late
    finally:
        _forget(pool)


def wait_for(source: str) -> set[tuple[str, str]]:
    """The files of this source read ahead and kept in the landing cache, as (path in the inbox, SHA-256), once
    they are there. A large source waits for every file; a small one takes back the files not yet begun (cheaper
    to read here than to wait behind a large source)."""
    futures = _pending.pop(source, [])
    if source not in _waits_for_every_file:
        futures = [future for future in futures if not future.cancel()]
    done = set()
    for future in futures:
        with contextlib.suppress(Exception):  # the step reads a file whose entry is missing
            done.add(future.result())
    return done - {None}


def _forget(pool) -> None:
    _pending.clear()
    _waits_for_every_file.clear()
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


def _files_to_read(settings: Settings, sources: list[str] | None) -> list[tuple[SourceSpec, list[tuple[Path, str]], int]]:
    """Each source with files (path, SHA-256) the landing cache does not hold and their bytes, in the order of
    their steps."""
    if settings.cache_dir is None or reader_workers() < 2:
        return []
    activate(settings.config_dir)
    plan = []
    for spec in sorted(_named(sources), key=lambda spec: spec.name):
        chosen, _ = select_files(spec, settings.inbox)
        cache = LandingCache(settings.cache_dir, spec)
        missing = [(path, sha) for path, sha in chosen if not cache.holds(inbox_name(path, settings.inbox), sha)]
        if missing:
            plan.append((spec, missing, sum(path.stat().st_size for path, _ in missing)))
    return plan


def _named(sources: list[str] | None) -> list[SourceSpec]:
    from fund_pipeline.pipeline.clerk import sources_named

    specs = load_layouts()
    if not sources:
        return specs
    return list({spec.name: spec for name in sources for spec in sources_named(name, specs)}.values())


def _read_into_cache(spec: SourceSpec, path: Path, inbox: Path, sha: str, county_config: Path | None,
                     cache_root: Path) -> tuple[str, str] | None:
    """In a worker: read one file and keep its read where the landing step will look for it; None where it
    could not be kept."""
    read = read_in_worker(spec, path, inbox, sha, county_config)
    relative = inbox_name(path, inbox)
    return (relative, sha) if LandingCache(cache_root, spec).put(relative, sha, read) else None
