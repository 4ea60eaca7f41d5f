"""County reference data: townships with aliases, fund channels and their purposes.

Huining's ship with the package; a county configuration folder's `reference/townships.yaml` and
`reference/channels.yaml` replace them (fund_pipeline.configuration)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from fund_pipeline.configuration import cached, reference_file

_HERE = Path(__file__).parent


@cached
def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _townships_yaml() -> dict:
    return _load(reference_file("townships.yaml", _HERE / "townships.yaml"))


@dataclass(frozen=True)
class Township:
    code: str
    name: str
    aliases: tuple[str, ...]


def county() -> dict:
    return _townships_yaml()["county"]


def townships() -> tuple[Township, ...]:
    return _townships_of(reference_file("townships.yaml", _HERE / "townships.yaml"))


@cached
def _townships_of(path: Path) -> tuple[Township, ...]:
    return tuple(Township(str(t["code"]), t["name"], tuple(t.get("aliases", []))) for t in _load(path)["townships"])


def township_lookup() -> dict[str, Township]:
    """Every spelling (official name and aliases) -> township."""
    return _lookup_of(townships())


@cached
def _lookup_of(all_townships: tuple[Township, ...]) -> dict[str, Township]:
    lookup: dict[str, Township] = {}
    for t in all_townships:
        for spelling in (t.name, *t.aliases):
            lookup[spelling] = t
    return lookup


def normalise_townships(names: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Map township spellings to (official name, 9-digit code); unknown spellings keep their text, code NA."""
    cleaned = names.astype("string").str.replace(r"\s+", "", regex=True)
    lookup = township_lookup()
    official = cleaned.map({k: t.name for k, t in lookup.items()})
    codes = cleaned.map({k: t.code for k, t in lookup.items()})
    return official.fillna(cleaned).astype("string"), codes.astype("string")


def channels() -> pd.DataFrame:
    return _channels_of(reference_file("channels.yaml", _HERE / "channels.yaml"))


@cached
def _channels_of(path: Path) -> pd.DataFrame:
    raw = _load(path)["channels"]
    return pd.DataFrame(
        {
            "channel_code": [c["code"] for c in raw],
            "channel_name": [c["name"] for c in raw],
            "special_poverty": [bool(c.get("special_poverty", False)) for c in raw],
            "purposes": [tuple(c["purposes"]) for c in raw],
        }
    )


def channel_purposes() -> pd.DataFrame:
    """One row per (channel name, allowed purpose)."""
    return channels().explode("purposes").rename(columns={"purposes": "purpose"})[["channel_name", "purpose"]]
