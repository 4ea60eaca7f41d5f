"""The findings' lifecycle across runs: a stable key per finding, its status against the previous run
of its slice (新增 / 持续 / 已整改), and the auditors' dispositions (确认问题 / 误报 / 整改中 / 已整改).

The key is the rule, the source (or the mart) and the row's business key — the fields that name the
row in the department's own terms (project code and voucher, household and subsidy period, …) —
never the run id or the file's hash, so a re-sent or corrected file keeps its findings' keys.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fund_pipeline.warehouse import Warehouse

NEW, PERSISTING, RESOLVED = "新增", "持续", "已整改"
DISPOSITIONS = ("确认问题", "误报", "整改中", "已整改")
DISPOSITION_FOLDER = "审计处置"  # inbox sub-folder where auditors drop the filled-in workbook
RESOLVED_TABLE, DISPOSITION_TABLE = "resolved_findings", "finding_dispositions"
DISPOSITION_COLUMNS = ("finding_key", "rule_id", "disposition", "note", "disposed_by", "disposed_at", "via")

# The fields that name a row in the department's terms; a target not listed is keyed by its location.
BUSINESS_KEYS: dict[str, tuple[str, ...]] = {
    "villages": ("township", "village"),
    "poor_households": ("household_id", "head_name"),
    "projects": ("fiscal_year", "project_code"),
    "disbursements": ("fiscal_year", "project_code", "voucher_no", "pay_date", "township", "village"),
    "household_payments": ("fiscal_year", "program", "household_id", "subsidy_item", "period"),
    "loans": ("fiscal_year", "borrower_id", "loan_date", "lender"),
    "mutual_aid": ("fiscal_year", "township", "village"),
    "audits": ("fiscal_year", "project_code"),
    "student_loans": ("fiscal_year", "borrower_id", "academic_year"),
    "village_doctor_subsidies": ("fiscal_year", "township", "village", "doctor_name", "period"),
    "illness_claims": ("fiscal_year", "patient_id", "claim_date"),
    "county_fiscal": ("fiscal_year",),
    "fund_receipts": ("fiscal_year", "channel_name", "document_no"),
    "county_year_measures": ("fiscal_year",),
    "channel_summary": ("fiscal_year", "channel_name"),
    "project_compliance": ("fiscal_year", "project_code"),
    "payment_accounts": ("household_id", "account_no"),
    "household_transfers": ("fiscal_year", "household_id"),
}


def _digest(frame: pd.DataFrame) -> pd.Series:
    """A short, deterministic hash of each row's values (pandas' fixed-key hash: same on every machine)."""
    hashed = pd.util.hash_pandas_object(frame.astype("string").fillna("∅"), index=False)
    return hashed.map(lambda h: f"{h:016x}"[:12])


def business_key(target: str, rows: pd.DataFrame) -> pd.Series:
    """The business key of each failing row, hashed (it may hold a resident ID)."""
    fields = [f for f in BUSINESS_KEYS.get(target, ()) if f in rows]
    if not fields:
        return pd.Series(pd.NA, index=rows.index, dtype="string")
    return _digest(rows[fields]).astype("string")


def finding_keys(findings: pd.DataFrame) -> pd.Series:
    """rule id + 12 hex digits of (rule, source or mart, business key or location, column), and an
    occurrence number where one row fails a rule more than once (the two rows of a duplicate payment)."""
    if findings.empty:
        return pd.Series([], dtype="string", index=findings.index)
    frame = findings.reindex(columns=["rule_id", "source", "target", "business_key", "source_file", "sheet",
                                      "row_number", "column_name", "fiscal_year"]).astype("string")
    located = frame["business_key"].isna()
    where = frame["business_key"].where(~located, frame["source_file"].fillna("") + "|" + frame["sheet"].fillna("")
                                        + "|" + frame["row_number"].fillna("") + "|" + frame["fiscal_year"].fillna(""))
    parts = pd.DataFrame({"rule": frame["rule_id"], "origin": frame["source"].fillna(frame["target"]), "where": where,
                          "column": frame["column_name"]})
    key = frame["rule_id"].fillna("") + "-" + _digest(parts)
    occurrence = key.groupby(key).cumcount()
    return key.where(occurrence == 0, key + "-" + (occurrence + 1).astype(str)).astype("string")


def with_status(findings: pd.DataFrame, previous: pd.DataFrame, run_id: str) -> pd.DataFrame:
    """Mark each finding 新增 or 持续 against the previous state of its slice, keeping when it was first seen."""
    out = findings.copy()
    out["finding_key"] = finding_keys(out) if "finding_key" not in out or out["finding_key"].isna().any() \
        else out["finding_key"].astype("string")
    if previous.empty:
        out["status"], out["first_seen_run"], out["first_seen_at"] = NEW, run_id, out["detected_at"]
    else:
        earlier = previous.drop_duplicates("finding_key").set_index("finding_key")
        known = out["finding_key"].isin(earlier.index)
        same_run = out["finding_key"].map(earlier["run_id"]).eq(run_id).fillna(False)  # a retried step
        out["status"] = NEW
        out.loc[known, "status"] = PERSISTING
        out.loc[known & same_run, "status"] = out["finding_key"].map(earlier["status"])
        out["first_seen_run"] = out["finding_key"].map(earlier["first_seen_run"]).fillna(run_id)
        out["first_seen_at"] = pd.to_datetime(out["finding_key"].map(earlier["first_seen_at"])).fillna(
            pd.to_datetime(out["detected_at"]))
    out["status"] = out["status"].astype("string")
    out["first_seen_run"] = out["first_seen_run"].astype("string")
    out["first_seen_at"] = pd.to_datetime(out["first_seen_at"])
    return out


def previous_state(warehouse: Warehouse, schema: str, table: str, where: str) -> pd.DataFrame:
    """The slice's findings before this run replaces them, with keys and first sightings (also for rows
    written before the lifecycle existed)."""
    if not warehouse.table_exists(schema, table):
        return pd.DataFrame()
    previous = warehouse.read_table(schema, table, where=where)
    if previous.empty:
        return previous
    if "finding_key" not in previous or previous["finding_key"].isna().any():
        previous["finding_key"] = finding_keys(previous)
    for column, default in (("status", NEW), ("first_seen_run", None), ("first_seen_at", None)):
        if column not in previous:
            previous[column] = previous["run_id"] if column == "first_seen_run" else (
                previous["detected_at"] if column == "first_seen_at" else default)
    previous["first_seen_run"] = previous["first_seen_run"].fillna(previous["run_id"])
    previous["first_seen_at"] = pd.to_datetime(previous["first_seen_at"]).fillna(pd.to_datetime(previous["detected_at"]))
    return previous


def resolved_since(previous: pd.DataFrame, findings: pd.DataFrame, run_id: str) -> pd.DataFrame:
    """The slice's earlier findings this run no longer finds: 已整改 as of this run."""
    if previous.empty:
        return previous
    gone = previous[~previous["finding_key"].isin(findings.get("finding_key", pd.Series(dtype="string")))
                    & previous["run_id"].ne(run_id)].copy()
    gone["status"] = RESOLVED
    gone["resolved_run"] = run_id
    gone["resolved_at"] = pd.Timestamp.now().floor("s")
    return gone


