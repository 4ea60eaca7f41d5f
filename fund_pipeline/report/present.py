"""Findings in the reader's language: the department's own column headers and units, Chinese source
names, a department on every finding, statuses and dispositions — everything masked.

All wording comes from the layouts, the catalogue and wording.yaml, so new sources and rule ids need
no change here.
"""

from __future__ import annotations

import re

import pandas as pd

from fund_pipeline.report.masking import mask_text
from fund_pipeline.rules.wording import QUARANTINED_LABEL, measure_unit, target_info, wording
from fund_pipeline.sources.schemas import ENTITIES
from fund_pipeline.sources.spec import UNIT_FACTORS, SourceSpec, load_layouts

SEVERITY_ZH = {"error": "错误", "warning": "警告"}
UNKNOWN_DEPARTMENT = "(未注明部门)"
SHARE = "比例"  # a computed measure's unit that is a ratio, shown as a percentage

# The findings as every reader sees them, in this order (HTML page, workbook, CSV).
READER_COLUMNS = {
    "finding_key": "问题编号", "status": "状态", "rule_id": "规则编号", "title": "规则名称", "severity": "严重程度",
    "department": "部门", "source_title": "来源", "file_name": "文件", "sheet": "工作表", "row_number": "行号",
    "column_header": "列", "value_shown": "原值", "expected": "应为", "message": "说明", "group_key": "分组",
    "attribution": "主要来源", "policy_clause": "政策条款",
    "fiscal_year": "年度", "first_seen_at": "首次发现", "disposition": "处置", "note": "处置说明",
    "disposed_by": "处置人", "disposed_at": "处置时间",
}


def _layouts() -> dict[str, SourceSpec]:
    """The layouts in force (load_layouts caches them, and a county's own configuration replaces them)."""
    try:
        return {spec.name: spec for spec in load_layouts()}
    except Exception:  # a broken layout is reported by ingestion; the report still renders
        return {}


def source_title(source: str | None, target: str | None = None) -> str:
    """A source's Chinese title: the sheet's name as the layout's file pattern gives it
    (交通运输局/*交通扶贫资金拨付台账*.xlsx -> 交通扶贫资金拨付台账); a mart's title from wording.yaml."""
    spec = _layouts().get(source or "")
    if spec is not None:
        pattern = spec.files[0].rsplit("/", 1)[-1]
        title = re.sub(r"\.\w+$|\*|\?|\d{4}年?", "", pattern).strip("_- ")
        return title or spec.department
    if source == "inbox":
        return "收件箱"
    return target_info(target).get("title") or wording().get("entities", {}).get(target or "", "") or (target or "")


def department_of(source: str | None, target: str | None, given: str | None) -> str:
    if isinstance(given, str) and given.strip():
        return given
    spec = _layouts().get(source or "")
    if spec is not None:
        return spec.department
    if source == "inbox":
        return "收件箱(未登记来源)"
    return target_info(target).get("department") or UNKNOWN_DEPARTMENT


def _field_of(spec: SourceSpec, column_name: str) -> str | None:
    """The canonical field a finding's column names (findings carry the field's Chinese label)."""
    for f in ENTITIES.get(spec.entity, ()):
        if column_name in (f.name, f.label):
            return f.name
    return None


def _money_unit(spec: SourceSpec, field: str) -> str | None:
    kinds = {f.name: f.type for f in ENTITIES.get(spec.entity, ())}
    if kinds.get(field) != "money":
        return None
    column = spec.column(field)
    return (column.unit if column is not None and column.unit else None) or spec.unit


def column_header(source: str | None, column_name: str | None) -> tuple[str, str | None]:
    """(the header text on the department's sheet, the sheet's money unit for that column or None). A measure
    computed from many rows is on no sheet: its header says so, with its unit (a share is shown in %)."""
    if not isinstance(column_name, str) or not column_name:
        return "", None
    spec = _layouts().get(source or "")
    field = _field_of(spec, column_name) if spec is not None else None
    column = spec.column(field) if field else None
    if column is None or not column.aliases:
        unit = measure_unit(column_name)
        if unit is None:
            return column_name, None
        measure = column_name.removesuffix(QUARANTINED_LABEL)
        notes = ["含被隔离行"] if measure != column_name else []
        notes.append("计算值" + ("" if unit == SHARE else "," + unit))
        return f"{measure}({';'.join(notes)})", unit
    header, unit = column.aliases[0], _money_unit(spec, field)
    if unit and unit not in header:
        header = f"{header}({unit})"
    return header, unit


