"""Vectorised cell parsers: object columns as read from a sheet -> typed columns plus a 'bad' mask.

Each parser returns (values, bad) where `bad` marks non-empty cells that could not be read as the
field's type.  Empty cells are NA and never bad: whether a field may be empty is a rule of its own.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from fund_pipeline.sources.spec import UNIT_FACTORS

_CJK_GAP = r"(?<=[\u3400-\u9fff\U00020000-\U0002ffff])\s+(?=[\u3400-\u9fff\U00020000-\U0002ffff])"
# A number as typed: digits with an optional decimal part, or thousands grouped by commas (1,234,567.89).
# Anything else with a comma or a second point (1.234,50 / 1,2345 / 1.234.567) is ambiguous: never guessed.
_NUMBER = r"[-+]?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?"
_MONEY = rf"^(?P<number>{_NUMBER})(?P<unit>亿元|万元|元)?(?:\(.*\))?$"
_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
_TRUE = {"是", "有", "已成立", "y", "yes", "true", "1", "√"}
_FALSE = {"否", "无", "未成立", "n", "no", "false", "0", "×"}

MAX_EXACT_FLOAT = 2**53


def to_float(values) -> pd.Series:
    """Numbers as plain float64 with NaN for anything unreadable (never pandas' nullable Float64)."""
    numbers = pd.to_numeric(values, errors="coerce")
    return pd.Series(np.asarray(numbers, dtype="float64") if not hasattr(numbers, "to_numpy")
                     else numbers.to_numpy(dtype="float64", na_value=np.nan), index=getattr(values, "index", None))


def fold_width(text: pd.Series) -> pd.Series:
    """Full-width digits, letters, commas and brackets as their ASCII forms (NFKC), for the few cells that have them."""
    wide = text.str.contains(r"[\uff01-\uff5e\u3000]", regex=True).fillna(False).astype(bool)
    if wide.any():
        text = text.copy()
        text[wide] = text[wide].str.normalize("NFKC")
    return text


def strip_control(column: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Control characters (NUL, BEL…) removed from text cells; the mask says which cells had them."""
    try:
        found = column.str.contains(_CONTROL, regex=True, na=False).astype(bool)
    except AttributeError:  # no text in this column
        return column, pd.Series(False, index=column.index)
    if found.any():
        column = column.copy()
        column[found] = column[found].str.replace(_CONTROL, "", regex=True)
    return column, found


def is_blank(column: pd.Series) -> pd.Series:
    return column.isna() | column.astype("string").str.strip().fillna("").eq("")


def _as_text(column: pd.Series) -> pd.Series:
    """Cells as strings; whole floats lose their '.0' (IDs and codes typed as numbers)."""
    numeric = column.map(type).isin([float, int])
    text = column.astype("string")
    if numeric.any():
        as_float = pd.to_numeric(column[numeric], errors="coerce")
        whole = as_float.notna() & (as_float == np.floor(as_float))
        text.loc[whole[whole].index] = as_float[whole].astype("int64").astype("string")
    return text


def parse_text(column: pd.Series) -> tuple[pd.Series, pd.Series]:
    text = _as_text(column).str.strip()
    # "交  通" -> "交通": the look-around needs Python's re, so only the few cells with a space pay for it.
    spaced = text.str.contains(r"\s", regex=True).fillna(False).astype(bool)
    if spaced.any():
        text[spaced] = text[spaced].str.replace(_CJK_GAP, "", regex=True)
    text = text.mask(text == "")
    return text, pd.Series(False, index=column.index)


def parse_identifier(column: pd.Series) -> tuple[pd.Series, pd.Series]:
    """IDs and account numbers: typed as a number they may have lost digits, which is reported."""
    as_number = pd.to_numeric(column.where(column.map(type).isin([float, int])), errors="coerce")
    lost_precision = as_number.abs() >= MAX_EXACT_FLOAT
    text = fold_width(_as_text(column)).str.replace(r"\s+", "", regex=True).str.upper()
    return text.mask(text == ""), lost_precision.fillna(False)


def parse_money(column: pd.Series, default_factor: float) -> tuple[pd.Series, pd.Series]:
    """Amounts -> yuan.  '20万元' carries its own unit; '10(其中…)' keeps the leading number."""
    blank = is_blank(column)
    numeric = to_float(column.where(column.map(type).isin([float, int])))
    values = numeric * default_factor
    text_cells = ~blank & numeric.isna()
    if text_cells.any():
        cleaned = fold_width(column[text_cells].astype("string")).str.replace(r"\s", "", regex=True)
        parts = cleaned.str.extract(_MONEY)
        factors = parts["unit"].map(UNIT_FACTORS).fillna(default_factor).astype(float)
        values.loc[text_cells] = to_float(parts["number"].str.replace(",", "", regex=False)) * factors
    bad = ~blank & values.isna()
    return values.round(2), bad


def parse_number(column: pd.Series, factor: float = 1.0) -> tuple[pd.Series, pd.Series]:
    blank = is_blank(column)
    text = fold_width(column.astype("string")).str.replace(r"[\s%]", "", regex=True)
    text = text.where(text.str.fullmatch(_NUMBER).fillna(False)).str.replace(",", "", regex=False)
    cleaned = column.where(column.map(type).isin([float, int]), text)
    values = to_float(cleaned) * factor
    return values, ~blank & values.isna()


def parse_integer(column: pd.Series) -> tuple[pd.Series, pd.Series]:
    values, bad = parse_number(column)
    fractional = values.notna() & (values != np.floor(values))
    return values.where(~fractional).astype("Int64"), bad | fractional


def parse_percent(column: pd.Series, header_says_percent: bool) -> tuple[pd.Series, pd.Series]:
    """Percent columns become fractions: 4.35 under a '(%)' header, or '4.35%', is 0.0435."""
    has_sign = column.astype("string").str.contains("%", regex=False).fillna(False)
    values, bad = parse_number(column)
    divide = has_sign | header_says_percent
    return values.where(~divide, values / 100).round(6), bad


def parse_year(column: pd.Series) -> tuple[pd.Series, pd.Series]:
    blank = is_blank(column)
    digits = _as_text(column).str.extract(r"^\s*(\d{4})\s*年?(?:度)?\s*$")[0]
    years = pd.to_numeric(digits, errors="coerce")
    years = years.where((years >= 1990) & (years <= 2100))
    return years.astype("Int64"), ~blank & years.isna()


def parse_period(column: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Payment periods as YYYYMM text; '2016年3月' and '2016-03' are accepted."""
    blank = is_blank(column)
    text = _as_text(column).str.replace(r"\s+", "", regex=True)
    parts = text.str.extract(r"^(\d{4})(?:年|-|\.|/)?(\d{1,2})月?(?:期)?$")
    month = pd.to_numeric(parts[1], errors="coerce")
    ok = parts[0].notna() & month.between(1, 12)
    period = (parts[0] + month.astype("Int64").astype("string").str.zfill(2)).where(ok)
    return period.astype("string"), ~blank & ~ok


def parse_flag(column: pd.Series) -> tuple[pd.Series, pd.Series]:
    blank = is_blank(column)
    text = _as_text(column).str.strip().str.lower()
    values = pd.Series(pd.NA, index=column.index, dtype="boolean")
    values[text.isin(_TRUE).fillna(False)] = True
    values[text.isin(_FALSE).fillna(False)] = False
    return values, ~blank & values.isna()


def parse_date(column: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Dates from date cells, Excel serial numbers, and '2016年3月5日' / '2016.3.5' / '2016-03-05' text."""
    blank = is_blank(column)
    kinds = column.map(type)
    result = pd.Series(pd.NaT, index=column.index, dtype="datetime64[ns]")
    native = kinds.isin([dt.date, dt.datetime, pd.Timestamp])
    if native.any():
        result[native] = pd.to_datetime(column[native], errors="coerce")
    serial = kinds.isin([float, int])
    if serial.any():
        days = pd.to_numeric(column[serial], errors="coerce")
        result[serial] = pd.to_datetime(days.where(days.between(20000, 80000)), unit="D", origin="1899-12-30")
    text = ~blank & ~native & ~serial
    if text.any():
        cleaned = (
            column[text].astype("string").str.strip()
            .str.replace(r"[年月./]", "-", regex=True).str.replace("日", "", regex=False)
        )
        result[text] = pd.to_datetime(cleaned, format="%Y-%m-%d", errors="coerce")
    return result, ~blank & result.isna()