def resolved_in_run(warehouse: Warehouse, run_id: str) -> pd.DataFrame:
    if not warehouse.table_exists("audit", RESOLVED_TABLE):
        return pd.DataFrame()
    resolved = warehouse.read_table("audit", RESOLVED_TABLE, where=f"resolved_run = '{_quote(run_id)}'")
    return resolved.drop_duplicates("finding_key")


# ---------------------------------------------------------------------------------- dispositions
class DispositionError(ValueError):
    """An auditor's disposition that cannot be recorded as given (the message is for the auditor)."""


def _quote(text: str) -> str:
    return str(text).replace("'", "''")


def record_dispositions(warehouse: Warehouse, entries: pd.DataFrame, user: str, via: str) -> int:
    """Record dispositions (finding_key, disposition, note[, disposed_by]); an entry equal to the finding's
    latest disposition is not recorded again, so importing one workbook twice changes nothing."""
    if entries.empty:
        return 0
    entries = entries.copy()
    entries["disposition"] = entries["disposition"].astype("string").str.strip()
    wrong = entries[~entries["disposition"].isin(DISPOSITIONS)]
    if len(wrong):
        raise DispositionError(f"处置「{wrong['disposition'].iloc[0]}」无效(问题编号 {wrong['finding_key'].iloc[0]});"
                               f"应为:{'、'.join(DISPOSITIONS)}")
    known = known_findings(warehouse)
    unknown = entries[~entries["finding_key"].isin(known.index)]
    if len(unknown):
        raise DispositionError(f"问题编号「{unknown['finding_key'].iloc[0]}」不存在(请从审计报告的「问题编号」列复制)")
    entries["note"] = entries.get("note", pd.Series("", index=entries.index)).fillna("").astype(str).str.strip()
    given_by = entries.get("disposed_by", pd.Series(pd.NA, index=entries.index)).astype("string").str.strip()
    entries["disposed_by"] = given_by.mask(given_by.fillna("") == "", user)
    latest = latest_dispositions(warehouse)
    if not latest.empty:
        before = entries["finding_key"].map(latest.set_index("finding_key")["disposition"].astype(str) + "\x00"
                                            + latest.set_index("finding_key")["note"].fillna("").astype(str))
        entries = entries[before.ne(entries["disposition"].astype(str) + "\x00" + entries["note"]).fillna(True)]
    if entries.empty:
        return 0
    entries["rule_id"] = entries["finding_key"].map(known).astype("string")
    entries["disposed_at"] = pd.Timestamp.now().floor("s")
    entries["via"] = via
    frame = entries.reindex(columns=list(DISPOSITION_COLUMNS))
    for column in ("finding_key", "rule_id", "disposition", "note", "disposed_by", "via"):
        frame[column] = frame[column].astype("string")
    warehouse.append("audit", DISPOSITION_TABLE, frame.reset_index(drop=True))
    return len(frame)


