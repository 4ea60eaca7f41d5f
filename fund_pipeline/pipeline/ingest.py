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


SPREADSHEET_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".et", ".csv")


def unmatched_files(inbox, specs, catalogue: Catalogue, run_id: str) -> pd.DataFrame:
    """INGEST-UNMATCHED: a spreadsheet in the inbox that no layout reads is reported, not silently ignored."""
    from pathlib import Path

    from fund_pipeline.pipeline.lifecycle import DISPOSITION_FOLDER
    from fund_pipeline.sources.reader import find_files

    inbox = Path(inbox)
    matched = {p for spec in specs for p in find_files(spec, inbox)}
    stray = sorted(p for p in inbox.rglob("*") if p.is_file() and p.suffix.lower() in SPREADSHEET_SUFFIXES
                   and not p.name.startswith(("~$", ".")) and p not in matched
                   and DISPOSITION_FOLDER not in p.relative_to(inbox).parts)  # auditors' dispositions, not data
    rule = catalogue.rule("INGEST-UNMATCHED")
    rows = [{"rule_id": rule.id, "severity": rule.severity, "level": rule.level, "target": "ingest", "source": "inbox",
             "source_file": p.relative_to(inbox).as_posix(), "value": p.name, "expected": "已登记来源布局中的文件",
             "message": f"文件「{p.relative_to(inbox).as_posix()}」不属于任何来源布局,未被读取;如为新部门报表,请先登记其布局"}
            for p in stray]
    findings = pd.DataFrame(rows)
    findings["run_id"] = run_id
    findings["catalogue_version"] = catalogue.version
    findings["detected_at"] = pd.Timestamp.now()
    return normalise_findings(findings)
