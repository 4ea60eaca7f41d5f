"""The stack a county's data engineer would write without fund_pipeline: the benchmark's yardstick.

pandas `read_excel` (openpyxl) of every sheet the source layouts describe, Great Expectations (an ephemeral
context) validating the catalogue's row expectations with COMPLETE results, and `DataFrame.to_sql` into
SQLite. It reads the layout YAML files and the rule catalogue to know what to read and check, and nothing
else of fund_pipeline: not its reader, its derived columns or its warehouse.

Run alone:  python benchmarks/naive_stack.py INBOX --sqlite naive.sqlite
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sqlite3
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

HERE = Path(__file__).resolve().parent
LAYOUT_DIR = HERE.parent / "fund_pipeline" / "sources" / "layouts"
HEADER_SEARCH_ROWS = 30
TOTAL_OR_FOOTER = re.compile(r"(合\s*计|总\s*计|小\s*计|共\s*计)[::]?$|^其中[::]?$|^(单位负责人|填表人|填表时间|填表日期|填表单位|制表|审核)")
VERBOSE = False
ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
ID_CHECK_CHARS = np.array(list("10X98765432"))


def as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def normalise(text) -> str:
    s = re.sub(r"\s+", "", str(text)).replace("\u3000", "")
    return s.replace("(", "(").replace(")", ")").replace(":", ":")


def load_layouts() -> list[dict]:
    return [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted(LAYOUT_DIR.glob("*.yaml"))]


def alias_map(layout: dict) -> dict[str, str]:
    mapping = {}
    for field, column in layout["columns"].items():
        aliases = column["aliases"] if isinstance(column, dict) else column
        for alias in as_list(aliases):
            mapping[normalise(alias)] = field
    return mapping


def header_names(raw: pd.DataFrame, row: int, rows: int) -> list[str]:
    """A header of one or more rows as one name per column: upper rows' merged cells carried right, joined by '/'."""
    levels = [raw.iloc[r].ffill() if r < row + rows - 1 else raw.iloc[r] for r in range(row, row + rows)]
    names = []
    for cells in zip(*levels, strict=True):
        parts = [normalise(c) for c in cells if pd.notna(c) and normalise(c)]
        names.append("/".join(dict.fromkeys(parts)))
    return names


def read_sheet(raw: pd.DataFrame, layout: dict) -> pd.DataFrame | None:
    header = layout["header"]
    finds = {normalise(t) for t in as_list(header["find"])}
    top = raw.head(HEADER_SEARCH_ROWS).map(lambda v: normalise(v) if pd.notna(v) else "")
    hits = np.flatnonzero(top.isin(finds).any(axis=1).to_numpy())
    if not len(hits):
        return None
    row, rows = int(hits[0]), header.get("rows", 1)
    names = header_names(raw, row, rows)
    aliases = alias_map(layout)
    fields = [aliases.get(n) for n in names]
    body = raw.iloc[row + rows + header.get("skip_after", 0):]
    labels = body.iloc[:, :3].astype(str)
    totals = labels.apply(lambda c: c.str.strip().str.contains(TOTAL_OR_FOOTER)).any(axis=1)
    keep = [i for i, f in enumerate(fields) if f]
    frame = body.loc[~totals].iloc[:, keep]
    frame.columns = [fields[i] for i in keep]
    frame = frame.loc[:, ~frame.columns.duplicated()]
    return frame.dropna(how="all")


def typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Numbers where a whole column parses as numbers, dates for *_date columns; identifiers stay text."""
    for column in frame.columns:
        values = frame[column]
        if column.endswith(("_id", "_no", "_code")) or column in ("period", "fiscal_year"):
            frame[column] = values.where(values.isna(), values.astype(str))
        elif column.endswith("_date"):
            text = values.astype(str).str.replace(r"[年月/.]", "-", regex=True).str.replace("日", "", regex=False)
            frame[column] = pd.to_datetime(text, errors="coerce", format="mixed")
        else:
            numbers = pd.to_numeric(values, errors="coerce")
            if numbers.notna().sum() == values.notna().sum() and values.notna().any():
                frame[column] = numbers
            else:
                frame[column] = values.where(values.isna(), values.astype(str))
    return frame


def read_source(layout: dict, inbox: Path) -> pd.DataFrame:
    paths = sorted({p for pattern in as_list(layout["files"]) for p in inbox.glob(pattern)})
    sheet_patterns = [re.compile(s) for s in as_list(layout.get("sheets", ".*"))]
    frames = []
    for path in paths:
        relative = path.relative_to(inbox).as_posix()
        workbook = pd.ExcelFile(path, engine="openpyxl")
        for sheet in workbook.sheet_names:
            if not any(p.fullmatch(sheet) for p in sheet_patterns):
                continue
            frame = read_sheet(workbook.parse(sheet, header=None, dtype=object), layout)
            if frame is None:
                continue
            for pattern, text in [*((p, relative) for p in layout.get("filename_fields", [])),
                                  *((p, sheet) for p in layout.get("sheet_fields", []))]:
                match = re.search(pattern, text)
                for name, value in (match.groupdict() if match else {}).items():
                    frame[name] = value
            for name, value in layout.get("constants", {}).items():
                frame[name] = value
            frames.append(frame)
        workbook.close()
    return typed(pd.concat(frames, ignore_index=True)) if frames else pd.DataFrame()


def id_status(ids: pd.Series) -> pd.Series:
    """ok / legacy15 / format / checksum / missing for resident IDs, vectorised."""
    text = ids.astype("string").str.strip().str.upper()
    status = pd.Series("format", index=ids.index, dtype=object)
    status[text.isna()] = "missing"
    status[text.str.fullmatch(r"\d{15}").fillna(False).to_numpy()] = "legacy15"
    long = text.str.fullmatch(r"\d{17}[\dX]").fillna(False).to_numpy()
    if long.any():
        digits = np.array([list(s[:17]) for s in text[long]], dtype=np.int64)
        expected = ID_CHECK_CHARS[(digits @ ID_WEIGHTS) % 11]
        status[long] = np.where(expected == text[long].str[17].to_numpy(), "ok", "checksum")
    return status


def derive(frame: pd.DataFrame) -> pd.DataFrame:
    """The plain derived columns a check reads: ID status, payment period, year of a date."""
    for column in [c for c in frame.columns if c.endswith("_id")]:
        frame[f"{column}_status"] = id_status(frame[column])
    if "period" in frame:
        frame["payment_period"] = frame["period"]
    for column in [c for c in frame.columns if c.endswith("_date")]:
        frame[column.removesuffix("_date") + "_year"] = frame[column].dt.year.astype("Int64")
    if "fiscal_year" in frame:
        frame["fiscal_year"] = pd.to_numeric(frame["fiscal_year"], errors="coerce").astype("Int64")
    return frame


def row_condition(where: dict, thresholds: dict):
    from great_expectations.expectations.row_conditions import Column

    parts = []
    for column, test in where.items():
        c = Column(column)
        tests = test if isinstance(test, dict) else {"eq": test}
        for op, raw in tests.items():
            v = thresholds.get(raw[1:]) if isinstance(raw, str) and raw.startswith("$") else raw
            parts.append({"eq": lambda: c == v, "not_null": c.is_not_null, "in": lambda: c.is_in(v),  # noqa: B023
                          "lt": lambda: c < v, "le": lambda: c <= v, "gt": lambda: c > v,  # noqa: B023
                          "ge": lambda: c >= v, "ne": lambda: c != v}[op]())  # noqa: B023
    condition = parts[0] if parts else None
    for part in parts[1:]:
        condition = condition & part
    return condition


def expectations_for(entity: str, columns: set[str], catalogue):
    """The catalogue's checks on this entity whose columns the frame has, as GX expectations."""
    import great_expectations as gx

    out = []
    for rule in catalogue.for_target(entity):
        thresholds = rule.thresholds_for(None)
        for check in rule.checks_for(entity):
            p = {k: thresholds.get(v[1:]) if isinstance(v, str) and v.startswith("$") else v
                 for k, v in check.params.items() if k != "group_column"}
            needed = {p.get("column"), p.get("column_a"), p.get("column_b"), *p.get("columns", []), *check.where} - {None}
            if not needed <= columns:
                continue
            common = {"meta": {"rule_id": rule.id}}
            condition = row_condition(check.where, thresholds)
            if condition is not None:
                common["row_condition"] = condition
            e = gx.expectations
            out.append({
                "between": lambda: e.ExpectColumnValuesToBeBetween(  # noqa: B023
                    column=p["column"], min_value=p.get("min_value"), max_value=p.get("max_value"),  # noqa: B023
                    strict_min=bool(p.get("strict_min")), strict_max=bool(p.get("strict_max")), **common),  # noqa: B023
                "in_set": lambda: e.ExpectColumnValuesToBeInSet(column=p["column"], value_set=list(p["value_set"]),  # noqa: B023
                                                                **common),  # noqa: B023
                "not_null": lambda: e.ExpectColumnValuesToNotBeNull(column=p["column"], **common),  # noqa: B023
                "unique_together": lambda: e.ExpectCompoundColumnsToBeUnique(column_list=list(p["columns"]),  # noqa: B023
                                                                             **common),  # noqa: B023
                "pair_equal": lambda: e.ExpectColumnPairValuesToBeEqual(  # noqa: B023
                    column_A=p["column_a"], column_B=p["column_b"], ignore_row_if="either_value_is_missing",  # noqa: B023
                    **common),  # noqa: B023
                "pair_greater_or_equal": lambda: e.ExpectColumnPairValuesAToBeGreaterThanB(  # noqa: B023
                    column_A=p["column_a"], column_B=p["column_b"], or_equal=True,  # noqa: B023
                    ignore_row_if="either_value_is_missing", **common),  # noqa: B023
                "match_regex": lambda: e.ExpectColumnValuesToMatchRegex(column=p["column"], regex=p["regex"],  # noqa: B023
                                                                        **common),  # noqa: B023
            }[check.expect]())
    return out


