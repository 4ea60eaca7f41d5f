"""Canonical schemas: the fields each kind of record has once a department's layout is mapped.

Types: text, money (always stored in yuan), number, integer, date, year, period (YYYYMM),
flag (是/否 -> bool), percent (stored as a fraction).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pyarrow as pa


@dataclass(frozen=True)
class Field:
    name: str
    type: str = "text"
    required: bool = False
    label: str = ""  # Chinese label used in reports and messages


def _fields(*specs: tuple) -> tuple[Field, ...]:
    return tuple(Field(*spec) for spec in specs)


ENTITIES: dict[str, tuple[Field, ...]] = {
    "county_fiscal": _fields(
        ("fiscal_year", "year", True, "年度"),
        ("new_fiscal_revenue", "money", True, "当年新增财力"),
        ("poverty_allocation", "money", True, "用于精准扶贫资金"),
        ("recovered_idle_funds", "money", False, "清理收回存量资金"),
        ("usable_idle_funds", "money", False, "可统筹使用资金"),
        ("idle_funds_to_poverty", "money", False, "统筹用于扶贫资金"),
    ),
    "fund_receipts": _fields(
        ("fiscal_year", "year", True, "年度"),
        ("channel_name", "text", True, "资金渠道"),
        ("channel_level", "text", False, "资金级次"),
        ("document_no", "text", False, "指标文号"),
        ("received_date", "date", False, "到位时间"),
        ("amount", "money", True, "到位金额"),
    ),
    "villages": _fields(
        ("township", "text", True, "乡镇"),
        ("village", "text", True, "村"),
        ("village_code", "text", True, "村代码"),
        ("is_poor_village", "flag", True, "是否贫困村"),
        ("households", "integer", False, "户数"),
        ("population", "integer", False, "人口"),
    ),
    "poor_households": _fields(
        ("township", "text", True, "乡镇"),
        ("village", "text", True, "村"),
        ("head_name", "text", True, "户主姓名"),
        ("household_id", "text", True, "身份证号"),
        ("household_size", "integer", True, "家庭人口"),
        ("identified_year", "year", False, "识别年度"),
    ),
    "projects": _fields(
        ("fiscal_year", "year", True, "年度"),
        ("project_code", "text", True, "项目编号"),
        ("project_name", "text", True, "项目名称"),
        ("category", "text", True, "项目类别"),
        ("purpose", "text", False, "建设内容类别"),
        ("construction_type", "text", False, "建设性质"),
        ("township", "text", True, "乡镇"),
        ("village", "text", False, "村"),
        ("content", "text", False, "建设内容及规模"),
        ("budget", "money", True, "资金规模"),
        ("budget_central", "money", False, "中央"),
        ("budget_province", "money", False, "省级"),
        ("budget_city", "money", False, "市级"),
        ("budget_county", "money", False, "县级"),
        ("channel_name", "text", True, "资金渠道"),
        ("beneficiary_households", "integer", False, "受益户数"),
        ("beneficiary_poor_households", "integer", False, "其中贫困户"),
        ("implementing_unit", "text", False, "实施单位"),
        ("responsible_person", "text", False, "责任人"),
        ("performance_target", "text", False, "绩效目标"),
        ("planned_start", "date", False, "计划开工"),
        ("planned_end", "date", False, "计划完工"),
        ("publicity_start", "date", False, "公示开始"),
        ("publicity_end", "date", False, "公示结束"),
        ("publicity_place", "text", False, "公示地点"),
    ),
    "disbursements": _fields(
        ("fiscal_year", "year", True, "年度"),
        ("project_code", "text", True, "项目编号"),
        ("project_name", "text", False, "项目名称"),
        ("township", "text", True, "乡镇"),
        ("village", "text", True, "村"),
        ("channel_name", "text", True, "资金渠道"),
        ("purpose", "text", True, "用途"),
        ("amount", "money", True, "拨付金额"),
        ("pay_date", "date", True, "拨付日期"),
        ("voucher_no", "text", False, "凭证号"),
    ),
    "household_payments": _fields(
        ("fiscal_year", "year", True, "年度"),
        ("program", "text", True, "补贴类别"),
        ("household_id", "text", True, "身份证号"),
        ("head_name", "text", True, "户主姓名"),
        ("household_size", "integer", False, "家庭人口"),
        ("township", "text", True, "乡镇"),
        ("village", "text", True, "村"),
        ("subsidy_item", "text", True, "补贴项目"),
        ("period", "period", False, "补贴期号"),
        ("amount", "money", True, "补贴金额"),
        ("pay_date", "date", False, "发放时间"),
        ("payee_name", "text", False, "收款人"),
        ("account_no", "text", False, "账号"),
        ("project_code", "text", False, "项目编号"),
        ("channel_name", "text", False, "资金渠道"),
    ),
    "loans": _fields(
        ("fiscal_year", "year", True, "年度"),
        ("township", "text", True, "乡镇"),
        ("village", "text", True, "村"),
        ("borrower_name", "text", True, "借款人"),
        ("borrower_id", "text", True, "身份证号"),
        ("amount", "money", True, "贷款金额"),
        ("term_months", "integer", True, "贷款期限(月)"),
        ("interest_rate", "percent", True, "年利率"),
        ("benchmark_rate", "percent", True, "基准利率"),
        ("guarantee", "text", False, "担保方式"),
        ("collateral", "text", False, "抵押物"),
        ("loan_date", "date", False, "放款日期"),
        ("lender", "text", False, "贷款银行"),
    ),
    "mutual_aid": _fields(
        ("fiscal_year", "year", True, "年度"),
        ("township", "text", True, "乡镇"),
        ("village", "text", True, "村"),
        ("has_association", "flag", True, "是否成立协会"),
        ("fund_size", "money", True, "互助资金规模"),
        ("member_households", "integer", False, "入会农户数"),
    ),
    "audits": _fields(
        ("fiscal_year", "year", True, "年度"),
        ("project_code", "text", True, "项目编号"),
        ("project_name", "text", False, "项目名称"),
        ("auditor", "text", False, "审计单位"),
        ("audit_date", "date", False, "审计日期"),
        ("conclusion", "text", False, "审计结论"),
        ("problem_amount", "money", False, "问题金额"),
    ),
    "student_loans": _fields(
        ("fiscal_year", "year", True, "年度"),
        ("township", "text", True, "乡镇"),
        ("village", "text", False, "村"),
        ("student_name", "text", True, "学生姓名"),
        ("borrower_id", "text", True, "身份证号"),
        ("school", "text", False, "就读学校"),
        ("academic_year", "text", False, "学年"),
        ("amount", "money", True, "贷款金额"),
        ("loan_date", "date", False, "放款日期"),
    ),
    "village_doctor_subsidies": _fields(
        ("fiscal_year", "year", True, "年度"),
        ("township", "text", True, "乡镇"),
        ("village", "text", True, "村"),
        ("doctor_name", "text", True, "乡村医生"),
        ("doctor_id", "text", False, "身份证号"),
        ("period", "period", True, "补助月份"),
        ("amount", "money", True, "补助金额"),
    ),
    "illness_claims": _fields(
        ("fiscal_year", "year", True, "年度"),
        ("township", "text", True, "乡镇"),
        ("village", "text", False, "村"),
        ("patient_name", "text", True, "患者姓名"),
        ("patient_id", "text", True, "身份证号"),
        ("household_id", "text", False, "户主身份证号"),
        ("claim_date", "date", False, "结算日期"),
        ("total_cost", "money", True, "医疗总费用"),
        ("deductible", "money", True, "起付线"),
        ("reimbursed", "money", True, "大病保险赔付"),
    ),
}

LINEAGE_COLUMNS = ("source", "department", "source_file", "file_sha256", "sheet", "row_number")
# Lineage text that repeats on every row of a file (a few dozen distinct values in a million rows): a large
# frame holds it as categoricals, each value once (a county-year's payments: 255 MB less), and the warehouse
# receives it as text all the same.
REPEATED_LINEAGE = ("source", "department", "source_file", "file_sha256", "sheet", "run_id")


def concat_keeping_categories(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The frames one after another, a column categorical in every frame staying categorical (pandas would turn
    it into text, each value repeated again, wherever the frames' categories differ). Changes the frames' dtypes."""
    for column in frames[0].columns:
        dtypes = [f[column].dtype for f in frames if column in f]
        if len(dtypes) == len(frames) and all(isinstance(d, pd.CategoricalDtype) for d in dtypes):
            categories = pd.Index(pd.unique(pd.concat([pd.Series(d.categories) for d in dtypes], ignore_index=True)))
            for frame in frames:
                frame[column] = frame[column].cat.set_categories(categories)
    return pd.concat(frames, ignore_index=True)


