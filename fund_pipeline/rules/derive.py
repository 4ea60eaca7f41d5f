"""Derived columns the rules read: computed once per frame, vectorised, before Great Expectations runs.

They turn cross-table facts (is this village poor? is this household registered?) into plain
columns so that each rule is a simple expectation on one frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api.types import infer_dtype

from fund_pipeline.identifiers import resident_id_status
from fund_pipeline.reference import channel_purposes, channels
from fund_pipeline.rules.catalogue import MissingValues, load_catalogue
from fund_pipeline.sources.schemas import ENTITIES

PROJECT_COLUMNS = ["project_code", "channel_name", "purpose", "budget"]
YUAN_PER_WAN = 10_000  # the unit slip a ledger suffers most: 元 keyed in a 万元 column, or the reverse
# The amount each entity's suspect-amount check reads, and the rows it is compared with (its distribution).
# Between an identifier and what follows it in a group's name (户 <ID>,2016年): not a space or a dash, which
# the report's masking reads as part of a longer digit run (an ID and a year would be masked as one number).
GROUP_SEPARATOR = ","

SUSPECT_AMOUNTS = {
    "disbursements": ("amount", ["source", "fiscal_year"]),
    "household_payments": ("amount", ["source", "subsidy_item", "fiscal_year"]),
    "loans": ("amount", ["source", "fiscal_year"]),
    "student_loans": ("amount", ["source", "fiscal_year"]),
    "mutual_aid": ("fund_size", ["source", "fiscal_year"]),
    "village_doctor_subsidies": ("amount", ["source", "fiscal_year"]),
}


@dataclass(frozen=True)
class References:
    """The county registers, as published: villages with codes and poor flags, and poor households."""

    villages: pd.DataFrame  # township_code, village, village_code, is_poor_village, population
    poor_household_ids: frozenset
    project_codes: frozenset = frozenset()
    projects: pd.DataFrame | None = None  # the project library's allocation: PROJECT_COLUMNS

    @classmethod
    def empty(cls) -> References:
        return cls(pd.DataFrame(columns=["township_code", "village", "village_code", "is_poor_village", "population"]),
                   frozenset())

    def project_allocation(self) -> pd.DataFrame:
        if self.projects is None or self.projects.empty:
            return pd.DataFrame({c: pd.Series(dtype="string" if c != "budget" else "float64") for c in PROJECT_COLUMNS})
        return self.projects[PROJECT_COLUMNS].drop_duplicates("project_code")


def _village_lookup(frame: pd.DataFrame, refs: References) -> pd.DataFrame:
    villages = refs.villages if "population" in refs.villages else refs.villages.assign(population=pd.NA)
    keys = villages[["township_code", "village", "village_code", "is_poor_village", "population"]].drop_duplicates(
        ["township_code", "village"])
    merged = frame[["township_code", "village"]].astype("string").merge(
        keys.astype({"township_code": "string", "village": "string"}), how="left", on=["township_code", "village"])
    merged.index = frame.index
    return merged


def member_of(values: pd.Series, members: frozenset) -> pd.Series:
    """`values.isin(members)` for text against a register (a county's 37,000 poor households): Arrow's hash
    lookup for Arrow-backed text, since pandas checks every member's type in Python on each call (0.14 s
    against 0.03 s at a million payments). Any other column is pandas' own `isin`."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not isinstance(values.array, pd.arrays.ArrowStringArray) or not all(isinstance(m, str) for m in members):
        return values.isin(members)
    column = pa.chunked_array(pa.array(values.array))
    found = pc.is_in(column, value_set=pa.array(list(members), type=column.type)).fill_null(False)
    return pd.Series(found.to_numpy(), index=values.index, name=values.name)


def _placeholder_fields(entity: str, out: pd.DataFrame, missing: MissingValues) -> list[str]:
    required = [f.name for f in ENTITIES.get(entity, ()) if f.required]
    wanted = dict.fromkeys([*required, *missing.real_name_fields, *missing.required_by_rules])
    return [c for c in wanted if c in out.columns and not pd.api.types.is_numeric_dtype(out[c])
            and not pd.api.types.is_datetime64_any_dtype(out[c])]


