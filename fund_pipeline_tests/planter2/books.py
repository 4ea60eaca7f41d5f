"""Reading and editing a department's sheet the way a clerk would: by header text, keeping totals right."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl

TOTAL_WORDS = ("合计", "小计", "总计")
FOOTER_WORDS = ("负责人", "填表", "审核")


class Books:
    """The workbooks of one inbox, opened once and saved together."""

    def __init__(self, inbox: Path):
        self.inbox = Path(inbox)
        self._open: dict[str, openpyxl.Workbook] = {}

    def sheet(self, rel: str, key: str, name: str | None = None) -> Sheet:
        if rel not in self._open:
            self._open[rel] = openpyxl.load_workbook(self.inbox / rel)
        book = self._open[rel]
        return Sheet(rel, book[name] if name else book.worksheets[0], key)

    def save(self) -> None:
        for rel, book in self._open.items():
            book.save(self.inbox / rel)


class Sheet:
    """Columns by header (a two-row header's lower cell wins), data rows by a key column, totals kept."""

    def __init__(self, rel: str, ws, key: str):
        self.rel, self.ws, self.name = rel, ws, ws.title
        header = next(r for r in range(1, 12) if key in [c.value for c in ws[r]])
        if ws.cell(header, 1).value is None and isinstance(ws.cell(header - 1, 1).value, str):
            header -= 1  # the key sits in the lower row of a merged two-row header
        self.columns: dict[str, int] = {}
        for cell in ws[header]:
            if isinstance(cell.value, str):
                self.columns[cell.value] = cell.column
        below = [c.value for c in ws[header + 1]]
        start = header + 1
        merged_header = not any(isinstance(v, int | float) for v in below)  # a total row carries numbers
        if below[0] is None and any(isinstance(v, str) for v in below) and merged_header:  # a two-row header
            for cell in ws[header + 1]:
                if isinstance(cell.value, str):
                    self.columns[cell.value] = cell.column
            start += 1
        if isinstance(ws.cell(start, 1).value, str) and ws.cell(start, 1).value.startswith("("):
            start += 1  # the (甲)(1)(2)… index row
        key_column = self.columns[key]
        self.rows = [r for r in range(start, ws.max_row + 1)
                     if ws.cell(r, key_column).value not in (None, "") and not self._is_total(r)
                     and not any(w in str(ws.cell(r, key_column).value) for w in FOOTER_WORDS)]

    def _is_total(self, row: int) -> bool:
        labels = [str(self.ws.cell(row, c).value or "") for c in range(1, 4)]
        return any(word in label for label in labels for word in TOTAL_WORDS)

    def get(self, row: int, column: str):
        return self.ws.cell(row, self.columns[column]).value

    def set(self, row: int, column: str, value) -> None:
        self.ws.cell(row, self.columns[column]).value = value

    def set_amount(self, row: int, column: str, value: float) -> None:
        """Change an amount and the 合计 (and the group's 小计) that add it up, as the clerk's sheet would."""
        delta = float(value) - float(self.get(row, column) or 0)
        self.set(row, column, value)
        c = self.columns[column]
        subtotal_done = False
        for r in range(1, self.ws.max_row + 1):
            if not self._is_total(r) or not isinstance(self.ws.cell(r, c).value, int | float):
                continue
            labels = "".join(str(self.ws.cell(r, k).value or "") for k in range(1, 4))
            if "小计" in labels:
                if r > row and not subtotal_done:
                    self.ws.cell(r, c).value = round(self.ws.cell(r, c).value + delta, 4)
                    subtotal_done = True
                continue
            self.ws.cell(r, c).value = round(self.ws.cell(r, c).value + delta, 4)

    def records(self, *columns: str) -> list[dict]:
        return [{"row": r, **{c: self.get(r, c) for c in columns}} for r in self.rows]


def as_date(value) -> dt.date:
    """A date cell as departments write it: an Excel date, 2016年3月5日 or 2016.03.05."""
    if isinstance(value, dt.datetime):
        return value.date()
    text = str(value).replace("年", "-").replace("月", "-").replace("日", "").replace(".", "-")
    year, month, day = (int(p) for p in text.split("-")[:3])
    return dt.date(year, month, day)


def like(original, day: dt.date):
    """A date written in the same style as the cell it replaces."""
    if isinstance(original, dt.datetime):
        return dt.datetime(day.year, day.month, day.day)
    if isinstance(original, str) and "年" in original:
        return f"{day.year}年{day.month}月{day.day}日"
    if isinstance(original, str) and "." in original:
        return f"{day.year}.{day.month:02d}.{day.day:02d}"
    return dt.datetime(day.year, day.month, day.day)


def resident_id(seed: int) -> str:
    """A valid 18-digit ID (GB 11643 check digit) of someone in Huining born in 1960, numbered by seed."""
    body = f"620422196001{(seed % 28) + 1:02d}{700 + seed:03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]
