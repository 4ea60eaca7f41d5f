"""County reference data shipped with the pipeline: townships with aliases, fund channels."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pandas as pd
import yaml

_HERE = Path(__file__).parent


@dataclass(frozen=True)
class Township:
    code: str
    name: str
    aliases: tuple[str, ...]


@cache
def county() -> dict:
    return yaml.safe_load((_HERE / "townships.yaml").read_text(encoding="utf-8"))["county"]


@cache
def townships() -> tuple[Township, ...]:
    raw = yaml.safe_load((_HERE / "townships.yaml").read_text(encoding="utf-8"))["townships"]
    return tuple(Township(t["code"], t["name"], tuple(t.get("aliases", []))) for t in raw)


@cache
def township_lookup() -> dict[str, Township]:
    """Every spelling (official name and aliases) -> township."""
    lookup: dict[str, Township] = {}
    for t in townships():
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


@cache
def channels() -> pd.DataFrame:
    raw = yaml.safe_load((_HERE / "channels.yaml").read_text(encoding="utf-8"))["channels"]
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
