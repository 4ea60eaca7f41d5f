"""Writes tables the way county departments lay them out: title, unit line, merged headers, totals, footers.

Returns the Excel row number of every data row, so planted violations can be located exactly.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xlsxwriter


@dataclass
class Table:
    sheet: str
    title: str
    header: list  # "name" or ("parent", ["child", ...]) for a merged two-row header
    rows: pd.DataFrame  # columns in header-leaf order
    unit_line: str | None = None
    total: str | None = "bottom"  # "top", "bottom" or None
    total_label_column: int = 0
    sum_columns: list[str] = field(default_factory=list)
    subtotal_by: str | None = None  # a column; a 小计 row follows each group
    index_row: bool = False  # a (甲)(1)(2)... row under the header
    footer: bool = True
    leading_blank_rows: int = 0
    date_style: str = "cell"  # "cell", "chinese" (2016年3月5日) or "dotted" (2016.03.05)
    text_columns: list[str] = field(default_factory=list)  # written as text even if they look numeric


def _leaves(header: list) -> list[str]:
    return [h for item in header for h in ([item] if isinstance(item, str) else item[1])]


def _cell(value, date_style: str):
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp | dt.date):
        d = value.date() if isinstance(value, pd.Timestamp | dt.datetime) else value
        if date_style == "chinese":
            return f"{d.year}年{d.month}月{d.day}日"
        if date_style == "dotted":
            return f"{d.year}.{d.month:02d}.{d.day:02d}"
        return dt.datetime(d.year, d.month, d.day)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


# A fixed creation time: the same seed makes the same bytes, so a sample made again is, to the pipeline, the
# same files (same SHA-256), and a run keeps what it landed and published from them.
SENT_AT = dt.datetime(2018, 1, 15, 9, 0)


def write_workbook(path, tables: list[Table], big: bool = False) -> list[pd.Series]:
    """Write the tables as sheets of one workbook; returns each table's data-row Excel numbers.

    Inside `written_in_parallel()` the file is written by a worker process and this returns at once: where
    every row goes is worked out here (`_layout`), the same plan the worker writes by."""
    numbers = [pd.Series(_layout(table).data, index=table.rows.index) for table in tables]
    if _POOL.executor is None:
        _write_file(path, tables, big)
    else:
        _POOL.jobs.append(_POOL.executor.submit(_write_file, path, tables, big))
    return numbers


class _Pool:
    executor: ProcessPoolExecutor | None = None
    jobs: list = []


_POOL = _Pool()


@contextlib.contextmanager
def written_in_parallel(workers: int) -> Iterator[None]:
    """Workbooks written by `workers` processes while the sample's next tables are drawn; every file is
    complete when the block ends. Writing the cells and zipping them is most of a sample's time.

    forkserver: the workers start from a clean process, never a copy of this one (a test's process has
    threads, and forking a threaded process is unsafe)."""
    if workers < 2 or _POOL.executor is not None:
        yield
        return
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if "forkserver" in methods:
        context.set_forkserver_preload([__name__])
    with ProcessPoolExecutor(workers, mp_context=context) as executor:
        _POOL.executor, _POOL.jobs = executor, []
        try:
            yield
            for job in _POOL.jobs:
                job.result()  # a worker's error is raised here
        finally:
            _POOL.executor, _POOL.jobs = None, []


def _write_file(path, tables: list[Table], big: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": big, "strings_to_numbers": False})
    workbook.set_properties({"created": SENT_AT})
    formats = {
        "title": workbook.add_format({"bold": True, "font_size": 14, "align": "center"}),
        "header": workbook.add_format({"bold": True, "align": "center", "valign": "vcenter", "border": 1, "text_wrap": True}),
        "date": workbook.add_format({"num_format": "yyyy-mm-dd"}),
        "text": workbook.add_format({"num_format": "@"}),
        "bold": workbook.add_format({"bold": True}),
    }
    for table in tables:
        _write_table(workbook, table, _layout(table), formats)
    workbook.close()


@dataclass
class _Layout:
    """The Excel rows (0-based) of each part of a table's sheet."""

    title: int
    unit: int | None
    header: int
    index: int | None
    top_total: int | None
    data: np.ndarray  # 1-based, as Excel numbers them: what write_workbook returns
    subtotals: dict[int, tuple[int, object]]  # after the data row at this position: (its row, its group)
    bottom_total: int | None
    footer: int | None


