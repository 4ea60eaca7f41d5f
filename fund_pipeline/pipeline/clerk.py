"""A department clerk's check of one spreadsheet before sending it: the layout and every row rule
that does not need the county registers.

It must answer in a second or two, so nothing here imports Dagster, Great Expectations or dbt: the
rules are evaluated with plain pandas (rules/quick.py), with the same catalogue.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

import pandas as pd

from fund_pipeline.rules.catalogue import Catalogue, load_catalogue
from fund_pipeline.sources import spec as layouts
from fund_pipeline.sources.spec import UNIT_FACTORS, SourceSpec

# Derived columns that only the published registers can fill in.
REGISTER_COLUMNS = {"village_code", "village_is_poor", "village_population", "household_registered_poor",
                    "borrower_registered_poor", "project_known", "matches_project_allocation", "project_budget",
                    "budget_ratio"}
SPREADSHEET_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".et", ".csv")
_UNIT_IN_TEXT = re.compile(r"[((](亿元|万元|元)[))]|单位[::]\s*(亿元|万元|元)")
_GLOB = re.compile(r"[*?\[\]]")


class ClerkError(Exception):
    """A user's mistake (missing file, unknown source, broken layout): one clear Chinese message, exit 2."""


@dataclass
class SheetRead:
    name: str
    rows: int
    first_row: int | None
    last_row: int | None


@dataclass
class CheckReport:
    path: Path
    spec: SourceSpec
    found_by: str
    picked_up: bool
    pattern_hint: str
    sheets: list[SheetRead] = field(default_factory=list)
    years: list[int] = field(default_factory=list)
    sums: pd.DataFrame = field(default_factory=pd.DataFrame)  # sheet, label, value, unit
    totals: pd.DataFrame = field(default_factory=pd.DataFrame)  # sheet, row_number, label, declared, summed, unit, ok
    problems: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def errors(self) -> int:
        return int((self.problems["severity"] == "error").sum()) if len(self.problems) else 0


# -- which source ------------------------------------------------------------------------------------
def department_folders(spec: SourceSpec) -> set[str]:
    """The inbox folders a layout reads from (the first part of its file patterns), e.g. 交通运输局."""
    return {p.split("/", 1)[0] for p in spec.files if "/" in p and not _GLOB.search(p.split("/", 1)[0])}


def _name_keywords(spec: SourceSpec) -> set[str]:
    """The fixed text of the file-name patterns: *交通扶贫资金拨付台账*.xlsx -> 交通扶贫资金拨付台账."""
    words = set()
    for pattern in spec.files:
        stem = PurePosixPath(pattern).name.rsplit(".", 1)[0]
        words.update(w for w in _GLOB.split(stem) if len(w) >= 2)
    return words


def matching_pattern(spec: SourceSpec, path: Path) -> str | None:
    """The layout's file pattern this path matches, relative to any folder above it; None when none does."""
    if path.name.startswith(("~$", ".")):
        return None
    posix = PurePosixPath(path.as_posix())
    return next((p for p in spec.files if posix.match(p)), None)


def sources_named(name: str, specs) -> list[SourceSpec]:
    """The layout by its name, or the department's layouts by its Chinese name (会宁县交通运输局, 交通运输局)."""
    exact = [s for s in specs if s.name == name]
    if exact:
        return exact
    name = name.strip()
    return [s for s in specs if len(name) >= 2 and (s.department == name or name in department_folders(s)
                                                     or s.department.endswith(name))]


def _describe(spec: SourceSpec) -> str:
    return f"{spec.name}({spec.department},文件 {'、'.join(spec.files)})"


