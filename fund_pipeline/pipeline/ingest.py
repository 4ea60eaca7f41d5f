"""Stage 1: a department's workbooks -> landing.<source>, with ingestion findings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from fund_pipeline.pipeline.landing_cache import LandingCache
from fund_pipeline.pipeline.read_ahead import wait_for
from fund_pipeline.pipeline.year_names import dated_column, year_mismatches
from fund_pipeline.rules.catalogue import Catalogue
from fund_pipeline.rules.validation import normalise_findings
from fund_pipeline.rules.wording import yuan_text
from fund_pipeline.sources.reader import (
    PROBLEM_COLUMNS,
    SourceRead,
    combine_reads,
    empty_records,
    inbox_name,
    read_files,
    read_workbook,
    select_files,
    version_key,
)
from fund_pipeline.sources.schemas import ENTITIES
from fund_pipeline.sources.spec import SourceSpec
from fund_pipeline.warehouse import sql_list


@dataclass
class IngestResult:
    source: str
    rows_read: int
    files: list[dict]
    findings: pd.DataFrame
    totals: pd.DataFrame
    notes: pd.DataFrame | None = None
    files_read: list[str] = field(default_factory=list)  # read from the spreadsheet this time
    files_reused: list[str] = field(default_factory=list)  # unchanged since read: taken from the landing cache
    files_read_ahead: list[str] = field(default_factory=list)  # of files_read, those read ahead by the CLI's run
    # Files whose landed rows stay as they are, path -> (SHA-256, rows); None: every row is landed.
    files_in_place: dict[str, tuple[str, int]] | None = None


def total_findings(read: SourceRead, catalogue: Catalogue) -> pd.DataFrame:
    """INGEST-TOTAL: a total or subtotal row (labelled, or found by its arithmetic) that differs from the sum of
    the data rows it stands for."""
    tolerance = catalogue.rule("INGEST-TOTAL").thresholds["tolerance_yuan"]
    totals = read.totals
    if totals.empty:
        return pd.DataFrame()
    off = totals[(totals["declared"] - totals["summed"]).abs() > tolerance]
    return pd.DataFrame({
        "rule_id": "INGEST-TOTAL", "severity": "warning", "source": off["source"], "source_file": off["source_file"],
        "sheet": off["sheet"], "row_number": off["row_number"], "column_name": off["field"],
        "value": off["declared"].round(2).astype(str), "expected": "明细行之和 " + off["summed"].round(2).astype(str),
        "message": "工作表「" + off["sheet"].astype(str) + "」第" + off["row_number"].astype(str) + "行「"
                   + off["label"].fillna("合计").astype(str) + "」(" + yuan_text(off["declared"])
                   + ")与读取的明细行之和(" + yuan_text(off["summed"]) + ")不符,相差" + yuan_text(off["declared"] - off["summed"]),
    })


def ingestion_findings(spec: SourceSpec, read: SourceRead, catalogue: Catalogue, run_id: str,
                       detected_at: pd.Timestamp) -> pd.DataFrame:
    frames = [f for f in (read.problems, total_findings(read, catalogue)) if not f.empty]
    if not frames:
        return normalise_findings(pd.DataFrame())
    findings = pd.concat(frames, ignore_index=True)
    rules = {r.id: r for r in catalogue.rules}
    findings["level"] = findings["rule_id"].map(lambda rule_id: rules[rule_id].level)
    findings["severity"] = findings["rule_id"].map(lambda rule_id: rules[rule_id].severity)
    findings["target"] = spec.entity
    findings["department"] = spec.department
    findings["policy_clause"] = None
    findings["run_id"] = run_id
    findings["catalogue_version"] = catalogue.version
    findings["detected_at"] = detected_at
    return normalise_findings(findings)


@dataclass(frozen=True)
class LandedFiles:
    """What a source's landing table holds, where it can be changed file by file: written by this code and
    configuration, with no row set aside as a repeat. `rows`: (path, SHA-256) -> rows; `dates(column, files)`:
    those files' landed dates in that column, counted by (source_file, year)."""

    rows: dict[tuple[str, str], int]
    dates: Callable[[str, list[str]], pd.Series]


