"""Names bound now, modules imported when a name is first used.

Great Expectations takes seconds to import. The modules that use it are imported by everything that loads the
pipeline's definitions (the CLI's `run`, the webserver, the daemon), though only the steps that validate need it;
binding its names through `lazy` defers the import to the first validation of the process."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


class lazy:  # noqa: N801 - stands for the module or class it names
    """A module (`lazy("great_expectations")`) or one of its names (`lazy("pkg.mod", "Name")`), imported on first
    use: an attribute read or a call is passed to the real object."""

    __slots__ = ("_module", "_name", "_prepare")

    def __init__(self, module: str, name: str | None = None, prepare: Callable[[], None] | None = None):
        self._module = module
        self._name = name
        self._prepare = prepare  # run before the module's first import

    def _target(self) -> Any:
        if self._prepare is not None and self._module not in sys.modules:
            self._prepare()
        module = importlib.import_module(self._module)
        return getattr(module, self._name) if self._name else module

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._target(), attribute)

    def __call__(self, *args, **kwargs) -> Any:
        return self._target()(*args, **kwargs)

    def __repr__(self) -> str:
        return f"lazy({self._module!r}{', ' + repr(self._name) if self._name else ''})"


def defer_submodule(package: str, name: str) -> None:
    """`from package import name` binds a `lazy` stand-in, the submodule itself imported on its first use.

    For a library that imports, at its own import, a heavy submodule that only code this project never calls
    uses. Once anything imports the submodule for real, the import system puts it in the stand-in's place."""
    if f"{package}.{name}" in sys.modules:
        return
    setattr(importlib.import_module(package), name, lazy(f"{package}.{name}"))
