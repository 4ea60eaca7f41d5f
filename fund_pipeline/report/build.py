"""Build the auditors' report for one run from the warehouse's audit tables.

Both files say the same: a summary line per rule (clause, threshold, measured value, pass/fail,
findings), the findings with their original values and row numbers, the county-year measures,
and the row reconciliation.  Identifiers are masked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import xlsxwriter
from jinja2 import Environment, PackageLoader, select_autoescape

from fund_pipeline.report.masking import mask_text

SEVERITY_ZH = {"error": "错误", "warning": "警告"}
SUMMARY_COLUMNS = {
    "rule_id": "规则编号", "title": "规则名称", "policy_clause": "政策条款", "severity": "严重程度", "level": "层级",
    "threshold": "阈值", "measured": "实测值", "passed": "结论", "findings": "问题数",
}
FINDING_COLUMNS = {
    "rule_id": "规则编号", "severity": "严重程度", "department": "部门", "source": "来源", "source_file": "文件",
    "sheet": "工作表", "row_number": "行号", "column_name": "列", "value": "原值", "expected": "应为",
    "message": "说明", "policy_clause": "政策条款", "fiscal_year": "年度",
}
# Shown only when a finding has them: the group a summed check adds up, and an aggregate finding's main sources.
OPTIONAL_FINDING_COLUMNS = {"group_key": "分组", "attribution": "主要来源"}
MEASURE_LABELS = {
    "fiscal_poverty_share": "新增财力用于扶贫比例", "poor_village_share": "整合资金到贫困村比例",
    "poor_household_share": "整合资金到贫困户比例", "idle_funds_poverty_share": "存量资金用于扶贫比例",
    "infra_department_share": "基础设施项目由部门实施比例", "industry_township_share": "产业项目由乡镇实施比例",
    "poverty_allocation_change": "扶贫投入比上年增加(元)", "integrated_receipts": "统筹整合资金到位(元)",
    "policy_subsidies_paid": "强农惠农政策性资金(元)", "housing_households": "危房改造户数",
    "housing_poor_households": "其中贫困户户数",
}
# Every measure is also published with the money of quarantined rows included.
MEASURE_LABELS |= {f"{k}_with_quarantined": f"{v}(含被隔离行)" for k, v in MEASURE_LABELS.items()}


def _is_share(threshold) -> bool:
    return threshold is not None and pd.notna(threshold) and 0 < abs(float(threshold)) <= 1


@dataclass
class ReportInput:
    run_id: str
    generated_at: pd.Timestamp
    catalogue_version: str
    policy: str
    summary: pd.DataFrame  # rule_id, title, policy_clause, severity, level, threshold, measured, passed, findings
    findings: pd.DataFrame
    measures: pd.DataFrame  # fiscal_year, rule_id, measure, value, threshold, passed
    reconciliation: pd.DataFrame  # entity, source, landed, published, quarantined, reconciles
    data_docs: str | None = None


def masked_findings(findings: pd.DataFrame) -> pd.DataFrame:
    out = findings.copy()
    for column in ("value", "message", "expected", "group_key", "attribution"):
        if column in out:
            out[column] = mask_text(out[column])
    return out


def _summary_table(report: ReportInput) -> pd.DataFrame:
    table = report.summary[list(SUMMARY_COLUMNS)].copy()
    table["severity"] = table["severity"].map(SEVERITY_ZH)
    table["passed"] = table["passed"].map({True: "通过", False: "不通过"})
    table["policy_clause"] = table["policy_clause"].fillna("(数据完整性)")
    return table.rename(columns=SUMMARY_COLUMNS)


def _findings_table(report: ReportInput) -> pd.DataFrame:
    findings = masked_findings(report.findings)
    shown = [c for c in OPTIONAL_FINDING_COLUMNS if c in findings and findings[c].notna().any()]
    table = findings.reindex(columns=[*FINDING_COLUMNS, *shown]).copy()
    table["severity"] = table["severity"].map(SEVERITY_ZH)
    return table.rename(columns=FINDING_COLUMNS | OPTIONAL_FINDING_COLUMNS)


def write_excel(report: ReportInput, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook = xlsxwriter.Workbook(str(path), {"nan_inf_to_errors": True})
    bold = workbook.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True})
    fail = workbook.add_format({"font_color": "#C00000", "bold": True})
    wrap = workbook.add_format({"text_wrap": True, "valign": "top"})
    percent = workbook.add_format({"num_format": "0.00%"})
    sheets = [
        ("汇总", _summary_table(report), {"政策条款": 40, "规则名称": 22, "实测值": 30, "阈值": 20}),
        ("问题明细", _findings_table(report), {"说明": 50, "文件": 36, "政策条款": 30, "原值": 22}),
        ("县级指标", _measures_table(report), {"指标": 24}),
        ("行数核对", _reconciliation_table(report), {}),
    ]
    for name, table, widths in sheets:
        ws = workbook.add_worksheet(name)
        ws.write_row(0, 0, list(table.columns), bold)
        for r, row in enumerate(table.astype(object).where(table.notna(), None).itertuples(index=False), start=1):
            for c, value in enumerate(row):
                if isinstance(value, float) and table.columns[c] in ("实测值", "阈值") and name == "县级指标" \
                        and _is_share(row[list(table.columns).index("阈值")]):
                    ws.write_number(r, c, value, percent)
                elif value == "不通过":
                    ws.write(r, c, value, fail)
                elif value is not None:
                    ws.write(r, c, value.item() if hasattr(value, "item") else value)
        for c, column in enumerate(table.columns):
            ws.set_column(c, c, widths.get(column, 12), wrap if widths.get(column, 0) >= 30 else None)
        ws.freeze_panes(1, 0)
        if len(table):
            ws.autofilter(0, 0, len(table), len(table.columns) - 1)
    info = workbook.add_worksheet("说明")
    for r, (k, v) in enumerate([("运行编号", report.run_id), ("生成时间", str(report.generated_at)),
                                ("规则目录版本", report.catalogue_version), ("政策依据", report.policy),
                                ("说明", "身份证号、账号已脱敏显示;行号为Excel中显示的行号。")]):
        info.write(r, 0, k, bold)
        info.write(r, 1, v)
    info.set_column(0, 0, 14)
    info.set_column(1, 1, 80)
    workbook.close()
    return path


def _measures_table(report: ReportInput) -> pd.DataFrame:
    m = report.measures.copy()
    if m.empty:
        return pd.DataFrame(columns=["年度", "规则编号", "指标", "实测值", "阈值", "结论"])
    m["measure"] = m["measure"].map(lambda k: MEASURE_LABELS.get(k, k))
    m["passed"] = m["passed"].map({True: "通过", False: "不通过"})
    return m[["fiscal_year", "rule_id", "measure", "value", "threshold", "passed"]].rename(columns={
        "fiscal_year": "年度", "rule_id": "规则编号", "measure": "指标", "value": "实测值", "threshold": "阈值", "passed": "结论"})


def _reconciliation_table(report: ReportInput) -> pd.DataFrame:
    r = report.reconciliation.copy()
    if r.empty:
        return pd.DataFrame(columns=["数据类别", "来源", "读取行数", "发布行数", "隔离行数", "是否平衡"])
    r["reconciles"] = r["reconciles"].map({True: "平衡", False: "不平衡"})
    return r[["entity", "source", "landed", "published", "quarantined", "reconciles"]].rename(columns={
        "entity": "数据类别", "source": "来源", "landed": "读取行数", "published": "发布行数", "quarantined": "隔离行数",
        "reconciles": "是否平衡"})


def _charts(report: ReportInput) -> list[dict]:
    """Per measure: bars by year against the threshold line, as plain numbers for the SVG template."""
    charts = []
    m = report.measures
    for measure, group in (m.groupby("measure", sort=False) if not m.empty else []):
        group = group.sort_values("fiscal_year")
        if not _is_share(group["threshold"].iloc[0]) or group["value"].isna().any():
            continue  # the charts show the policy's shares; amounts and counts are in the tables
        peak = max(float(group["value"].max()), float(group["threshold"].max()), 0.01) * 1.15
        bars = [{"year": int(y), "value": float(v), "passed": bool(p), "height": 160 * float(v) / peak}
                for y, v, p in zip(group["fiscal_year"], group["value"], group["passed"], strict=True)]
        charts.append({"title": MEASURE_LABELS.get(measure, measure), "rule_id": group["rule_id"].iloc[0],
                       "threshold": float(group["threshold"].iloc[0]),
                       "threshold_y": 180 - 160 * float(group["threshold"].iloc[0]) / peak, "bars": bars})
    return charts


def write_html(report: ReportInput, path: Path, excel_name: str) -> Path:
    env = Environment(loader=PackageLoader("fund_pipeline.report", "templates"), autoescape=select_autoescape())
    template = env.get_template("report.html")
    summary = _summary_table(report)
    findings = _findings_table(report)
    html = template.render(
        report=report, summary=summary.to_dict("records"), summary_columns=list(summary.columns),
        findings=findings.astype(object).where(findings.notna(), "").to_dict("records"),
        finding_columns=list(findings.columns), charts=_charts(report), excel_name=excel_name,
        reconciliation=_reconciliation_table(report).to_dict("records"),
        failed=int((report.summary["passed"] == False).sum()),  # noqa: E712
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path


def write_report(report: ReportInput, directory: Path) -> dict[str, Path]:
    excel = write_excel(report, directory / "审计报告.xlsx")
    html = write_html(report, directory / "审计报告.html", excel.name)
    return {"excel": excel, "html": html}