def _layout(table: Table) -> _Layout:
    r = table.leading_blank_rows
    title = r
    r += 1
    unit = r if table.unit_line else None
    r += 1 if table.unit_line else 0
    header = r
    r += 2 if any(not isinstance(h, str) for h in table.header) else 1
    index = r if table.index_row else None
    r += 1 if table.index_row else 0
    top_total = r if table.total == "top" else None
    r += 1 if table.total == "top" else 0
    n = len(table.rows)
    subtotals = {}
    if table.subtotal_by and n:
        groups = table.rows[table.subtotal_by].to_numpy()
        ends = np.flatnonzero(np.append(groups[1:] != groups[:-1], True))  # the last row of each run
        before = np.searchsorted(ends, np.arange(n), side="left")  # runs ended before each row
        data = r + np.arange(n) + before
        subtotals = {int(e): (int(data[e]) + 1, groups[e]) for e in ends}
        r = int(data[-1]) + 2
    else:
        data = r + np.arange(n)
        r += n
    bottom_total = r if table.total == "bottom" else None
    r += 1 if table.total == "bottom" else 0
    footer = r + 1 if table.footer else None
    return _Layout(title, unit, header, index, top_total, (data + 1).astype(np.int64), subtotals, bottom_total, footer)


def _write_table(workbook, table: Table, layout: _Layout, formats) -> None:
    ws = workbook.add_worksheet(table.sheet)
    leaves = _leaves(table.header)
    width = len(leaves)
    ws.merge_range(layout.title, 0, layout.title, width - 1, table.title, formats["title"])
    if table.unit_line:
        ws.write(layout.unit, width - 1, table.unit_line)
    _write_header(ws, table.header, layout.header, formats["header"])
    if table.index_row:
        ws.write_row(layout.index, 0, ["(甲)"] + [f"({i})" for i in range(1, width)])
    rows = table.rows
    sums = {col: round(float(pd.to_numeric(rows[col], errors="coerce").sum()), 4) for col in table.sum_columns}

    def total_row(label, values):
        cells = [None] * width
        cells[table.total_label_column] = label
        for col, value in values.items():
            cells[leaves.index(col)] = value
        return cells

    if layout.top_total is not None:
        ws.write_row(layout.top_total, 0, total_row("合计", sums), formats["bold"])
    subtotal_rows = {}
    for position, (row, group) in layout.subtotals.items():
        mask = rows[table.subtotal_by].to_numpy() == group
        subtotal = {col: round(float(pd.to_numeric(rows.loc[mask, col], errors="coerce").sum()), 4)
                    for col in table.sum_columns}
        subtotal_rows[position] = (row, total_row(f"{group}小计", subtotal))
    _write_rows(ws, rows, layout.data - 1, subtotal_rows, {leaves.index(c) for c in table.text_columns},
                table.date_style, formats)
    if layout.bottom_total is not None:
        ws.write_row(layout.bottom_total, 0, total_row("合计", sums), formats["bold"])
    if layout.footer is not None:
        ws.write(layout.footer, 0, "单位负责人:")
        ws.write(layout.footer, 3, "填表人:")
        ws.write(layout.footer + 1, 0, "填表时间:")


def _write_header(ws, header: list, r: int, header_format) -> None:
    two_rows = any(not isinstance(h, str) for h in header)
    c = 0
    for item in header:
        if isinstance(item, str):
            if two_rows:
                ws.merge_range(r, c, r + 1, c, item, header_format)
            else:
                ws.write(r, c, item, header_format)
            c += 1
        else:
            parent, children = item
            if len(children) > 1:
                ws.merge_range(r, c, r, c + len(children) - 1, parent, header_format)
            else:
                ws.write(r, c, parent, header_format)
            for child in children:
                ws.write(r + 1, c, child, header_format)
                c += 1


def _write_rows(ws, rows: pd.DataFrame, excel_rows: np.ndarray, subtotal_rows: dict[int, tuple[int, list]],
                text_idx: set[int], date_style: str, formats) -> None:
    """Row by row, subtotals in their places (constant_memory mode takes rows only in order); each value as
    `_cell` makes it (dates by the table's style, text columns as text)."""
    values = rows.astype(object).to_numpy()
    for position, (r, record) in enumerate(zip(excel_rows.tolist(), values, strict=True)):
        for j, v in enumerate(_cell(v, date_style) for v in record):
            if isinstance(v, dt.datetime):
                ws.write_datetime(r, j, v, formats["date"])
            elif j in text_idx and v is not None:
                ws.write_string(r, j, str(v))
            elif v is not None:
                ws.write(r, j, v)
        if position in subtotal_rows:
            subtotal_row, cells = subtotal_rows[position]
            ws.write_row(subtotal_row, 0, cells)
