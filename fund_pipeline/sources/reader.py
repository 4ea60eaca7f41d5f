"""Read a department's workbooks into canonical records, using its layout.

Every record keeps its lineage (source, file, SHA-256, sheet, the row number Excel shows).
Problems are returned, never raised: a broken file of one department must not stop the others.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import multiprocessing
import re
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from python_calamine import CalamineWorkbook

from fund_pipeline.configuration import activate, config_dir
from fund_pipeline.memory import collections_held_off
from fund_pipeline.reference import normalise_townships
from fund_pipeline.settings import reader_workers
from fund_pipeline.sources import parse
from fund_pipeline.sources.rows import classify
from fund_pipeline.sources.schemas import ENTITIES, LINEAGE_COLUMNS
from fund_pipeline.sources.spec import UNIT_FACTORS, SourceSpec, normalise_header

HEADER_SEARCH_ROWS = 30
_log = logging.getLogger(__name__)
# A source smaller than this is read in this process: starting workers (about 0.7 s) would cost more than
# they save. Measured on 2 cores: the default sample's 84 township rosters (3 MB) take 5.5 s in one process,
# 3.4 s in two.
PARALLEL_MIN_BYTES = 2 << 20
TOTAL_TOLERANCE_YUAN = 1.0  # rounding in 万元 tables with 2–4 decimals
_UNIT_IN_TEXT = re.compile(r"[((](亿元|万元|元)[))]|单位[::]\s*(亿元|万元|元)")
_IDENTIFIER_FIELDS = {"household_id", "borrower_id", "patient_id", "doctor_id", "account_no", "village_code",
                      "document_no", "voucher_no"}

PROBLEM_COLUMNS = (
    "rule_id", "severity", "source", "source_file", "sheet", "row_number", "row_key",
    "column_name", "value", "expected", "message",
)


@dataclass
class SourceRead:
    """What one source yielded: records, problems (as findings) and the sheets' declared totals."""

    records: pd.DataFrame
    problems: pd.DataFrame
    totals: pd.DataFrame
    files: list[dict] = field(default_factory=list)
    notes: pd.DataFrame = field(default_factory=lambda: empty_notes())  # footer and heading lines per sheet


def column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def file_sha256(path: Path) -> str:
    """The file's SHA-256. A run hashes each file up to three times (read ahead, fingerprints, choosing the
    files to read): within a process a file whose identity, size and modification time are unchanged is not
    read again."""
    stat = path.stat()
    return _sha256_of(str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=4096)
