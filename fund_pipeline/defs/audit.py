"""Aggregate rules on the marts, the run's findings with one asset check per rule, and the auditors' report."""


import shutil

import dagster as dg
import pandas as pd

from fund_pipeline.defs.dbt import mart_key
from fund_pipeline.defs.publish import clean_key
from fund_pipeline.defs.resources import FundPipelineResource
from fund_pipeline.defs.reuse import carry_kept_steps
from fund_pipeline.pipeline.accounting import (
    ACCOUNTING_RULES,
    layout_findings,
    missing_year_findings,
    unaccounted_findings,
)
from fund_pipeline.pipeline.aggregate import (
    attribute,
    budget_breaking_rows,
    household_year_rows,
    note_differing_verdicts,
)
from fund_pipeline.pipeline.findings import current_findings, replace_findings
from fund_pipeline.pipeline.ingest import unmatched_files
from fund_pipeline.pipeline.lifecycle import import_disposition_folder
from fund_pipeline.pipeline.summary import aggregate_measures, rule_summary
from fund_pipeline.report.build import write_report
from fund_pipeline.report.inputs import report_input
from fund_pipeline.report.masking import mask_text
from fund_pipeline.rules.catalogue import Rule, load_catalogue
from fund_pipeline.rules.validation import evaluate
from fund_pipeline.sources.schemas import ENTITIES
from fund_pipeline.sources.spec import invalid_layouts, load_layouts

FINDINGS_KEY = dg.AssetKey(["audit", "validation_findings"])


def aggregate_targets() -> list[str]:
    return [t for t in load_catalogue().targets if t not in ENTITIES]


@dg.asset(
    key=dg.AssetKey(["audit", "policy_measures"]),
    deps=[mart_key(t) for t in aggregate_targets()] + [mart_key("fund_flow")],
    group_name="audit",
    kinds={"great_expectations", "python"},
)
def policy_measures(context: dg.AssetExecutionContext, fund: FundPipelineResource) -> dg.MaterializeResult:
    """The policy's county-year, village and project measures (e.g. 20% of new fiscal revenue to poverty,
    54% of integrated funds to poor villages) read from the published marts and checked with Great
    Expectations against the catalogue's thresholds for each fiscal year."""
    warehouse, catalogue = fund.warehouse(), load_catalogue()
    all_findings, all_measures = [], []
    for target in aggregate_targets():
        frame = warehouse.read_table("marts", target)
        rules = catalogue.for_target(target)
        findings, _ = evaluate(target, frame, rules, catalogue, context.run_id, docs_dir=fund.data_docs_path)
        findings = _explain(warehouse, target, frame, findings, {r.id: r for r in rules})
        all_findings.append(findings)
        if target == "county_year_measures":
            all_measures.append(aggregate_measures(frame, rules, findings))
        replace_findings(warehouse, findings, context.run_id, target=target)
    measures = pd.concat(all_measures, ignore_index=True).assign(run_id=context.run_id)
    warehouse.append("audit", "policy_measures", measures,
                     delete_where=f"run_id = '{context.run_id}'" if warehouse.table_exists("audit", "policy_measures") else None)
    return dg.MaterializeResult(metadata={
        "findings": sum(len(f) for f in all_findings),
        "measures": dg.MetadataValue.json(measures.drop(columns="run_id").astype(str).to_dict("records")),
    })


def _explain(warehouse, target: str, frame: pd.DataFrame, findings: pd.DataFrame, rules: dict) -> pd.DataFrame:
    """Aggregate findings say which rows they come from: attribution, contributing rows, and whether the
    verdict on published rows differs from the one with quarantined money."""
    if findings.empty:
        return findings
    if target == "county_year_measures":
        findings = note_differing_verdicts(findings, frame, rules)
    if target == "household_transfers":
        findings = household_year_rows(warehouse, findings)
    if target == "project_compliance":
        findings = budget_breaking_rows(warehouse, findings, frame)
    return attribute(warehouse, findings)


def check_name(rule: Rule) -> str:
    return rule.id.replace("-", "_")


def _check_result(rule: Rule, row: pd.Series, examples: pd.DataFrame, severities: set[str]) -> dg.AssetCheckResult:
    """ERROR when an error-severity finding exists (or could, for a passing rule), WARN for warnings only."""
    is_error = "error" in severities or (not severities and rule.has_error_in_any_year())
    severity = dg.AssetCheckSeverity.ERROR if is_error else dg.AssetCheckSeverity.WARN
    return dg.AssetCheckResult(
        check_name=check_name(rule), passed=bool(row["passed"]), severity=severity,
        metadata={
            "rule_id": rule.id, "clause": rule.clause or "(数据完整性)", "threshold": rule.threshold_text() or "-",
            "measured": str(row["measured"]), "findings": int(row["findings"]),
            "examples": dg.MetadataValue.json(examples.astype(str).to_dict("records")),
        },
    )


