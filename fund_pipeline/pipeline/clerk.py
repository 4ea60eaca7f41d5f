"""A department clerk's check of one spreadsheet before sending it: the layout and every row rule
that does not need the county registers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fund_pipeline.pipeline.ingest import ingestion_findings
from fund_pipeline.rules.catalogue import load_catalogue
from fund_pipeline.rules.derive import References, add_derived_columns
from fund_pipeline.rules.validation import evaluate
from fund_pipeline.sources.reader import read_workbook
from fund_pipeline.sources.schemas import conform
from fund_pipeline.sources.spec import layout_by_name

# Derived columns that only the published registers can fill in.
REGISTER_COLUMNS = {"village_code", "village_is_poor", "village_population", "household_registered_poor",
                    "borrower_registered_poor", "project_known"}


def check_file(path: Path, source: str, refs: References | None = None) -> pd.DataFrame:
    spec = layout_by_name(source)
    catalogue = load_catalogue()
    path = Path(path).resolve()
    read = read_workbook(spec, path, path.parent)
    run_id = "clerk-check"
    findings = [ingestion_findings(spec, read, catalogue, run_id, pd.Timestamp.now())]
    rules = catalogue.for_target(spec.entity)
    if refs is None:
        rules = [r for r in rules if not any({c.column, c.report_column, *c.where} & REGISTER_COLUMNS for c in r.checks)]
    if len(read.records):
        records = conform(spec.entity, read.records)
        clean_rows = records[records["_bad_fields"].fillna("") == ""]
        frame = add_derived_columns(spec.entity, clean_rows.reset_index(drop=True), refs or References.empty())
        rule_findings, _ = evaluate(spec.entity, frame, rules, catalogue, run_id)
        findings.append(rule_findings)
    found = pd.concat([f for f in findings if len(f)], ignore_index=True) if any(len(f) for f in findings) else findings[0]
    return found.sort_values(["sheet", "row_number", "rule_id"], na_position="first").reset_index(drop=True)
