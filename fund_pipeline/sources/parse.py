"""Vectorised cell parsers: object columns as read from a sheet -> typed columns plus a 'bad' mask.

Each parser returns (values, bad) where `bad` marks non-empty cells that could not be read as the
field's type.  Empty cells are NA and never bad: whether a field may be empty is a rule of its own.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api.types import infer_dtype

from fund_pipeline.sources.spec import UNIT_FACTORS

_CJK_GAP = r"(?<=[\u3400-\u9fff\U00020000-\U0002ffff])\s+(?=[\u3400-\u9fff\U00020000-\U0002ffff])"
# A number as typed: digits with an optional decimal part, or thousands grouped by commas (1,234,567.89).
# Anything else with a comma or a second point (1.234,50 / 1,2345 / 1.234.567) is ambiguous: never guessed.
_NUMBER = r"[-+]?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?"
_MONEY = rf"^(?P<number>{_NUMBER})(?P<unit>亿元|万元|元)?(?:\(.*\))?$"
_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
_CONTROL_RE = re.compile(_CONTROL)
# Every character Python's `\s` matches in text (str.isspace), spelled out so that a character class of them
# means the same to Python's re and to pyarrow's RE2 (whose `\s` is ASCII only).
WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
              "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
# Every character Python's `\d` matches in text (str.isdecimal: the Unicode decimal digits), as ranges, for the
# same reason.
DECIMAL_DIGITS = ("0-9\u0660-\u0669\u06f0-\u06f9\u07c0-\u07c9\u0966-\u096f\u09e6-\u09ef\u0a66-\u0a6f\u0ae6-\u0aef"
                  "\u0b66-\u0b6f\u0be6-\u0bef\u0c66-\u0c6f\u0ce6-\u0cef\u0d66-\u0d6f\u0de6-\u0def\u0e50-\u0e59"
                  "\u0ed0-\u0ed9\u0f20-\u0f29\u1040-\u1049\u1090-\u1099\u17e0-\u17e9\u1810-\u1819\u1946-\u194f"
                  "\u19d0-\u19d9\u1a80-\u1a89\u1a90-\u1a99\u1b50-\u1b59\u1bb0-\u1bb9\u1c40-\u1c49\u1c50-\u1c59"
                  "\ua620-\ua629\ua8d0-\ua8d9\ua900-\ua909\ua9d0-\ua9d9\ua9f0-\ua9f9\uaa50-\uaa59\uabf0-\uabf9"
                  "\uff10-\uff19\U000104a0-\U000104a9\U00010d30-\U00010d39\U00011066-\U0001106f\U000110f0-\U000110f9"
                  "\U00011136-\U0001113f\U000111d0-\U000111d9\U000112f0-\U000112f9\U00011450-\U00011459"
                  "\U000114d0-\U000114d9\U00011650-\U00011659\U000116c0-\U000116c9\U00011730-\U00011739"
                  "\U000118e0-\U000118e9\U00011950-\U00011959\U00011c50-\U00011c59\U00011d50-\U00011d59"
                  "\U00011da0-\U00011da9\U00016a60-\U00016a69\U00016ac0-\U00016ac9\U00016b50-\U00016b59"
                  "\U0001d7ce-\U0001d7ff\U0001e140-\U0001e149\U0001e2f0-\U0001e2f9\U0001e950-\U0001e959"
                  "\U0001fbf0-\U0001fbf9")
_SPELLED_OUT = {"s": WHITESPACE, "d": DECIMAL_DIGITS}
_TRUE = {"是", "有", "已成立", "y", "yes", "true", "1", "√"}
_FALSE = {"否", "无", "未成立", "n", "no", "false", "0", "×"}

MAX_EXACT_FLOAT = 2**53
# Inferred kinds of an object column in which no two cells of different types can compare equal, so that
# factorising the cells as they are never merges cells a parser would read differently (1, 1.0 and True can).
_PLAIN_KINDS = {"string", "empty", "date", "datetime", "time", "timedelta", "boolean"}
# Above this share of distinct cells a column is parsed cell by cell: there is nothing to save.
DISTINCT_SHARE = 0.5


@functools.lru_cache(maxsize=256)
def portable_regex(pattern: str) -> str:
    """The pattern with `\\s`, `\\S`, `\\d` and `\\D` spelled out as the characters Python's re means by them.

    pandas runs a text column's regex in pyarrow's RE2, at C speed, unless the pattern uses one of these
    (RE2's are ASCII only): then it falls back to Python's re, one cell at a time, several times slower on a
    roster. Spelled out, the pattern matches the same cells in either engine. A negated class written inside
    brackets (`[\\S…]`) is left as it is: pandas then takes Python's re, which is still right."""
    out, position, in_brackets = [], 0, False
    while position < len(pattern):
        char = pattern[position]
        if char == "\\" and position + 1 < len(pattern):
            escape = pattern[position + 1]
            position += 2
            chars = _SPELLED_OUT.get(escape.lower())
            if chars is None or (in_brackets and escape.isupper()):
                out.append("\\" + escape)
            elif in_brackets:
                out.append(chars)
            else:
                out.append(("[^" if escape.isupper() else "[") + chars + "]")
            continue
        out.append(char)
        position += 1
        if char == "[" and not in_brackets:
            in_brackets = True
            for literal in ("^", "]"):  # `[^…` negates; a `]` first in the brackets is a literal
                if pattern[position:position + 1] == literal:
                    out.append(literal)
                    position += 1
        elif char == "]" and in_brackets:
            in_brackets = False
    return "".join(out)


@dataclass(frozen=True)
class Distinct:
    """A column's distinct cells, and for every cell the position of its value among them."""

    codes: np.ndarray
    cells: pd.Series  # RangeIndex 0..k-1, the column's dtype and name

    @property
    def worth_it(self) -> bool:
        return len(self.cells) <= DISTINCT_SHARE * len(self.codes)

    def spread(self, values: pd.Series, index: pd.Index) -> pd.Series:
        """A result computed on the distinct cells, as one value per cell of the column."""
        if not values.index.equals(self.cells.index):
            raise ValueError("a parser's result must keep its cells' positions")
        return pd.Series(values.array.take(self.codes), index=index, name=values.name, dtype=values.dtype)


def distinct_cells(column: pd.Series) -> Distinct:
    """The distinct cells of a column as read from a sheet.

    Cells are the Python scalars python-calamine gives (str, float, int, bool, date, datetime, time,
    timedelta) or None. A cell's type is part of its identity, as it is for the parsers (the number 1, the
    text '1' and True differ); floats are compared bit by bit so that -0.0 stays apart from 0.0."""
    if column.dtype != object:  # typed text (labels): NA is one more distinct cell
        codes, uniques = pd.factorize(column.array, use_na_sentinel=False)
        return Distinct(codes, pd.Series(uniques, name=column.name))
    values = column.to_numpy()
    kind = infer_dtype(values, skipna=True)
    if kind in _PLAIN_KINDS:
        codes, uniques = pd.factorize(values)
    elif kind == "floating":
        present = values != None  # noqa: E711 (elementwise: which cells are not None)
        bits = values[present].astype(np.float64).view(np.int64)
        present_codes, unique_bits = pd.factorize(bits)
        codes = np.full(len(values), -1, dtype=np.intp)
        codes[present] = present_codes
        uniques = unique_bits.view(np.float64).astype(object)
    else:
        return _distinct_by_type(column)
    missing = codes < 0
    if missing.any():
        if any(v is not None for v in values[missing]):
            return _distinct_by_type(column)  # NaN or NaT beside None: keep them apart
        codes = np.where(missing, len(uniques), codes)
        uniques = np.append(uniques.astype(object), None)
    return Distinct(codes, pd.Series(uniques, dtype=object, name=column.name))


def _distinct_by_type(column: pd.Series) -> Distinct:
    """Mixed cells (numbers beside text, NaN beside None …): distinct values within each type."""
    values = column.to_numpy()
    type_codes, types = pd.factorize(column.map(type).to_numpy())
    codes = np.empty(len(values), dtype=np.intp)
    offset = 0
    for index, kind in enumerate(types):
        where = np.flatnonzero(type_codes == index)
        group = values[where]
        if kind is float:
            group = group.astype(np.float64).view(np.int64)
        sub_codes, uniques = pd.factorize(group, use_na_sentinel=False)
        codes[where] = sub_codes + offset
        offset += len(uniques)
    _, first, codes = np.unique(codes, return_index=True, return_inverse=True)
    return Distinct(codes.reshape(-1), column.iloc[first].reset_index(drop=True))


class DistinctColumns:
    """The distinct cells of each column of a frame, worked out once; a column that is changed is forgotten."""

    def __init__(self, frame: pd.DataFrame):
        self.frame, self._known = frame, {}

    def of(self, label) -> Distinct:
        if label not in self._known:
            self._known[label] = distinct_cells(self.frame[label])
        return self._known[label]

    def forget(self, label) -> None:
        self._known.pop(label, None)


def per_distinct(parser, column: pd.Series, *args, distinct: Distinct | None = None):
    """`parser(column, *args)`, computed once per distinct cell and spread back to every cell.

    The parsers read each cell on its own, so this is exactly their answer; a roster of 34,000 rows has a
    few thousand distinct names and IDs and a handful of periods, dates and amounts. Where most cells are
    distinct, or the parser fails on the distinct cells, the column is parsed as it is (the same answer,
    or the same error)."""
    if len(column) < 2:
        return parser(column, *args)
    distinct = distinct if distinct is not None else distinct_cells(column)
    if not distinct.worth_it:
        return parser(column, *args)
    try:
        result = parser(distinct.cells, *args)
        if isinstance(result, tuple):
            return tuple(distinct.spread(part, column.index) for part in result)
        return distinct.spread(result, column.index)
    except Exception:
        return parser(column, *args)


def to_float(values) -> pd.Series:
    """Numbers as plain float64 with NaN for anything unreadable (never pandas' nullable Float64)."""
    numbers = pd.to_numeric(values, errors="coerce")
    return pd.Series(np.asarray(numbers, dtype="float64") if not hasattr(numbers, "to_numpy")
                     else numbers.to_numpy(dtype="float64", na_value=np.nan), index=getattr(values, "index", None))


def fold_width(text: pd.Series) -> pd.Series:
    """Full-width digits, letters, commas and brackets as their ASCII forms (NFKC), for the few cells that have them."""
    # The characters themselves, not `\u` escapes: pandas hands a pattern with escapes to Python's re.
    wide = text.str.contains("[\uff01-\uff5e\u3000]", regex=True).fillna(False).astype(bool)
    if wide.any():
        text = text.copy()
        text[wide] = text[wide].str.normalize("NFKC")
    return text


def strip_control(column: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Control characters (NUL, BEL…) removed from text cells; the mask says which cells had them."""
    if column.dtype == object and not _has_control(column.to_numpy()):
        return column, pd.Series(False, index=column.index)
    try:
        found = column.str.contains(_CONTROL, regex=True, na=False).astype(bool)
    except AttributeError:  # no text in this column
        return column, pd.Series(False, index=column.index)
    if found.any():
        column = column.copy()
        column[found] = column[found].str.replace(_CONTROL, "", regex=True)
    return column, found


def _has_control(values: np.ndarray) -> bool:
    """Whether any text cell has a control character: one search over the column's text (a line feed, which
    joins the cells, is not one of them)."""
    return _CONTROL_RE.search("\n".join([v for v in values if isinstance(v, str)])) is not None


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
    spaced = text.str.contains(portable_regex(r"\s"), regex=True).fillna(False).astype(bool)
    if spaced.any():
        text[spaced] = text[spaced].str.replace(_CJK_GAP, "", regex=True)
    text = text.mask(text == "")
    return text, pd.Series(False, index=column.index)


def parse_identifier(column: pd.Series) -> tuple[pd.Series, pd.Series]:
    """IDs and account numbers: typed as a number they may have lost digits, which is reported."""
    as_number = pd.to_numeric(column.where(column.map(type).isin([float, int])), errors="coerce")
    lost_precision = as_number.abs() >= MAX_EXACT_FLOAT
    text = fold_width(_as_text(column)).str.replace(portable_regex(r"\s+"), "", regex=True).str.upper()
    return text.mask(text == ""), lost_precision.fillna(False)


def parse_money(column: pd.Series, default_factor: float) -> tuple[pd.Series, pd.Series]:
    """Amounts -> yuan.  '20万元' carries its own unit; '10(其中…)' keeps the leading number."""
    blank = is_blank(column)
    numeric = to_float(column.where(column.map(type).isin([float, int])))
    values = numeric * default_factor
    text_cells = ~blank & numeric.isna()
    if text_cells.any():
        cleaned = fold_width(column[text_cells].astype("string")).str.replace(portable_regex(r"\s"), "", regex=True)
        parts = cleaned.str.extract(_MONEY)
        factors = parts["unit"].map(UNIT_FACTORS).fillna(default_factor).astype(float)
        values.loc[text_cells] = to_float(parts["number"].str.replace(",", "", regex=False)) * factors
    bad = ~blank & values.isna()
    return values.round(2), bad


def parse_number(column: pd.Series, factor: float = 1.0) -> tuple[pd.Series, pd.Series]:
    blank = is_blank(column)
    text = fold_width(column.astype("string")).str.replace(portable_regex(r"[\s%]"), "", regex=True)
    text = text.where(text.str.fullmatch(_NUMBER).fillna(False)).str.replace(",", "", regex=False)
    cleaned = column.where(column.map(type).isin([float, int]), text)
    values = to_float(cleaned) * factor
    return values, ~blank & values.isna()


def parse_integer(column: pd.Series) -> tuple[pd.Series, pd.Series]:
    values, bad = parse_number(column)
    fractional = values.notna() & (values != np.floor(values))
    with np.errstate(invalid="ignore"):  # pandas casts the NaN cells too before it masks them: no warning for that
        return values.where(~fractional).astype("Int64"), bad | fractional


def parse_percent(column: pd.Series, header_says_percent: bool) -> tuple[pd.Series, pd.Series]:
    """Percent columns become fractions: 4.35 under a '(%)' header, or '4.35%', is 0.0435."""
    has_sign = column.astype("string").str.contains("%", regex=False).fillna(False)
    values, bad = parse_number(column)
    divide = has_sign | header_says_percent
    return values.where(~divide, values / 100).round(6), bad


def parse_year(column: pd.Series) -> tuple[pd.Series, pd.Series]:
    blank = is_blank(column)
    digits = _as_text(column).str.extract(portable_regex(r"^\s*(\d{4})\s*年?(?:度)?\s*$"))[0]
    years = pd.to_numeric(digits, errors="coerce")
    years = years.where((years >= 1990) & (years <= 2100))
    return years.astype("Int64"), ~blank & years.isna()


def parse_period(column: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Payment periods as YYYYMM text; '2016年3月' and '2016-03' are accepted."""
    blank = is_blank(column)
    text = _as_text(column).str.replace(portable_regex(r"\s+"), "", regex=True)
    parts = text.str.extract(portable_regex(r"^(\d{4})(?:年|-|\.|/)?(\d{1,2})月?(?:期)?$"))
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
