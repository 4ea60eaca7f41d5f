"""The workbook is an auditor's working paper: widths fit, numbers formatted, headers frozen and
filterable, landscape print fitted to the page width with repeated header rows; CSV beyond Excel's limit."""

from __future__ import annotations

import openpyxl
import pandas as pd

from fund_pipeline.report import build
from fund_pipeline.report.build import _display_width, write_report
from fund_pipeline_tests.test_report_golden import fixed_report


def test_every_sheet_is_set_up_for_work_and_print(tmp_path):
    book = openpyxl.load_workbook(write_report(fixed_report(), tmp_path)["excel"])
    assert book.sheetnames[:3] == ["汇总", "规则汇总", "问题明细"] and "规则说明" in book.sheetnames
    for ws in book.worksheets:
        header_row = 2 if ws.title in ("汇总", "本次变化") else 1
        assert ws.freeze_panes == f"A{header_row + 1}", ws.title
        assert ws.auto_filter.ref and ws.auto_filter.ref.startswith(f"A{header_row}"), ws.title
        wide = ws.title in ("问题明细", "本次变化")
        assert ws.page_setup.orientation == "landscape" and ws.page_setup.paperSize == (8 if wide else 9), ws.title
        assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth in (None, 1), ws.title  # 1 is the default
        assert ws.page_setup.fitToHeight == 0, ws.title
        assert ws.print_title_rows.replace("$", "") == f"{header_row}:{header_row}", ws.title
        for cell in ws[header_row]:
            if cell.value:
                width = ws.column_dimensions[cell.column_letter].width
                assert width >= min(_display_width(str(cell.value)), 48), (ws.title, cell.value, width)


def test_widths_fit_the_content_and_numbers_are_formatted(tmp_path):
    book = openpyxl.load_workbook(write_report(fixed_report(), tmp_path)["excel"])
    findings = book["问题明细"]
    headers = [c.value for c in findings[1]]
    for column in ("规则编号", "部门", "问题编号"):
        letter = findings.cell(row=1, column=headers.index(column) + 1).column_letter
        longest = max(_display_width(str(c.value)) for c in findings[letter] if c.value)
        assert findings.column_dimensions[letter].width >= longest, column
    parts = book["指标构成"]
    money = [c for c in parts["D"][1:] if c.value is not None]
    assert money and all(c.number_format == "#,##0.00" and isinstance(c.value, int | float) for c in money)
    assert all(c.number_format == "0.00%" for c in parts["F"][1:] if c.value is not None)
    measures = book["县级指标"]
    assert measures["D2"].number_format == "0.00%" and measures["E2"].number_format == "0.00%"
    dispositions = findings.data_validations.dataValidation
    assert any('"确认问题,误报,整改中,已整改"' in (v.formula1 or "") for v in dispositions)


def test_beyond_excels_row_limit_the_full_list_is_a_csv(tmp_path, monkeypatch):
    monkeypatch.setattr(build, "EXCEL_MAX_ROWS", 2)
    report = fixed_report()
    paths = write_report(report, tmp_path)
    book = openpyxl.load_workbook(paths["excel"])
    assert book["问题明细"].max_row == 3  # header + 2
    full = pd.read_csv(tmp_path / "问题明细.csv", encoding="utf-8-sig", dtype=str)
    assert len(full) == len(report.findings) and "问题编号" in full.columns
    notes = [c.value for c in book["说明"]["B"]]
    assert any("问题明细.csv" in str(v) for v in notes)


def test_the_page_lists_a_few_hundred_findings_per_rule_and_the_workbook_all(tmp_path):
    report = fixed_report()
    many = pd.concat([report.findings.iloc[[2]]] * (build.PAGE_ROWS_PER_RULE + 50), ignore_index=True)
    many["row_number"] = range(10, 10 + len(many))
    many["finding_key"] = [f"AMOUNT-POSITIVE-{n:012x}" for n in range(len(many))]
    report.findings = pd.concat([report.findings, many], ignore_index=True)
    paths = write_report(report, tmp_path)
    html = paths["html"].read_text(encoding="utf-8")
    assert html.count('<tr class="finding" data-department="会宁县交通运输局"') == build.PAGE_ROWS_PER_RULE
    assert f"另有 {len(many) + 1 - build.PAGE_ROWS_PER_RULE} 条未在页面列出" in html
    assert openpyxl.load_workbook(paths["excel"])["问题明细"].max_row == len(report.findings) + 1
