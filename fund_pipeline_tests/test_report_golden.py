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
        {"rule_id": "DIRECT-PAY", "title": "雨露计划直补到户", "policy_clause": "雨露计划直补到户制", "severity": "error",
         "level": "row", "threshold": "-", "measured": "1 处不符合", "passed": False, "findings": 1},
        {"rule_id": "AMOUNT-POSITIVE", "title": "金额为正", "policy_clause": None, "severity": "error", "level": "row",
         "threshold": "-", "measured": "1 处不符合", "passed": False, "findings": 1},
    ])
    findings = pd.DataFrame([
        {"finding_key": "FISCAL-20-0a1b2c3d4e5f", "status": "新增", "run_id": "00000000-golden", "rule_id": "FISCAL-20",
         "severity": "error", "department": None, "source": "finance_fiscal", "target": "county_year_measures",
         "source_file": "财政局/会宁县财政扶贫投入情况表.xlsx", "sheet": "扶贫投入", "row_number": 6,
         "column_name": "新增财力用于扶贫比例", "value": "0.18", "expected": "应不低于20%",
         "message": "当年用于精准扶贫的资金占新增财力的比例低于20%",
         "policy_clause": "严格落实县级财政当年新增财力20%用于精准扶贫", "fiscal_year": 2016,
         "first_seen_at": pd.Timestamp("2026-01-01 08:00:00")},
        {"finding_key": "DIRECT-PAY-1a2b3c4d5e6f", "status": "持续", "run_id": "00000000-golden", "rule_id": "DIRECT-PAY",
         "severity": "error", "department": "会宁县扶贫开发办公室", "source": "poverty_yulu", "target": "household_payments",
         "source_file": "扶贫办/2016年雨露计划补助发放花名册.xlsx", "sheet": "花名册", "row_number": 13, "column_name": "收款人",
         "value": "620422194001010010", "expected": "收款人应为户主本人", "message": "账号6229622422000000000123的收款人不是户主",
         "policy_clause": "雨露计划直补到户制", "fiscal_year": 2016, "first_seen_at": pd.Timestamp("2025-12-01 08:00:00")},
        {"finding_key": "AMOUNT-POSITIVE-2b3c4d5e6f70", "status": "新增", "run_id": "00000000-golden",
         "rule_id": "AMOUNT-POSITIVE", "severity": "error", "department": "会宁县交通运输局", "source": "transport_disbursements",
         "target": "disbursements", "source_file": "交通运输局/2016年交通扶贫资金拨付台账.xlsx", "sheet": "拨付台账",
         "row_number": 4, "column_name": "拨付金额", "value": "-4133000.0", "expected": "应大于0", "message": "金额应为正数",
         "policy_clause": None, "fiscal_year": 2016, "first_seen_at": pd.Timestamp("2026-01-01 08:00:00")},
    ])
    resolved = pd.DataFrame([
        {"finding_key": "CHANNEL-3c4d5e6f7081", "run_id": "00000000-before", "rule_id": "CHANNEL", "severity": "error",
         "department": "会宁县水务局", "source": "water_disbursements", "target": "disbursements",
         "source_file": "水务局/2016年水利扶贫项目资金支出明细.xlsx", "sheet": "支出明细", "row_number": 9, "column_name": "用途",
         "value": "办公经费", "expected": "应为该渠道允许的用途:道路、水利、生态", "message": "支出用途不在该资金渠道允许的用途之内",
         "policy_clause": "按照渠道不乱、用途不变的原则", "fiscal_year": 2016,
         "first_seen_at": pd.Timestamp("2025-12-01 08:00:00")},
    ])
    dispositions = pd.DataFrame([
        {"finding_key": "DIRECT-PAY-1a2b3c4d5e6f", "disposition": "确认问题", "note": "已约谈扶贫办", "disposed_by": "审计员甲",
         "disposed_at": pd.Timestamp("2025-12-15 10:00:00")},
        {"finding_key": "CHANNEL-3c4d5e6f7081", "disposition": "整改中", "note": "水务局已调账", "disposed_by": "审计员甲",
         "disposed_at": pd.Timestamp("2025-12-16 10:00:00")},
    ])
    breakdown = pd.DataFrame([
        {"fiscal_year": 2016, "measure": "poor_village_share", "department": "会宁县交通运输局", "total": 1000000.0, "part": 600000.0},
        {"fiscal_year": 2016, "measure": "poor_village_share", "department": "会宁县水务局", "total": 500000.0, "part": 200000.0},
    ])
    breakdown_rows = pd.DataFrame([
        {"fiscal_year": 2016, "measure": "poor_village_share", "department": "会宁县水务局",
         "source_file": "水务局/2016年水利扶贫项目资金支出明细.xlsx", "sheet": "支出明细", "row_number": 7, "item": "HN2016-012",
         "amount": 300000.0, "counted": False},
    ])
    measures = pd.DataFrame([
        {"fiscal_year": 2015, "rule_id": "FISCAL-20", "measure": "fiscal_poverty_share", "value": 0.22, "threshold": 0.2, "passed": True},
        {"fiscal_year": 2016, "rule_id": "FISCAL-20", "measure": "fiscal_poverty_share", "value": 0.18, "threshold": 0.2, "passed": False},
        {"fiscal_year": 2016, "rule_id": "VILLAGE-54", "measure": "poor_village_share", "value": 0.5333, "threshold": 0.54,
         "passed": False},
        {"fiscal_year": 2016, "rule_id": "HOUSING", "measure": "housing_households", "value": 104.0, "threshold": 5000.0,
         "passed": False},
        {"fiscal_year": 2016, "rule_id": "HOUSING", "measure": "housing_households_with_quarantined", "value": 105.0,
         "threshold": 5000.0, "passed": False},
    ])
    reconciliation = pd.DataFrame([{"entity": "county_fiscal", "source": "finance_fiscal", "landed": 3, "published": 3,
                                    "quarantined": 0, "reconciles": True}])
    return ReportInput(run_id="00000000-golden", generated_at=pd.Timestamp("2026-01-01 08:00:00"),
                       catalogue_version="2015-53.1", policy="县委发〔2015〕53号", summary=summary, findings=findings,
                       measures=measures, reconciliation=reconciliation, data_docs="../gx-data-docs/index.html",
                       resolved=resolved, dispositions=dispositions, breakdown=breakdown, breakdown_rows=breakdown_rows)


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
        assert "-413.3" in text and "拨付金额(万元)" in text and "-4133000" not in text  # the sheet's own unit
        assert "6229622422000000000123" not in text


def test_a_run_without_findings_says_so_instead_of_empty_tables(tmp_path):
    """A clean county: the summaries by department and by rule are sentences, not tables of headers only."""
    clean = fixed_report()
    clean.summary = clean.summary.assign(passed=True, findings=0, measured="全部符合")
    clean.findings, clean.resolved = clean.findings.iloc[0:0], clean.resolved.iloc[0:0]
    page = write_report(clean, tmp_path)["html"].read_text(encoding="utf-8")
    by_department = page[page.index('id="by-department"'):page.index('id="by-rule"')]
    by_rule = page[page.index('id="by-rule"'):page.index('id="passed-rules"')]
    assert "<table" not in by_department and "本次各部门均无问题" in by_department
    assert "<table" not in by_rule and "本次没有未通过的规则" in by_rule
    assert "通过的规则 4 条" in page
    # with findings, the tables are there (the golden file holds them)
    golden = (GOLDEN / "report.html").read_text(encoding="utf-8")
    assert '<table id="departments">' in golden and '<table id="rules">' in golden
