"""INGEST-FILE, INGEST-SHEET, INGEST-HEADER, INGEST-VALUE, INGEST-REQUIRED, INGEST-TOTAL, INGEST-DUPLICATE-FILE,
INGEST-SUPERSEDED, INGEST-UNMATCHED and the accounting rules below — data integrity
rules of ingestion (no policy clause): every problem names the file, sheet, row and column."""

import re

import numpy as np
import pandas as pd
import pytest

from fund_pipeline.rules.catalogue import load_catalogue
from fund_pipeline.sources.reader import read_source
from fund_pipeline.sources.spec import layout_by_name
from fund_pipeline_tests.conftest import warehouse_url
from fund_pipeline_tests.xlsx_helpers import TRANSPORT_HEADER, transport_row, write_sheet

SPEC = layout_by_name("transport_disbursements")
FILE = "交通运输局/2016年交通扶贫资金拨付台账.xlsx"


def _read(inbox):
    return read_source(SPEC, inbox)


def test_ingest_rules_are_integrity_rules_without_clause():
    for rule_id in ("INGEST-FILE", "INGEST-SHEET", "INGEST-HEADER", "INGEST-VALUE", "INGEST-REQUIRED", "INGEST-TOTAL",
                    "INGEST-DUPLICATE-FILE", "INGEST-SUPERSEDED", "INGEST-UNMATCHED"):
        assert load_catalogue().rule(rule_id).clause is None


def test_a_well_formed_sheet_has_no_problems(tmp_path):
    write_sheet(tmp_path / FILE, [transport_row(1), transport_row(2)], total=["合计"] + [None] * 6 + [25.0, None, None])
    read = _read(tmp_path)
    assert read.problems.empty
    assert read.records["row_number"].tolist() == [3, 4]
    assert read.records["amount"].tolist() == [125_000.0, 125_000.0]


def test_ingest_file_not_a_workbook(tmp_path):
    (tmp_path / FILE).parent.mkdir(parents=True)
    (tmp_path / FILE).write_text("这不是Excel文件", encoding="utf-8")
    problem = _read(tmp_path).problems.iloc[0]
    assert problem["rule_id"] == "INGEST-FILE"
    assert problem["source_file"] == FILE
    assert FILE in problem["message"]


@pytest.mark.parametrize("content, reason", [
    (b"", "文件是空的"),
    ("这不是Excel文件".encode(), "可能是改了扩展名的其他文件"),
    (b"PK\x03\x04 half a zip", "文件不完整或已损坏"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500), "旧版Excel(.xls)或已加密"),
])
def test_ingest_file_says_why_in_chinese(tmp_path, content, reason):
    """Why a file is not a workbook, in the clerk's words: the library's English error is not shown."""
    (tmp_path / FILE).parent.mkdir(parents=True)
    (tmp_path / FILE).write_bytes(content)
    message = _read(tmp_path).problems.iloc[0]["message"]
    assert reason in message and not re.search(r"Zip|EOCD|invalid|[Ee]rror", message)


def test_ingest_sheet_missing(tmp_path):
    write_sheet(tmp_path / FILE, [transport_row(1)], sheet="Sheet2")
    problem = _read(tmp_path).problems.iloc[0]
    assert problem["rule_id"] == "INGEST-SHEET"
    assert "拨付台账" in problem["message"] and "Sheet2" in problem["message"]


def test_ingest_header_unknown_column_is_named_not_guessed(tmp_path):
    header = TRANSPORT_HEADER[:-1] + ["经办人"]
    write_sheet(tmp_path / FILE, [transport_row(1)], header=header)
    read = _read(tmp_path)
    problem = read.problems.iloc[0]
    assert (problem["rule_id"], problem["sheet"], problem["row_number"], problem["column_name"]) == \
        ("INGEST-HEADER", "拨付台账", 2, "经办人")
    assert "第2行第J列" in problem["message"]
    assert read.records.empty


