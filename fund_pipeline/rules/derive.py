"""Derived columns the rules read: computed once per frame, vectorised, before Great Expectations runs.

They turn cross-table facts (is this village poor? is this household registered?) into plain
columns so that each rule is a simple expectation on one frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from fund_pipeline.identifiers import resident_id_status
from fund_pipeline.reference import channel_purposes, channels


@dataclass(frozen=True)
class References:
    """The county registers, as published: villages with codes and poor flags, and poor households."""

    villages: pd.DataFrame  # township_code, village, village_code, is_poor_village, population
    poor_household_ids: frozenset
    project_codes: frozenset = frozenset()

    @classmethod
    def empty(cls) -> References:
        return cls(pd.DataFrame(columns=["township_code", "village", "village_code", "is_poor_village", "population"]),
                   frozenset())


def _village_lookup(frame: pd.DataFrame, refs: References) -> pd.DataFrame:
    villages = refs.villages if "population" in refs.villages else refs.villages.assign(population=pd.NA)
    keys = villages[["township_code", "village", "village_code", "is_poor_village", "population"]].drop_duplicates(
        ["township_code", "village"])
    merged = frame[["township_code", "village"]].astype("string").merge(
        keys.astype({"township_code": "string", "village": "string"}), how="left", on=["township_code", "village"])
    merged.index = frame.index
    return merged


def add_derived_columns(entity: str, frame: pd.DataFrame, refs: References) -> pd.DataFrame:
    out = frame.copy()
    if {"township_code", "village"} <= set(out.columns) and entity != "villages":
        looked_up = _village_lookup(out, refs)
        out["village_code"] = looked_up["village_code"].astype("string")
        out["village_is_poor"] = looked_up["is_poor_village"].astype("boolean")
        out["village_population"] = pd.to_numeric(looked_up["population"], errors="coerce").astype("Float64")
    if "channel_name" in out.columns:
        ch = channels()
        special = set(ch.loc[ch["special_poverty"], "channel_name"])
        out["is_special_channel"] = out["channel_name"].isin(special).astype(bool)
        if "purpose" in out.columns:
            allowed = channel_purposes().assign(_allowed=True)
            merged = out[["channel_name", "purpose"]].astype(object).merge(allowed, how="left", on=["channel_name", "purpose"])
            out["channel_purpose_allowed"] = merged["_allowed"].fillna(False).astype(bool).to_numpy()
    for id_column in ("household_id", "borrower_id", "patient_id", "doctor_id"):
        if id_column in out.columns:
            out[f"{id_column}_status"] = resident_id_status(out[id_column])
    if "household_id" in out.columns:
        out["household_registered_poor"] = out["household_id"].isin(refs.poor_household_ids)
    if "borrower_id" in out.columns:
        out["borrower_registered_poor"] = out["borrower_id"].isin(refs.poor_household_ids)
    if "project_code" in out.columns and entity != "projects":
        out["project_known"] = out["project_code"].isin(refs.project_codes)
    if entity == "household_payments":
        out["payment_period"] = out["period"].astype("string").fillna(out["fiscal_year"].astype("string"))
    for date_column, year_column in (("pay_date", "pay_year"), ("loan_date", "loan_year"), ("audit_date", "audit_year")):
        if date_column in out.columns:
            out[year_column] = pd.to_datetime(out[date_column]).dt.year.astype("Int64")
    if {"publicity_start", "publicity_end"} <= set(out.columns):
        days = (pd.to_datetime(out["publicity_end"]) - pd.to_datetime(out["publicity_start"])).dt.days + 1
        out["publicity_days"] = days.astype("Int64")
    return out
