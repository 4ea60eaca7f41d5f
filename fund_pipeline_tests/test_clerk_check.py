"""`fund-pipeline validate` as a clerk runs it: a real process on real workbooks."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from fund_pipeline.pipeline.clerk import REGISTER_COLUMNS
from fund_pipeline.rules.catalogue import load_catalogue
from fund_pipeline_tests.xlsx_helpers import transport_row, write_sheet

CLI = str(Path(sys.executable).parent / "fund-pipeline")
LEDGER = "交通运输局/2016年交通扶贫资金拨付台账.xlsx"


def validate(*args, cwd=None, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, "validate", *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=120)


@pytest.fixture
def ledger(tmp_path) -> Path:
    """A transport ledger in its department folder, one payment negative, with a total row."""
    return write_sheet(tmp_path / LEDGER, [transport_row(1), transport_row(2, **{"拨付金额(万元)": -3})],
                       total=["合计", "", "", "", "", "", "", 9.5, "", ""])


def assert_clean_failure(result: subprocess.CompletedProcess, *phrases: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "Error" not in result.stderr
    for phrase in phrases:
        assert phrase in result.stderr


@pytest.mark.parametrize("name", ["交通运输局", "会宁县交通运输局", "transport_disbursements"])
def test_by_the_departments_chinese_name(ledger, name):
    result = validate(ledger, "--source", name)
    assert result.returncode == 1, result.stderr
    out = result.stdout
    assert "来源:会宁县交通运输局 · transport_disbursements" in out
    assert "工作表「拨付台账」:明细 2 行(第3–4行)" in out
    assert "财政年度:2016" in out
    assert "拨付金额(万元) 合计 9.5 万元" in out  # 12.5 + (-3), in the sheet's own unit
    assert "[错误] AMOUNT-POSITIVE" in out and "第4行 列「拨付金额(万元)」 值「-3」" in out


def test_by_path_alone_reports_what_it_read_and_each_problem_once(ledger):
    result = validate(ledger)
    assert result.returncode == 1, result.stderr
    out = result.stdout
    assert "按文件路径和文件名识别" in out
    assert "第5行 拨付金额(万元) 表内合计 9.5 万元,明细之和 9.5 万元,相符" in out
    assert out.count("第4行") == 1  # the problem's sheet, row and value are said once
    assert "流水线不会读取" not in out


def test_the_sample_countys_planted_row_breaks_are_found(sample_inbox, expected_findings):
    """Every planted break of a rule that needs no county register is found in the clerk's check too."""
    needs_registers = {r.id for r in load_catalogue().rules
                       if any({c.column, c.report_column, *c.where} & REGISTER_COLUMNS for c in r.checks)}
    result = validate(LEDGER, cwd=sample_inbox)
    planted = expected_findings[(expected_findings["source_file"] == LEDGER)
                                & ~expected_findings["rule_id"].isin(needs_registers)]
    assert len(planted) and result.returncode == 1
    for finding in planted.itertuples():
        assert re.search(rf"\[错误\] {finding.rule_id} .*\n(  .*\n)*  工作表「{finding.sheet}」第{finding.row_number}行",
                         result.stdout), result.stdout


def test_a_workbook_with_a_sheet_per_year_and_a_two_row_header(sample_inbox):
    """The water bureau's workbook: three year sheets, merged two-row headers, amounts in 元, a 合计 row each."""
    result = validate("水务局/水利扶贫项目资金支出明细.xlsx", cwd=sample_inbox)
    for year in ("2015", "2016", "2017"):
        assert re.search(rf"工作表「{year}年」资金/支出金额\(元\) 合计 [\d,.]+ 元", result.stdout), result.stdout
        assert re.search(rf"合计行核对:工作表「{year}年」第\d+行 资金/支出金额\(元\) 表内合计 [\d,.]+ 元,明细之和 [\d,.]+ 元,相符",
                         result.stdout)
    assert "财政年度:2015、2016、2017" in result.stdout


def test_an_unknown_source_is_one_clear_message(ledger):
    result = validate(ledger, "--source", "公安局")
    assert_clean_failure(result, "未知的来源「公安局」", "transport_disbursements", "会宁县交通运输局")
    assert result.stdout == ""


def test_a_missing_file_is_one_clear_message(tmp_path):
    assert_clean_failure(validate(tmp_path / "交通运输局/2016年台账.xlsx"), "找不到文件")


def test_a_file_no_source_recognises(tmp_path, ledger):
    stray = ledger.rename(tmp_path / "报表.xlsx")
    assert_clean_failure(validate(stray), "无法从路径", "--source")