def test_ingest_header_two_columns_for_one_field(tmp_path):
    """Two headers that both mean 拨付金额 (e.g. a merged header over 拨付金额(万元) and 拨付金额): the clerk is told
    which two columns, in Chinese, not which internal field."""
    header = [*TRANSPORT_HEADER, "拨付金额"]
    write_sheet(tmp_path / FILE, [[*transport_row(1), 125_000]], header=header)
    problem = _read(tmp_path).problems.iloc[0]
    assert (problem["rule_id"], problem["row_number"], problem["column_name"]) == ("INGEST-HEADER", 2, "拨付金额")
    assert "第2行:第K列的表头「拨付金额」与第H列的表头「拨付金额(万元)」都是「拨付金额」" in problem["message"]
    assert "amount" not in problem["message"]


def test_ingest_header_missing_required_column(tmp_path):
    header = [h for h in TRANSPORT_HEADER if h != "资金渠道"]
    write_sheet(tmp_path / FILE, [[v for h, v in zip(TRANSPORT_HEADER, transport_row(1), strict=True) if h != "资金渠道"]],
                header=header)
    problem = _read(tmp_path).problems.iloc[0]
    assert problem["rule_id"] == "INGEST-HEADER"
    assert "缺少必需列「资金渠道」" in problem["message"]


def test_ingest_value_text_in_an_amount_column(tmp_path):
    write_sheet(tmp_path / FILE, [transport_row(1), transport_row(2, **{"拨付金额(万元)": "待定"})])
    read = _read(tmp_path)
    problem = read.problems.iloc[0]
    assert (problem["rule_id"], problem["sheet"], problem["row_number"], problem["column_name"], problem["value"]) == \
        ("INGEST-VALUE", "拨付台账", 4, "拨付金额(万元)", "待定")
    assert "第4行第H列" in problem["message"]
    assert read.records["_bad_fields"].tolist() == ["", "amount,"]


def test_ingest_value_accepts_units_and_notes_in_cells(tmp_path):
    write_sheet(tmp_path / FILE, [transport_row(1, **{"拨付金额(万元)": "20万元"}),
                                  transport_row(2, **{"拨付金额(万元)": "10(其中灾情因素6万元)"}),
                                  transport_row(3, **{"拨付金额(万元)": "1,500元"})])
    read = _read(tmp_path)
    assert read.problems.empty
    assert read.records["amount"].tolist() == [200_000.0, 100_000.0, 1_500.0]


def test_ingest_required_empty_cell(tmp_path):
    write_sheet(tmp_path / FILE, [transport_row(1, 村=None)])
    problem = _read(tmp_path).problems.iloc[0]
    assert (problem["rule_id"], problem["row_number"], problem["column_name"]) == ("INGEST-REQUIRED", 3, "村")


def test_ingest_total_row_that_does_not_match_the_rows(tmp_path):
    from fund_pipeline.pipeline.ingest import total_findings

    write_sheet(tmp_path / FILE, [transport_row(1), transport_row(2)], total=["合计"] + [None] * 6 + [30.0, None, None])
    findings = total_findings(_read(tmp_path), load_catalogue())
    assert findings[["rule_id", "sheet", "row_number"]].values.tolist() == [["INGEST-TOTAL", "拨付台账", 5]]
    assert findings["message"].iloc[0] == ("工作表「拨付台账」第5行「合计」(300,000.00元)与读取的明细行之和(250,000.00元)不符,"
                                           "相差50,000.00元")
    write_sheet(tmp_path / FILE, [transport_row(1), transport_row(2)], total=["合计"] + [None] * 6 + [25.0, None, None])
    assert total_findings(_read(tmp_path), load_catalogue()).empty


def test_ingest_duplicate_file_is_read_once(tmp_path):
    import shutil

    write_sheet(tmp_path / FILE, [transport_row(1), transport_row(2)])
    shutil.copy(tmp_path / FILE, tmp_path / "交通运输局/2016年交通扶贫资金拨付台账 - 副本.xlsx")
    read = _read(tmp_path)
    assert len(read.records) == 2
    problem = read.problems.iloc[0]
    assert (problem["rule_id"], problem["severity"]) == ("INGEST-DUPLICATE-FILE", "warning")
    assert "副本" in problem["message"]