@dataclass
class ByFile:
    """A source read file by file."""

    read: SourceRead  # every file's problems, totals and notes; the rows of the files not kept in place
    fresh: list[str]  # read this run (here, or ahead of the step)
    reused: list[str]  # taken from the landing cache
    # Of those, the files whose landed rows stay: path -> (SHA-256, rows).
    in_place: dict[str, tuple[str, int]] = field(default_factory=dict)


def read_source_by_file(spec: SourceSpec, inbox, cache: LandingCache | None = None,
                        read_ahead: set[tuple[str, str]] = frozenset(),
                        taken_back: dict | None = None) -> tuple[SourceRead, list[str], list[str]]:
    """The reader's `read_source`, file by file through the landing cache: a file whose content, path, layout
    and reader are unchanged is not read again. Returns the read and which files were read this run (here, or
    ahead of the step: `read_ahead`, as (path, SHA-256), see pipeline/read_ahead.py) and which were reused.
    `taken_back` holds the reads, by (path, SHA-256), of files the step took back from the read ahead."""
    by_file = read_by_file(spec, inbox, cache, read_ahead, taken_back)
    return by_file.read, by_file.fresh, by_file.reused


def read_by_file(spec: SourceSpec, inbox, cache: LandingCache | None = None,
                 read_ahead: set[tuple[str, str]] = frozenset(), taken_back: dict | None = None,
                 landed: LandedFiles | None = None) -> ByFile:
    """`read_source_by_file`, and with `landed` an unchanged file that the landing table holds as the cache
    does (the same version, the same number of rows) is kept in place: its rows are not loaded, and the read
    holds the other files' rows only."""
    inbox = Path(inbox)
    chosen, notes = select_files(spec, inbox)
    relative = {path: inbox_name(path, inbox) for path, _ in chosen}
    taken_back = taken_back or {}
    fresh_reads = {path: taken_back[(relative[path], sha)] for path, sha in chosen if (relative[path], sha) in taken_back}
    in_place = {}
    if cache is not None and landed is not None:
        for path, sha in chosen:
            about = cache.get_about(relative[path], sha) if path not in fresh_reads else None
            if about is not None and landed.rows.get((relative[path], sha)) == about.rows:
                in_place[path] = (sha, about)
    cached = {path: cache.get(relative[path], sha) for path, sha in chosen
              if path not in fresh_reads and path not in in_place} if cache is not None else {}
    missing = [(path, sha) for path, sha in chosen
               if path not in fresh_reads and path not in in_place and cached.get(path) is None]
    fresh_reads |= dict(zip([path for path, _ in missing], read_files(spec, missing, inbox), strict=True))
    reads = []
    for path, sha in chosen:  # a loop over files, not rows
        if path in fresh_reads:
            read = fresh_reads[path]
            if cache is not None:
                cache.put(relative[path], sha, read)
        else:
            read = in_place[path][1].read if path in in_place else cached[path]
            # Which copy of a repeated row is kept follows the files' arrival, so the time is today's.
            read.files = [info | {"mtime": path.stat().st_mtime} for info in read.files]
        reads.append(read)
    if cache is not None:
        cache.prune()
    fresh = [relative[path] for path, sha in chosen if path in fresh_reads or (relative[path], sha) in read_ahead]
    reused = [relative[path] for path, _ in chosen if relative[path] not in fresh]
    if reads and all(r.records is None for r in reads):  # every file kept in place (pandas' concat skips None)
        reads[0] = replace(reads[0], records=empty_records(spec.entity))
    return ByFile(combine_reads(spec, reads, notes), fresh, reused,
                  {relative[path]: (sha, about.rows) for path, (sha, about) in in_place.items()})


