"""Opening what the pipeline writes is safe: no formula from input text in any workbook, no raw input
HTML in any page (Data Docs included), identifiers masked whatever form they arrive in."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from fund_pipeline.report.build import safe_csv_cell, write_findings_csv, write_report
from fund_pipeline.report.masking import mask_string, mask_text
from fund_pipeline.rules.catalogue import load_catalogue
from fund_pipeline.rules.validation import evaluate
from fund_pipeline_tests.test_report_golden import fixed_report

ID = "620422198002015712"
ACCOUNT = "6229622422000000000123"


@pytest.mark.parametrize("form", [
    ID, f"{ID}.0", "6.204221980020157e+17", "6.204221980020157E+17", "6204 2219 8002 0157 12", "620422-19800201-5712",
    ID.translate(str.maketrans("0123456789", "０１２３４５６７８９")), f"账号{ACCOUNT}的收款人", "62042219800201571X",
])
def test_every_form_of_an_identifier_is_masked(form):
    for masked in (mask_string(form), mask_text(pd.Series([form])).iloc[0]):
        digits = re.sub(r"\D", "", masked.translate(str.maketrans("０１２３４５６７８９", "0123456789")))
        assert "*" in masked, masked
        assert len(re.findall(r"\d", masked.split("e")[0])) <= 8, masked
        assert ID not in digits and "2042219800201" not in digits and "96224220000000" not in digits


@pytest.mark.parametrize("text", ["2016-03-05", "10215632.70000039", "-413.3", "HN2015-043", "13912345678", "20%"])
def test_ordinary_values_are_left_alone(text):
    assert mask_string(text) == text


HOSTILE = {"department": '=HYPERLINK("http://example.com/x","点我")', "value": "<script>alert(1)</script>",
           "message": "+cmd|' /C calc'!A0", "sheet": "@SUM(1+1)", "source_file": "交通运输局/-2+3.xlsx"}


def _hostile_report():
    report = fixed_report()
    report.findings = pd.concat([report.findings, pd.DataFrame([{**report.findings.iloc[1].to_dict(), **HOSTILE,
                                                                 "finding_key": "DIRECT-PAY-000000000002"}])],
                                ignore_index=True)
    report.dispositions = pd.DataFrame([{"finding_key": "DIRECT-PAY-000000000002", "disposition": "误报",
                                         "note": "=1+1", "disposed_by": "-auditor", "disposed_at": pd.Timestamp("2026-01-02")}])
    return report


def _formula_cells(path: Path) -> list[str]:
    book = openpyxl.load_workbook(path)
    return [f"{ws.title}!{cell.coordinate}" for ws in book.worksheets for row in ws.iter_rows() for cell in row
            if cell.data_type == "f"]


def test_no_formula_cell_from_input_text(tmp_path):
    paths = write_report(_hostile_report(), tmp_path)
    assert _formula_cells(paths["excel"]) == []
    with zipfile.ZipFile(paths["excel"]) as book:
        assert not any("<f>" in book.read(n).decode("utf-8") for n in book.namelist() if n.endswith(".xml"))
    texts = {c.value for ws in openpyxl.load_workbook(paths["excel"]).worksheets for row in ws.iter_rows() for c in row}
    assert HOSTILE["department"] in texts and "=1+1" in texts  # written, as text


def test_no_raw_input_html_in_the_page(tmp_path):
    html = write_report(_hostile_report(), tmp_path)["html"].read_text(encoding="utf-8")
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="http://example.com' not in html and "=HYPERLINK(&#34;http://example.com" in html


def test_csv_cells_cannot_become_formulas(tmp_path):
    assert safe_csv_cell("=1+1") == "'=1+1" and safe_csv_cell("@x") == "'@x" and safe_csv_cell("-413.3") == "-413.3"
    from fund_pipeline.report.build import findings_view

    path = write_findings_csv(findings_view(_hostile_report()), tmp_path / "问题明细.csv")
    text = path.read_text(encoding="utf-8-sig")
    assert ",=HYPERLINK" not in text and "'=HYPERLINK" in text.replace('"', "")


def test_data_docs_are_escaped_masked_and_offline(tmp_path):
    """A loan register holding HTML and resident IDs (one typed as a number): GX's pages show neither raw."""
    catalogue = load_catalogue()
    frame = pd.DataFrame({
        "fiscal_year": [2016, 2016, 2016], "guarantee": ["<script>alert('x')</script>", "免担保", "信用"],
        "collateral": ["无", "无", "无"], "amount": [80000.0, 30000.0, 20000.0], "term_months": [36, 36, 36],
        "interest_rate": [0.0435] * 3, "benchmark_rate": [0.0435] * 3,
        "borrower_registered_poor": [False, False, True], "borrower_id": [ID, "6.204221980020157e+17", "x"],
        "borrower_id_status": ["ok", "ok", "ok"],
        "source": "poverty_microloans", "department": "会宁县扶贫开发办公室", "source_file": "扶贫办/贷款.xlsx",
        "sheet": "台账", "row_number": [5, 6, 7], "row_key": ["a", "b", "c"],
    })
    findings, _ = evaluate("loans", frame, catalogue.for_target("loans"), catalogue, "run-0000-docs", docs_dir=tmp_path)
    assert len(findings) >= 2
    pages = list(tmp_path.rglob("*.html"))
    assert pages
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert "<script>alert" not in text, page
        assert ID not in text and "6.204221980020157" not in text, page
        assert not re.search(r"<(link|script)[^>]+(href|src)=\"https?://", text), page
        assert "__none__" not in text, page
