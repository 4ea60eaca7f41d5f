"""INGEST-YEAR-NAME, a check of a file's name against its dates: shared by the landing steps and `validate`,
which loads only what it uses."""

from __future__ import annotations

import pandas as pd

from fund_pipeline.rules.catalogue import Catalogue
from fund_pipeline.sources.reader import PROBLEM_COLUMNS, year_in_name
from fund_pipeline.sources.schemas import ENTITIES
from fund_pipeline.sources.spec import SourceSpec

YEAR_NAME_SHARE, YEAR_NAME_MIN_DATES = 0.8, 3  # nearly every date, and enough of them to tell


def dated_column(spec: SourceSpec, catalogue: Catalogue) -> str | None:
    """The date DATE-IN-YEAR holds to the fiscal year in this source's rows, if any."""
    dated = [c.report_column for c in catalogue.rule("DATE-IN-YEAR").checks_for(spec.entity)]
    return dated[0] if dated else None


def year_mismatches(spec: SourceSpec, records: pd.DataFrame, catalogue: Catalogue,
                    more: pd.Series | None = None) -> pd.DataFrame:
    """INGEST-YEAR-NAME: a file whose name states one fiscal year while nearly all its dates (the ones DATE-IN-YEAR
    holds to the fiscal year) fall in another: one finding that names both years, so a file named for the wrong
    year reads as that, not only as its rows' DATE-IN-YEAR errors. `more`: further files' dates, already counted
    by (source_file, year)."""
    column = dated_column(spec, catalogue)
    if column is None or column not in records or (records.empty and (more is None or more.empty)):
        return pd.DataFrame(columns=PROBLEM_COLUMNS)
    years = pd.DataFrame({"source_file": records["source_file"],
                          "dated": pd.to_datetime(records[column], errors="coerce").dt.year}).dropna()
    counts = years.astype({"dated": "int64"}).groupby(["source_file", "dated"]).size()
    if more is not None and len(more):
        counts = pd.concat([counts, more.astype("int64")]).groupby(level=[0, 1]).sum()
    label = next((f.label for f in ENTITIES[spec.entity] if f.name == column), column)
    rows = []
    for source_file, per_year in counts.groupby(level=0):  # a loop over files, not rows
        named, total = year_in_name(spec, source_file), int(per_year.sum())
        top_year, top = int(per_year.idxmax()[1]), int(per_year.max())
        if named and int(named) != top_year and total >= YEAR_NAME_MIN_DATES and top >= YEAR_NAME_SHARE * total:
            rows.append({
                "rule_id": "INGEST-YEAR-NAME", "severity": catalogue.rule("INGEST-YEAR-NAME").severity, "source": spec.name,
                "source_file": source_file, "column_name": label, "value": f"{named}年", "expected": f"{top_year}年",
                "message": f"文件名「{source_file}」表明是{named}年度的报表,但表中{label}的{total}个日期中有{top}个在"
                           f"{top_year}年:请核对文件名中的年度(若文件名有误,本文件各行的日期错误均源于此)",
            })
    return pd.DataFrame(rows, columns=PROBLEM_COLUMNS)