def known_findings(warehouse: Warehouse) -> pd.Series:
    """finding_key -> rule_id of every finding the warehouse has seen (current, resolved or history)."""
    keys = []
    for table in ("current_findings", RESOLVED_TABLE, "validation_findings"):
        if warehouse.table_exists("audit", table):
            try:
                keys.append(warehouse.query(f"select distinct finding_key, rule_id from audit.{table} "
                                            "where finding_key is not null"))
            except Exception:  # a table written before findings had keys
                continue
    if not keys:
        return pd.Series(dtype="string")
    frame = pd.concat(keys).drop_duplicates("finding_key")
    return frame.set_index("finding_key")["rule_id"]


def latest_dispositions(warehouse: Warehouse) -> pd.DataFrame:
    """Each finding's latest disposition (the table keeps every one, with who and when)."""
    if not warehouse.table_exists("audit", DISPOSITION_TABLE):
        return pd.DataFrame(columns=list(DISPOSITION_COLUMNS))
    frame = warehouse.read_table("audit", DISPOSITION_TABLE)
    frame = frame.sort_values("disposed_at", kind="stable")
    return frame.drop_duplicates("finding_key", keep="last").reset_index(drop=True)


DISPOSITION_HEADERS = {"问题编号": "finding_key", "处置": "disposition", "处置说明": "note", "处置人": "disposed_by"}


def read_disposition_workbook(path: Path) -> pd.DataFrame:
    """The dispositions an auditor filled into the report's findings sheet (rows with 处置 filled)."""
    try:
        sheet = pd.read_excel(path, sheet_name="问题明细", dtype=str)
    except ValueError as error:
        raise DispositionError(f"{path.name}:找不到工作表「问题明细」,请使用审计报告.xlsx填写处置") from error
    except Exception as error:  # not a workbook at all
        raise DispositionError(f"{path.name}:无法作为Excel工作簿读取({type(error).__name__})") from error
    missing = [h for h in ("问题编号", "处置") if h not in sheet.columns]
    if missing:
        raise DispositionError(f"{path.name}:工作表「问题明细」缺少列 {'、'.join(missing)}")
    sheet = sheet.rename(columns=DISPOSITION_HEADERS)
    filled = sheet[sheet["disposition"].fillna("").str.strip() != ""]
    return filled.reindex(columns=["finding_key", "disposition", "note", "disposed_by"])


def import_disposition_folder(warehouse: Warehouse, inbox: Path, user: str) -> tuple[int, list[str]]:
    """Import every workbook in the inbox's 审计处置 folder; returns (dispositions recorded, problems)."""
    folder = Path(inbox) / DISPOSITION_FOLDER
    recorded, problems = 0, []
    for path in sorted(folder.glob("*.xlsx")) if folder.is_dir() else []:
        if path.name.startswith(("~$", ".")):
            continue
        try:
            recorded += record_dispositions(warehouse, read_disposition_workbook(path), user, via=f"Excel回填:{path.name}")
        except DispositionError as error:
            problems.append(str(error))
    return recorded, problems
