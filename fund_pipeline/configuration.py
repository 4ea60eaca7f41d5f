"""Which county's configuration is in force.

Huining's layouts and reference data ship inside the package; another county keeps its own in a folder
(`FUND_PIPELINE_CONFIG`, read by settings.py) with `layouts/*.yaml` added to the built-in layouts (the same
`source` name replaces one) and an optional `reference/` whose files replace Huining's. Settings decide the
folder; this module only remembers it for the loaders, which are cached per folder.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

_active: Path | None = None
_caches: list[Callable[[], None]] = []


def activate(config_dir: Path | None) -> None:
    """Use this county configuration folder from now on (None: the built-in Huining configuration); what
    was loaded from the previous one is forgotten."""
    global _active
    _active = Path(config_dir).resolve() if config_dir else None
    for clear in _caches:
        clear()


def cached(function):
    """functools.cache, forgotten whenever a configuration is activated."""
    wrapped = cache(function)
    _caches.append(wrapped.cache_clear)
    return wrapped


def config_dir() -> Path | None:
    return _active


def reference_file(name: str, built_in: Path) -> Path:
    """The county's own reference file when its configuration has one, else the built-in one."""
    if _active is not None and (_active / "reference" / name).is_file():
        return _active / "reference" / name
    return built_in


def layout_dirs(built_in: Path) -> tuple[Path, ...]:
    extra = _active / "layouts" if _active is not None else None
    return (built_in, extra) if extra is not None and extra.is_dir() else (built_in,)