def identify_source(path: Path, source: str | None, specs) -> tuple[SourceSpec, str]:
    """The layout for a file: by --source (layout or department name), else by the file's path and name."""
    by_path = [s for s in specs if matching_pattern(s, path)]
    if source:
        named = sources_named(source, specs)
        if not named:
            raise ClerkError(f"未知的来源「{source}」。可用的来源(布局名或部门名均可):\n" + sources_listing(specs))
        if len(named) == 1:
            return named[0], f"按 --source {source}"
        narrowed = [s for s in named if s in by_path] or _by_keywords(path, named)
        if len(narrowed) == 1:
            return narrowed[0], f"按 --source {source} 与文件名"
        raise ClerkError(f"「{source}」有多个报表布局,无法从文件名判断是哪一个,请用 --source 指定布局名:\n"
                         + "\n".join("  " + _describe(s) for s in named))
    if len(by_path) == 1:
        return by_path[0], "按文件路径和文件名"
    folders = {p.name for p in path.parents}
    in_folder = [s for s in specs if department_folders(s) & folders]
    guesses = by_path or _by_keywords(path, in_folder) or in_folder or _by_keywords(path, specs)
    if len(guesses) == 1:
        return guesses[0], "按文件名中的报表名称" if not in_folder else "按部门文件夹"
    raise ClerkError(f"无法从路径「{path}」判断这是哪个部门的哪张报表,请用 --source 指定(布局名或部门名均可):\n"
                     + "\n".join("  " + _describe(s) for s in (guesses or specs)))


def _by_keywords(path: Path, specs) -> list[SourceSpec]:
    return [s for s in specs if any(w in path.name for w in _name_keywords(s))]


def sources_listing(specs) -> str:
    return "\n".join(f"  {s.name:<32} {s.department}  {'、'.join(s.files)}" for s in specs)


def load_specs() -> tuple[SourceSpec, ...]:
    try:
        return layouts.load_layouts()
    except Exception as error:  # a configuration that cannot be loaded at all
        raise ClerkError(f"来源布局有误,无法检查:{error}") from None


def broken_layouts_note() -> str:
    """The layouts of the configuration in force that could not be used (their sources are disabled):
    the likely reason a file is not recognised or a named source is unknown."""
    return "\n".join(f"{b.message}(来源 {b.source} 因此暂不可用)" for b in layouts.invalid_layouts())


# -- reading -----------------------------------------------------------------------------------------
def _base_folder(path: Path, pattern: str | None) -> Path:
    """The folder the pattern is relative to, so names in the path (年度, 乡镇) are read as in the inbox."""
    if pattern is None:
        return path.parent
    depth = len(PurePosixPath(pattern).parts)
    return path.parents[depth - 1] if len(path.parents) >= depth else path.parent


def _sheet_units(spec: SourceSpec, path: Path, sheets: list[str]) -> dict[str, dict[str, tuple[str, str]]]:
    """sheet -> money field -> (its header as the sheet has it, the unit its numbers are typed in).

    Decided exactly as the reader converts them (sources/reader.py): a unit in the header text, else the
    layout's unit for the column, else the unit line above the header, else the layout's unit."""
    from python_calamine import CalamineWorkbook

    from fund_pipeline.sources import reader
    from fund_pipeline.sources.schemas import ENTITIES

    money = {f.name for f in ENTITIES[spec.entity] if f.type == "money"}
    aliases = {reader._strip_unit(k): v for k, v in spec.alias_map().items()}
    workbook = CalamineWorkbook.from_path(str(path))
    units: dict[str, dict[str, tuple[str, str]]] = {}
    try:
        for sheet_name in sheets:
            sheet = workbook.get_sheet_by_name(sheet_name)
            rows = sheet.to_python(skip_empty_area=False, nrows=reader.HEADER_SEARCH_ROWS + spec.header_rows + 1)
            header = reader._find_header(spec, rows)
            if header is None:
                continue
            names = reader._header_names(rows, header, spec.header_rows, getattr(sheet, "merged_cell_ranges", None))
            sheet_unit = reader._sheet_unit(rows, header) or spec.unit
            found = {}
            for name in names:
                candidates = [reader._strip_unit(name), reader._strip_unit(name.split("/")[-1])]
                field_name = next((aliases[c] for c in candidates if c in aliases), None)
                if field_name in money and field_name not in found:
                    declared = spec.column(field_name)
                    unit = _UNIT_IN_TEXT.search(name)
                    found[field_name] = (name, (unit.group(1) or unit.group(2)) if unit else
                                         (declared.unit if declared and declared.unit else sheet_unit))
            units[sheet_name] = found
    finally:
        workbook.close()
    return units