def ingest(spec: SourceSpec, inbox, catalogue: Catalogue, run_id: str,
           previous: Callable[[list[str]], pd.DataFrame] | None = None,
           cache: LandingCache | None = None, landed: LandedFiles | None = None) -> tuple[IngestResult, pd.DataFrame]:
    """Read one source; returns the result summary and the records to land.

    `previous(files)` returns the rows landed earlier from those files: a re-sent file that cannot be read
    keeps its last good version's rows in place instead of un-publishing them. With a `cache`, only the
    files that changed since they were last read are read again. With `landed` as well, the unchanged files'
    rows stay in the landing table (`IngestResult.files_in_place`) and the records returned are the other
    files' only; which rows repeat another file's is then the caller's to check on the table as changed
    (`repeats_query`): here no row is set aside."""
    read_ahead, taken_back = (wait_for(spec.name, lambda path, sha: read_workbook(spec, path, Path(inbox), sha))
                              if cache is not None else (set(), {}))
    by_file = read_by_file(spec, inbox, cache, read_ahead, taken_back, landed)
    if by_file.in_place and any(f.get("failed_sheets") for f in by_file.read.files):
        # A file that failed keeps its last good version's rows: worked out over every row, as without `landed`.
        by_file = ByFile(read_by_file(spec, inbox, cache, read_ahead, taken_back).read, by_file.fresh, by_file.reused)
    read, in_place = by_file.read, by_file.in_place
    kept = carry_forward(spec, read, previous) if previous is not None else _no_rows()
    records = pd.concat([read.records, kept.records], ignore_index=True) if len(kept.records) else read.records
    if in_place:
        records["_set_aside"], duplicates = pd.Series(pd.NA, index=records.index, dtype="string"), pd.DataFrame()
        column = dated_column(spec, catalogue)
        dated_in_place = landed.dates(column, list(in_place)) if column else None
    else:
        records["_set_aside"], duplicates = repeated_rows(spec, records, read.files)
        dated_in_place = None
    extra = [f for f in (kept.problems, duplicates, empty_files(spec, read.files),
                         year_mismatches(spec, records, catalogue, more=dated_in_place)) if len(f)]
    if extra:
        read.problems = pd.concat([read.problems, *extra], ignore_index=True)
    findings = ingestion_findings(spec, read, catalogue, run_id, pd.Timestamp.now())
    rows_read = len(records) + sum(rows for _, rows in in_place.values())
    result = IngestResult(spec.name, rows_read, read.files, findings, read.totals, read.notes, by_file.fresh,
                          by_file.reused,
                          [f["source_file"] for f in read.files if (f["source_file"], f["file_sha256"]) in read_ahead],
                          files_in_place=dict(sorted(in_place.items())) if in_place else None)
    return result, records


def in_place_query(table: str, in_place: dict[str, tuple[str, int]]) -> str:
    """A query that returns a row unless the files kept in place hold, each, the version and rows they held
    when the landing began (another run may have landed the source meanwhile)."""
    files = sql_list(in_place)
    expected = sql_list(f"{name}|{sha}|{rows}" for name, (sha, rows) in in_place.items())
    return (f"select 1 from (select source_file, file_sha256, count(*) as n from {table} "
            f"where source_file in ({files}) group by source_file, file_sha256) as held "
            f"where coalesce(source_file || '|' || file_sha256 || '|' || cast(n as varchar), '') not in ({expected}) "
            f"union all select 1 where (select count(distinct source_file) from {table} "
            f"where source_file in ({files})) <> {len(in_place)}")


def repeats_query(spec: SourceSpec, table: str, row_hash: str, replaced: str) -> str:
    """A query that returns a row when a landed row of the files `replaced` (a condition on source_file)
    repeats a row of another file, or a row is set aside: then `repeated_rows` must decide over every row.

    Rows are compared by a hash of every field as the warehouse stores them (`row_hash`, the warehouse's): rows
    that `repeated_rows` finds alike hash alike, so none is missed; rows that merely hash alike, or differ only
    as read (a date as text, say), send the source to the whole check needlessly. Only repeats that involve a
    replaced file's row are looked for: the rows kept in place repeated none of each other's when they landed."""
    fields = row_hash.format(", ".join(f'"{f.name}"' for f in ENTITIES[spec.entity]))
    return (f"with hashed as (select {fields} as h, source_file from {table}) "
            f"select 1 from hashed where h in (select h from hashed where {replaced}) "
            f"group by h having count(distinct source_file) > 1 "
            f"union all select 1 from {table} where _set_aside is not null")