def test_ingest_superseded_older_version_is_not_read(tmp_path):
    import os

    old = write_sheet(tmp_path / FILE, [transport_row(1), transport_row(2)])
    new = write_sheet(tmp_path / "交通运输局/2016年交通扶贫资金拨付台账(更正).xlsx", [transport_row(1, **{"拨付金额(万元)": 10.0})])
    os.utime(old, (1_600_000_000, 1_600_000_000))
    read = _read(tmp_path)
    assert read.records["amount"].tolist() == [100_000.0]
    assert read.records["source_file"].unique().tolist() == [new.relative_to(tmp_path).as_posix()]
    problem = read.problems.iloc[0]
    assert (problem["rule_id"], problem["source_file"]) == ("INGEST-SUPERSEDED", FILE)


def test_ingest_unmatched_spreadsheet_in_the_inbox_is_reported(tmp_path):
    from fund_pipeline.pipeline.ingest import unmatched_files
    from fund_pipeline.sources.spec import load_layouts

    write_sheet(tmp_path / FILE, [transport_row(1)])
    write_sheet(tmp_path / "林业局/2016年造林补助.xlsx", [transport_row(1)])
    (tmp_path / "说明.txt").write_text("不是表格", encoding="utf-8")
    (tmp_path / "expected_findings.csv").write_text("rule_id\n", encoding="utf-8")
    findings = unmatched_files(tmp_path, load_layouts(), load_catalogue(), "run")
    assert findings[["rule_id", "source_file", "severity"]].values.tolist() == [
        ["INGEST-UNMATCHED", "expected_findings.csv", "warning"], ["INGEST-UNMATCHED", "林业局/2016年造林补助.xlsx", "warning"]]
    # Beside a sample's manifest the same file is the planted violations' answer key, not a department's data.
    (tmp_path / "sample.json").write_text("{}", encoding="utf-8")
    findings = unmatched_files(tmp_path, load_layouts(), load_catalogue(), "run")
    assert findings["source_file"].tolist() == ["林业局/2016年造林补助.xlsx"]


# ---- every landed row accounted for: INGEST-KEPT-PREVIOUS, INGEST-DUPLICATE-ROW, INGEST-EMPTY-FILE,
# INGEST-NO-DATA, INGEST-HIDDEN-SHEET, INGEST-CONTROL-CHAR, INGEST-UNACCOUNTED, LAYOUT-INVALID

def _ingest(inbox, previous=None, source="transport_disbursements"):
    from fund_pipeline.pipeline.ingest import ingest

    return ingest(layout_by_name(source), inbox, load_catalogue(), "run", previous=previous)


def test_ingest_kept_previous_when_a_resent_file_cannot_be_read(tmp_path):
    write_sheet(tmp_path / FILE, [transport_row(1), transport_row(2)])
    _, good = _ingest(tmp_path)
    landed = good.assign(run_id="earlier")

    def previous(files):
        return landed[["source_file", "file_sha256"]].drop_duplicates() if not files else landed[landed["source_file"].isin(files)]

    assert _ingest(tmp_path, previous)[0].findings.empty  # a readable file: nothing kept from before
    (tmp_path / FILE).write_bytes(b"not a workbook any more")
    result, records = _ingest(tmp_path, previous)
    assert len(records) == 2 and set(records["file_sha256"]) == set(landed["file_sha256"])
    kept = result.findings[result.findings["rule_id"] == "INGEST-KEPT-PREVIOUS"]
    assert len(kept) == 1 and kept["severity"].iloc[0] == "error" and FILE in kept["message"].iloc[0]


def test_ingest_duplicate_row_across_files_is_set_aside(tmp_path):
    write_sheet(tmp_path / FILE, [transport_row(1), transport_row(2)])
    result, records = _ingest(tmp_path)
    assert records["_set_aside"].isna().all() and result.findings.empty
    write_sheet(tmp_path / "交通运输局/2016年交通扶贫资金拨付台账(另存).xlsx", [transport_row(2), transport_row(3)],
                title="另存")
    result, records = _ingest(tmp_path)
    assert (records["_set_aside"] == "INGEST-DUPLICATE-ROW").sum() == 1
    [finding] = result.findings[result.findings["rule_id"] == "INGEST-DUPLICATE-ROW"].to_dict("records")
    assert finding["row_number"] == 3 and "另存" in finding["source_file"] and FILE in finding["message"]