def _in_unit(values: pd.Series, unit: str) -> pd.Series:
    return pd.to_numeric(values, errors="coerce") / UNIT_FACTORS[unit]


def _number(value: float) -> str:
    """As a clerk types it: thousands separated, no trailing zeros (12.5, -3, 22,482.07)."""
    return f"{value:,.6f}".rstrip("0").rstrip(".")


def check_file(path: Path, source: str | None = None) -> CheckReport:
    path = Path(path)
    if not path.exists():
        raise ClerkError(f"找不到文件「{path}」,请检查路径和文件名。")
    if path.is_dir():
        raise ClerkError(f"「{path}」是文件夹,请指定其中的一个工作簿文件。")
    path = path.resolve()
    specs = load_specs()
    try:
        spec, found_by = identify_source(path, source, specs)
    except ClerkError as error:
        note = broken_layouts_note()
        raise ClerkError(f"{note}\n{error}" if note else str(error)) from None
    pattern = matching_pattern(spec, path)
    report = CheckReport(path, spec, found_by, picked_up=pattern is not None, pattern_hint="、".join(spec.files))
    catalogue = load_catalogue()

    from fund_pipeline.sources.reader import read_workbook

    try:
        read = read_workbook(spec, path, _base_folder(path, pattern))
        records = read.records
        sheet_names = list(dict.fromkeys(records["sheet"].dropna())) if len(records) else []
        units = _sheet_units(spec, path, sheet_names) if sheet_names else {}
    except OSError as error:  # unreadable for the operating system: permissions, a file being written
        raise ClerkError(f"无法读取文件「{path}」:{error.strerror or error}") from None
    report.sheets = [SheetRead(s, int(n), int(rows.min()), int(rows.max())) for s, (n, rows) in
                     ((s, (len(g), g["row_number"])) for s, g in records.groupby("sheet", sort=False))]
    if "fiscal_year" in records and len(records):
        report.years = sorted(int(y) for y in records["fiscal_year"].dropna().unique())
    report.sums = _sums(records, units)
    report.totals = _totals(read.totals, units, catalogue)
    report.problems = _problems(spec, read, records, report.totals, units, catalogue)
    if not report.picked_up:
        report.problems = pd.concat([_name_problem(spec, path), report.problems], ignore_index=True)
    return report


def _sums(records: pd.DataFrame, units: dict) -> pd.DataFrame:
    rows = []
    for sheet, fields in units.items():
        mine = records[records["sheet"] == sheet]
        for name, (header, unit) in fields.items():
            if name in mine and mine[name].notna().any():
                rows.append({"sheet": sheet, "label": header, "value": float(_in_unit(mine[name], unit).sum()),
                             "unit": unit})
    return pd.DataFrame(rows, columns=["sheet", "label", "value", "unit"])


def _totals(totals: pd.DataFrame, units: dict, catalogue: Catalogue) -> pd.DataFrame:
    columns = ["sheet", "row_number", "label", "declared", "summed", "unit", "ok"]
    if totals.empty:
        return pd.DataFrame(columns=columns)
    tolerance = catalogue.rule("INGEST-TOTAL").thresholds["tolerance_yuan"]
    rows = []
    for t in totals.itertuples():
        header, unit = units.get(t.sheet, {}).get(t.field, (t.field, "元"))
        factor = UNIT_FACTORS[unit]
        rows.append({"sheet": t.sheet, "row_number": int(t.row_number), "label": header,
                     "declared": t.declared / factor, "summed": t.summed / factor, "unit": unit,
                     "ok": abs(t.declared - t.summed) <= tolerance})
    return pd.DataFrame(rows, columns=columns)


PROBLEM_COLUMNS = ["rule_id", "severity", "title", "sheet", "row_number", "column_name", "value", "detail"]


