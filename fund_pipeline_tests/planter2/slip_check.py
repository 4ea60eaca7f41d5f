"""At a county-year scale: does a ×10,000 slip planted into any single ledger row move a county-year share?

    .venv/bin/python -m fund_pipeline_tests.planter2.slip_check --scale 1 --work /tmp/slip_check

1. Makes the clean sample county and runs the whole pipeline on it (DuckDB).
2. For every ledger row (clean.disbursements), applies the slip through the real rules: AMOUNT-SUSPECT's budget
   check only reads the row and its project, so one frame with every row slipped gives each row's own verdict.
3. A flagged row counts in no measure, so the shares move only by the row's own weight: for every row, the
   VILLAGE-54 and HOUSEHOLD-57 shares without it, their largest change and any verdict that would flip
   (FISCAL-20, STOCK-50 and IMPL-* read no ledger row).
4. Plants the slip for real into the largest ledger row of 2017 (openpyxl), runs the pipeline again and prints
   every county-year measure of both runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
from dataclasses import replace
from pathlib import Path

import duckdb
import pandas as pd

SHARES = {"VILLAGE-54": ("poor_village", 0.54), "HOUSEHOLD-57": ("poor_household", 0.57)}


def _run(inbox: Path, work: Path) -> str:
    from fund_pipeline.pipeline.runner import run_pipeline
    from fund_pipeline.settings import Settings

    work.mkdir(parents=True, exist_ok=True)
    url = f"duckdb:///{work / 'warehouse.duckdb'}"
    settings = Settings.from_env().with_overrides(inbox=inbox, warehouse_url=url, reports_dir=work / "reports")
    outcome = run_pipeline(settings)
    assert outcome.success, outcome.error
    return str(work / "warehouse.duckdb")


def detection(path: str) -> tuple[int, int]:
    """(ledger rows, rows AMOUNT-SUSPECT holds back when slipped ×10,000), through derive + GX."""
    from fund_pipeline.rules.catalogue import load_catalogue
    from fund_pipeline.rules.derive import References, add_derived_columns
    from fund_pipeline.rules.validation import evaluate

    con = duckdb.connect(path, read_only=True)
    rows = con.execute("select * from clean.disbursements").df()
    projects = con.execute("select project_code, channel_name, purpose, budget from clean.projects").df()
    villages = con.execute("select * from clean.villages").df()
    con.close()
    refs = References(villages=villages, poor_household_ids=frozenset(), project_codes=frozenset(projects["project_code"]),
                      projects=projects)
    slipped = add_derived_columns("disbursements", rows.assign(amount=rows["amount"] * 10_000), refs)
    catalogue = load_catalogue()
    rule = catalogue.rule("AMOUNT-SUSPECT")
    budget_only = replace(rule, checks=tuple(c for c in rule.checks if c.params["column"] == "budget_ratio"))
    findings, _ = evaluate("disbursements", slipped, [budget_only], catalogue, "slip-check")
    return len(rows), int(findings["row_key"].nunique())


def share_moves(path: str) -> pd.DataFrame:
    """Per year and share: the published value, the largest change from leaving any one ledger row out, and how
    many single rows would flip the verdict."""
    con = duckdb.connect(path, read_only=True)
    flow = con.execute("select fiscal_year, source, amount, poor_household_amount, is_poor_village from marts.fund_flow").df()
    con.close()
    flow["poor_village"] = flow["amount"].where(flow["is_poor_village"], 0.0)
    flow["poor_household"] = flow["poor_household_amount"]
    out = []
    for year, group in flow.groupby("fiscal_year"):
        ledger = group[group["source"].str.endswith("disbursements")]
        for rule, (numerator, threshold) in SHARES.items():
            total, part = group["amount"].sum(), group[numerator].sum()
            share = part / total
            without = (part - ledger[numerator]) / (total - ledger["amount"])
            flips = ((without >= threshold) != (share >= threshold)).sum()
            out.append({"fiscal_year": year, "rule": rule, "share": share, "ledger_rows": len(ledger),
                        "max_move_pp": float((without - share).abs().max() * 100), "verdict_flips": int(flips)})
    return pd.DataFrame(out)


def plant_one_slip(clean: Path, slipped: Path) -> tuple:
    from fund_pipeline_tests.planter2.books import Books
    from fund_pipeline_tests.planter2.plants import LEDGERS

    shutil.copytree(clean, slipped)
    books = Books(slipped)
    file, _, key, amount, *_ = LEDGERS["transport_disbursements"]
    sheet = books.sheet(file.format(y=2017), key)
    row = max(sheet.rows, key=lambda r: float(sheet.get(r, amount)))
    before = float(sheet.get(row, amount))
    sheet.set_amount(row, amount, before * 10_000)
    books.save()
    return sheet.rel, sheet.name, row, before


def measures(path: str) -> pd.DataFrame:
    con = duckdb.connect(path, read_only=True)
    frame = con.execute("select * from marts.county_year_measures order by fiscal_year").df()
    con.close()
    keep = [c for c in frame.columns if c.endswith("_share") or c.endswith("_share_with_quarantined")
            or c.startswith("integrated_spending")]
    return frame.set_index("fiscal_year")[keep]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--work", type=Path, default=Path("/tmp/slip_check"))
    args = parser.parse_args()
    from fund_pipeline.sample import generate

    work = args.work
    shutil.rmtree(work, ignore_errors=True)
    (work / "dagster_home").mkdir(parents=True)
    (work / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(work / "dagster_home")
    generate(work / "clean", scale=args.scale)
    clean = _run(work / "clean", work / "clean_run")
    rows, flagged = detection(clean)
    print(f"ledger rows: {rows}; held back as AMOUNT-SUSPECT when slipped ×10,000: {flagged} ({flagged / rows:.2%})")
    pd.set_option("display.width", 200)
    print(share_moves(clean).to_string(index=False))
    where = plant_one_slip(work / "clean", work / "slipped")
    print(f"planted ×10,000 into {where[0]} / {where[1]} row {where[2]} (was {where[3]} 万元)")
    slipped = _run(work / "slipped", work / "slipped_run")
    con = duckdb.connect(slipped, read_only=True)
    print(con.execute("select rule_id, source_file, sheet, row_number, value from audit.current_findings "
                      "where rule_id = 'AMOUNT-SUSPECT'").df().to_string(index=False))
    con.close()
    before, after = measures(clean), measures(slipped)
    print("clean:\n" + before.to_string())
    print("slipped:\n" + after.to_string())
    print("largest change of any share (percentage points):",
          float((after - before).filter(like="_share").abs().max().max() * 100))


if __name__ == "__main__":
    main()