def _sha256_of(path: str, inode: int, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def inbox_name(path: Path, inbox: Path) -> str:
    """A file as records and findings name it: its path inside the inbox (or its bare name outside it)."""
    return path.relative_to(inbox).as_posix() if path.is_relative_to(inbox) else path.name


def find_files(spec: SourceSpec, inbox: Path) -> list[Path]:
    found: set[Path] = set()
    for pattern in spec.files:
        found.update(p for p in inbox.glob(pattern) if p.is_file() and not p.name.startswith(("~$", ".")))
    return sorted(found)


def inbox_problem(inbox: Path) -> str | None:
    """Why the inbox cannot be what the departments sent (it does not exist, or holds no workbook at all: a
    mistyped path, a network share not mounted), in Chinese; None when it can. Landing from it would empty
    every source and so un-publish every department's data."""
    inbox = Path(inbox)
    keep = "已发布的数据未作改动"
    if not inbox.exists():
        return f"收件箱「{inbox}」不存在(请检查 --inbox 或 FUND_PIPELINE_INBOX);{keep}"
    if not inbox.is_dir():
        return f"收件箱「{inbox}」不是文件夹;{keep}"
    if next((p for p in inbox.rglob("*.xls*") if p.is_file() and not p.name.startswith(("~$", "."))), None) is None:
        return (f"收件箱「{inbox}」中没有任何 Excel 报表(若收件箱在网络共享盘上,请确认已挂载);"
                f"{keep}")
    return None


def year_in_name(spec: SourceSpec, relative: str) -> str | None:
    """The fiscal year a file's path names, where the layout's filename_fields say how (e.g. 2016年…)."""
    for pattern in spec.filename_fields:
        compiled = re.compile(pattern)
        if "fiscal_year" in compiled.groupindex and (match := compiled.search(relative)):
            return match.group("fiscal_year")
    return None


def years_in_inbox(specs, inbox: Path) -> set[str]:
    """Every fiscal year the inbox's file names state (a cheap look before reading anything)."""
    return {year for spec in specs for path in find_files(spec, inbox)
            if (year := year_in_name(spec, path.relative_to(inbox).as_posix()))}


def _strip_unit(text: str) -> str:
    return _UNIT_IN_TEXT.sub("", text)


class _Problems:
    def __init__(self, spec: SourceSpec, source_file: str):
        self.spec, self.source_file, self.rows = spec, source_file, []

    def add(self, rule_id, message, sheet=None, row_number=None, column_name=None, value=None, expected=None,
            severity="error", source_file=None):
        self.rows.append(dict(
            rule_id=rule_id, severity=severity, source=self.spec.name, source_file=source_file or self.source_file, sheet=sheet,
            row_number=row_number, row_key=None, column_name=column_name,
            value=None if value is None else str(value), expected=expected, message=message,
        ))


_MARK_WORDS = r"更正|修正|修订|更新|调整|副本|第\d+版|v\d+"
# A version mark ends the name: (更正), （修订）, (1), " - 副本", "_v2"; a bare trailing year is not one.
_VERSION_MARK = re.compile(rf"(?:[(\uff08]\s*(?:{_MARK_WORDS}|\d{{1,2}})\s*[)\uff09]|[\s_-]*(?:{_MARK_WORDS}))$", re.IGNORECASE)


def version_key(relative: str) -> str:
    """Files that differ only by a version mark (更正, 修订, v2, (1) …) are versions of one report."""
    path = Path(relative)
    stem = path.stem
    while True:
        shorter = _VERSION_MARK.sub("", stem).rstrip("_- ")
        if shorter == stem or not shorter:
            break
        stem = shorter
    return (path.parent / stem).as_posix()


def select_files(spec: SourceSpec, inbox: Path) -> tuple[list[tuple[Path, str]], _Problems]:
    """The files to read, with their SHA-256: a file dropped twice is read once, and of several versions
    of one report only the newest (by modification time) is read. Both are reported, never silent."""
    found = [(p, file_sha256(p)) for p in find_files(spec, inbox)]
    rel = {p: inbox_name(p, inbox) for p, _ in found}
    found.sort(key=lambda item: (item[0].stat().st_mtime, len(rel[item[0]]), rel[item[0]]))  # the first copy is kept
    notes = _Problems(spec, "")
    unique, first_by_hash = [], {}
    for path, sha in found:
        if sha in first_by_hash:
            notes.add("INGEST-DUPLICATE-FILE", f"文件「{rel[path]}」与「{rel[first_by_hash[sha]]}」内容完全相同,只读取一次",
                      severity="warning", value=rel[path], expected=rel[first_by_hash[sha]], source_file=rel[path])
            continue
        first_by_hash[sha] = path
        unique.append((path, sha))
    newest: dict[str, tuple[Path, str]] = {}
    for path, sha in sorted(unique, key=lambda item: (item[0].stat().st_mtime, rel[item[0]])):
        key = version_key(rel[path])
        if key in newest:
            older = newest[key][0]
            notes.add("INGEST-SUPERSEDED", f"文件「{rel[older]}」已被较新的版本「{rel[path]}」取代,未读取",
                      severity="warning", value=rel[older], expected=rel[path], source_file=rel[older])
        newest[key] = (path, sha)
    return sorted(newest.values(), key=lambda item: rel[item[0]]), notes


def read_source(spec: SourceSpec, inbox: Path, workers: int | None = None) -> SourceRead:
    """Every file of a source, in the order of their paths. The files are read in parallel by `workers`
    processes (default: FUND_PIPELINE_READ_WORKERS or one per CPU, for sources of PARALLEL_MIN_BYTES or more);
    each file is read exactly as it would be alone, so the result is the same however many read it."""
    chosen, notes = select_files(spec, inbox)
    return combine_reads(spec, read_files(spec, chosen, inbox, workers), notes)


def combine_reads(spec: SourceSpec, reads: list[SourceRead], notes: _Problems) -> SourceRead:
    """One source's read from its files' reads (in file order) and the notes of choosing its files."""
    note_frame = pd.DataFrame(notes.rows, columns=PROBLEM_COLUMNS) if notes.rows else empty_problems()
    if not reads:
        return SourceRead(empty_records(spec.entity), note_frame, empty_totals(), [])
    return SourceRead(
        records=pd.concat([r.records for r in reads], ignore_index=True),
        problems=pd.concat([note_frame] + [r.problems for r in reads], ignore_index=True),
        totals=pd.concat([r.totals for r in reads], ignore_index=True),
        files=[f for r in reads for f in r.files],
        notes=pd.concat([r.notes for r in reads], ignore_index=True),
    )


def read_files(spec: SourceSpec, chosen: list[tuple[Path, str]], inbox: Path, workers: int | None = None) -> list[SourceRead]:
    """The reads of these files (path, sha256), in their order; in parallel where they are large enough."""
    if not chosen:
        return []
    if workers is None:
        small = sum(path.stat().st_size for path, _ in chosen) < PARALLEL_MIN_BYTES
        workers = 1 if small else reader_workers()
    workers = min(workers, len(chosen))
    if workers > 1:
        try:
            return _read_in_parallel(spec, chosen, inbox, workers)
        except (BrokenProcessPool, OSError, AssertionError, ValueError) as error:  # no child processes here
            _log.warning("无法用%d个进程并行读取来源「%s」的文件(%s),改为逐个读取", workers, spec.name, _plain(error))
    return [read_workbook(spec, path, inbox, sha) for path, sha in chosen]


def reader_pool(workers: int) -> ProcessPoolExecutor:
    """Worker processes for reading. forkserver: workers start from a clean process that has imported the
    reader once, never from a copy of this one (a Dagster step has threads, and forking a threaded process is
    unsafe). Windows has only spawn."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["fund_pipeline.sources.reader"])
    else:
        context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(workers, mp_context=context)


def _read_in_parallel(spec: SourceSpec, chosen: list[tuple[Path, str]], inbox: Path, workers: int) -> list[SourceRead]:
    with reader_pool(workers) as pool:
        jobs = [pool.submit(read_in_worker, spec, path, inbox, sha, config_dir()) for path, sha in chosen]
        return [job.result() for job in jobs]  # in the order of the files, whichever finishes first


def read_in_worker(spec: SourceSpec, path: Path, inbox: Path, sha: str, county_config: Path | None) -> SourceRead:
    """One file, in a worker process, under the county configuration the parent has activated."""
    if config_dir() != county_config:
        activate(county_config)
    return read_workbook(spec, path, inbox, sha)


def read_workbook(spec: SourceSpec, path: Path, inbox: Path, sha: str | None = None) -> SourceRead:
    """One file. Whatever is wrong with it (not a workbook, a corrupt member, a sheet that cannot be parsed)
    becomes a finding for this file only; `files[0]['failed_sheets']` says what could not be read."""
    with collections_held_off():  # a roster's cells are some 700,000 objects, in no cycle
        return _read_workbook(spec, path, inbox, sha)


def _read_workbook(spec: SourceSpec, path: Path, inbox: Path, sha: str | None) -> SourceRead:
    relative = inbox_name(path, inbox)
    problems = _Problems(spec, relative)
    sha = sha or file_sha256(path)
    stat = path.stat()
    file_info = {"source": spec.name, "source_file": relative, "file_sha256": sha, "bytes": stat.st_size,
                 "mtime": stat.st_mtime}
    try:
        workbook = CalamineWorkbook.from_path(str(path))
        sheets = [m for m in workbook.sheets_metadata if any(re.fullmatch(p, m.name) for p in spec.sheets)]
    except Exception as error:  # calamine raises several types for a file that is not a workbook
        problems.add("INGEST-FILE", f"文件「{relative}」无法作为Excel工作簿读取:{_why_unreadable(path, error)}",
                     expected="xlsx工作簿")
        return _failed_read(spec, problems, file_info)
    if not sheets:
        problems.add("INGEST-SHEET", f"文件「{relative}」中找不到工作表「{'/'.join(spec.sheets)}」,现有工作表:{'、'.join(workbook.sheet_names)}",
                     expected="/".join(spec.sheets))
    frames, totals, notes, failed = [], [], [], []
    for meta in sheets:
        if str(meta.visible).lower().endswith(("hidden", "veryhidden")):
            problems.add("INGEST-HIDDEN-SHEET", f"工作表「{meta.name}」是隐藏的工作表,其数据已读取,请确认是否应报送",
                         sheet=meta.name, severity="warning", expected="可见的工作表")
        try:
            records, sheet_totals, sheet_notes = _read_sheet(spec, workbook.get_sheet_by_name(meta.name), relative, problems)
        except Exception as error:  # a corrupt worksheet inside a valid zip, an unparseable cell store …
            problems.add("INGEST-FILE", f"文件「{relative}」的工作表「{meta.name}」已损坏,无法读取:{_plain(error)}",
                         sheet=meta.name, expected="可读取的工作表")
            records = None
        if records is None:
            failed.append(meta.name)
            continue
        records.insert(0, "file_sha256", sha)
        frames.append(records)
        totals.append(sheet_totals)
        notes.append(sheet_notes)
    workbook.close()
    for problem in problems.rows:
        if problem["row_number"] is not None and problem["sheet"] is not None:
            problem["row_key"] = f"{sha[:16]}:{problem['sheet']}:{problem['row_number']}"
    records = pd.concat(frames, ignore_index=True) if frames else empty_records(spec.entity)
    return SourceRead(
        records=_finish_records(spec, records, relative),
        problems=pd.DataFrame(problems.rows, columns=PROBLEM_COLUMNS) if problems.rows else empty_problems(),
        totals=pd.concat(totals, ignore_index=True) if totals else empty_totals(),
        files=[file_info | {"readable": not failed and bool(sheets), "sheets": len(sheets),
                            "failed_sheets": failed if sheets else ["*"], "data_rows": len(records)}],
        notes=pd.concat(notes, ignore_index=True) if notes else empty_notes(),
    )


def _failed_read(spec: SourceSpec, problems: _Problems, file_info: dict) -> SourceRead:
    return SourceRead(empty_records(spec.entity), pd.DataFrame(problems.rows, columns=PROBLEM_COLUMNS), empty_totals(),
                      [file_info | {"readable": False, "failed_sheets": ["*"], "data_rows": 0}])


def _why_unreadable(path: Path, error: Exception) -> str:
    """Why a file is not a workbook, in the clerk's words (the library's own error is in English)."""
    with contextlib.suppress(OSError), path.open("rb") as file:
        head = file.read(8)
        if not head:
            return "文件是空的(0字节),请重新报送"
        if head.startswith(b"\xd0\xcf\x11\xe0"):
            return "文件是旧版Excel(.xls)或已加密的工作簿,请用Excel另存为不加密的.xlsx后重新报送"
        if head.startswith(b"PK") and "EOCD" in str(error):
            return "文件不完整或已损坏(压缩包缺少结尾,可能未下载或复制完整),请重新报送"
        if not head.startswith(b"PK"):
            return "文件内容不是Excel工作簿(可能是改了扩展名的其他文件),请用Excel另存为.xlsx后重新报送"
    return f"文件内容无法解析({_plain(error)})"


def _plain(error: Exception) -> str:
    """An error as one short line for a clerk (no traceback, no internal paths)."""
    return re.sub(r"\s+", " ", str(error) or type(error).__name__)[:200]


def _sheet_unit(rows: list[list], header_index: int) -> str | None:
    """The unit line above the header (单位:万元), if the sheet has one."""
    for row in rows[:header_index]:
        for cell in row:
            match = _UNIT_IN_TEXT.search(str(cell)) if isinstance(cell, str) else None
            if match:
                return match.group(1) or match.group(2)
    return None


def _find_header(spec: SourceSpec, rows: list[list]) -> int | None:
    wanted = {normalise_header(t) for t in spec.header_find}
    for index, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        if any(_strip_unit(normalise_header(c)) in wanted or normalise_header(c) in wanted for c in row if c != ""):
            return index
    return None


def _header_names(rows: list[list], header_index: int, height: int, merged) -> list[str]:
    """One name per column: the parts of a merged multi-row header joined by '/', e.g. 资金规模/中央."""
    block = [list(rows[header_index + i]) for i in range(height)]
    for (r0, c0), (r1, c1) in merged or []:
        top_left = rows[r0][c0] if r0 < len(rows) and c0 < len(rows[r0]) else ""
        for r in range(max(r0, header_index), min(r1, header_index + height - 1) + 1):
            for c in range(c0, min(c1, len(block[0]) - 1) + 1):
                block[r - header_index][c] = top_left
    names = []
    for column in range(len(block[0])):
        parts: list[str] = []
        for row in block:
            part = normalise_header(row[column])
            if part and part not in parts:
                parts.append(part)
        names.append("/".join(parts))
    return names


def _match_columns(spec: SourceSpec, names: list[str], problems: _Problems, sheet: str, header_row: int):
    """Header name per column -> field.  Unknown headers and missing required fields are reported, not guessed."""
    aliases = {_strip_unit(k): v for k, v in spec.alias_map().items()}
    ignored = {_strip_unit(normalise_header(i)) for i in spec.ignore_columns}
    mapping: dict[str, int] = {}
    units: dict[str, str] = {}
    ok = True
    for index, name in enumerate(names):
        if not name:
            continue
        candidates = [_strip_unit(name), _strip_unit(name.split("/")[-1])]
        field_name = next((aliases[c] for c in candidates if c in aliases), None)
        if field_name is None:
            if any(c in ignored for c in candidates):
                continue
            problems.add("INGEST-HEADER", f"工作表「{sheet}」第{header_row}行第{column_letter(index)}列的表头「{name}」不在来源「{spec.name}」的列映射中",
                         sheet=sheet, row_number=header_row, column_name=name, value=name, expected="已登记的表头别名")
            ok = False
            continue
        if field_name in mapping:
            label = next((f.label for f in ENTITIES[spec.entity] if f.name == field_name), field_name)
            problems.add("INGEST-HEADER", f"工作表「{sheet}」第{header_row}行:第{column_letter(index)}列的表头「{name}」与第"
                         f"{column_letter(mapping[field_name])}列的表头「{names[mapping[field_name]]}」都是「{label}」,"
                         "无法确定读哪一列(合并的表头单元格也会如此);请只保留一列",
                         sheet=sheet, row_number=header_row, column_name=name, value=name, expected=f"只有一列「{label}」")
            ok = False
            continue
        mapping[field_name] = index
        unit = _UNIT_IN_TEXT.search(name)
        if unit:
            units[field_name] = unit.group(1) or unit.group(2)
    provided = set(mapping) | set(spec.constants) | spec.pattern_fields
    for f in ENTITIES[spec.entity]:
        if f.required and f.name not in provided:
            column = spec.column(f.name)
            expected = "、".join(column.aliases) if column else f.label
            problems.add("INGEST-HEADER", f"工作表「{sheet}」缺少必需列「{f.label}」(可用表头:{expected})",
                         sheet=sheet, row_number=header_row, column_name=f.label, expected=expected)
            ok = False
    return (mapping, units) if ok else (None, None)



def _fill_vertical_merges(body: pd.DataFrame, merged, first_body: int, money_columns: set[int],
                          distinct: parse.DistinctColumns) -> pd.DataFrame:
    """A cell merged down several rows (a township over its projects) applies its value to every row of the
    merge. Money is the exception: an amount merged over rows is one amount, kept on the first row only."""
    if not merged:
        return body
    for (r0, c0), (r1, _) in merged:
        if r1 <= r0 or c0 >= body.shape[1] or c0 in money_columns:
            continue
        top = r0 + 1  # Excel row numbers index the body
        if top not in body.index:
            continue
        rows = [r for r in range(top + 1, r1 + 2) if r in body.index]
        value = body.at[top, c0]
        if rows and value is not None and not pd.isna(value):
            body.loc[rows, c0] = body.loc[rows, c0].where(body.loc[rows, c0].notna(), value)
            distinct.forget(c0)
    return body


def _read_sheet(spec: SourceSpec, sheet, source_file: str, problems: _Problems):
    name = sheet.name
    rows = sheet.to_python(skip_empty_area=False)
    header_index = _find_header(spec, rows)
    if header_index is None:
        problems.add("INGEST-HEADER", f"工作表「{name}」前{HEADER_SEARCH_ROWS}行中找不到表头(应含「{'/'.join(spec.header_find)}」)",
                     sheet=name, expected="/".join(spec.header_find))
        return None, None, None
    merged = getattr(sheet, "merged_cell_ranges", None)
    names = _header_names(rows, header_index, spec.header_rows, merged)
    mapping, header_units = _match_columns(spec, names, problems, name, header_index + 1)
    if mapping is None:
        return None, None, None
    first_body = header_index + spec.header_rows + spec.skip_after_header
    width = len(names)
    body = _body_cells(rows[first_body:], width)
    if body.empty:
        return pd.DataFrame(columns=["row_number", "sheet", "_bad_fields"]), empty_totals(), empty_notes()
    body.index = pd.RangeIndex(first_body + 1, first_body + 1 + len(body), name="row_number")  # Excel numbering
    distinct = parse.DistinctColumns(body)  # each column's distinct cells, parsed once each
    body = _strip_control_characters(body, names, name, problems, distinct)
    types = {f.name: f.type for f in ENTITIES[spec.entity]}
    money_columns = {mapping[f] for f, kind in types.items() if kind == "money" and f in mapping}
    body = _fill_vertical_merges(body, [m for m in merged or [] if m[0][0] >= first_body], first_body, money_columns,
                                 distinct)
    unit = _sheet_unit(rows, header_index) or spec.unit
    typed, bad = _convert(spec, body, mapping, header_units, unit, names, distinct)
    field_types = {f: ("identifier" if f in _IDENTIFIER_FIELDS else types[f]) for f in mapping}
    kinds = classify(body, typed, field_types, spec.label_columns, spec.total_labels, spec.drop_pattern,
                     spec.footer_pattern, tolerance=TOTAL_TOLERANCE_YUAN, distinct=distinct)
    data_rows = kinds.data
    _report_bad_cells(spec, body, typed, bad & data_rows.to_numpy()[:, None], mapping, names, name, problems)
    missing = _report_missing_required(spec, typed, bad, data_rows, mapping, names, name, problems)
    bad = bad | missing
    typed["sheet"] = name
    for pattern in spec.sheet_fields:
        match = re.search(pattern, name)
        for field_name, value in (match.groupdict() if match else {}).items():
            typed[field_name] = value
    totals = kinds.totals.assign(source=spec.name, source_file=source_file, sheet=name)
    notes = _notes(body, kinds.footer | kinds.heading, source_file, name)
    records = typed[data_rows.to_numpy()].reset_index()
    records["_bad_fields"] = _bad_field_names(bad[data_rows.to_numpy()])
    return records, totals.reindex(columns=empty_totals().columns), notes


def _body_cells(rows: list[list], width: int) -> pd.DataFrame:
    """The rows below the header as a frame of the cells as read, `width` columns, an empty cell as None."""
    lengths = {len(r) for r in rows}
    if len(lengths) == 1 and min(lengths) >= width:  # a sheet's rows as calamine gives them: one array at once
        cells = np.array(rows, dtype=object)[:, :width]
        cells[cells == ""] = None
        return pd.DataFrame(cells, dtype=object)
    body = pd.DataFrame([list(r[:width]) + [""] * (width - len(r[:width])) for r in rows], dtype=object)
    return body.replace("", None)


def _strip_control_characters(body: pd.DataFrame, names: list[str], sheet: str, problems: _Problems,
                              distinct: parse.DistinctColumns) -> pd.DataFrame:
    """NUL and other control characters cannot be stored or shown; they are removed and each cell is reported."""
    for column in body.columns:
        cleaned, found = parse.strip_control(body[column])  # one search over the column's text, mostly
        if found.any():
            body[column] = cleaned
            distinct.forget(column)
            for row_number in body.index[found.to_numpy()][:20]:
                problems.add("INGEST-CONTROL-CHAR", f"工作表「{sheet}」第{row_number}行第{column_letter(column)}列"
                             f"「{names[column] if column < len(names) else ''}」含有不可见的控制字符,已删除",
                             sheet=sheet, row_number=int(row_number), column_name=names[column] if column < len(names) else None,
                             severity="warning", expected="不含控制字符的文本")
    return body


def _notes(body: pd.DataFrame, mask: pd.Series, source_file: str, sheet: str) -> pd.DataFrame:
    """Footer and heading lines, kept as the file's notes (they are not data)."""
    lines = body[mask.to_numpy()]
    if lines.empty:
        return empty_notes()
    text = lines.astype("string").apply(lambda r: " ".join(v for v in r.dropna()), axis=1)
    return pd.DataFrame({"source_file": source_file, "sheet": sheet, "row_number": lines.index.astype(int),
                         "text": text.to_numpy()})