def value_as_typed(values: pd.Series, units: pd.Series) -> pd.Series:
    """Values in the sheet's own unit (yuan back to 万元 where the sheet is in 万元), a computed share in %,
    dates without time."""
    text = values.astype("string")
    numbers = pd.to_numeric(text, errors="coerce")
    factor = units.map(UNIT_FACTORS)
    money = numbers.notna() & factor.notna()
    out = text.copy()
    shown = (numbers[money] / factor[money]).round(6)
    out[money] = shown.astype(str).str.replace(r"\.0$", "", regex=True).replace("-0", "0")
    share = (numbers.notna() & (units == SHARE)).fillna(False)
    out[share] = (numbers[share] * 100).round(2).map("{:.2f}%".format)
    out = out.str.replace(r"^(\d{4}-\d{2}-\d{2})[ T]00:00:00$", r"\1", regex=True)
    out = out.str.replace(r"^(-?\d+)\.0$", r"\1", regex=True)  # a whole number stored as a float
    out = out.replace({"True": "是", "False": "否", "true": "是", "false": "否"})
    return out


def _with_names(out: pd.DataFrame) -> pd.DataFrame:
    """Department, source title, sheet header and unit, looked up once per distinct combination
    (a county-year has hundreds of thousands of findings but a few hundred combinations)."""
    keys = ["source", "target", "department", "column_name"]
    combos = out[keys].astype(object).where(out[keys].notna(), None).drop_duplicates()
    names = pd.DataFrame([{
        **dict(zip(keys, combo, strict=True)),
        "_department": department_of(combo[0], combo[1], combo[2]), "source_title": source_title(combo[0], combo[1]),
        "column_header": column_header(combo[0], combo[3])[0], "_unit": column_header(combo[0], combo[3])[1],
    } for combo in combos.itertuples(index=False)], columns=[*keys, "_department", "source_title", "column_header",
                                                              "_unit"])
    lookup = out[keys].astype(object).where(out[keys].notna(), "\x00").merge(
        names.astype({k: object for k in keys}).fillna({k: "\x00" for k in keys}), how="left", on=keys)
    out = out.assign(department=lookup["_department"].to_numpy(), source_title=lookup["source_title"].to_numpy(),
                     column_header=lookup["column_header"].to_numpy(), _unit=lookup["_unit"].to_numpy())
    return out


def reader_findings(findings: pd.DataFrame, dispositions: pd.DataFrame | None = None,
                    titles: dict[str, str] | None = None) -> pd.DataFrame:
    """The findings with every column a reader looks at, in Chinese and masked (internal column names)."""
    out = findings.copy().reset_index(drop=True)
    for column in ("finding_key", "status", "rule_id", "severity", "department", "source", "target", "source_file",
                   "sheet", "row_number", "column_name", "value", "expected", "message", "policy_clause",
                   "fiscal_year", "first_seen_at", "group_key", "attribution"):
        if column not in out:
            out[column] = pd.NA
    out["status"] = out["status"].fillna("新增")
    out["title"] = out["rule_id"].map(titles or {}).fillna("")
    out = _with_names(out)
    out["value_shown"] = value_as_typed(out["value"], out.pop("_unit"))
    out["file_name"] = out["source_file"].astype("string").str.rsplit("/", n=1).str[-1]
    out["severity"] = out["severity"].map(SEVERITY_ZH).fillna(out["severity"])
    out["policy_clause"] = out["policy_clause"].fillna("(数据完整性)")
    out["fiscal_year"] = pd.to_numeric(out["fiscal_year"], errors="coerce").astype("Int64")
    out["row_number"] = pd.to_numeric(out["row_number"], errors="coerce").astype("Int64")
    out["first_seen_at"] = pd.to_datetime(out["first_seen_at"], errors="coerce").dt.strftime("%Y-%m-%d %H:%M")
    if dispositions is not None and len(dispositions):
        latest = dispositions.drop_duplicates("finding_key", keep="last").set_index("finding_key")
        for column in ("disposition", "note", "disposed_by", "disposed_at"):
            out[column] = out["finding_key"].map(latest[column]) if column in latest else pd.NA
        out["disposed_at"] = pd.to_datetime(out["disposed_at"], errors="coerce").dt.strftime("%Y-%m-%d %H:%M")
    else:
        for column in ("disposition", "note", "disposed_by", "disposed_at"):
            out[column] = pd.NA
    for column in ("value_shown", "expected", "message", "note", "file_name", "sheet", "column_header", "group_key",
                   "attribution"):
        out[column] = mask_text(out[column].astype("string"))
    return out[list(READER_COLUMNS)]
