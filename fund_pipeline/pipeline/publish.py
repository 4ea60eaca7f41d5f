"""Stage 2: validate an entity's landed rows with its row rules, publish the clean rows, quarantine the rest.

Nothing is lost: for every source, rows landed = rows published + rows quarantined.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fund_pipeline.rules.catalogue import Catalogue
from fund_pipeline.rules.derive import References, add_derived_columns
from fund_pipeline.rules.validation import evaluate


@dataclass
class PublishResult:
    entity: str
    published: pd.DataFrame
    quarantined: pd.DataFrame
    findings: pd.DataFrame
    reconciliation: pd.DataFrame  # source, landed, published, quarantined
    gx_success: bool | None


def _reasons(findings: pd.DataFrame, rows: pd.Index, severity: str) -> tuple[pd.Series, pd.Series]:
    """Per row: the rule ids it breaks at a severity, and their messages, joined."""
    chosen = findings[findings["severity"] == severity]
    if chosen.empty:
        empty = pd.Series(pd.NA, index=rows, dtype="string")
        return empty, empty
    grouped = chosen.groupby("_position")
    rules = grouped["rule_id"].agg(lambda s: ",".join(sorted(set(s))))
    messages = grouped["message"].agg(lambda s: ";".join(dict.fromkeys(s)))
    return rules.reindex(rows).astype("string"), messages.reindex(rows).astype("string")


def validate_and_split(entity: str, landed: pd.DataFrame, refs: References, catalogue: Catalogue,
                       run_id: str, docs_dir=None) -> PublishResult:
    """Validate the landed rows and split them into published and quarantined rows.

    The frame passed in is taken over (its index is reset in place, its columns are shared with the result):
    at a million rows every extra copy is hundreds of megabytes, so the caller hands it over and keeps none."""
    if not isinstance(landed.index, pd.RangeIndex) or landed.index.start != 0 or landed.index.step != 1:
        landed.index = pd.RangeIndex(len(landed))
    original = list(landed.columns)
    frame = add_derived_columns(entity, landed, refs)
    findings, gx_success = evaluate(entity, frame, catalogue.for_target(entity), catalogue, run_id, docs_dir=docs_dir)
    findings["_position"] = _positions(findings, frame)
    error_rules, error_messages = _reasons(findings, frame.index, "error")
    warning_rules, _ = _reasons(findings, frame.index, "warning")
    ingest_errors, ingest_reason = _ingest_errors(frame)
    quarantine = (error_rules.notna() | ingest_errors).to_numpy(dtype=bool)
    frame["warning_rules"] = warning_rules
    frame["quarantine_rules"], frame["quarantine_reasons"] = _quarantine_reasons(
        error_rules, error_messages, ingest_errors, ingest_reason, quarantine)
    del error_rules, error_messages, warning_rules, ingest_errors, ingest_reason
    keep = [c for c in original if c != "_bad_fields"] + _derived_to_keep(entity, frame, landed)
    for column in original:  # rules saw placeholders as empty; the tables keep what the sheet said
        frame[column] = landed[column]  # shared, not copied: the landed frame then holds nothing of its own
    del landed
    # A suspect amount's unit-slip repair travels with the quarantined row: the county-year measures count it.
    repair = ["unit_slip_amount"] if "unit_slip_amount" in frame.columns else []
    _drop_unkept(frame, keep + repair + ["warning_rules", "quarantine_rules", "quarantine_reasons"],
                 before_copy=bool(quarantine.any()))
    published, quarantined = _split(frame, quarantine, keep, repair)
    del frame
    reconciliation = _reconcile(published, quarantined)
    return PublishResult(entity, published, quarantined, findings.drop(columns="_position"), reconciliation, gx_success)


LARGE_FRAME_ROWS = 100_000  # below this a full garbage collection (≈0.2 s in a Dagster process) frees nothing worth it


def collect_if_large(rows: int) -> None:
    """Free the cycles pandas leaves behind a dropped million-row frame before the next big allocation."""
    if rows >= LARGE_FRAME_ROWS:
        gc.collect()


def _drop_unkept(frame: pd.DataFrame, kept: list[str], before_copy: bool) -> None:
    """The rules' helper columns are not published: free them before the published rows are taken (a copy
    when some rows are quarantined; with none, no copy follows, and the caller's collection after conforming
    the tables does the work once)."""
    frame.drop(columns=[c for c in frame.columns if c not in set(kept)], inplace=True)
    if before_copy:
        collect_if_large(len(frame))


def _split(frame: pd.DataFrame, quarantine: np.ndarray, keep: list[str],
           repair: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Published and quarantined rows. With nothing quarantined (the usual case) the published rows are the
    frame itself, not a copy of it."""
    quarantined_columns = keep + repair + ["warning_rules", "quarantine_rules", "quarantine_reasons"]
    if not quarantine.any():
        quarantined = frame.iloc[0:0][quarantined_columns].reset_index(drop=True)
        published = frame[keep + ["warning_rules"]]
        return published, quarantined
    quarantined = frame.loc[quarantine, quarantined_columns].reset_index(drop=True)
    published = frame.loc[~quarantine, keep + ["warning_rules"]].reset_index(drop=True)
    return published, quarantined


