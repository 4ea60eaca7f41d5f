"""What aggregate findings need beyond GX's verdict on a mart row.

- Verdicts on published rows and with quarantined money: a county-year finding says when they differ.
- Attribution: a county-year or channel finding names the departments, files, sheets and rows that
  contribute most to the measured value.
- Contributing rows: a household-year finding (TRANSFER-900) becomes one finding per payment row that
  makes up the household's year, and a project over its budget (WITHIN-BUDGET) also gets one finding on
  each payment row that took the project's cumulative spending past its budget.
"""

from __future__ import annotations

import pandas as pd

from fund_pipeline.rules.catalogue import Check, Rule
from fund_pipeline.rules.derive import GROUP_SEPARATOR
from fund_pipeline.rules.validation import normalise_findings
from fund_pipeline.rules.wording import WITH_QUARANTINED, yuan_text
from fund_pipeline.warehouse import Warehouse

TWIN_SUFFIX = WITH_QUARANTINED  # a measure published again with quarantined money
TOP_FILES, TOP_ROWS = 3, 3

# Per rule: the rows behind its measure (relation, condition, weight) that pull the measure the wrong way
# (or, for totals, make it up), and how to call them.  Published rows only: the shares a finding is about.
ATTRIBUTION = {
    "VILLAGE-54": ("marts.fund_flow", "not is_poor_village", "amount", "不在贫困村的整合资金支出"),
    "HOUSEHOLD-57": ("marts.fund_flow", "true", "amount - poor_household_amount", "未到贫困户的整合资金支出"),
    "INTEGRATE-1B": ("staging.stg_fund_receipts", "not is_quarantined", "amount", "到位的整合资金"),
    "POLICY-FUNDS-4E8": ("staging.stg_household_payments", "program = '惠农补贴' and not is_quarantined", "amount",
                         "已发放的惠农补贴"),
    "HOUSING": ("staging.stg_household_payments", "program = '危房改造' and not is_quarantined", "1", "危房改造发放行"),
    "IMPL-INFRA": ("staging.stg_projects", "category = '基础设施' and implementing_unit_kind = '乡镇' and not is_quarantined",
                   "budget", "由乡镇实施的基础设施项目资金"),
    "IMPL-INDUSTRY": ("staging.stg_projects", "category = '产业发展' and implementing_unit_kind = '部门' and not is_quarantined",
                      "budget", "由县直部门实施的产业发展项目资金"),
    "FISCAL-20": ("staging.stg_county_fiscal", "not is_quarantined", "poverty_allocation", "县级财政扶贫投入"),
    "FISCAL-GROWTH": ("staging.stg_county_fiscal", "not is_quarantined", "poverty_allocation", "县级财政扶贫投入"),
    "STOCK-50": ("staging.stg_county_fiscal", "not is_quarantined", "idle_funds_to_poverty", "存量资金统筹用于扶贫"),
    "WITHIN-RECEIPTS": ("staging.stg_projects", "channel_name = {value}", "budget", "该渠道安排到项目的资金"),
}


# ------------------------------------------------------------------ verdicts, twice

def _meets(rule: Rule, check: Check, year: int, value) -> bool | None:
    """The catalogue's statement for one value: within both bounds, equal to a bound only where allowed; None
    for a value that is missing (no data to measure: neither met nor missed)."""
    if value is None or pd.isna(value):
        return None
    thresholds = rule.thresholds_for(year)
    ok = True
    for bound, is_min in (("min_value", True), ("max_value", False)):
        raw = check.params.get(bound)
        if raw is None:
            continue
        name = raw[1:] if isinstance(raw, str) and raw.startswith("$") else None
        limit = float(thresholds[name]) if name else float(raw)
        at_limit = rule.limit_allowed(name) if name else not check.params.get("strict_min" if is_min else "strict_max")
        ok &= (value > limit if is_min else value < limit) or (value == limit and at_limit)
    return ok


def _all(verdicts: list[bool | None]) -> bool | None:
    """Every measured check met (True), one missed (False); None when none could be measured."""
    measured = [v for v in verdicts if v is not None]
    return all(measured) if measured else None