def _bad_field_names(bad: pd.DataFrame):
    """'amount,pay_date' for each row with unreadable cells, '' for clean rows."""
    names = np.full(len(bad), "", dtype=object)
    for column in bad.columns[bad.any().to_numpy()]:
        names = names + np.where(bad[column].to_numpy(), column + ",", "")
    return names


def _convert(spec, body, mapping, header_units, sheet_unit, names, distinct: parse.DistinctColumns):
    typed, bad = {}, {}
    for f in ENTITIES[spec.entity]:
        if f.name not in mapping:
            continue
        column = body.iloc[:, mapping[f.name]]
        cells = distinct.of(body.columns[mapping[f.name]])
        if f.type == "money":
            declared = spec.column(f.name)
            unit = header_units.get(f.name) or (declared.unit if declared and declared.unit else sheet_unit)
            typed[f.name], bad[f.name] = parse.per_distinct(parse.parse_money, column, UNIT_FACTORS[unit],
                                                                 distinct=cells)
        elif f.type == "percent":
            typed[f.name], bad[f.name] = parse.per_distinct(parse.parse_percent, column, "%" in names[mapping[f.name]],
                                                                 distinct=cells)
        elif f.name in _IDENTIFIER_FIELDS:
            typed[f.name], bad[f.name] = parse.per_distinct(parse.parse_identifier, column, distinct=cells)
        else:
            parser = {
                "text": parse.parse_text, "integer": parse.parse_integer, "number": parse.parse_number,
                "year": parse.parse_year, "period": parse.parse_period, "flag": parse.parse_flag,
                "date": parse.parse_date,
            }[f.type]
            typed[f.name], bad[f.name] = parse.per_distinct(parser, column, distinct=cells)
    return pd.DataFrame(typed, index=body.index), pd.DataFrame(bad, index=body.index).fillna(False).astype(bool)