def _problems(spec: SourceSpec, read, records: pd.DataFrame, totals: pd.DataFrame, units: dict,
              catalogue: Catalogue) -> pd.DataFrame:
    rules = {r.id: r for r in catalogue.rules}
    ingest = read.problems.copy()
    pieces = []
    if len(ingest):
        # The reader's messages already name sheet, row, column and value: they are shown as they are.
        pieces.append(pd.DataFrame({
            "rule_id": ingest["rule_id"], "severity": ingest["rule_id"].map(lambda r: rules[r].severity),
            "sheet": ingest["sheet"], "row_number": ingest["row_number"], "column_name": None, "value": None,
            "detail": ingest["message"]}))
    off = totals[~totals["ok"].astype(bool)] if len(totals) else totals
    if len(off):
        pieces.append(pd.DataFrame({
            "rule_id": "INGEST-TOTAL", "severity": rules["INGEST-TOTAL"].severity, "sheet": off["sheet"],
            "row_number": off["row_number"], "column_name": None, "value": None,
            "detail": [f"工作表「{t.sheet}」第{t.row_number}行合计 {t.label} {_number(t.declared)} {t.unit},"
                       f"明细行之和 {_number(t.summed)} {t.unit},相差 {_number(t.declared - t.summed)} {t.unit}"
                       for t in off.itertuples()]}))
    from fund_pipeline.pipeline.year_names import year_mismatches

    named_wrong = year_mismatches(spec, records, catalogue)
    if len(named_wrong):  # before the rows' DATE-IN-YEAR problems it explains
        pieces.append(pd.DataFrame({"rule_id": named_wrong["rule_id"], "severity": named_wrong["severity"], "sheet": None,
                                    "row_number": None, "column_name": None, "value": None,
                                    "detail": named_wrong["message"]}))
    pieces.append(_rule_problems(spec, records, units, catalogue))
    pieces = [p for p in pieces if len(p)]
    if not pieces:
        return pd.DataFrame(columns=PROBLEM_COLUMNS)
    found = pd.concat(pieces, ignore_index=True)
    found["title"] = found["rule_id"].map(lambda r: rules[r].title)
    found["row_number"] = pd.to_numeric(found["row_number"], errors="coerce").astype("Int64")
    found = found.drop_duplicates(["rule_id", "sheet", "row_number", "column_name", "detail"])
    return found.sort_values(["sheet", "row_number", "rule_id"], na_position="first")[PROBLEM_COLUMNS] \
        .reset_index(drop=True)


def _rule_problems(spec: SourceSpec, records: pd.DataFrame, units: dict, catalogue: Catalogue) -> pd.DataFrame:
    from fund_pipeline.rules.derive import References, add_derived_columns
    from fund_pipeline.rules.quick import failing_rows
    from fund_pipeline.sources.schemas import ENTITIES, conform

    if not len(records):
        return pd.DataFrame()
    # Checks that need the county's registers (villages, households, the project library) cannot run on one
    # file alone; a rule's other checks still do.
    rules = []
    for rule in catalogue.for_target(spec.entity):
        checks = tuple(c for c in rule.checks if not {c.column, c.report_column, *c.where} & REGISTER_COLUMNS)
        if checks:
            rules.append(replace(rule, checks=checks))
    conformed = conform(spec.entity, records)
    clean = conformed[conformed["_bad_fields"].fillna("") == ""].reset_index(drop=True)
    frame = add_derived_columns(spec.entity, clean, References.empty())
    failing = failing_rows(spec.entity, frame, rules)
    if failing.empty:
        return pd.DataFrame()
    rows = frame.loc[failing["position"]].reset_index(drop=True)
    labels = {f.name: f.label for f in ENTITIES[spec.entity]}
    headers = {(s, f): h for s, fields in units.items() for f, (h, _) in fields.items()}
    values = []
    for column, sheet, row in zip(failing["column"], rows["sheet"], rows.to_dict("records"), strict=True):
        value = row.get(column)
        if (sheet, column) in headers and value is not None and not pd.isna(value):
            value = _number(float(value) / UNIT_FACTORS[units[sheet][column][1]])
        if isinstance(value, pd.Timestamp) and value == value.normalize():
            value = value.strftime("%Y-%m-%d")  # a date as the clerk typed it, without a time of day
        values.append(None if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value))
    return pd.DataFrame({
        "rule_id": failing["rule_id"], "severity": failing["severity"], "sheet": rows["sheet"],
        "row_number": rows["row_number"],
        "column_name": [headers.get((s, c)) or labels.get(c, c) for s, c in zip(rows["sheet"], failing["column"], strict=True)],
        "value": values,
        "detail": failing["rule_id"].map(lambda r: catalogue.rule(r).message),
    })