def test_ingest_empty_file_has_a_header_and_no_rows(tmp_path):
    write_sheet(tmp_path / FILE, [transport_row(1)])
    assert _ingest(tmp_path)[0].findings.empty
    write_sheet(tmp_path / FILE, [])
    [finding] = _ingest(tmp_path)[0].findings.to_dict("records")
    assert (finding["rule_id"], finding["source_file"]) == ("INGEST-EMPTY-FILE", FILE)


def test_ingest_hidden_sheet_and_control_characters(tmp_path):
    from fund_pipeline_tests.corpus import CASES, build_corpus

    cases = [c for c in CASES if c.name in ("隐藏的2018工作表", "控制字符")]
    build_corpus(tmp_path, cases)
    result, records = _ingest(tmp_path)
    rules = set(result.findings["rule_id"])
    assert {"INGEST-HIDDEN-SHEET", "INGEST-CONTROL-CHAR"} <= rules
    assert not records["project_name"].str.contains("\x00", regex=False).any()


def _warehouse(tmp_path):
    from fund_pipeline.warehouse import Warehouse

    return Warehouse.from_url(f"duckdb:///{tmp_path / 'w.duckdb'}")


def test_ingest_no_data_for_a_year_other_departments_sent(tmp_path):
    from fund_pipeline.pipeline.accounting import missing_year_findings

    warehouse = _warehouse(tmp_path)
    specs = [layout_by_name("transport_disbursements"), layout_by_name("water_disbursements")]
    for spec, years in zip(specs, ([2016, 2017], [2016, 2017]), strict=True):
        warehouse.replace_table("landing", spec.name, pd.DataFrame({"fiscal_year": years}))
    assert missing_year_findings(warehouse, specs, load_catalogue(), "run").empty
    warehouse.replace_table("landing", "water_disbursements", pd.DataFrame({"fiscal_year": [2016]}))
    [finding] = missing_year_findings(warehouse, specs, load_catalogue(), "run").to_dict("records")
    assert (finding["rule_id"], finding["source"], finding["fiscal_year"]) == ("INGEST-NO-DATA", "water_disbursements", 2017)


def test_ingest_unaccounted_row_found_in_no_table(tmp_path):
    from fund_pipeline.pipeline.accounting import unaccounted_findings

    warehouse = _warehouse(tmp_path)
    spec = layout_by_name("transport_disbursements")
    rows = pd.DataFrame({"source": spec.name, "source_file": FILE, "sheet": "拨付台账", "row_number": [3, 4],
                         "row_key": ["k3", "k4"], "fiscal_year": 2016, "amount": [1.0, 2.0]})
    warehouse.replace_table("landing", spec.name, rows)
    warehouse.replace_table("clean", "disbursements", rows.iloc[:1])
    warehouse.replace_table("quarantine", "disbursements", rows.iloc[1:])
    assert unaccounted_findings(warehouse, [spec], load_catalogue(), "run").empty
    warehouse.replace_table("quarantine", "disbursements", rows.iloc[:0])
    [finding] = unaccounted_findings(warehouse, [spec], load_catalogue(), "run").to_dict("records")
    assert (finding["rule_id"], finding["source_file"], finding["severity"]) == ("INGEST-UNACCOUNTED", FILE, "error")
    assert "1行已读取" in finding["message"]
    # As many rows at home as landed, but one of them twice and the other nowhere: still found.
    warehouse.replace_table("quarantine", "disbursements", rows.iloc[:1])
    [finding] = unaccounted_findings(warehouse, [spec], load_catalogue(), "run").to_dict("records")
    assert (finding["row_number"], finding["value"]) == (4, "1")