@dataclass
class _Kept:
    records: pd.DataFrame
    problems: pd.DataFrame


def _no_rows() -> _Kept:
    return _Kept(pd.DataFrame(), pd.DataFrame())


def carry_forward(spec: SourceSpec, read: SourceRead, previous: Callable[[list[str]], pd.DataFrame]) -> _Kept:
    """Rows of the last good version of every file (or sheet) that failed this time, with an error finding
    that says which version stays published."""
    failed = [f for f in read.files if f.get("failed_sheets")]
    if not failed:
        return _no_rows()
    earlier = previous([])  # the files landed before: source_file, file_sha256 (no rows)
    if earlier.empty:
        return _no_rows()
    versions = earlier["source_file"].map(version_key)
    keep, problems = [], []
    for info in failed:
        files = sorted(set(earlier.loc[(versions == version_key(info["source_file"])).to_numpy(), "source_file"]))
        if not files:
            continue
        rows = previous(files)
        sheets = info["failed_sheets"]
        if sheets != ["*"]:
            rows = rows[rows["sheet"].isin(sheets)]
        if rows.empty:
            continue
        keep.append(rows)
        shas = ", ".join(sorted({s[:12] for s in rows["file_sha256"].dropna()}))
        where = "" if sheets == ["*"] else f"工作表「{'、'.join(sheets)}」"
        problems.append({
            "rule_id": "INGEST-KEPT-PREVIOUS", "severity": "error", "source": spec.name,
            "source_file": info["source_file"], "sheet": None if sheets == ["*"] else sheets[0], "row_number": None,
            "row_key": None, "column_name": None, "value": info["source_file"], "expected": "可读取的更正文件",
            "message": f"新报送的文件「{info['source_file']}」{where}无法读取,继续发布上次成功读取的版本"
                       f"「{'、'.join(files)}」(SHA-256 {shas},{len(rows)} 行);请重新报送可读取的文件",
        })
    if not keep:
        return _no_rows()
    return _Kept(pd.concat(keep, ignore_index=True).drop(columns=["run_id", "_set_aside"], errors="ignore"),
                 pd.DataFrame(problems, columns=PROBLEM_COLUMNS))


