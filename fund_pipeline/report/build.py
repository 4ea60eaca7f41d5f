"""Build the auditors' report for one run from the warehouse's audit tables.

The page and the workbook say the same, in the order an auditor reads: what changed since the
previous run, the summary by department and by rule, the county-year measures with the departments
and rows behind each share, the findings (grouped by rule, with status and disposition), the row
reconciliation and a glossary of the rules.  Identifiers are masked; every cell is a value.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import xlsxwriter
from jinja2 import Environment, PackageLoader, select_autoescape

from fund_pipeline.pipeline.lifecycle import DISPOSITION_FOLDER, DISPOSITIONS, NEW, PERSISTING, RESOLVED
from fund_pipeline.report.masking import mask_text
from fund_pipeline.report.present import READER_COLUMNS, SEVERITY_ZH, reader_findings, source_title
from fund_pipeline.rules.catalogue import load_catalogue
from fund_pipeline.rules.wording import (
    WITH_QUARANTINED,
    column_label,
    explanation,
    level_name,
    threshold_sentence,
    wording,
)

EXCEL_MAX_ROWS = 1_048_575  # data rows below the header row
PAGE_ROWS_PER_RULE = 300  # the page shows at most this many findings per rule; the workbook has them all
MEASURE_LABELS = {k: v for k, v in wording().get("columns", {}).items()}


def _is_share(threshold) -> bool:
    return threshold is not None and pd.notna(threshold) and 0 < abs(float(threshold)) <= 1


def _empty(*columns: str) -> pd.DataFrame:
    return pd.DataFrame(columns=list(columns))


@dataclass
class ReportInput:
    run_id: str
    generated_at: pd.Timestamp
    catalogue_version: str
    policy: str
    summary: pd.DataFrame  # rule_id, title, policy_clause, severity, level, threshold, measured, passed, findings
    findings: pd.DataFrame  # the current findings, with finding_key and status where the lifecycle ran
    measures: pd.DataFrame  # fiscal_year, rule_id, measure, value, threshold, passed
    reconciliation: pd.DataFrame  # entity, source, landed, published, quarantined, reconciles
    data_docs: str | None = None
    resolved: pd.DataFrame = field(default_factory=pd.DataFrame)  # findings this run no longer finds
    dispositions: pd.DataFrame = field(default_factory=pd.DataFrame)  # latest disposition per finding_key
    breakdown: pd.DataFrame = field(default_factory=pd.DataFrame)  # fiscal_year, measure, department, total, part
    breakdown_rows: pd.DataFrame = field(default_factory=pd.DataFrame)  # the rows behind each department's part


# ---------------------------------------------------------------------------------- tables
def _titles(report: ReportInput) -> dict[str, str]:
    titles = {r.id: r.title for r in load_catalogue().rules}
    if "title" in report.summary:
        titles.update(dict(zip(report.summary["rule_id"], report.summary["title"], strict=True)))
    return titles


def findings_view(report: ReportInput) -> pd.DataFrame:
    findings = report.findings
    if {"run_id", "status"} <= set(findings.columns):
        # A slice this run did not re-check keeps its findings; they are not new to this run's readers.
        earlier = (findings["status"] == NEW) & (findings["run_id"] != report.run_id)
        findings = findings.assign(status=findings["status"].mask(earlier, PERSISTING))
    view = reader_findings(findings, report.dispositions, _titles(report))
    order = {"error": 0, "错误": 0}
    return view.assign(_sev=view["severity"].map(order).fillna(1), _new=(view["status"] != NEW).astype(int)).sort_values(
        ["rule_id", "_sev", "_new", "department", "file_name", "row_number"], kind="stable", na_position="last"
    ).drop(columns=["_sev", "_new"]).reset_index(drop=True)


def resolved_view(report: ReportInput) -> pd.DataFrame:
    if report.resolved.empty:
        return reader_findings(report.resolved.reindex(columns=["rule_id"]), None, {})
    return reader_findings(report.resolved.assign(status=RESOLVED), report.dispositions, _titles(report))


def department_summary(view: pd.DataFrame, resolved: pd.DataFrame) -> pd.DataFrame:
    columns = ["部门", "问题数", "错误", "警告", "新增", "持续", "本次已整改", "已处置"]
    if view.empty and resolved.empty:
        return _empty(*columns)
    counts = view.groupby("department").agg(
        问题数=("rule_id", "size"), 错误=("severity", lambda s: int((s == "错误").sum())),
        警告=("severity", lambda s: int((s == "警告").sum())), 新增=("status", lambda s: int((s == NEW).sum())),
        持续=("status", lambda s: int((s == PERSISTING).sum())), 已处置=("disposition", lambda s: int(s.notna().sum())))
    gone = resolved.groupby("department").size().rename("本次已整改")
    table = counts.join(gone, how="outer").fillna(0).astype(int).reset_index().rename(columns={"index": "部门",
                                                                                              "department": "部门"})
    return table.sort_values(["错误", "问题数"], ascending=False)[columns].reset_index(drop=True)


def rule_summary_table(report: ReportInput, view: pd.DataFrame, resolved: pd.DataFrame) -> pd.DataFrame:
    catalogue = {r.id: r for r in load_catalogue().rules}
    summary = report.summary.copy()
    new = view[view["status"] == NEW].groupby("rule_id").size()
    gone = resolved.groupby("rule_id").size() if len(resolved) else pd.Series(dtype=int)
    rows = []
    for s in summary.itertuples(index=False):
        rule = catalogue.get(s.rule_id)
        rows.append({
            "规则编号": s.rule_id, "规则名称": s.title,
            "政策条款": s.policy_clause if isinstance(s.policy_clause, str) else "(数据完整性)",
            "严重程度": SEVERITY_ZH.get(s.severity, s.severity), "层级": level_name(s.level),
            "标准": threshold_sentence(rule) if rule else str(s.threshold), "实测值": str(s.measured),
            "结论": "通过" if bool(s.passed) else "不通过", "问题数": int(s.findings),
            "新增": int(new.get(s.rule_id, 0)), "本次已整改": int(gone.get(s.rule_id, 0)),
        })
    table = pd.DataFrame(rows, columns=["规则编号", "规则名称", "政策条款", "严重程度", "层级", "标准", "实测值", "结论",
                                        "问题数", "新增", "本次已整改"])
    order = table.assign(_passed=table["结论"] == "通过", _warning=table["严重程度"] != "错误")
    return order.sort_values(["_passed", "_warning"], kind="stable").drop(columns=["_passed", "_warning"]).reset_index(drop=True)


def glossary_table() -> pd.DataFrame:
    rows = [{"规则编号": r.id, "规则名称": r.title, "通俗解释": explanation(r), "标准": threshold_sentence(r),
             "政策条款": r.clause or "(数据完整性)", "严重程度": SEVERITY_ZH.get(r.severity, r.severity),
             "层级": level_name(r.level), "问题说明": r.message} for r in load_catalogue().rules]
    rows += [{"规则编号": "状态", "规则名称": "新增 / 持续 / 已整改", "通俗解释":
              "与该部门(或该汇总)上一次运行相比:新增为上次没有、这次发现的问题;持续为上次已有、这次仍有;"
              "已整改为上次有、这次已不再发现。", "标准": "", "政策条款": "", "严重程度": "", "层级": "", "问题说明": ""},
             {"规则编号": "处置", "规则名称": "、".join(DISPOSITIONS), "通俗解释":
              "审计人员对问题的处理意见。在「问题明细」表的「处置」「处置说明」列填写后,把工作簿放入收件箱的"
              f"「{DISPOSITION_FOLDER}」文件夹,下次运行时导入;也可用命令 fund-pipeline findings dispose 登记。",
              "标准": "", "政策条款": "", "严重程度": "", "层级": "", "问题说明": ""}]
    return pd.DataFrame(rows)


def measures_table(report: ReportInput) -> pd.DataFrame:
    m = report.measures.copy()
    if m.empty:
        return _empty("年度", "规则编号", "指标", "实测值", "阈值", "结论")
    m["measure"] = m["measure"].map(lambda k: MEASURE_LABELS.get(k, column_label(k)))
    m["passed"] = m["passed"].map({True: "通过", False: "不通过"})
    return m[["fiscal_year", "rule_id", "measure", "value", "threshold", "passed"]].rename(columns={
        "fiscal_year": "年度", "rule_id": "规则编号", "measure": "指标", "value": "实测值", "threshold": "阈值",
        "passed": "结论"})


def reconciliation_table(report: ReportInput) -> pd.DataFrame:
    """Per source, file and year: rows (and money) landed = published + quarantined + set aside."""
    r = report.reconciliation.copy()
    columns = ["数据类别", "部门", "来源", "文件", "年度", "读取行数", "发布行数", "隔离行数", "搁置行数", "读取金额(元)",
               "是否平衡"]
    if r.empty:
        return _empty(*columns)
    for column, default in (("source_file", pd.NA), ("set_aside", 0), ("landed_amount", pd.NA)):
        if column not in r:
            r[column] = default
    r["年度"] = pd.to_numeric(r["fiscal_year"], errors="coerce").astype("Int64").astype("string").fillna("全部") \
        if "fiscal_year" in r else "全部"
    r = r.sort_values(["entity", "source", "source_file", "年度"], kind="stable", na_position="first")
    from fund_pipeline.report.present import department_of

    entities = wording().get("entities", {})
    r["部门"] = [department_of(s, None, None) for s in r["source"]]
    r["数据类别"] = r["entity"].map(lambda e: entities.get(e, e))
    r["来源"] = r["source"].map(lambda s: source_title(s))
    r["文件"] = mask_text(r["source_file"].astype("string").str.rsplit("/", n=1).str[-1].fillna("-"))
    r["是否平衡"] = r["reconciles"].map({True: "平衡", False: "不平衡"})
    return r.rename(columns={"landed": "读取行数", "published": "发布行数", "quarantined": "隔离行数", "set_aside": "搁置行数",
                             "landed_amount": "读取金额(元)"})[columns]


def breakdown_table(report: ReportInput) -> pd.DataFrame:
    b = report.breakdown
    if b.empty:
        return _empty("年度", "指标", "部门", "整合资金支出(元)", "计入指标的金额(元)", "比例")
    out = b.assign(指标=b["measure"].map(lambda k: MEASURE_LABELS.get(k, column_label(k))),
                   比例=b["part"] / b["total"].where(b["total"] != 0))
    return out.rename(columns={"fiscal_year": "年度", "department": "部门", "total": "整合资金支出(元)",
                               "part": "计入指标的金额(元)"})[["年度", "指标", "部门", "整合资金支出(元)",
                                                         "计入指标的金额(元)", "比例"]]


# ---------------------------------------------------------------------------------- Excel
def _display_width(text: str) -> int:
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _content_width(values: pd.Series, kind: str) -> int:
    """The widest cell of a column as shown, in character widths (a CJK character counts two)."""
    present = values.dropna()
    if present.empty:
        return 0
    if kind in ("money", "count", "row", "percent") and pd.api.types.is_numeric_dtype(present):
        biggest = float(present.abs().max())
        return {"money": len(f"{biggest:,.2f}"), "count": len(f"{biggest:,.0f}"), "row": len(f"{biggest:.0f}")}.get(
            kind, 8) + 2
    text = present.astype("string")
    return int((text.str.len() + text.str.count(r"[\u2E80-\uFFFF]")).max()) + 1


class _Sheets:
    """Every table written the same way: values only (never formulas), widths fitted to the content,
    number formats, a frozen and filterable header, landscape A4 fitted to the page width."""

    def __init__(self, path: Path):
        self.book = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False,
                                                    "strings_to_numbers": False, "nan_inf_to_errors": True})
        add = self.book.add_format
        self.header = add({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True, "valign": "vcenter"})
        self.formats = {"text": add({"valign": "top"}), "wrap": add({"text_wrap": True, "valign": "top"}),
                        "money": add({"num_format": "#,##0.00", "valign": "top"}),
                        "count": add({"num_format": "#,##0", "valign": "top"}),
                        "row": add({"num_format": "0", "valign": "top"}),
                        "percent": add({"num_format": "0.00%", "valign": "top"}),
                        "fail": add({"font_color": "#C00000", "bold": True, "valign": "top"}),
                        "new": add({"font_color": "#C00000", "valign": "top"}),
                        "resolved": add({"font_color": "#2E7D32", "valign": "top"})}

    def table(self, name: str, frame: pd.DataFrame, kinds: dict[str, str] | None = None,
              max_width: int = 48, title: str | None = None, caps: dict[str, int] | None = None, paper: int = 9):
        kinds = kinds or {}
        ws = self.book.add_worksheet(name)
        top = 0
        if title:
            ws.write_string(0, 0, title, self.book.add_format({"bold": True, "font_size": 12}))
            top = 1
        columns = list(frame.columns)
        ws.write_row(top, 0, columns, self.header)
        values = frame.astype(object).where(frame.notna(), None)
        lines = pd.Series(1, index=frame.index)  # the rows' heights in lines, where capped columns wrap
        for c, column in enumerate(columns):
            kind = kinds.get(column, "text")
            width = max(_display_width(str(column)) + 3, _content_width(frame[column], kind))  # +3: filter button
            cap = min(max_width, (caps or {}).get(column, max_width))
            wrap = width > cap
            ws.set_column(c, c, min(width, cap), self.formats["wrap"] if wrap else None)
            fmt = self.formats["wrap"] if wrap and kind == "text" else self.formats[kind]
            if wrap and kind == "text":
                text = frame[column].astype("string").fillna("")
                cell_width = text.str.len() + text.str.count(r"[\u2E80-\uFFFF]")
                lines = lines.combine((cell_width // max(cap - 1, 1) + 1).astype(int), max)
            for r, value in enumerate(values[column].tolist(), start=top + 1):
                if value is None:
                    continue
                if kind in ("money", "count", "percent", "row") and isinstance(value, int | float):
                    ws.write_number(r, c, float(value), fmt)
                else:
                    text = str(value)
                    cell = self.formats["fail"] if text == "不通过" else self.formats["new"] if text == NEW else \
                        self.formats["resolved"] if text == RESOLVED else fmt
                    ws.write_string(r, c, text, cell)
        for r, height in zip(range(top + 1, top + 1 + len(frame)), lines.tolist(), strict=True):
            if height > 1:  # spreadsheet programs do not all grow a row for wrapped text themselves
                ws.set_row(r, 15 * min(height, 8))
        ws.freeze_panes(top + 1, 0)
        ws.autofilter(top, 0, top + max(len(frame), 1), max(len(columns) - 1, 0))
        self._print_setup(ws, top, paper)
        return ws

    @staticmethod
    def _print_setup(ws, header_row: int, paper: int = 9):
        ws.set_landscape()
        ws.set_paper(paper)  # 9: A4, 8: A3 (the findings, a wide table)
        ws.fit_to_pages(1, 0)  # one page wide, as many tall as needed
        ws.repeat_rows(header_row)
        ws.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
        ws.set_footer("&C第 &P 页,共 &N 页")
        ws.set_header("&L&A&R会宁县统筹整合涉农资金审计报告")

    def close(self):
        self.book.close()


FINDING_KINDS = {"行号": "row", "年度": "text"}
FINDING_CAPS = {"文件": 24, "应为": 24, "列": 16, "原值": 20, "部门": 24, "说明": 40, "政策条款": 30}


# The findings sheet: what an auditor works with first (and what is printed), then the rest.
PRINTED_FINDING_COLUMNS = ["问题编号", "状态", "规则编号", "部门", "文件", "工作表", "行号", "列", "原值", "应为", "年度",
                           "处置", "处置说明"]


def _finding_sheet_frame(view: pd.DataFrame) -> pd.DataFrame:
    frame = view.rename(columns=READER_COLUMNS)
    frame["年度"] = frame["年度"].astype("string")
    rest = [c for c in frame.columns if c not in PRINTED_FINDING_COLUMNS]
    return frame[PRINTED_FINDING_COLUMNS + rest]


def safe_csv_cell(value) -> str:
    """A CSV cell that a spreadsheet will not take for a formula (=, +, -, @ and tab at the start)."""
    text = "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r") and pd.isna(pd.to_numeric(text, errors="coerce")):
        return "'" + text
    return text


def write_findings_csv(view: pd.DataFrame, path: Path) -> Path:
    frame = _finding_sheet_frame(view)
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(frame.columns)
        for chunk_start in range(0, len(frame), 100_000):
            chunk = frame.iloc[chunk_start:chunk_start + 100_000].astype(object)
            writer.writerows([[safe_csv_cell(v) for v in row] for row in chunk.itertuples(index=False)])
    return path


def write_excel(report: ReportInput, path: Path, view: pd.DataFrame | None = None,
                resolved: pd.DataFrame | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    view = findings_view(report) if view is None else view
    resolved = resolved_view(report) if resolved is None else resolved
    sheets = _Sheets(path)
    changes = pd.concat([view[view["status"] == NEW], resolved], ignore_index=True)
    sheets.table("汇总", department_summary(view, resolved),
                 {c: "count" for c in ("问题数", "错误", "警告", "新增", "持续", "本次已整改", "已处置")},
                 title=f"按部门汇总(运行 {report.run_id[:8]},{report.generated_at:%Y-%m-%d %H:%M})")
    sheets.table("规则汇总", rule_summary_table(report, view, resolved), {c: "count" for c in ("问题数", "新增", "本次已整改")})
    truncated = len(view) > EXCEL_MAX_ROWS
    findings_sheet = sheets.table("问题明细", _finding_sheet_frame(view.head(EXCEL_MAX_ROWS)), FINDING_KINDS, max_width=32,
                                  caps=FINDING_CAPS, paper=8)
    findings_sheet.print_area(0, 0, max(min(len(view), EXCEL_MAX_ROWS), 1), len(PRINTED_FINDING_COLUMNS) - 1)
    dispose_column = PRINTED_FINDING_COLUMNS.index("处置")
    findings_sheet.data_validation(1, dispose_column, max(len(view), 1) + 200, dispose_column,
                                   {"validate": "list", "source": list(DISPOSITIONS), "ignore_blank": True})
    changes_sheet = sheets.table("本次变化", _finding_sheet_frame(changes), FINDING_KINDS, max_width=32, caps=FINDING_CAPS,
                                 paper=8,
                                 title=f"与上次运行相比:新增 {int((view['status'] == NEW).sum())} 条,已整改 {len(resolved)} 条")
    changes_sheet.print_area(0, 0, max(len(changes), 1) + 1, len(PRINTED_FINDING_COLUMNS) - 1)
    measures = measures_table(report)
    share = measures["阈值"].map(_is_share) if len(measures) else pd.Series(dtype=bool)
    ws = sheets.table("县级指标", measures, {"年度": "count"})
    for r, (is_share, value, threshold) in enumerate(zip(share, measures["实测值"], measures["阈值"], strict=True), start=1):
        fmt = sheets.formats["percent" if is_share else "money"]
        for c, v in ((3, value), (4, threshold)):
            if v is not None and pd.notna(v):
                ws.write_number(r, c, float(v), fmt)
    sheets.table("指标构成", breakdown_table(report), {"年度": "count", "整合资金支出(元)": "money",
                                                    "计入指标的金额(元)": "money", "比例": "percent"})
    sheets.table("行数核对", reconciliation_table(report), {c: "count" for c in ("读取行数", "发布行数", "隔离行数")})
    sheets.table("规则说明", glossary_table(), max_width=60)
    notes = [("运行编号", report.run_id), ("生成时间", str(report.generated_at)), ("规则目录版本", report.catalogue_version),
             ("政策依据", report.policy), ("脱敏", "身份证号、账号已脱敏显示(只显示前4位和后4位)。"),
             ("行号", "行号为部门报表Excel中显示的行号;原值按部门报表的单位(元或万元)显示。"),
             ("处置", f"在「问题明细」的「处置」列选择{'、'.join(DISPOSITIONS)},填写「处置说明」,"
                     f"将本工作簿放入收件箱的「{DISPOSITION_FOLDER}」文件夹,下次运行时导入。")]
    if truncated:
        notes.append(("完整清单", f"问题共 {len(view):,} 条,超过Excel的行数上限,本表只列前 {EXCEL_MAX_ROWS:,} 条;"
                                 "完整清单见同一文件夹的 问题明细.csv。"))
    sheets.table("说明", pd.DataFrame(notes, columns=["项目", "内容"]), max_width=90)
    sheets.close()
    if truncated:
        write_findings_csv(view, path.parent / "问题明细.csv")
    return path


# ---------------------------------------------------------------------------------- HTML
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
        charts.append({"title": MEASURE_LABELS.get(measure, column_label(measure)), "rule_id": group["rule_id"].iloc[0],
                       "threshold": float(group["threshold"].iloc[0]),
                       "threshold_y": 180 - 160 * float(group["threshold"].iloc[0]) / peak, "bars": bars})
    return charts


def _format_measure(value, threshold, count: bool = False) -> str:
    if value is None or pd.isna(value):
        return "无数据"
    if count:
        return f"{float(value):,.0f}"
    return f"{float(value):.2%}" if _is_share(threshold) else f"{float(value):,.2f}"


def _is_count(measure: str) -> bool:
    """A count of households or rows, shown without decimals (also its twin counted with quarantined rows)."""
    return measure.removesuffix(WITH_QUARANTINED).endswith(("households", "_count"))


def _money(value) -> str:
    return "—" if value is None or pd.isna(value) else f"{float(value):,.2f}"


def _parts(report: ReportInput, measure: str, year: int) -> list[dict]:
    """The departments (or implementing units) behind one share in one year, each with its rows."""
    b, rows = report.breakdown, report.breakdown_rows
    if b.empty:
        return []
    parts = b[(b["measure"] == measure) & (b["fiscal_year"] == year)].sort_values("total", ascending=False)
    out = []
    for p in parts.itertuples(index=False):
        behind = rows[(rows["measure"] == measure) & (rows["fiscal_year"] == year) & (rows["department"] == p.department)] \
            if len(rows) else rows
        out.append({
            "department": p.department, "total": _money(p.total), "part": _money(p.part),
            "share": f"{p.part / p.total:.2%}" if pd.notna(p.total) and p.total else "—",
            "rows": [{"file": str(r.source_file).rsplit("/", 1)[-1], "sheet": r.sheet,
                      "row": "" if pd.isna(r.row_number) else int(r.row_number),
                      "item": "" if pd.isna(r.item) else str(r.item), "amount": _money(r.amount),
                      "counted": "是" if r.counted else "否"} for r in behind.itertuples(index=False)],
        })
    return out


def _measure_rows(report: ReportInput) -> tuple[list[int], list[dict]]:
    """Every county-year measure as one row with a cell per year (compact table)."""
    m = report.measures
    if m.empty:
        return [], []
    years = sorted(int(y) for y in m["fiscal_year"].unique())
    rows = []
    for (rule_id, measure), group in m.groupby(["rule_id", "measure"], sort=False):
        threshold = group["threshold"].iloc[0]
        by_year = {int(r.fiscal_year): r for r in group.itertuples(index=False)}
        rows.append({"rule_id": rule_id, "measure": MEASURE_LABELS.get(measure, column_label(measure)),
                     "threshold": _format_measure(threshold, threshold, _is_count(measure)),
                     "cells": [{"value": _format_measure(by_year[y].value, threshold, _is_count(measure)),
                                "passed": bool(by_year[y].passed)}
                               if y in by_year else {"value": "", "passed": True} for y in years]})
    return years, rows


def _drilldowns(report: ReportInput) -> list[dict]:
    """Each county-year share, year by year, with the departments and rows behind it."""
    items = []
    m = report.measures
    for (rule_id, measure), group in (m.groupby(["rule_id", "measure"], sort=False) if not m.empty else []):
        threshold = group["threshold"].iloc[0]
        if not _is_share(threshold):
            continue
        years = [{"year": int(r.fiscal_year), "value": _format_measure(r.value, threshold), "passed": bool(r.passed),
                  "departments": _parts(report, measure, int(r.fiscal_year))}
                 for r in group.sort_values("fiscal_year").itertuples(index=False)]
        items.append({"rule_id": rule_id, "measure": MEASURE_LABELS.get(measure, column_label(measure)),
                      "threshold": _format_measure(threshold, threshold), "years": years})
    return items


def _groups(view: pd.DataFrame, limit: int) -> list[dict]:
    groups = []
    for rule_id, rows in view.groupby("rule_id", sort=True):
        shown = rows.head(limit).astype(object).where(rows.head(limit).notna(), "")
        groups.append({
            "rule_id": rule_id, "title": rows["title"].iloc[0], "severity": rows["severity"].iloc[0],
            "count": len(rows), "new": int((rows["status"] == NEW).sum()), "hidden": max(len(rows) - limit, 0),
            "rows": shown.to_dict("records"),
        })
    return groups


def _options(view: pd.DataFrame, column: str) -> list[str]:
    values = view[column].dropna().astype(str)
    return sorted(v for v in values.unique() if v)


def write_html(report: ReportInput, path: Path, excel_name: str, view: pd.DataFrame | None = None,
               resolved: pd.DataFrame | None = None) -> Path:
    env = Environment(loader=PackageLoader("fund_pipeline.report", "templates"), autoescape=select_autoescape(
        enabled_extensions=("html",), default_for_string=True, default=True))
    template = env.get_template("report.html")
    view = findings_view(report) if view is None else view
    resolved = resolved_view(report) if resolved is None else resolved
    rules = rule_summary_table(report, view, resolved)
    html = template.render(
        report=report, excel_name=excel_name, charts=_charts(report), drilldowns=_drilldowns(report),
        measure_years=_measure_rows(report)[0], measure_rows=_measure_rows(report)[1],
        departments=department_summary(view, resolved).to_dict("records"),
        rules=rules[rules["结论"] != "通过"].to_dict("records"), passed_rules=rules[rules["结论"] == "通过"].to_dict("records"),
        groups=_groups(view, PAGE_ROWS_PER_RULE), total=len(view),
        new=view[view["status"] == NEW].astype(object).where(view[view["status"] == NEW].notna(), "").head(
            PAGE_ROWS_PER_RULE).to_dict("records"),
        new_count=int((view["status"] == NEW).sum()), persisting=int((view["status"] == PERSISTING).sum()),
        resolved=resolved.astype(object).where(resolved.notna(), "").head(PAGE_ROWS_PER_RULE).to_dict("records"),
        resolved_count=len(resolved), disposed=int(view["disposition"].notna().sum()),
        failed=int((report.summary["passed"] == False).sum()),  # noqa: E712
        filters={"department": _options(view, "department"), "rule_id": _options(view, "rule_id"),
                 "fiscal_year": _options(view, "fiscal_year"), "severity": _options(view, "severity"),
                 "status": _options(view, "status")},
        reconciliation=reconciliation_table(report).to_dict("records"), glossary=glossary_table().to_dict("records"),
        page_limit=PAGE_ROWS_PER_RULE,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path


def write_report(report: ReportInput, directory: Path) -> dict[str, Path]:
    view, resolved = findings_view(report), resolved_view(report)
    excel = write_excel(report, directory / "审计报告.xlsx", view, resolved)
    html = write_html(report, directory / "审计报告.html", excel.name, view, resolved)
    return {"excel": excel, "html": html}
