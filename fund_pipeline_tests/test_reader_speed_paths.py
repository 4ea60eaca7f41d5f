"""The reader's fast paths give exactly the careful path's answer.

- a column is parsed once per distinct cell and spread back: every parser, on cells of every kind a sheet
  can hold (1, 1.0 and True; -0.0 and 0.0; None and NaN; dates and datetimes; text needing folding), gives
  the same values, dtypes and errors as parsing the column cell by cell;
- a source's files read by worker processes give the same records, findings, totals, notes and file list,
  in the same order, as reading them one after another, also under a county configuration;
- a column looked up in a register through Arrow gives pandas' own `isin`;
- a pattern with `\\s` or `\\d` spelled out for pyarrow's RE2 matches the cells Python's re matches;
- rows grouped by codes of their distinct values fall in the groups their text gives.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import xlsxwriter
import yaml
from pandas.testing import assert_frame_equal, assert_series_equal

from fund_pipeline.configuration import activate
from fund_pipeline.settings import reader_workers
from fund_pipeline.sources import parse, rows
from fund_pipeline.sources.reader import read_source
from fund_pipeline.sources.spec import layout_by_name

TEXT = ["2016年3月", "2016-03", " 201603 ", "201603", "2016.3", "201613", "１２３", "1,234.5", "1.234,5", "20万元",
        "10(其中x)", "", "  ", "合 计", "合計", "其中:", "\x00abc", "是", "否", "√", "2016年3月5日", "2016.3.5",
        "2016-03-05", "3.5%", "4.35", "-0", "620422197906206038", "６２０４２２", "交  通", "\u3000张三", "1e5",
        "2016年度", "注:", "一、", "x\u2028y"]
NUMBERS = [1.0, 0.0, -0.0, 201603.0, 2016.0, 1e20, 43000.0, 42500.5, float(2**53 + 2), 12.5, -4.0, float("nan")]
OTHERS = [1, 0, 2016, 201603, True, False, dt.date(2016, 3, 5), dt.datetime(2016, 3, 5, 10, 0), dt.datetime(2016, 3, 5),
          dt.time(10, 30), None]
PARSERS = [(parse.parse_text, ()), (parse.parse_identifier, ()), (parse.parse_money, (10_000.0,)),
           (parse.parse_number, ()), (parse.parse_integer, ()), (parse.parse_percent, (True,)),
           (parse.parse_percent, (False,)), (parse.parse_year, ()), (parse.parse_period, ()), (parse.parse_flag, ()),
           (parse.parse_date, ()), (parse.strip_control, ())]


def _columns():
    """Columns of one kind of cell and of mixed kinds, each cell repeated so that the distinct path is taken."""
    rng = np.random.default_rng(20150805)
    pools = [TEXT + [None], NUMBERS + [None], [dt.date(2016, m, 20) for m in (3, 6, 9)] + [None], TEXT + NUMBERS + OTHERS,
             [1, 1.0, True, "1", -0.0, 0.0, None, float("nan")]]
    for pool in pools:
        for size in (2, 7, 200):
            picks = rng.integers(0, len(pool), size * 3)
            yield pd.Series([pool[i] for i in picks], dtype=object, index=pd.RangeIndex(4, 4 + size * 3))


def _outcome(parser, column, *args):
    try:
        result = parser(column, *args)
    except Exception as error:  # noqa: BLE001 (the same error is the expected outcome)
        return f"{type(error).__name__}: {error}"
    return result if isinstance(result, tuple) else (result,)


@pytest.mark.parametrize("parser, args", PARSERS, ids=[f"{p.__name__}{a}" for p, a in PARSERS])
def test_parsing_each_distinct_cell_once_gives_the_cell_by_cell_answer(parser, args):
    compared = 0
    for column in _columns():
        careful = _outcome(parser, column.copy(), *args)
        fast = _outcome(lambda c, *a: parse.per_distinct(parser, c, *a), column.copy(), *args)
        if isinstance(careful, str):
            assert fast == careful
            continue
        for expected, got in zip(careful, fast, strict=True):
            assert_series_equal(got, expected, check_exact=True)
            if expected.dtype == np.float64:  # -0.0 stays -0.0
                assert np.array_equal(np.signbit(got.to_numpy()), np.signbit(expected.to_numpy()))
            compared += 1
    assert compared > 0


def test_distinct_cells_keep_types_and_signed_zero_apart():
    column = pd.Series([1, 1.0, True, "1", -0.0, 0.0, None, float("nan"), 1.0, "1", None], dtype=object)
    distinct = parse.distinct_cells(column)
    assert len(distinct.cells) == 8
    assert [type(v) for v in distinct.cells[distinct.codes[:4]]] == [int, float, bool, str]
    assert np.signbit(distinct.cells[distinct.codes[4]]) and not np.signbit(distinct.cells[distinct.codes[5]])
    assert distinct.codes[1] == distinct.codes[8] and distinct.codes[6] == distinct.codes[10]


def test_labels_fold_and_match_as_cell_by_cell():
    frame = pd.DataFrame({0: [1.0, 2.0, "合 计", "小計", None, 3.0, "一、说明", "\u3000合计"] * 3,
                          1: ["张三", "合\u2003计", None, "李四", "其中:", "张三", "", "x"] * 3}, dtype=object)
    careful = frame.astype("string").apply(lambda c: c.str.replace(r"\s+", "", regex=True).str.translate(rows._FOLD))
    labels = rows.fold_labels(frame)
    assert_frame_equal(labels, careful)
    for pattern in (rows.TOTAL_LABEL, rows.HEADING, r"(合\s*计|总\s*计|小\s*计)[::]?$|^其中[::]?$"):
        with warnings.catch_warnings():  # a pattern with groups: only whether it matches counts
            warnings.simplefilter("ignore", UserWarning)
            hits = careful.apply(lambda c, p=pattern: c.str.contains(p, regex=True))
        expected = hits.any(axis=1).fillna(False).astype(bool)
        assert_series_equal(rows.any_cell_matches(labels, pattern), expected)


def test_the_spelled_out_white_space_is_pythons():
    matched = "".join(c for c in map(chr, range(sys.maxunicode + 1)) if re.match(r"\s", c))
    assert parse.WHITESPACE == matched


def test_the_spelled_out_decimal_digits_are_pythons():
    matched = {c for c in map(chr, range(sys.maxunicode + 1)) if re.match(r"\d", c)}
    assert {c for c in map(chr, range(sys.maxunicode + 1)) if re.match(f"[{parse.DECIMAL_DIGITS}]", c)} == matched


PORTABLE_PATTERNS = [r"\s+", r"\s", r"[\s%]", r"^\s*(\d{4})\s*年?(?:度)?\s*$", r"^(\d{4})(?:年|-|\.|/)?(\d{1,2})月?(?:期)?$",
                     rows._ENUMERATION, r"(合\s*计|总\s*计|小\s*计)[::]?$|^其中[::]?$", r"\S+\D", r"[^\s\d]", r"[]\s]x",
                     r"a\\s", r"[\S]"]
PORTABLE_CELLS = TEXT + ["１２３", "٣٤٥", "2016\u00a0年", "a\\s", "a\\ s", "]x", " x", "\x0b", "\u3000合\u3000计", "12、说明",
                         "١٢、说明", "", "abc", "\\", "2016 年 度", "2016\n"]


@pytest.mark.parametrize("pattern", PORTABLE_PATTERNS)
def test_spelled_out_patterns_match_in_arrow_as_python_does(pattern):
    """A pattern with `\\s`/`\\d` spelled out matches, replaces and extracts in pyarrow's RE2 exactly as the
    original does in Python's re, and pandas no longer falls back to Python's re cell by cell for it."""
    portable = parse.portable_regex(pattern)
    cells = pd.Series(PORTABLE_CELLS, dtype="string")
    with warnings.catch_warnings():  # a pattern with groups: only whether it matches counts
        warnings.simplefilter("ignore", UserWarning)
        expected = pd.Series([re.search(pattern, c) is not None for c in PORTABLE_CELLS], dtype="boolean")
        assert_series_equal(cells.str.contains(portable, regex=True), expected, check_names=False)
    assert_series_equal(cells.str.replace(portable, "#", regex=True),
                        pd.Series([re.sub(pattern, "#", c) for c in PORTABLE_CELLS], dtype="string"))
    if re.compile(pattern).groups:
        assert_frame_equal(cells.str.extract(portable), cells.astype(object).str.extract(pattern).astype("string"))
    arrow_cells = pd.array([c for c in PORTABLE_CELLS if "\n" not in c], dtype="string[pyarrow]")
    assert arrow_cells._needs_python_regex(portable) == (pattern == r"[\S]")  # only a negated class in brackets


ROSTER_HEADER = ["序号", "户主姓名", "身份证号", "家庭人口", "村", "补贴项目", "补贴期号", "补贴金额(元)", "发放时间", "一折统账号"]


def _roster(path, township_rows: int, seed: int) -> None:
    """A township's roster with clean cells, cells a clerk typed by hand, a bad cell, a total and a footer."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet("发放花名册")
    dates = workbook.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write(0, 0, "惠农补贴发放花名册")
    sheet.write(1, 9, "单位:元")
    sheet.write_row(2, 0, ROSTER_HEADER)
    periods = ["201603", "201606", "2016年9月", 201612, "２０１６０６", "201613"]
    amounts = [401.7, 618.0, "463.5", "1,234.5", "abc", -0.0]
    total = 0.0
    for i in range(township_rows):
        person = int(rng.integers(0, 40))
        amount = amounts[int(rng.integers(0, len(amounts)))] if i % 7 == 0 else 401.7
        total += amount if isinstance(amount, float) else 0.0
        sheet.write_row(3 + i, 0, [i + 1, f"户主{person}", f"62042219790620{person:04d}", 3, "高家湾村",
                                   "退耕还林补助", periods[i % len(periods)], amount])
        sheet.write_datetime(3 + i, 8, dt.datetime(2016, 3 + i % 9, 20), dates)
        sheet.write(3 + i, 9, f"62296224228989{person:08d}")
    sheet.write_row(3 + township_rows, 0, ["合计", "", "", "", "", "", "", round(total, 2)])
    sheet.write_row(5 + township_rows, 0, ["单位负责人:", "", "", "填表人:"])
    workbook.close()