def blank_placeholders(entity: str, out: pd.DataFrame, missing: MissingValues) -> None:
    """A placeholder (待定, —, an ID of 0 …) in a required or real-name field is a missing value: the field
    becomes empty for every rule, and `placeholder_fields` names the fields that held one."""
    text = {p.strip().upper() for p in missing.placeholders}
    ids = {p.strip() for p in missing.identifier_placeholders}
    named = pd.Series("", index=out.index, dtype="string")
    for column in _placeholder_fields(entity, out, missing):
        # Each distinct value is looked at once: a column of a million rows holds a few thousand values.
        codes, distinct = pd.factorize(out[column].astype("string"), use_na_sentinel=True)
        values = pd.Series(distinct, dtype="string").str.strip()
        is_placeholder = values.str.upper().isin(text)
        if column in missing.identifier_fields:
            is_placeholder |= values.isin(ids)
        is_placeholder = np.append(is_placeholder.fillna(False).to_numpy(dtype=bool), False)  # a missing value is none
        hit = is_placeholder[codes]  # code -1 (missing) takes the appended False
        if hit.any():
            out[column] = out[column].where(~hit, pd.NA)
            label = {f.name: f.label for f in ENTITIES.get(entity, ())}.get(column, column)
            held = values.take(codes[hit])
            held.index = out.index[hit]
            named = named.mask(hit, named[hit] + label + "=" + held + ";")
    out["placeholder_fields"] = named.str.rstrip(";").replace("", pd.NA)
    out["placeholder_free"] = out["placeholder_fields"].isna()


def _per_distinct_key(keys: pd.Series, look_up) -> pd.DataFrame:
    """look_up(distinct keys) -> one row per key, in order; returned as one row per row of `keys` (a missing key
    is looked up as one more distinct key). A million rows name a few hundred projects: each is looked up once."""
    codes, distinct = pd.factorize(keys, use_na_sentinel=True)
    distinct = pd.concat([pd.Series(distinct, dtype=keys.dtype), pd.Series([pd.NA], dtype=keys.dtype)], ignore_index=True)
    found = look_up(distinct)
    if len(found) != len(distinct):
        raise ValueError(f"{keys.name}: a key matched more than one row")
    rows = found.take(np.where(codes < 0, len(distinct) - 1, codes))
    rows.index = keys.index
    return rows


def _text_codes(column: pd.Series) -> np.ndarray:
    """One code per row, equal where `column.astype("string").fillna("")` is equal: worked out on the column's
    distinct values (a million rows' years and source names as text cost a tenth of a second each)."""
    if not _text_equal_when_equal(column):  # 1 and 1.0, or -0.0 and 0.0: one value to factorize, two texts
        return pd.factorize(column.astype("string").fillna(""))[0]
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    texts = pd.concat([pd.Series(uniques).astype("string").fillna(""), pd.Series([""], dtype="string")],
                      ignore_index=True)
    return pd.factorize(texts)[0][codes]  # a missing value (code -1) takes the last text: ""


def _text_equal_when_equal(column: pd.Series) -> bool:
    """Whether values that factorize as one always have one text: text, integers, and categories of text."""
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _text_equal_when_equal(pd.Series(dtype.categories))
    if pd.api.types.is_object_dtype(dtype):
        return infer_dtype(column, skipna=True) in ("string", "empty")
    return pd.api.types.is_string_dtype(dtype) or pd.api.types.is_integer_dtype(dtype)