def _name_problem(spec: SourceSpec, path: Path) -> pd.DataFrame:
    return pd.DataFrame([{
        "rule_id": "INGEST-UNMATCHED", "severity": "warning", "title": "收件箱中无法识别的文件", "sheet": None,
        "row_number": pd.NA, "column_name": None, "value": None,
        "detail": f"文件名「{path.name}」不符合{spec.department}的报送规则({'、'.join(spec.files)}),"
                  "放入收件箱后流水线不会读取它;请按规则改名并放在部门文件夹中"}])


# -- what the clerk reads ----------------------------------------------------------------------------
def render(report: CheckReport) -> list[str]:
    spec = report.spec
    lines = [f"检查文件:{report.path}",
             f"来源:{spec.department} · {spec.name}({report.found_by}{' ' if report.found_by[-1:].isascii() else ''}识别)"]
    if not report.picked_up:
        lines.append(f"注意:文件名不符合报送规则「{report.pattern_hint}」,流水线不会读取此文件。")
    lines.append("读取情况:")
    if report.sheets:
        for sheet in report.sheets:
            lines.append(f"  工作表「{sheet.name}」:明细 {sheet.rows:,} 行(第{sheet.first_row}–{sheet.last_row}行)")
    else:
        lines.append("  未读到任何明细行")
    if report.years:
        lines.append(f"  财政年度:{'、'.join(str(y) for y in report.years)}")
    for s in report.sums.itertuples():
        lines.append(f"  工作表「{s.sheet}」{s.label} 合计 {_number(s.value)} {s.unit}")
    for t in report.totals.itertuples():
        verdict = "相符" if t.ok else "不符"
        lines.append(f"  合计行核对:工作表「{t.sheet}」第{t.row_number}行 {t.label} 表内合计 {_number(t.declared)} {t.unit},"
                     f"明细之和 {_number(t.summed)} {t.unit},{verdict}")
    if report.sheets and report.totals.empty:
        lines.append("  合计行核对:表中没有合计行,未核对")
    lines += _render_problems(report)
    return lines


def _render_problems(report: CheckReport) -> list[str]:
    problems = report.problems
    if problems.empty:
        return ["未发现问题。"]
    errors = report.errors
    lines = [f"发现问题 {len(problems)} 个(错误 {errors} 个,警告 {len(problems) - errors} 个):"]
    for (rule_id, title, severity), group in problems.groupby(["rule_id", "title", "severity"], sort=False):
        level = "错误" if severity == "error" else "警告"
        generic = group["column_name"].notna() | group["value"].notna()
        head = f"[{level}] {rule_id} {title}:{len(group)} 处"
        if generic.all():
            head += f"({group['detail'].iloc[0]})"
        lines.append(head)
        for p in group.itertuples():
            if isinstance(p.column_name, str) or isinstance(p.value, str):
                where = f"工作表「{p.sheet}」第{p.row_number}行" if not pd.isna(p.row_number) else f"工作表「{p.sheet}」"
                column = f" 列「{p.column_name}」" if isinstance(p.column_name, str) else ""
                value = f" 值「{p.value}」" if isinstance(p.value, str) else " 值为空"
                lines.append(f"  {where}{column}{value}")
            else:
                lines.append(f"  {p.detail}")
    return lines