@pytest.fixture
def rosters(tmp_path):
    inbox = tmp_path / "inbox"
    for number, township in enumerate(["会师镇", "河畔", "城关镇", "新集乡", "郭城驿镇"]):
        _roster(inbox / "农业农村局" / "惠农补贴" / "2016" / f"{township}.xlsx", 60 + 30 * number, number)
    return inbox


def _assert_same_read(parallel, serial):
    for part in ("records", "problems", "totals", "notes"):
        assert_frame_equal(getattr(parallel, part), getattr(serial, part), check_exact=True)
    assert parallel.files == serial.files


def test_files_read_in_parallel_give_the_serial_read(rosters):
    spec = layout_by_name("agriculture_policy_subsidies")
    serial = read_source(spec, rosters, workers=1)
    parallel = read_source(spec, rosters, workers=2)
    _assert_same_read(parallel, serial)
    assert list(dict.fromkeys(parallel.records["source_file"])) == sorted(dict.fromkeys(serial.records["source_file"]))
    assert (parallel.problems["rule_id"] == "INGEST-VALUE").any()
    assert len(parallel.totals) == 5 and len(parallel.records) == sum(60 + 30 * n for n in range(5))


def test_workers_read_under_the_county_configuration(rosters, tmp_path):
    config = tmp_path / "config"
    (config / "reference").mkdir(parents=True)
    townships = {"county": {"code": "620521", "name": "某县", "prefecture": "某市", "province": "甘肃省"},
                 "townships": [{"code": "620521100", "name": "城关镇", "aliases": ["城关"]},
                               {"code": "620521101", "name": "新集镇", "aliases": ["新集乡"]}]}
    (config / "reference" / "townships.yaml").write_text(yaml.safe_dump(townships, allow_unicode=True), encoding="utf-8")
    spec = layout_by_name("agriculture_policy_subsidies")
    activate(config)
    try:
        serial = read_source(spec, rosters, workers=1)
        parallel = read_source(spec, rosters, workers=2)
    finally:
        activate(None)
    _assert_same_read(parallel, serial)
    assert set(parallel.records.loc[parallel.records["township"] == "新集镇", "township_code"]) == {"620521101"}


