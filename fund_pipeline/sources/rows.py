"""Which rows of a sheet's body are data: totals, subtotals, headings and footers are told apart here.

Real county tables write totals every way: 合计/合計/总计/總計/小计/小計/共计/合 计, above or below their
rows, and sometimes with no label at all (only the amounts filled in). They end in notes, hotline numbers,
dates and the issuing agency's name. None of those may be counted as data, and every total must be
checked against the rows it sums. Everything here is vectorised over the rows; only the few candidate
total rows are visited one by one.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fund_pipeline.sources.parse import WHITESPACE, DistinctColumns, per_distinct, portable_regex

# Traditional and full-width forms of the characters that total labels are made of.
_FOLD = str.maketrans({"計": "计", "總": "总", "匯": "汇", "彙": "汇", "數": "数", "監": "监", "電": "电", "話": "话",
                       "註": "注", "說": "说", "單": "单", "負": "负", "責": "责", "時": "时", "間": "间", "聯": "联",
                       "繫": "系", "係": "系", "審": "审", "圖": "图", "資": "资", "來": "来", "導": "导", "領": "领",
                       "報": "报", "製": "制", "簽": "签", "蓋": "盖", "章": "章", "：": ":", "\u3000": ""})
_FOLDABLE = "[" + WHITESPACE + "".join(map(chr, _FOLD)) + "]"
_ENUMERATION = r"^(?:[一二三四五六七八九十]+|\d+)[、.．]"
TOTAL_LABEL = r"^.{0,12}?(?:合计|总计|小计|共计|总合计|汇总|累计)(?:数|金额)?:?$"
BREAKDOWN_LABEL = r"^其中:?$"
HEADING = r"^(?:[一二三四五六七八九十]+[、.．]|[(（][一二三四五六七八九十]+[)）]|第[一二三四五六七八九十]+[部类项])"
FOOTER_WORDS = (r"^(?:单位负责人|负责人|填表人|填报人|填表时间|填表日期|填报日期|填表单位|填报单位|制表|制表人|审核人|审核|"
                r"分管领导|经办人|监督电话|举报电话|联系电话|咨询电话|注[:：]|注[0-9一二三]|备注[:：]|说明[:：]|附注|"
                r"数据来源|资料来源|公示时间|公示期)")
PHONE = r"(?:\d{3,4}-)?\d{7,8}|1[3-9]\d{9}"
DATE_LINE = r"^\d{4}\s*[年./-]\s*\d{1,2}\s*[月./-]\s*\d{1,2}\s*日?$"
AGENCY_LINE = r"^.{2,30}(?:局|办|办公室|人民政府|委员会|中心|公司|银行|联社|站|所|领导小组)(?:[(（]盖章[)）])?$"

# Fields that describe a group (a township's projects) rather than identify a row: a subtotal may carry them.
GROUP_FIELDS = {"township", "village", "category", "program", "channel_name", "channel_level", "purpose",
                "subsidy_item", "fiscal_year", "construction_type"}
SUMMABLE_TYPES = {"money", "integer", "number", "percent"}


@dataclass
class RowKinds:
    """Masks over the body rows (one per Excel row) and the totals each summary row declares."""

    data: pd.Series
    blank: pd.Series
    total: pd.Series  # labelled or arithmetic totals and subtotals, and 其中 breakdown rows
    footer: pd.Series
    heading: pd.Series
    totals: pd.DataFrame  # row_number, field, declared, summed, label


def fold_labels(cells: pd.DataFrame, distinct: DistinctColumns | None = None) -> pd.DataFrame:
    """Label text without white space, Traditional total characters and full-width colons folded."""
    distinct = distinct or DistinctColumns(cells)
    return cells.apply(lambda c: per_distinct(_fold_label, c, distinct=distinct.of(c.name)))


def _fold_label(cells: pd.Series) -> pd.Series:
    text = cells.astype("string")
    # Only the labels that have white space or a character to fold are changed (most are plain: 1, 2, 张三).
    changes = text.str.contains(_FOLDABLE, regex=True).fillna(False).astype(bool)
    if not changes.any():
        return text
    text = text.copy()
    text[changes] = text[changes].str.replace(portable_regex(r"\s+"), "", regex=True).str.translate(_FOLD)
    return text


def any_cell_matches(labels: pd.DataFrame, pattern: str, distinct: DistinctColumns | None = None) -> pd.Series:
    if labels.empty:
        return pd.Series(False, index=labels.index)
    distinct = distinct or DistinctColumns(labels)
    with warnings.catch_warnings():  # a layout's pattern may use groups; only whether it matches counts
        warnings.simplefilter("ignore", UserWarning)
        hits = labels.apply(lambda c: per_distinct(_contains, c, pattern, distinct=distinct.of(c.name)))
    return hits.any(axis=1).fillna(False).astype(bool)


def _contains(cells: pd.Series, pattern: str) -> pd.Series:
    return cells.str.contains(portable_regex(pattern), regex=True)


def classify(body: pd.DataFrame, typed: pd.DataFrame, field_types: dict[str, str], label_columns: int,
             extra_total_labels: tuple[str, ...], drop_pattern: str, footer_pattern: str,
             tolerance: float, distinct: DistinctColumns | None = None) -> RowKinds:
    """Sort the body's rows into data, blank, totals, headings and footer (the table ends where the data ends)."""
    present = body.notna()  # once: on a 40,000-row roster each pass over the cells costs a tenth of a second
    blank = ~present.any(axis=1)
    labels = fold_labels(body.iloc[:, :label_columns], distinct)
    label_cells = DistinctColumns(labels)
    # The first label cell that has text, column by column: bfill(axis=1) transposes the frame, one column
    # per sheet row, and took seconds on a 40,000-row roster.
    first_text = labels.iloc[:, 0]
    for column in range(1, labels.shape[1]):
        first_text = first_text.fillna(labels.iloc[:, column])
    money = [f for f, kind in field_types.items() if kind == "money" and f in typed]
    identity = [f for f, kind in field_types.items() if kind not in SUMMABLE_TYPES and f in typed]
    identifying = [f for f in identity if f not in GROUP_FIELDS]
    count = (lambda fields: typed[fields].notna().sum(axis=1)) if len(typed) else None
    filled_identity = count(identity) if identity and count else pd.Series(0, index=body.index)
    filled_identifying = count(identifying) if identifying and count else pd.Series(0, index=body.index)
    has_amount = typed[money].notna().any(axis=1) if money else pd.Series(False, index=body.index)
    filled = present.sum(axis=1)

    # A total row carries a total label and little else: "小计" inside a project's name is not one.
    total_pattern = "|".join([TOTAL_LABEL, BREAKDOWN_LABEL, drop_pattern, *extra_total_labels])
    labelled = any_cell_matches(labels, total_pattern, label_cells) & (filled_identity <= 2) & ~blank
    single = (filled <= 1) & ~has_amount & ~blank
    heading = single & any_cell_matches(labels, HEADING, label_cells)
    first_text = per_distinct(_without_enumeration, first_text)
    footer_start = (per_distinct(_contains, first_text, FOOTER_WORDS).fillna(False).astype(bool)
                    | any_cell_matches(labels, footer_pattern, label_cells)) & ~blank
    clearly_data = has_amount & (filled_identifying >= 2)
    after_footer = footer_start.cummax() & ~clearly_data & ~blank
    candidates = ~blank & ~labelled & ~heading & ~after_footer
    substantial = candidates & (has_amount | (filled >= max(3, len(field_types) // 2)))
    last = substantial[substantial].index.max() if substantial.any() else body.index.min() - 1
    trailing = (body.index > last) & ~blank & ~labelled
    footer = after_footer | trailing
    data = candidates & ~footer

    amount_only = data & (filled_identifying == 0) & has_amount
    arithmetic, totals = _totals(typed, money, data, labelled & ~footer, amount_only, labels, tolerance)
    return RowKinds(data=data & ~arithmetic, blank=blank, total=(labelled & ~footer) | arithmetic, footer=footer,
                    heading=heading, totals=totals)


def _without_enumeration(cells: pd.Series) -> pd.Series:
    return cells.str.replace(portable_regex(_ENUMERATION), "", regex=True)


def _totals(typed: pd.DataFrame, money: list[str], data: pd.Series, labelled: pd.Series,
            amount_only: pd.Series, labels: pd.DataFrame, tolerance: float):
    """Compare each labelled total with the rows it sums, and find unlabelled subtotals arithmetically.

    A summary row sums the data rows of its group: those since the previous summary row (totals written
    below their rows), those up to the next one (totals written above them), or every data row of the
    sheet (a grand total). An unlabelled amount-only row that equals one of these is a summary too; one that
    equals none is a data row whose identifying cells are missing (and is quarantined as such)."""
    empty = pd.DataFrame(columns=["row_number", "field", "declared", "summed", "label"])
    arithmetic = pd.Series(False, index=typed.index)
    if not money or not (labelled.any() or amount_only.any()):
        return arithmetic, empty
    values = typed[money].astype(float)
    first, _ = _summaries(values, (data & ~amount_only).to_numpy(), (labelled | amount_only).to_numpy(),
                          labelled.to_numpy(), labels, tolerance)
    arithmetic.iloc[first] = True
    _, out = _summaries(values, (data & ~arithmetic).to_numpy(), (labelled | arithmetic).to_numpy(),
                        (labelled | arithmetic).to_numpy(), labels, tolerance)
    return arithmetic, pd.DataFrame(out, columns=empty.columns) if out else empty


def _summaries(values: pd.DataFrame, plain: np.ndarray, summary: np.ndarray, always: np.ndarray,
               labels: pd.DataFrame, tolerance: float) -> tuple[list[int], list[dict]]:
    """For each summary row: the sums it may stand for; returns the positions of rows that matched one without
    being labelled (`always` marks the rows kept as summaries whatever they sum) and the totals to check."""
    matrix = values.to_numpy()
    cumulative = np.vstack([np.zeros(matrix.shape[1]), np.cumsum(np.where(plain[:, None], np.nan_to_num(matrix), 0.0),
                                                                 axis=0)])
    positions = np.flatnonzero(summary)
    bounds = [-1, *positions.tolist(), len(matrix)]
    matched, out = [], []
    for k, position in enumerate(positions):  # the few summary rows of a sheet, not its data
        declared = matrix[position]
        filled = ~np.isnan(declared)
        if not filled.any():
            continue
        sums = {"above": cumulative[position] - cumulative[bounds[k] + 1],
                "below": cumulative[bounds[k + 2]] - cumulative[position + 1],
                "whole": cumulative[-1]}
        fits = [name for name, total in sums.items() if np.abs(total[filled] - declared[filled]).max() <= tolerance]
        if not always[position]:
            if fits:
                matched.append(int(position))
            continue
        label = _label_text(labels.iloc[position]) or "(无标签小计)"
        grand = re.search(r"合计|总计|共计|汇总", label) is not None and "小计" not in label
        best = fits[0] if fits else ("whole" if grand else ("above" if np.any(sums["above"]) else "below"))
        for i, field_name in enumerate(values.columns):
            if filled[i]:
                out.append(dict(row_number=int(values.index[position]), field=field_name, declared=float(declared[i]),
                                summed=float(sums[best][i]), label=label))
    return matched, out


def _label_text(row: pd.Series) -> str:
    return next((str(v) for v in row if isinstance(v, str) and v), "")
