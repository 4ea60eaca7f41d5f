"""Stage 1: a department's workbooks -> landing.<source>, with ingestion findings."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from fund_pipeline.rules.catalogue import Catalogue
from fund_pipeline.rules.validation import normalise_findings
from fund_pipeline.sources.reader import SourceRead, read_source
from fund_pipeline.sources.spec import SourceSpec


@dataclass
class IngestResult:
    source: str
    rows_read: int
    files: list[dict]
    findings: pd.DataFrame
    totals: pd.DataFrame


def total_findings(read: SourceRead, catalogue: Catalogue) -> pd.DataFrame:
    """INGEST-TOTAL: a 合计 row that differs from the sum of the rows read."""
    tolerance = catalogue.rule("INGEST-TOTAL").thresholds["tolerance_yuan"]
    totals = read.totals
    if totals.empty:
        return pd.DataFrame()
    off = totals[(totals["declared"] - totals["summed"]).abs() > tolerance]
    return pd.DataFrame({
        "rule_id": "INGEST-TOTAL", "severity": "warning", "source": off["source"], "source_file": off["source_file"],
        "sheet": off["sheet"], "row_number": off["row_number"], "column_name": off["field"],
        "value": off["declared"].round(2).astype(str), "expected": "明细行之和 " + off["summed"].round(2).astype(str),
        "message": "工作表「" + off["sheet"].astype(str) + "」第" + off["row_number"].astype(str) + "行合计("
                   + off["declared"].round(2).astype(str) + "元)与读取的明细行之和(" + off["summed"].round(2).astype(str)
                   + "元)不符",
    })


def ingestion_findings(spec: SourceSpec, read: SourceRead, catalogue: Catalogue, run_id: str,
                       detected_at: pd.Timestamp) -> pd.DataFrame:
    frames = [f for f in (read.problems, total_findings(read, catalogue)) if not f.empty]
    if not frames:
        return normalise_findings(pd.DataFrame())
    findings = pd.concat(frames, ignore_index=True)
    rules = {r.id: r for r in catalogue.rules}
    findings["level"] = findings["rule_id"].map(lambda rule_id: rules[rule_id].level)
    findings["severity"] = findings["rule_id"].map(lambda rule_id: rules[rule_id].severity)
    findings["target"] = spec.entity
    findings["department"] = spec.department
    findings["policy_clause"] = None
    findings["run_id"] = run_id
    findings["catalogue_version"] = catalogue.version
    findings["detected_at"] = detected_at
    return normalise_findings(findings)


def ingest(spec: SourceSpec, inbox, catalogue: Catalogue, run_id: str) -> tuple[IngestResult, pd.DataFrame]:
    """Read one source; returns the result summary and the records to land."""
    read = read_source(spec, inbox)
    findings = ingestion_findings(spec, read, catalogue, run_id, pd.Timestamp.now())
    result = IngestResult(spec.name, len(read.records), read.files, findings, read.totals)
    return result, read.records