def verdicts(frame: pd.DataFrame, rule: Rule, year: int) -> tuple[bool | None, bool | None]:
    """(passes on published rows, passes with quarantined money) for one county-year; None where that year has
    nothing to measure (e.g. no row of it was published)."""
    row = frame[frame["fiscal_year"] == year]
    if row.empty:
        return None, None
    row = row.iloc[0]
    published, with_quarantined = [], []
    for check in rule.checks_for("county_year_measures"):
        if check.expect != "between":
            continue
        column = check.params["column"]
        (with_quarantined if column.endswith(TWIN_SUFFIX) else published).append(
            _meets(rule, check, year, row.get(column)))
    return _all(published), _all(with_quarantined)


VERDICT_WORDS = {True: "达标", False: "不达标", None: "无数据可判断"}


def note_differing_verdicts(findings: pd.DataFrame, frame: pd.DataFrame, rules: dict[str, Rule]) -> pd.DataFrame:
    """A county-year finding whose verdict on published rows differs from the one with quarantined money says so."""
    findings = findings.copy()
    for index, finding in findings.iterrows():  # one row per failing rule and year: a handful
        published, with_quarantined = verdicts(frame, rules[finding["rule_id"]], int(finding["fiscal_year"]))
        if published != with_quarantined:
            findings.loc[index, "message"] = (f"{finding['message']}(两种口径结论不同:按已发布数据"
                                              f"{VERDICT_WORDS[published]},计入被隔离行的资金后"
                                              f"{VERDICT_WORDS[with_quarantined]})")
    return findings


# ------------------------------------------------------------------ attribution

def _rows_behind(warehouse: Warehouse, rule_id: str, year: int, value) -> pd.DataFrame:
    relation, condition, weight, _ = ATTRIBUTION[rule_id]
    if "{value}" in condition:
        condition = condition.format(value="'" + str(value).replace("'", "''") + "'")
    return warehouse.query(
        f"select department, source_file, sheet, row_number, cast({weight} as double precision) as weight "
        f"from {relation} where fiscal_year = {int(year)} and ({condition})")


def _describe(rows: pd.DataFrame, label: str) -> tuple[str, str]:
    """(departments, text): the files/sheets that weigh most, and their heaviest rows."""
    rows = rows.assign(weight=rows["weight"].fillna(0.0), department=rows["department"].fillna("(未知部门)"))
    total = rows["weight"].sum()
    if rows.empty or total == 0:
        return "", f"{label}:无"
    by_sheet = (rows.groupby(["department", "source_file", "sheet"], dropna=False)["weight"].sum()
                .sort_values(ascending=False).head(TOP_FILES))
    parts = []
    for (department, source_file, sheet), weight in by_sheet.items():
        mine = rows[(rows["source_file"] == source_file) & (rows["sheet"] == sheet)].nlargest(TOP_ROWS, "weight")
        lines = "、".join(f"第{int(r)}行 {w:,.2f}" for r, w in zip(mine["row_number"], mine["weight"], strict=True)
                         if pd.notna(r))
        parts.append(f"{department} {source_file}/{sheet} {weight:,.2f}(占{weight / total:.1%})" + (f":{lines}" if lines else ""))
    departments = "、".join(dict.fromkeys(d for d, _, _ in by_sheet.index))
    return departments, f"{label}合计 {total:,.2f},最多的是:" + ";".join(parts)


# A county-year row carries the lineage of the finance bureau's row for the year: the row the fiscal
# measures are computed from, and no row at all of the measures summed from other departments' sheets.
FISCAL_ROW = "staging.stg_county_fiscal"
ROW_LINEAGE = ["source", "source_file", "sheet", "row_number", "row_key"]


def attribute(warehouse: Warehouse, findings: pd.DataFrame) -> pd.DataFrame:
    """Fill `attribution` (and `department` where empty) of the findings of rules that measure many rows. A
    county-year measure summed from other sheets names no file, sheet or row of its own: its departments are
    those its attribution names (the finance bureau's row it was joined to is not where it comes from)."""
    findings = findings.copy()
    for index, finding in findings.iterrows():  # one query per aggregate finding (a rule and a year): a handful
        if finding["rule_id"] not in ATTRIBUTION or pd.isna(finding["fiscal_year"]):
            continue
        relation = ATTRIBUTION[finding["rule_id"]][0]
        rows = _rows_behind(warehouse, finding["rule_id"], finding["fiscal_year"], finding["value"])
        departments, text = _describe(rows, ATTRIBUTION[finding["rule_id"]][3])
        findings.loc[index, "attribution"] = text
        if finding["target"] == "county_year_measures" and relation != FISCAL_ROW:
            findings.loc[index, ROW_LINEAGE] = pd.NA
            findings.loc[index, "department"] = departments or pd.NA
        elif pd.isna(finding["department"]) or not finding["department"]:
            findings.loc[index, "department"] = departments or pd.NA
    return findings


