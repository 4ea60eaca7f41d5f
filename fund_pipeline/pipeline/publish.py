"""Stage 2: validate an entity's landed rows with its row rules, publish the clean rows, quarantine the rest.

Nothing is lost: for every source, rows landed = rows published + rows quarantined.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    landed = landed.reset_index(drop=True)
    frame = add_derived_columns(entity, landed, refs)
    findings, gx_success = evaluate(entity, frame, catalogue.for_target(entity), catalogue, run_id, docs_dir=docs_dir)
    findings["_position"] = _positions(findings, frame)
    error_rules, error_messages = _reasons(findings, frame.index, "error")
    warning_rules, _ = _reasons(findings, frame.index, "warning")
    ingest_errors = frame["_bad_fields"].fillna("").astype(str) != "" if "_bad_fields" in frame else False
    ingest_reason = "INGEST:" + frame["_bad_fields"].fillna("").astype(str).str.rstrip(",") if "_bad_fields" in frame else ""
    quarantine = error_rules.notna() | ingest_errors
    frame["warning_rules"] = warning_rules
    frame["quarantine_rules"] = error_rules.fillna("").where(~ingest_errors, ingest_reason).astype("string")
    frame["quarantine_reasons"] = error_messages.fillna("单元格值无法解析或必填项为空").where(quarantine, pd.NA).astype("string")
    keep = list(landed.columns.drop("_bad_fields", errors="ignore")) + _derived_to_keep(entity, frame, landed)
    frame[landed.columns] = landed  # rules saw placeholders as empty; the tables keep what the sheet said
    published = frame.loc[~quarantine, keep + ["warning_rules"]].reset_index(drop=True)
    # A suspect amount's unit-slip repair travels with the quarantined row: the county-year measures count it.
    repair = ["unit_slip_amount"] if "unit_slip_amount" in frame.columns else []
    quarantined = frame.loc[quarantine, keep + repair + ["warning_rules", "quarantine_rules", "quarantine_reasons"]]
    quarantined = quarantined.reset_index(drop=True)
    reconciliation = _reconcile(landed, published, quarantined)
    return PublishResult(entity, published, quarantined, findings.drop(columns="_position"), reconciliation, gx_success)


def _positions(findings: pd.DataFrame, frame: pd.DataFrame) -> pd.Series:
    lookup = pd.Series(frame.index, index=frame["row_key"].astype("string"))
    return findings["row_key"].map(lookup)


def _derived_to_keep(entity: str, frame: pd.DataFrame, landed: pd.DataFrame) -> list[str]:
    """Derived columns that the marts use (codes and register flags), not the rules' helper columns."""
    wanted = ["village_code", "village_is_poor", "is_special_channel", "household_registered_poor", "borrower_registered_poor",
              "project_known"]
    return [c for c in wanted if c in frame.columns and c not in landed.columns]


def _reconcile(landed, published, quarantined) -> pd.DataFrame:
    """Rows per source and fiscal year: landed = published + quarantined."""
    keys = ["source", "fiscal_year"] if "fiscal_year" in landed.columns else ["source"]

    def count(frame):
        frame = frame.assign(fiscal_year=frame["fiscal_year"].astype("Int64").fillna(-1)) if "fiscal_year" in keys else frame
        return frame.groupby(keys).size()

    counts = pd.DataFrame({"landed": count(landed), "published": count(published),
                           "quarantined": count(quarantined)}).fillna(0).astype(int)
    counts["reconciles"] = counts["landed"] == counts["published"] + counts["quarantined"]
    counts = counts.reset_index()
    if "fiscal_year" in counts:
        counts["fiscal_year"] = counts["fiscal_year"].astype("Int64").replace(-1, pd.NA)
    else:
        counts["fiscal_year"] = pd.Series(pd.NA, index=counts.index, dtype="Int64")
    return counts
