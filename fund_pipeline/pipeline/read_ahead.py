"""Read ahead: the inbox's new files are read while the run is still starting.

On two cores a county-year's payment rosters take about ten seconds to read, in worker processes, while the
run's own process waits; before that, the same process spends about eight seconds loading Dagster, dbt and
the definitions, and afterwards a dozen on the small sources' steps, with the second core idle. So
`fund-pipeline run` starts reading at once, in a worker, every file the landing cache does not hold yet,
each file's read going into the cache: first the large sources', whose landing steps then run after the
steps that do not need them; then the small sources' files, in the order of their steps. A step takes back the
files the worker has not begun and reads them itself, from the last one back, while the worker goes on from the
first: a small source never waits behind a large one, and a large source's step that arrives while its files
are still being read shares the rest with the worker instead of waiting, so neither process idles while the
other reads (on a shared machine the worker may be slower or faster than planned).

What a file yields does not change: the same reader in the same kind of worker writes the same cache entry
the step would have written. A read ahead that fails leaves no entry, and the step reads that file itself.
Runs the Dagster daemon launches do not read ahead; their steps read as they always do.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
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
_pending: dict[str, list[tuple[Future, Path, str, str]]] = {}  # source -> (read, file, path in the inbox, SHA-256)
_large_unread: set[str] = set()  # the large sources whose steps have not yet taken their reads
_when_read: list[Callable[[], object]] = []


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
            _pending[spec.name] = [(pool.submit(_read_into_cache, spec, path, settings.inbox, sha, config_dir(),
                                                settings.cache_dir), path, inbox_name(path, settings.inbox), sha)
                                   for path, sha in files]
    except (BrokenProcessPool, OSError, ValueError) as error:  # no child processes here: the steps read
        _log.warning("无法预先读取来源文件(%s),由各来源的读取步骤读取", error)
        _forget(pool)
        yield frozenset()
        return
    _large_unread.update(late)
    try:
        yield late
    finally:
        _forget(pool)


def when_read(callback: Callable[[], object]) -> None:
    """Call `callback` once the large sources being read ahead are read (the second CPU is free again): at once
    if none is being read."""
    if _large_unread:
        _when_read.append(callback)
    else:
        callback()


def wait_for(source: str, read_here: Callable[[Path, str], object]) -> tuple[set[tuple[str, str]], dict]:
    """This source's files read ahead, as the (path in the inbox, SHA-256) of those kept in the landing cache,
    and, by the same key, the reads of the files the worker had not begun, which this process takes back and
    reads itself with `read_here(file, sha)`: from the last file back, while the worker goes on from the first,
    until the two meet; then it waits for the files the worker is reading."""
    jobs = _pending.pop(source, [])
    here = {}
    for future, path, relative, sha in reversed(jobs):
        if not future.cancel():  # begun: so is every file before it
            break
        here[(relative, sha)] = read_here(path, sha)
    ahead = set()
    for future, _, relative, sha in jobs:
        if (relative, sha) not in here:
            with contextlib.suppress(Exception):  # the step reads a file whose entry is missing
                ahead.add(future.result())
    if source in _large_unread:
        _large_unread.discard(source)
        if not _large_unread:
            while _when_read:
                try:
                    _when_read.pop(0)()
                except Exception as error:  # noqa: BLE001 - what waited for the reading never fails the step
                    _log.warning("预先读取完成后的后续工作未能开始(%s)", error)
    return ahead - {None}, here


def _forget(pool) -> None:
    _pending.clear()
    _large_unread.clear()
    _when_read.clear()
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