def _report_bad_cells(spec, body, typed, bad, mapping, names, sheet, problems: _Problems):
    """One INGEST-VALUE finding per unreadable cell, naming row and column (vectorised over the bad cells)."""
    types = {"money": "金额", "integer": "整数", "number": "数值", "year": "年份", "period": "期号(YYYYMM)",
             "flag": "是/否", "date": "日期", "percent": "百分比", "text": "文本"}
    field_types = {f.name: ("identifier" if f.name in _IDENTIFIER_FIELDS else f.type) for f in ENTITIES[spec.entity]}
    for field_name in bad.columns[bad.any().to_numpy()]:
        rows = bad.index[bad[field_name].to_numpy()]
        col = mapping[field_name]
        values = body.loc[rows].iloc[:, col].astype("string")
        kind = "身份证/账号(以数字格式存储已丢失精度,应存为文本)" if field_types[field_name] == "identifier" else types[field_types[field_name]]
        for row_number, value in values.items():
            problems.add(
                "INGEST-VALUE",
                f"工作表「{sheet}」第{row_number}行第{column_letter(col)}列「{names[col]}」的值「{value}」不是有效的{kind}",
                sheet=sheet, row_number=int(row_number), column_name=names[col], value=value, expected=kind,
            )


def _report_missing_required(spec, typed, bad, data_rows, mapping, names, sheet, problems: _Problems) -> pd.DataFrame:
    """Empty cells in required columns: one INGEST-REQUIRED finding each."""
    missing = pd.DataFrame(False, index=typed.index, columns=bad.columns)
    for f in ENTITIES[spec.entity]:
        if not f.required or f.name not in mapping:
            continue
        missing[f.name] = (typed[f.name].isna() & ~bad[f.name] & data_rows).to_numpy()
        col = mapping[f.name]
        for row_number in typed.index[missing[f.name].to_numpy()]:
            problems.add("INGEST-REQUIRED", f"工作表「{sheet}」第{row_number}行第{column_letter(col)}列「{names[col]}」为必填项,不能为空",
                         sheet=sheet, row_number=int(row_number), column_name=names[col], expected="非空")
    return missing