def _distinct_rows(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """For each row, the number of its combination of values (compared as text); and each combination's first row."""
    combination = np.zeros(len(frame), dtype=np.int64)
    for column in frame.columns:
        codes = _text_codes(frame[column])
        combination = combination * (int(codes.max(initial=0)) + 1) + codes
        combination = pd.factorize(combination)[0].astype(np.int64)  # renumbered: the product never overflows
    _, first = np.unique(combination, return_index=True)
    return combination, first


def _allocation(entity: str, out: pd.DataFrame, refs: References) -> None:
    """渠道不乱、用途不变 across sources: a payment keeps the channel (and purpose) its project was allocated."""
    if "project_code" not in out.columns or entity == "projects":
        return
    # A row's answer depends on its project code, channel and purpose only: a million payments hold a few
    # hundred combinations, each worked out once.
    keys = [c for c in ("project_code", "channel_name", "purpose") if c in out.columns]
    combination, first = _distinct_rows(out[keys])
    found = _allocation_of(out[keys].iloc[first].reset_index(drop=True), refs).take(combination)
    for column in found.columns:
        out[column] = pd.Series(found[column].array, index=out.index, dtype=found[column].dtype)


def _allocation_of(rows: pd.DataFrame, refs: References) -> pd.DataFrame:
    projects = refs.project_allocation().add_prefix("project_")
    projects = projects.astype({"project_project_code": "string"})
    code = rows["project_code"].astype("string")
    merged = _per_distinct_key(code, lambda distinct: distinct.to_frame("project_code").merge(
        projects, how="left", left_on="project_code", right_on="project_project_code"))
    checked = np.zeros(len(rows), dtype=bool)
    agree = np.ones(len(rows), dtype=bool)
    for column in ("channel_name", "purpose"):
        if column not in rows.columns:
            continue
        mine, theirs = rows[column].astype("string"), merged[f"project_{column}"].astype("string")
        known = (mine.notna() & theirs.notna()).to_numpy(dtype=bool)
        checked |= known
        agree &= ~known | (mine.fillna("") == theirs.fillna("")).to_numpy(dtype=bool)
    return pd.DataFrame({
        "matches_project_allocation": pd.Series(agree, index=rows.index, dtype="boolean").where(checked, pd.NA),
        "project_group": ("项目 " + code).astype("string"),
        "project_budget": pd.to_numeric(merged["project_budget"], errors="coerce").astype("Float64"),
    }, index=rows.index)


def _suspect_ratios(entity: str, out: pd.DataFrame) -> None:
    """How far an amount lies from its project's budget and from its source's distribution (the median of the
    same kind of rows): a unit slip (元 in a 万元 ledger) is thousands of times off, a real amount is not."""
    if entity not in SUSPECT_AMOUNTS or SUSPECT_AMOUNTS[entity][0] not in out.columns:
        return
    column, group = SUSPECT_AMOUNTS[entity]
    min_rows = load_catalogue().rule("AMOUNT-SUSPECT").thresholds["min_group_rows"]
    amount = pd.to_numeric(out[column], errors="coerce").astype("Float64")
    positive = amount.where(amount > 0)
    keys = [_text_codes(out[g]) for g in group if g in out.columns]  # grouped as their text, a missing one as ""
    grouped = positive.groupby(keys, dropna=False) if keys else None  # grouped once, for both measures
    median = grouped.transform("median") if keys else positive.median()
    size = grouped.transform("count") if keys else positive.count()
    out["median_ratio"] = (positive / median).where(size >= min_rows).astype("Float64")
    if "project_budget" in out.columns:
        out["budget_ratio"] = (positive / out["project_budget"].where(out["project_budget"] > 0)).astype("Float64")
    out["unit_slip_amount"] = _unit_slip_amount(amount, out)


def _unit_slip_amount(amount: pd.Series, out: pd.DataFrame) -> pd.Series:
    """The amount a suspect row would have had without a 万元/元 unit slip: amount × 10,000 or ÷ 10,000, where the
    amount as keyed breaks AMOUNT-SUSPECT and the repaired one sits well inside its source's distribution (the
    catalogue's repaired band) and within its project's budget bounds. Empty otherwise: a misplaced decimal, an
    amount simply wrong, or a source too small to have a distribution has no single repair."""
    limits = load_catalogue().rule("AMOUNT-SUSPECT").thresholds
    median = out["median_ratio"].astype("float64")
    budget = out["budget_ratio"].astype("float64") if "budget_ratio" in out.columns else pd.Series(np.nan, index=out.index)

    def budget_ok(factor: float) -> pd.Series:
        return budget.isna() | budget.mul(factor).between(limits["min_budget_ratio"], limits["max_budget_ratio"])

    suspect = ~median.between(limits["min_median_ratio"], limits["max_median_ratio"]) & median.notna() | ~budget_ok(1.0)
    repaired = pd.Series(np.nan, index=out.index)
    for factor in (1 / YUAN_PER_WAN, YUAN_PER_WAN):
        typical = median.mul(factor).between(limits["min_repaired_median_ratio"], limits["max_repaired_median_ratio"])
        repaired = repaired.mask(suspect & typical & budget_ok(factor), amount.astype("float64") * factor)
    return repaired.astype("Float64")


def _group_totals(entity: str, out: pd.DataFrame) -> None:
    """Caps that apply to a person, a period or a village are summed over all their rows, in every file."""
    if entity == "student_loans":
        year = out["academic_year"].astype("string").fillna(out["fiscal_year"].astype("string"))
        person = out["borrower_id"].astype("string").fillna("行" + out["row_key"].astype("string"))
        out["student_year_group"] = ("学生 " + person + GROUP_SEPARATOR + year + "学年").astype("string")
        out["student_year_total"] = out.groupby("student_year_group")["amount"].transform("sum").astype("Float64")
    if entity == "mutual_aid":
        village = out["village_code"].astype("string").fillna(out["township"].astype("string") + out["village"].astype("string"))
        out["village_fund_group"] = ("村 " + village + GROUP_SEPARATOR + out["fiscal_year"].astype("string") + "年").astype("string")
        out["village_fund_total"] = out.groupby("village_fund_group")["fund_size"].transform("sum").astype("Float64")
    if entity == "loans":
        _outstanding_loans(out)


def loan_end(start: pd.Series, term_months: pd.Series) -> pd.Series:
    """When a loan falls due: its start plus its term in calendar months (same day of the month)."""
    start = pd.to_datetime(start)
    months = pd.to_numeric(term_months, errors="coerce").fillna(0).astype(int).to_numpy()
    first = start.dt.to_period("M")
    shifted = (first + months).dt.to_timestamp()
    return shifted + (start - first.dt.to_timestamp())


def _outstanding_loans(out: pd.DataFrame) -> None:
    """A household's microloans outstanding when each of its loans was made (5万元以内 caps the household,
    not the loan): every loan still running at that date counts, from any year's ledger. Each loan carries
    the largest such total it is part of, and the household and date of that total as its group."""
    start = pd.to_datetime(out["loan_date"]).fillna(pd.to_datetime(out["fiscal_year"].astype("string") + "-01-01"))
    loans = pd.DataFrame({"who": out["borrower_id"].astype("string"), "start": start,
                          "end": loan_end(start, out["term_months"]),
                          "amount": pd.to_numeric(out["amount"], errors="coerce").fillna(0.0), "pos": range(len(out))})
    loans = loans[loans["who"].notna()]
    pairs = loans.merge(loans, on="who", suffixes=("_at", ""))
    pairs = pairs[(pairs["start"] <= pairs["start_at"]) & (pairs["start_at"] < pairs["end"])]
    totals = pairs.groupby("pos_at")["amount"].sum().rename("total")
    pairs = pairs.join(totals, on="pos_at").sort_values(["total", "start_at"], ascending=[False, True])
    peak = pairs.drop_duplicates("pos")  # per loan: the largest total it belongs to
    peak_total = pd.Series(peak["total"].to_numpy(), index=peak["pos"].to_numpy())
    peak_group = pd.Series(("户 " + peak["who"] + GROUP_SEPARATOR + peak["start_at"].dt.strftime("%Y-%m-%d") + "在贷").to_numpy(),
                           index=peak["pos"].to_numpy())
    positions = pd.RangeIndex(len(out))
    out["household_outstanding"] = pd.Series(peak_total.reindex(positions).to_numpy(), index=out.index).astype("Float64")
    out["household_outstanding_group"] = pd.Series(peak_group.reindex(positions).to_numpy(), index=out.index).astype("string")


def add_derived_columns(entity: str, frame: pd.DataFrame, refs: References,
                        missing: MissingValues | None = None) -> pd.DataFrame:
    """The frame with the derived columns added. Its columns are shared with the frame passed in, not
    copied (copy-on-write: a column replaced here is replaced in the result only)."""
    out = frame.copy(deep=False)
    blank_placeholders(entity, out, missing or load_catalogue().missing_values)
    if {"township_code", "village"} <= set(out.columns) and entity != "villages":
        looked_up = _village_lookup(out, refs)
        out["village_code"] = looked_up["village_code"].astype("string")
        out["village_is_poor"] = looked_up["is_poor_village"].astype("boolean")
        out["village_population"] = pd.to_numeric(looked_up["population"], errors="coerce").astype("Float64")
    if "channel_name" in out.columns:
        ch = channels()
        special = set(ch.loc[ch["special_poverty"], "channel_name"])
        out["is_special_channel"] = out["channel_name"].isin(special).astype(bool)
        if "purpose" in out.columns:
            allowed = channel_purposes().assign(_allowed=True)
            merged = out[["channel_name", "purpose"]].astype(object).merge(allowed, how="left", on=["channel_name", "purpose"])
            out["channel_purpose_allowed"] = merged["_allowed"].fillna(False).astype(bool).to_numpy()
    for id_column in ("household_id", "borrower_id", "patient_id", "doctor_id"):
        if id_column in out.columns:
            out[f"{id_column}_status"] = resident_id_status(out[id_column])
    if "household_id" in out.columns:
        out["household_registered_poor"] = member_of(out["household_id"], refs.poor_household_ids)
    if "borrower_id" in out.columns:
        out["borrower_registered_poor"] = member_of(out["borrower_id"], refs.poor_household_ids)
    if "project_code" in out.columns and entity != "projects":
        out["project_known"] = member_of(out["project_code"], refs.project_codes)
    if entity == "household_payments":
        out["payment_period"] = out["period"].astype("string").fillna(out["fiscal_year"].astype("string"))
    for date_column, year_column in (("pay_date", "pay_year"), ("loan_date", "loan_year"), ("audit_date", "audit_year")):
        if date_column in out.columns:
            out[year_column] = pd.to_datetime(out[date_column]).dt.year.astype("Int64")
    if {"publicity_start", "publicity_end"} <= set(out.columns):
        days = (pd.to_datetime(out["publicity_end"]) - pd.to_datetime(out["publicity_start"])).dt.days + 1
        out["publicity_days"] = days.astype("Int64")
    _allocation(entity, out, refs)
    _group_totals(entity, out)
    _suspect_ratios(entity, out)
    return out