def text_in_one_chunk(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with each Arrow-backed column in one contiguous chunk, replaced one column at a time (its old
    chunks freed as it is). A column read in batches, or concatenated from several sources, comes in chunks, and
    taking a few rows from it concatenated the whole column first: every row filter GX applies for a row
    condition paid that, a quarter of GX's time over a million payments."""
    for name in frame.columns:
        column = frame[name]
        chunks = column.array.__arrow_array__() if hasattr(column.array, "__arrow_array__") else None
        if isinstance(chunks, pa.ChunkedArray) and chunks.num_chunks > 1:
            one = column.dtype.__from_arrow__(pa.chunked_array([chunks.combine_chunks()], type=chunks.type))
            frame[name] = pd.Series(one, index=frame.index, name=name)
    return frame


def fields_of(entity: str) -> tuple[Field, ...]:
    return ENTITIES[entity]


_DTYPES = {"money": "float64", "number": "float64", "percent": "float64", "integer": "Int64", "year": "Int64",
           "date": "datetime64[ns]", "flag": "boolean", "text": "string", "period": "string"}


def conform(entity: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Give every canonical and lineage column its warehouse type, so even an empty table has the right columns.

    The frame passed in is not changed, nor copied: the result shares its columns (copy-on-write)."""
    out = frame.copy(deep=False)
    for f in ENTITIES[entity]:
        dtype = _DTYPES[f.type]
        if f.name not in out:
            out[f.name] = pd.Series(index=out.index, dtype=dtype)
        elif f.type == "date":
            out[f.name] = pd.to_datetime(out[f.name], errors="coerce")
        elif dtype in ("float64", "Int64"):
            numbers = pd.to_numeric(out[f.name], errors="coerce")
            out[f.name] = numbers.astype("Float64").astype(dtype) if dtype == "Int64" else numbers.astype(dtype)
        else:
            out[f.name] = out[f.name].astype(dtype)
    for column in ("source", "department", "source_file", "file_sha256", "sheet", "row_key"):
        if column in out and not isinstance(out[column].dtype, pd.CategoricalDtype):  # REPEATED_LINEAGE stays so
            out[column] = out[column].astype("string")
    if "row_number" in out:
        out["row_number"] = pd.to_numeric(out["row_number"]).astype("Int64")
    return out
