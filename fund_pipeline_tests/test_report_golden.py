"""The auditors' report format is locked: a fixed input must render exactly the committed golden files.
After an intended change of format, regenerate them with UPDATE_GOLDEN=1 and review the diff."""

import os
from pathlib import Path

import pandas as pd

from fund_pipeline.report.build import ReportInput, write_report

GOLDEN = Path(__file__).parent / "golden"


def fixed_report() -> ReportInput:
    summary = pd.DataFrame([
        {"rule_id": "FISCAL-20", "title": "当年新增财力20%用于精准扶贫", "policy_clause": "严格落实县级财政当年新增财力20%用于精准扶贫",
         "severity": "error", "level": "county-year", "threshold": "min_share=0.2", "measured": "2015年 22.00%;2016年 18.00%",
         "passed": False, "findings": 1},
        {"rule_id": "ID-CHECKSUM", "title": "身份证号有效", "policy_clause": None, "severity": "error", "level": "row",
         "threshold": "-", "measured": "全部符合", "passed": True, "findings": 0},
    ])
    findings = pd.DataFrame([
        {"rule_id": "FISCAL-20", "severity": "error", "department": "会宁县财政局", "source": "finance_fiscal",
         "source_file": "财政局/会宁县财政扶贫投入情况表.xlsx", "sheet": "扶贫投入", "row_number": 6, "column_name": "fiscal_poverty_share",
         "value": "0.18", "expected": "fiscal_poverty_share ≥ 0.2", "message": "当年用于精准扶贫的资金占新增财力的比例低于20%",
         "policy_clause": "严格落实县级财政当年新增财力20%用于精准扶贫", "fiscal_year": 2016},
        {"rule_id": "DIRECT-PAY", "severity": "error", "department": "会宁县扶贫开发办公室", "source": "poverty_yulu",
         "source_file": "扶贫办/2016年雨露计划补助发放花名册.xlsx", "sheet": "花名册", "row_number": 13, "column_name": "收款人",
         "value": "620422194001010010", "expected": "收款人 = 户主姓名", "message": "账号6229622422000000000123的收款人不是户主",
         "policy_clause": "雨露计划直补到户制", "fiscal_year": 2016},
    ])
    measures = pd.DataFrame([
        {"fiscal_year": 2015, "rule_id": "FISCAL-20", "measure": "fiscal_poverty_share", "value": 0.22, "threshold": 0.2, "passed": True},
        {"fiscal_year": 2016, "rule_id": "FISCAL-20", "measure": "fiscal_poverty_share", "value": 0.18, "threshold": 0.2, "passed": False},
    ])
    reconciliation = pd.DataFrame([{"entity": "county_fiscal", "source": "finance_fiscal", "landed": 3, "published": 3,
                                    "quarantined": 0, "reconciles": True}])
    return ReportInput(run_id="00000000-golden", generated_at=pd.Timestamp("2026-01-01 08:00:00"),
                       catalogue_version="2015-53.1", policy="县委发〔2015〕53号", summary=summary, findings=findings,
                       measures=measures, reconciliation=reconciliation, data_docs="../gx-data-docs/index.html")


def _excel_as_text(path: Path) -> str:
    sheets = pd.read_excel(path, sheet_name=None)
    return "\n".join(f"## {name}\n{frame.to_csv(index=False)}" for name, frame in sheets.items())


def test_report_matches_the_golden_files(tmp_path):
    paths = write_report(fixed_report(), tmp_path)
    rendered = {"report.html": paths["html"].read_text(encoding="utf-8"), "report_xlsx.txt": _excel_as_text(paths["excel"])}
    for name, text in rendered.items():
        golden = GOLDEN / name
        if os.environ.get("UPDATE_GOLDEN") == "1":
            golden.write_text(text, encoding="utf-8")
        assert text == golden.read_text(encoding="utf-8"), f"{name} differs from the golden file"


def test_identifiers_are_masked_in_the_report(tmp_path):
    paths = write_report(fixed_report(), tmp_path)
    for text in (paths["html"].read_text(encoding="utf-8"), _excel_as_text(paths["excel"])):
        assert "620422194001010010" not in text and "6204**********0010" in text
        assert "6229622422000000000123" not in text