@pytest.mark.parametrize("backend", ["duckdb", "postgres"])
def test_landed_keys_are_compared_with_their_homes_as_a_multiset(backend, tmp_path, request):
    """The accounting's shortcut (pipeline/accounting.py, `_same_keys`): the anti-join is skipped only when the
    landed keys and their homes' keys are the same multiset, on either warehouse."""
    from fund_pipeline.pipeline.accounting import _same_keys
    from fund_pipeline.warehouse import Warehouse

    url = warehouse_url(backend, tmp_path, request)
    warehouse = Warehouse.from_url(url)
    landed = pd.DataFrame({"row_key": ["k1", "k2", "k3", None]})
    homes = {"the same, in another order": (["k3", "k1", "k2"], True), "one missing": (["k1", "k2"], False),
             "one twice, one missing": (["k1", "k1", "k2"], False), "one more": (["k1", "k2", "k3", "k4"], False),
             "another key": (["k1", "k2", "k9"], False)}
    try:
        warehouse.replace_table("landing", "same_keys_test", landed)
        for name, (keys, same) in homes.items():
            warehouse.replace_table("clean", "same_keys_test", pd.DataFrame({"row_key": pd.array(keys, dtype="string")}))
            assert _same_keys(warehouse, "select row_key from landing.same_keys_test",
                              "select row_key from clean.same_keys_test") == same, name
    finally:
        for schema in ("landing", "clean"):
            warehouse.execute(f"drop table if exists {schema}.same_keys_test")


def test_layout_invalid_names_the_layout_and_disables_its_source(tmp_path):
    from fund_pipeline.configuration import activate
    from fund_pipeline.pipeline.accounting import layout_findings
    from fund_pipeline.sources.spec import invalid_layouts

    (tmp_path / "layouts").mkdir()
    activate(tmp_path)
    try:
        assert layout_findings(invalid_layouts(), load_catalogue(), "run").empty
        (tmp_path / "layouts" / "typo.yaml").write_text("source: typo_source\nsheet: x\n", encoding="utf-8")
        activate(tmp_path)
        [finding] = layout_findings(invalid_layouts(), load_catalogue(), "run").to_dict("records")
    finally:
        activate(None)
    assert (finding["rule_id"], finding["source"], finding["source_file"]) == ("LAYOUT-INVALID", "typo_source", "typo.yaml")
    assert "未知的键" in finding["message"]


def test_ingest_duplicate_rows_are_rows_alike_in_every_fields_text():
    """Rows are hashed column by column as they are typed; which rows repeat is what comparing every field's
    text says, whatever the columns hold (numbers, dates, gaps, mixed Python objects)."""
    from fund_pipeline.pipeline.ingest import repeated_rows
    from fund_pipeline.sources.schemas import ENTITIES
    from fund_pipeline.sources.spec import load_layouts

    spec = next(s for s in load_layouts() if s.name == "agriculture_policy_subsidies")
    fields = [f.name for f in ENTITIES[spec.entity]]
    rng = np.random.default_rng(7)
    n = 4000
    values = {
        "amount": rng.choice([100.0, 250.5, np.nan, -0.0, 0.0], n),
        "fiscal_year": pd.array(rng.choice([2015, 2016, None], n), dtype="Int64"),
        "pay_date": pd.to_datetime(rng.choice(["2016-03-01", "2016-04-02", None], n)),
        "household_id": pd.array(rng.choice(["6204221", "6204222", None], n), dtype="string"),
        "payee_name": np.array(rng.choice([1, "1", "张三", None, 2.5], n), dtype=object),
    }
    records = pd.DataFrame({name: values.get(name, pd.array(rng.choice(["甲", "乙"], n), dtype="string"))
                            for name in fields if name in values or name in ("township", "village", "period")})
    records["source_file"] = rng.choice(["a.xlsx", "b.xlsx", "c.xlsx"], n)
    records["sheet"], records["row_number"], records["row_key"] = "表1", np.arange(n) + 3, [f"k{i}" for i in range(n)]
    set_aside, findings = repeated_rows(spec, records, [{"source_file": f, "mtime": t} for t, f in
                                                        enumerate(["a.xlsx", "b.xlsx", "c.xlsx"])])
    # the reference: rows alike in the text of every field read, the first to arrive kept (an amount of
    # zero is zero whatever its sign)
    read = records[[f for f in fields if f in records]].assign(amount=records["amount"] + 0.0)
    text = read.astype("string").fillna("\x00").agg("|".join, axis=1)
    first_file = records.assign(_text=text).sort_values(["source_file", "row_number"]).groupby("_text")["source_file"].transform("first")
    expected = (first_file.reindex(records.index) != records["source_file"]).to_numpy()
    assert expected.sum() > 100
    assert (set_aside.notna().to_numpy() == expected).all()
    assert len(findings) == expected.sum()