def validate(context, name: str, frame: pd.DataFrame, expectations: list) -> tuple[int, int]:
    """One suite per source, run with COMPLETE results; (expectations run, failing rows reported)."""
    import great_expectations as gx

    suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
    batch = context.data_sources.add_pandas(name).add_dataframe_asset(name).add_batch_definition_whole_dataframe(name)
    definition = context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))
    result = definition.run(batch_parameters={"dataframe": frame}, result_format="COMPLETE")
    failing = sum(r.result.get("unexpected_count") or 0 for r in result.results)
    if VERBOSE:
        print(name, len(frame), [(r.expectation_config.meta["rule_id"], r.result.get("unexpected_count"))
                                 for r in result.results], file=sys.stderr)
    return len(result.results), failing


def run(inbox: Path, sqlite_path: Path) -> dict:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    sys.path.insert(0, str(HERE.parent))
    from fund_pipeline.rules.catalogue import load_catalogue

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    catalogue = load_catalogue()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    sqlite_path.unlink(missing_ok=True)
    database = sqlite3.connect(sqlite_path)
    summary = {"rows": 0, "expectations": 0, "failing_rows": 0, "sources": 0, "seconds": {}}
    timings = {"read": 0.0, "validate": 0.0, "to_sql": 0.0}
    for layout in load_layouts():
        start = time.perf_counter()
        frame = read_source(layout, inbox)
        timings["read"] += time.perf_counter() - start
        if frame.empty:
            continue
        start = time.perf_counter()
        frame = derive(frame)
        expectations = expectations_for(layout["entity"], set(frame.columns), catalogue)
        if expectations:
            ran, failing = validate(context, layout["source"], frame, expectations)
            summary["expectations"] += ran
            summary["failing_rows"] += failing
        timings["validate"] += time.perf_counter() - start
        start = time.perf_counter()
        frame.to_sql(layout["source"], database, if_exists="replace", index=False)
        timings["to_sql"] += time.perf_counter() - start
        summary["rows"] += len(frame)
        summary["sources"] += 1
    database.close()
    summary["seconds"] = {k: round(v, 2) for k, v in timings.items()}
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inbox", type=Path)
    parser.add_argument("--sqlite", type=Path, required=True)
    args = parser.parse_args()
    print(json.dumps(run(args.inbox, args.sqlite), ensure_ascii=False))


if __name__ == "__main__":
    main()