# ------------------------------------------------------------------ contributing rows

def household_year_rows(warehouse: Warehouse, findings: pd.DataFrame) -> pd.DataFrame:
    """TRANSFER-900: each payment row that makes up a failing household-year, one finding each."""
    failing = findings[findings["rule_id"] == "TRANSFER-900"]
    if failing.empty:
        return findings
    payments = warehouse.query(
        "select household_id, fiscal_year, source, department, source_file, sheet, row_number, row_key "
        "from staging.stg_household_payments where program = '惠农补贴'")
    keys = failing.drop(columns=["source", "department", "source_file", "sheet", "row_number", "row_key"]).assign(
        household_id=failing["value"])
    rows = keys.merge(payments.astype({"household_id": "string"}), on=["household_id", "fiscal_year"], how="inner")
    rows["group_key"] = "户 " + rows["household_id"] + GROUP_SEPARATOR + rows["fiscal_year"].astype("string") + "年"
    rows["level"] = "row"
    unmatched = failing[~failing["value"].isin(rows["household_id"])]
    return normalise_findings(pd.concat([findings[findings["rule_id"] != "TRANSFER-900"], unmatched,
                                         rows.drop(columns="household_id")], ignore_index=True))


def budget_breaking_rows(warehouse: Warehouse, findings: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """WITHIN-BUDGET: the payment rows that took a project's cumulative spending (by payment date) past its
    budget, each a finding of its own beside the project's."""
    failing = findings[findings["rule_id"] == "WITHIN-BUDGET"]
    if failing.empty:
        return findings
    projects = frame.loc[frame["row_key"].isin(failing["row_key"]), ["project_code", "fiscal_year", "budget"]]
    codes = ", ".join("'" + str(c).replace("'", "''") + "'" for c in projects["project_code"].dropna().unique())
    if not codes:
        return findings
    payments = warehouse.query(
        "select project_code, fiscal_year, amount, pay_date, source, department, source_file, sheet, row_number, row_key "
        f"from staging.stg_disbursements where project_code in ({codes}) union all "
        "select project_code, fiscal_year, amount, pay_date, source, department, source_file, sheet, row_number, row_key "
        f"from staging.stg_household_payments where project_code in ({codes})")
    payments = payments.merge(projects, on=["project_code", "fiscal_year"])
    payments = payments.sort_values(["project_code", "pay_date", "source_file", "sheet", "row_number"])
    payments["spent_so_far"] = payments.groupby("project_code")["amount"].cumsum()
    breaking = payments[payments["spent_so_far"] > payments["budget"]]
    template = failing.iloc[0]
    rows = pd.DataFrame({
        "run_id": template["run_id"], "rule_id": "WITHIN-BUDGET", "severity": template["severity"], "level": "row",
        "target": template["target"], "source": breaking["source"], "department": breaking["department"],
        "source_file": breaking["source_file"], "sheet": breaking["sheet"], "row_number": breaking["row_number"],
        "row_key": breaking["row_key"], "column_name": "拨付金额", "value": breaking["amount"].round(2).astype("string"),
        # In 元, said so: the value beside it is shown in the sheet's own unit (often 万元).
        "expected": ("项目累计支出(含本笔," + yuan_text(breaking["spent_so_far"]) + ")应不超过项目资金规模"
                     + yuan_text(breaking["budget"])),
        "message": template["message"] + "(该笔支出使项目累计支出超过预算)", "policy_clause": template["policy_clause"],
        "fiscal_year": breaking["fiscal_year"], "catalogue_version": template["catalogue_version"],
        "detected_at": template["detected_at"], "group_key": "项目 " + breaking["project_code"],
    })
    return normalise_findings(pd.concat([findings, rows], ignore_index=True))