def _finish_records(spec: SourceSpec, records: pd.DataFrame, source_file: str) -> pd.DataFrame:
    records = records.copy()
    for pattern in spec.filename_fields:
        match = re.search(pattern, source_file)
        for field_name, value in (match.groupdict() if match else {}).items():
            if field_name not in records or records[field_name].isna().all():
                records[field_name] = value
    for field_name, value in spec.constants.items():
        records[field_name] = value
    if "fiscal_year" in records:
        records["fiscal_year"] = pd.to_numeric(records["fiscal_year"], errors="coerce").astype("Int64")
    if "township" in records:
        records["township"], records["township_code"] = parse.per_distinct(normalise_townships, records["township"])
    records["source"] = spec.name
    records["department"] = spec.department
    records["source_file"] = source_file
    records["row_key"] = (records["file_sha256"].str.slice(0, 16) + ":" + records["sheet"].astype("string")
                          + ":" + records["row_number"].astype("string"))
    canonical = [f.name for f in ENTITIES[spec.entity]] + (["township_code"] if "township" in records else [])
    for column in canonical:
        if column not in records:
            records[column] = pd.NA
    return records[list(LINEAGE_COLUMNS) + ["row_key"] + canonical + ["_bad_fields"]]



def empty_records(entity: str) -> pd.DataFrame:
    columns = list(LINEAGE_COLUMNS) + ["row_key"] + [f.name for f in ENTITIES[entity]] + ["_bad_fields"]
    if any(f.name == "township" for f in ENTITIES[entity]):
        columns.insert(-1, "township_code")
    return pd.DataFrame(columns=columns)


def empty_problems() -> pd.DataFrame:
    return pd.DataFrame(columns=list(PROBLEM_COLUMNS))


def empty_totals() -> pd.DataFrame:
    return pd.DataFrame(columns=["source", "source_file", "sheet", "row_number", "field", "declared", "summed", "label"])


def empty_notes() -> pd.DataFrame:
    return pd.DataFrame(columns=["source_file", "sheet", "row_number", "text"])