def test_ingest_year_name_a_file_named_for_the_wrong_year(tmp_path):
    """The 2016 ledger's payments were all made in 2015: the file is named for the wrong year, said once for the
    file, beside the rows' DATE-IN-YEAR findings it explains. A file with a few stray dates says nothing."""
    rows = [transport_row(n, 拨付日期=f"2015年{n}月3日") for n in (1, 2, 3, 4)]
    write_sheet(tmp_path / FILE, rows)
    result, _ = _ingest(tmp_path)
    found = result.findings[result.findings["rule_id"] == "INGEST-YEAR-NAME"]
    assert found[["source_file", "column_name", "value", "expected", "severity"]].values.tolist() == [
        [FILE, "拨付日期", "2016年", "2015年", "warning"]]
    assert "表明是2016年度的报表,但表中拨付日期的4个日期中有4个在2015年" in found["message"].iloc[0]

    mixed = [*rows[:1], *(transport_row(n) for n in (2, 3, 4))]  # one stray 2015 date among 2016 ones
    write_sheet(tmp_path / FILE, mixed)
    assert "INGEST-YEAR-NAME" not in set(_ingest(tmp_path)[0].findings["rule_id"])


def test_the_recount_balances_each_file_and_year_read_back_from_the_tables(tmp_path):
    """INGEST-UNACCOUNTED's counts (pipeline/accounting.py, `recount`): per source, file and year, rows and money
    landed against published + quarantined + set aside, for several entities read by one query. An entity asked
    twice (two scopes) is counted twice, apart; a table that does not exist counts nothing; a row lost between
    landing and publishing shows. (The PostgreSQL pipeline tests reconcile through the same query.)"""
    from fund_pipeline.pipeline.accounting import money_field, recount
    from fund_pipeline.pipeline.findings import years_condition
    from fund_pipeline.sources.spec import load_layouts
    from fund_pipeline.warehouse import Warehouse

    warehouse = Warehouse.from_url(f"duckdb:///{tmp_path / 'w.duckdb'}")
    loans = [s for s in load_layouts() if s.entity == "loans"]
    mutual_aid = [s for s in load_layouts() if s.entity == "mutual_aid"]
    source, money = loans[0].name, money_field("loans")

    def rows(files_years_amounts):
        return pd.DataFrame([{"source": source, "source_file": f, "fiscal_year": y, money: a}
                             for f, y, a in files_years_amounts])

    warehouse.replace_table("landing", source, rows([("a.xlsx", 2015, 100.0), ("a.xlsx", 2016, 50.0),
                                                      ("a.xlsx", 2016, 25.0), ("b.xlsx", 2016, 10.0)]))
    warehouse.replace_table("clean", "loans", rows([("a.xlsx", 2015, 100.0), ("a.xlsx", 2016, 50.0)]))
    warehouse.replace_table("quarantine", "loans", rows([("a.xlsx", 2016, 25.0)]))  # b.xlsx's row is lost
    counted = recount(warehouse, [("loans", loans, ""), ("loans", loans, years_condition(["2016"])),
                                  ("mutual_aid", mutual_aid, "")])  # no set-aside table, no mutual-aid tables
    whole, scoped = counted.iloc[:3], counted.iloc[3:]
    assert whole[["source_file", "fiscal_year", "landed", "published", "quarantined", "set_aside"]].values.tolist() == [
        ["a.xlsx", 2015, 1, 1, 0, 0], ["a.xlsx", 2016, 2, 1, 1, 0], ["b.xlsx", 2016, 1, 0, 0, 0]]
    assert whole["landed_amount"].tolist() == [100.0, 75.0, 10.0] and whole["reconciles"].tolist() == [True, True, False]
    assert scoped["fiscal_year"].tolist() == [2016, 2016] and scoped["reconciles"].tolist() == [True, False]
    assert counted["entity"].tolist() == ["loans"] * 5