def _quarantine_reasons(error_rules: pd.Series, error_messages: pd.Series, ingest_errors, ingest_reason,
                        quarantine: np.ndarray) -> tuple[pd.Series, pd.Series]:
    """The rules a quarantined row breaks (or INGEST:<fields>) and why, written on the quarantined rows only:
    the published rows do not carry these columns, so a million of them are not filled to be dropped."""
    rules, messages = error_rules[quarantine], error_messages[quarantine]
    if not isinstance(ingest_errors, bool):
        ingest_errors = ingest_errors[quarantine]
    rules = rules.fillna("").where(~ingest_errors, ingest_reason).astype("string")
    messages = messages.fillna("单元格值无法解析或必填项为空").astype("string")
    return rules.reindex(error_rules.index), messages.reindex(error_rules.index)


def _ingest_errors(frame: pd.DataFrame) -> tuple[pd.Series | bool, pd.Series | str]:
    """Rows with cells the reader could not parse, and their reason (INGEST:<fields>), written for those
    rows only: at a million rows the rest would be a million empty strings built and thrown away."""
    if "_bad_fields" not in frame:
        return False, ""
    bad_fields = frame["_bad_fields"].fillna("").astype(str)
    ingest_errors = bad_fields != ""
    return ingest_errors, "INGEST:" + bad_fields[ingest_errors.to_numpy(dtype=bool)].str.rstrip(",")


def _positions(findings: pd.DataFrame, frame: pd.DataFrame) -> pd.Series:
    """Each finding's row position. Without findings (a clean county-year) no million-key lookup is built."""
    if findings.empty:
        return pd.Series(index=findings.index, dtype="int64")
    lookup = pd.Series(frame.index, index=frame["row_key"].astype("string"))
    return findings["row_key"].map(lookup)


def _derived_to_keep(entity: str, frame: pd.DataFrame, landed: pd.DataFrame) -> list[str]:
    """Derived columns that the marts use (codes and register flags), not the rules' helper columns."""
    wanted = ["village_code", "village_is_poor", "is_special_channel", "household_registered_poor", "borrower_registered_poor",
              "project_known"]
    return [c for c in wanted if c in frame.columns and c not in landed.columns]


def _reconcile(published, quarantined) -> pd.DataFrame:
    """Rows per source and fiscal year: landed = published + quarantined (every row validated is one or the
    other; the warehouse's own recount in pipeline/accounting.py checks the tables as written)."""
    keys = ["source", "fiscal_year"] if "fiscal_year" in published.columns else ["source"]

    def count(frame):
        if "fiscal_year" not in keys:
            return frame.groupby(keys).size()
        return frame.groupby([frame["source"], frame["fiscal_year"].astype("Int64").fillna(-1)]).size()

    published_counts, quarantined_counts = count(published), count(quarantined)
    landed_counts = published_counts.add(quarantined_counts, fill_value=0)
    counts = pd.DataFrame({"landed": landed_counts, "published": published_counts,
                           "quarantined": quarantined_counts}).fillna(0).astype(int)
    counts["reconciles"] = counts["landed"] == counts["published"] + counts["quarantined"]
    counts = counts.reset_index()
    if "fiscal_year" in counts:
        counts["fiscal_year"] = counts["fiscal_year"].astype("Int64").replace(-1, pd.NA)
    else:
        counts["fiscal_year"] = pd.Series(pd.NA, index=counts.index, dtype="Int64")
    return counts