@dg.asset(
    key=FINDINGS_KEY,
    # Every entity, not just those the built-in layouts feed: a county's own layouts are known only once its
    # configuration is active, after this module is imported.
    deps=[clean_key(e) for e in ENTITIES] + [dg.AssetKey(["audit", "policy_measures"])],
    group_name="audit",
    kinds={"python"},
    check_specs=[dg.AssetCheckSpec(check_name(rule), asset=FINDINGS_KEY, description=f"{rule.id} {rule.title}: {rule.clause or rule.message}")
                 for rule in load_catalogue().rules],
)
def validation_findings(context: dg.AssetExecutionContext, fund: FundPipelineResource) -> dg.MaterializeResult:
    """Every rule of the catalogue: one asset check per rule id (severity from the catalogue, measured value
    against the threshold, example rows) over the current findings of every department, and
    `audit.rule_summary` for this run. The findings live in `audit.current_findings` (the state now) and
    `audit.validation_findings` (every run's, kept as history): one row per failing row per rule. The steps
    the run left out, their inputs unchanged, have their findings carried into the run here first."""
    warehouse, catalogue = fund.warehouse(), load_catalogue()
    carry_kept_steps(warehouse, context.run_id, context.run.tags)
    stray = unmatched_files(fund.inbox_path, load_layouts(), catalogue, context.run_id)
    replace_findings(warehouse, stray, context.run_id, source="inbox", ingest=True)
    accounted = pd.concat([unaccounted_findings(warehouse, list(load_layouts()), catalogue, context.run_id),
                           missing_year_findings(warehouse, list(load_layouts()), catalogue, context.run_id),
                           layout_findings(invalid_layouts(), catalogue, context.run_id)], ignore_index=True)
    replace_findings(warehouse, accounted, context.run_id, rule_ids=ACCOUNTING_RULES)
    findings = current_findings(warehouse)
    measures = warehouse.read_table("audit", "policy_measures", where=f"run_id = '{context.run_id}'") \
        if warehouse.table_exists("audit", "policy_measures") else pd.DataFrame()
    summary = rule_summary(catalogue, findings, measures)
    warehouse.append("audit", "rule_summary", summary.assign(run_id=context.run_id),
                     delete_where=f"run_id = '{context.run_id}'" if warehouse.table_exists("audit", "rule_summary") else None)
    results = []
    for rule in catalogue.rules:
        row = summary.set_index("rule_id").loc[rule.id]
        examples = findings[findings["rule_id"] == rule.id].head(5) if len(findings) else pd.DataFrame()
        examples = examples.reindex(columns=["source_file", "sheet", "row_number", "column_name", "value", "message"])
        examples = examples.assign(value=mask_text(examples["value"]), message=mask_text(examples["message"]))
        severities = set(findings.loc[findings["rule_id"] == rule.id, "severity"]) if len(findings) else set()
        results.append(_check_result(rule, row, examples, severities))
    return dg.MaterializeResult(
        metadata={"findings": len(findings), "rules_failed": int((~summary["passed"]).sum()),
                  "errors": int((findings["severity"] == "error").sum()) if len(findings) else 0},
        check_results=results,
    )


@dg.asset(key=dg.AssetKey(["reports", "audit_report"]), deps=[FINDINGS_KEY], group_name="reports", kinds={"excel", "html"})
def audit_report(context: dg.AssetExecutionContext, fund: FundPipelineResource) -> dg.MaterializeResult:
    """The auditors' report for this run, in Chinese: an Excel workbook (summary, filterable findings with
    original values and Excel row numbers, county-year measures, row reconciliation) and an HTML page with
    the same and charts of the measures against their thresholds. IDs and accounts are masked."""
    warehouse, catalogue = fund.warehouse(), load_catalogue()
    recorded, problems = import_disposition_folder(warehouse, fund.inbox_path, fund.user)
    for problem in problems:
        context.log.warning(f"审计处置未导入:{problem}")
    report = report_input(warehouse, catalogue, context.run_id,
                          "../gx-data-docs/index.html" if (fund.data_docs_path / "index.html").exists() else None)
    directory = fund.reports_path / f"run-{context.run_id[:8]}"
    paths = write_report(report, directory)
    latest = fund.reports_path / "latest"
    shutil.rmtree(latest, ignore_errors=True)
    shutil.copytree(directory, latest)
    return dg.MaterializeResult(metadata={
        "html": dg.MetadataValue.path(str(paths["html"])), "excel": dg.MetadataValue.path(str(paths["excel"])),
        "findings": len(report.findings), "dispositions_imported": recorded,
    })