def test_a_broken_layout_is_one_clear_message(tmp_path, ledger):
    """The county's own transport layout (in its configuration folder) misses its header and most columns."""
    config = tmp_path / "county"
    (config / "layouts").mkdir(parents=True)
    (config / "layouts" / "transport.yaml").write_text(
        "source: transport_disbursements\ndepartment: 会宁县交通运输局\nentity: disbursements\n"
        "files: 交通运输局/*.xlsx\ncolumns: {amount: 拨付金额}\n", encoding="utf-8")
    for args in ([ledger], [ledger, "--source", "transport_disbursements"], [ledger, "--source", "交通运输局"]):
        result = validate(*args, "--config", config)
        assert_clean_failure(result, "来源布局「transport.yaml」有误")
        assert result.stdout == ""


def test_a_file_name_the_pipeline_would_not_pick_up(tmp_path, ledger):
    renamed = ledger.rename(ledger.with_name("交通台账2016.xlsx"))
    result = validate(renamed, "--source", "交通运输局")
    assert result.returncode == 1
    assert "流水线不会读取此文件" in result.stdout
    assert "[警告] INGEST-UNMATCHED" in result.stdout
    assert "未发现问题" not in result.stdout


def test_a_clean_file_with_the_right_name(tmp_path):
    path = write_sheet(tmp_path / "交通运输局/2016年交通扶贫资金拨付台账(更正).xlsx", [transport_row(1), transport_row(2)])
    result = validate(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "未发现问题" in result.stdout and "流水线不会读取" not in result.stdout


def test_no_identifier_is_printed_whole(sample_inbox):
    roster = next(p for p in sorted((sample_inbox / "农业农村局/惠农补贴").rglob("*.xlsx")))
    result = validate(roster, cwd=sample_inbox)
    assert "ID-CHECKSUM" in result.stdout or result.returncode == 0
    assert not re.search(r"\d{15,}", result.stdout + result.stderr)
    loans = validate(next((sample_inbox / "教育局").glob("*.xlsx")), cwd=sample_inbox)
    assert "ID-LEGACY15" in loans.stdout
    assert not re.search(r"\d{15,}", loans.stdout + loans.stderr)


@pytest.mark.parametrize("command", ["sample", "run", "serve", "validate"])
def test_help_is_chinese_with_defaults(command):
    result = subprocess.run([CLI, command, "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    assert result.stdout.startswith("用法:") and "选项:" in result.stdout and "显示本帮助并退出" in result.stdout
    assert "默认" in result.stdout and "usage" not in result.stdout
    if command == "validate":
        assert "transport_disbursements" in result.stdout and "会宁县交通运输局" in result.stdout


@pytest.mark.parametrize("source", ["agriculture_policy_subsidies", "transport_disbursements", "education_student_loans"])
def test_the_clerks_pandas_rules_find_what_the_pipelines_gx_suite_finds(sample_inbox, source):
    """Same catalogue, two engines: every (rule, row) GX reports, plain pandas reports, and nothing more."""
    from fund_pipeline.rules.derive import References, add_derived_columns
    from fund_pipeline.rules.quick import failing_rows
    from fund_pipeline.rules.validation import evaluate
    from fund_pipeline.sources.reader import read_source
    from fund_pipeline.sources.schemas import conform
    from fund_pipeline.sources.spec import layout_by_name

    spec, catalogue = layout_by_name(source), load_catalogue()
    records = conform(spec.entity, read_source(spec, sample_inbox).records)
    frame = add_derived_columns(spec.entity, records[records["_bad_fields"].fillna("") == ""].reset_index(drop=True),
                                References.empty())
    rules = [r for r in catalogue.for_target(spec.entity)
             if not any({c.column, c.report_column, *c.where} & REGISTER_COLUMNS for c in r.checks)]
    by_gx, _ = evaluate(spec.entity, frame, rules, catalogue, "gx")
    by_pandas = failing_rows(spec.entity, frame, rules)
    gx_pairs = set(zip(by_gx["rule_id"], by_gx["row_key"], by_gx["severity"], strict=True))
    pandas_pairs = set(zip(by_pandas["rule_id"], frame.loc[by_pandas["position"], "row_key"], by_pandas["severity"],
                           strict=True))
    assert gx_pairs and gx_pairs == pandas_pairs


def test_a_ledger_named_for_the_wrong_year_is_said_so_once(tmp_path):
    """The clerk saved the 2016 ledger as 2017's: one warning names both years, then the rows' dates, shown as
    typed (no time of day)."""
    path = write_sheet(tmp_path / "交通运输局/2017年交通扶贫资金拨付台账.xlsx", [transport_row(n) for n in (1, 2, 3)])
    result = validate(path)
    assert result.returncode == 1
    assert "[警告] INGEST-YEAR-NAME" in result.stdout
    assert "表明是2017年度的报表,但表中拨付日期的3个日期中有3个在2016年" in result.stdout
    assert "值「2016-05-03」" in result.stdout and "00:00:00" not in result.stdout