def test_the_number_of_reading_processes_is_a_setting():
    assert reader_workers({"FUND_PIPELINE_READ_WORKERS": "1"}) == 1
    assert reader_workers({"FUND_PIPELINE_READ_WORKERS": "3"}) == 3
    assert reader_workers({}) >= 1


@pytest.mark.parametrize("column", [
    pd.Series([1, 1.0, "1", None, np.nan, True, "", "x", 1] * 2, dtype=object),
    pd.Series(["a", None, "", "a", "b"] * 2, dtype=object),
    pd.Series([None] * 6, dtype=object),
    pd.Series([2016, pd.NA, 2017, 2016], dtype="Int64"),
    pd.Series([2016, 2017, 2016], dtype="int64"),
    pd.Series([1.5, np.nan, -0.0, 0.0, 1.5]),
    pd.Series(["惠农补贴", None, "", "惠农补贴"], dtype="category"),
    pd.Series([-0.0, 0.0, None, -0.0], dtype="category"),
    pd.Series(["a", None, "", "a"], dtype="str"),
], ids=["mixed object", "text object", "empty object", "Int64", "int64", "float", "category", "float category", "str"])
def test_rows_grouped_by_codes_are_grouped_as_by_their_text(column):
    """rules/derive.py groups rows (the suspect amounts' distributions, the project allocations) by codes worked
    out on distinct values: the same groups as the rows' text with a missing value as ""."""
    from fund_pipeline.rules.derive import _distinct_rows, _text_codes

    text = column.astype("string").fillna("")
    assert_series_equal(pd.Series(pd.factorize(_text_codes(column))[0]), pd.Series(pd.factorize(text)[0]))
    other = pd.Series(range(len(column))) % 2
    combination, first = _distinct_rows(pd.DataFrame({"a": column, "b": other}))
    pairs = list(zip(text, other, strict=True))
    # As many combinations as distinct pairs, and each row's pair is its combination's: the same partition.
    assert len(first) == len(set(pairs))
    for row, number in enumerate(combination):
        assert pairs[first[number]] == pairs[row]