def repeated_rows(spec: SourceSpec, records: pd.DataFrame, files: list[dict] | None = None) -> tuple[pd.Series, pd.DataFrame]:
    """Rows repeated across two files of one source (identical in every field read, same year) are counted
    once: the copy in the file that arrived first (by modification time) is kept, the other set aside, with
    a finding naming both files and rows."""
    fields = [f.name for f in ENTITIES[spec.entity] if f.name in records]
    set_aside = pd.Series(pd.NA, index=records.index, dtype="string")
    if records.empty or records["source_file"].nunique() < 2:
        return set_aside, pd.DataFrame()
    # Each column hashed as it is typed (a text copy of a million rows cost seconds and a gigabyte); pandas
    # hashes mixed object columns by their text, as the comparison of "every field read" wants.
    digest = pd.util.hash_pandas_object(records[fields], index=False).to_numpy()
    candidates = pd.Series(digest).duplicated(keep=False).to_numpy()
    if not candidates.any():  # the usual case: no two rows alike, nothing to order
        return set_aside, pd.DataFrame()
    alike = records[candidates].assign(_digest=digest[candidates])
    arrived = {f["source_file"]: f.get("mtime", 0.0) for f in files or []}
    alike["_arrived"] = alike["source_file"].map(arrived).fillna(float("inf"))
    ordered = alike.sort_values(["_arrived", "source_file", "row_number"], kind="stable")
    first = ordered.groupby("_digest")[["source_file", "sheet", "row_number"]].transform("first").reindex(alike.index)
    in_other_file = (alike["source_file"] != first["source_file"]).fillna(False).to_numpy(dtype=bool)
    if not in_other_file.any():
        return set_aside, pd.DataFrame()
    repeated = pd.Series(False, index=records.index)
    repeated[alike.index[in_other_file]] = True
    repeated = repeated.to_numpy()
    set_aside[repeated] = "INGEST-DUPLICATE-ROW"
    rows, origin = records[repeated], first[in_other_file]
    findings = pd.DataFrame({
        "rule_id": "INGEST-DUPLICATE-ROW", "severity": "warning", "source": spec.name, "source_file": rows["source_file"],
        "sheet": rows["sheet"], "row_number": rows["row_number"], "row_key": rows["row_key"], "column_name": None,
        "value": None, "expected": origin["source_file"] + " 第" + origin["row_number"].astype(str) + "行",
        "message": "文件「" + rows["source_file"] + "」工作表「" + rows["sheet"].astype(str) + "」第"
                   + rows["row_number"].astype(str) + "行与文件「" + origin["source_file"] + "」工作表「"
                   + origin["sheet"].astype(str) + "」第" + origin["row_number"].astype(str)
                   + "行完全相同,只计一次(本行不发布)",
    })
    return set_aside, findings.reindex(columns=PROBLEM_COLUMNS)


def empty_files(spec: SourceSpec, files: list[dict]) -> pd.DataFrame:
    """INGEST-EMPTY-FILE: a readable file whose table has a header and no data rows."""
    empty = [f for f in files if not f.get("failed_sheets") and f.get("data_rows", 1) == 0]
    return pd.DataFrame([{
        "rule_id": "INGEST-EMPTY-FILE", "severity": "warning", "source": spec.name, "source_file": f["source_file"],
        "value": f["source_file"], "expected": "至少一行数据",
        "message": f"文件「{f['source_file']}」有表头但没有数据行;如本期确无数据请在表内注明,否则请补报",
    } for f in empty], columns=PROBLEM_COLUMNS)


SPREADSHEET_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".et", ".csv")


def unmatched_files(inbox, specs, catalogue: Catalogue, run_id: str) -> pd.DataFrame:
    """INGEST-UNMATCHED: a spreadsheet in the inbox that no layout reads is reported, not silently ignored."""
    from pathlib import Path

    from fund_pipeline.pipeline.lifecycle import DISPOSITION_FOLDER
    from fund_pipeline.sample import ANSWER_KEY, MANIFEST
    from fund_pipeline.sources.reader import find_files

    inbox = Path(inbox)
    matched = {p for spec in specs for p in find_files(spec, inbox)}
    if (inbox / MANIFEST).exists():  # a generated sample county: its answer key is not a department's file
        matched.add(inbox / ANSWER_KEY)
    stray = sorted(p for p in inbox.rglob("*") if p.is_file() and p.suffix.lower() in SPREADSHEET_SUFFIXES
                   and not p.name.startswith(("~$", ".")) and p not in matched
                   and DISPOSITION_FOLDER not in p.relative_to(inbox).parts)  # auditors' dispositions, not data
    rule = catalogue.rule("INGEST-UNMATCHED")
    rows = [{"rule_id": rule.id, "severity": rule.severity, "level": rule.level, "target": "ingest", "source": "inbox",
             "source_file": p.relative_to(inbox).as_posix(), "value": p.name, "expected": "已登记来源布局中的文件",
             "message": f"文件「{p.relative_to(inbox).as_posix()}」不属于任何来源布局,未被读取;如为新部门报表,请先登记其布局"}
            for p in stray]
    findings = pd.DataFrame(rows)
    findings["run_id"] = run_id
    findings["catalogue_version"] = catalogue.version
    findings["detected_at"] = pd.Timestamp.now()
    return normalise_findings(findings)
