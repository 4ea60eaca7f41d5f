"""Writes tables the way county departments lay them out: title, unit line, merged headers, totals, footers.

Returns the Excel row number of every data row, so planted violations can be located exactly.
"""

from __future__ import annotations

import datetime as dt
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
    """Write the tables as sheets of one workbook; returns each table's data-row Excel numbers."""
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
    numbers = [_write_table(workbook, table, formats) for table in tables]
    workbook.close()
    return numbers


def _write_table(workbook, table: Table, formats) -> pd.Series:
    ws = workbook.add_worksheet(table.sheet)
    leaves = _leaves(table.header)
    width = len(leaves)
    r = table.leading_blank_rows
    ws.merge_range(r, 0, r, width - 1, table.title, formats["title"])
    r += 1
    if table.unit_line:
        ws.write(r, width - 1, table.unit_line)
        r += 1
    two_rows = any(not isinstance(h, str) for h in table.header)
    c = 0
    for item in table.header:
        if isinstance(item, str):
            if two_rows:
                ws.merge_range(r, c, r + 1, c, item, formats["header"])
            else:
                ws.write(r, c, item, formats["header"])
            c += 1
        else:
            parent, children = item
            if len(children) > 1:
                ws.merge_range(r, c, r, c + len(children) - 1, parent, formats["header"])
            else:
                ws.write(r, c, parent, formats["header"])
            for child in children:
                ws.write(r + 1, c, child, formats["header"])
                c += 1
    r += 2 if two_rows else 1
    if table.index_row:
        ws.write_row(r, 0, ["(甲)"] + [f"({i})" for i in range(1, width)])
        r += 1
    rows = table.rows
    sums = {col: round(float(pd.to_numeric(rows[col], errors="coerce").sum()), 4) for col in table.sum_columns}

    def total_row(label, values):
        cells = [None] * width
        cells[table.total_label_column] = label
        for col, value in values.items():
            cells[leaves.index(col)] = value
        return cells

    if table.total == "top":
        ws.write_row(r, 0, total_row("合计", sums), formats["bold"])
        r += 1
    text_idx = {leaves.index(c) for c in table.text_columns}
    excel_rows = np.empty(len(rows), dtype=np.int64)
    groups = rows[table.subtotal_by].to_numpy() if table.subtotal_by else None
    values = rows.astype(object).to_numpy()
    for i, record in enumerate(values):
        cells = [_cell(v, table.date_style) for v in record]
        for j, v in enumerate(cells):
            if isinstance(v, dt.datetime):
                ws.write_datetime(r, j, v, formats["date"])
            elif j in text_idx and v is not None:
                ws.write_string(r, j, str(v))
            elif v is not None:
                ws.write(r, j, v)
        excel_rows[i] = r + 1
        r += 1
        if groups is not None and (i + 1 == len(values) or groups[i + 1] != groups[i]):
            mask = groups == groups[i]
            subtotal = {col: round(float(pd.to_numeric(rows.loc[mask, col], errors="coerce").sum()), 4)
                        for col in table.sum_columns}
            ws.write_row(r, 0, total_row(f"{groups[i]}小计", subtotal))
            r += 1
    if table.total == "bottom":
        ws.write_row(r, 0, total_row("合计", sums), formats["bold"])
        r += 1
    if table.footer:
        r += 1
        ws.write(r, 0, "单位负责人:")
        ws.write(r, 3, "填表人:")
        ws.write(r + 1, 0, "填表时间:")
    return pd.Series(excel_rows, index=rows.index)