@pytest.mark.parametrize("dtype", ["string", "str", object])
def test_register_lookups_in_arrow_give_pandas_isin(dtype):
    """A column looked up in a register (rules/derive.py's member_of, Arrow's hash lookup) is pandas' `isin`:
    missing values, text that only looks alike, an empty register, a register holding other types."""
    from fund_pipeline.rules.derive import member_of

    values = pd.Series(["622426199001011234", None, "622426199001011234 ", "P-01", "", "p-01", np.nan] * 3,
                       dtype=dtype, name="household_id")
    values.index = values.index * 10  # not a range: the answer keeps the column's own index
    for members in (frozenset({"622426199001011234", "P-01", ""}), frozenset(), frozenset({"x"}), frozenset({1, "P-01"})):
        assert_series_equal(member_of(values, members), values.isin(members), obj=f"{dtype} {sorted(map(str, members))}")


def test_a_read_makes_no_garbage_collection_pass_and_leaves_the_collector_as_it_was(tmp_path):
    """A roster's cells come as ~700,000 objects in no cycle: the collector is held off while a file is read,
    and left on or off as the caller had it."""
    import gc

    from fund_pipeline.sources.reader import read_workbook
    from fund_pipeline.sources.spec import load_layouts
    from fund_pipeline_tests.xlsx_helpers import transport_row, write_sheet

    spec = next(s for s in load_layouts() if s.name == "transport_disbursements")
    path = write_sheet(tmp_path / "台账.xlsx", [transport_row(i) for i in range(1, 3001)])
    passes: list[int] = []
    gc.callbacks.append(collected := lambda phase, info: phase == "stop" and passes.append(info["generation"]))
    try:
        threshold = gc.get_threshold()
        gc.set_threshold(10, 1, 1)  # a pass every few allocations, were the collector on
        read = read_workbook(spec, path, tmp_path)
        during = len(passes)
        read.records.astype(str).to_numpy().tolist()  # as many cells made outside a read: the collector passes
        assert len(read.records) == 3000 and during <= 1 and len(passes) > during + 100 and gc.isenabled()
        gc.disable()
        read_workbook(spec, path, tmp_path)
        assert not gc.isenabled()
    finally:
        gc.enable()
        gc.set_threshold(*threshold)
        gc.callbacks.remove(collected)
