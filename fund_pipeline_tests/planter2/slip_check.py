"""At a county-year scale: does a ×10,000 slip planted into any single ledger row move a county-year share?

    .venv/bin/python -m fund_pipeline_tests.planter2.slip_check --scale 1 --years 2017 --work /tmp/slip_check

1. Makes the clean sample county and runs the whole pipeline on it (DuckDB).
2. For every ledger row (clean.disbursements), applies the slip through the real rules: AMOUNT-SUSPECT's budget
   check only reads the row and its project, so one frame with every row slipped gives each row's own verdict,
   and whether the derived unit-slip repair recovers its amount (then it counts in the measures as before).
3. A flagged row without a repair counts in no measure, so the shares move by the row's own weight: for those
   rows, the VILLAGE-54 and HOUSEHOLD-57 shares without it, their largest change and any verdict that would flip
   (FISCAL-20, STOCK-50 and IMPL-* read no ledger row).
4. Plants the slip for real into the largest ledger row of 2017 (openpyxl), runs the pipeline again and prints
   every county-year measure of both runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
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


def detection(path: str) -> tuple[int, set, set]:
    """(ledger rows, row keys AMOUNT-SUSPECT holds back when slipped ×10,000, row keys whose amount the unit-slip
    repair recovers), through derive + GX. Each row is slipped alone in its own copy of the ledger (a copy is its
    own source, so medians are per copy): one frame of n² rows, no loop over rows."""
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
    n = len(rows)
    copies = rows.loc[rows.index.repeat(n)].reset_index(drop=True)
    copy = pd.Series(range(n * n)) // n
    slipped_here = (pd.Series(range(n * n)) % n) == copy
    copies["amount"] = copies["amount"].where(~slipped_here, copies["amount"] * 10_000)
    copies["source"] = copies["source"] + "#" + copy.astype(str)
    copies["row_key"] = copies["row_key"] + "#" + copy.astype(str)
    derived = add_derived_columns("disbursements", copies, refs)
    catalogue = load_catalogue()
    findings, _ = evaluate("disbursements", derived, [catalogue.rule("AMOUNT-SUSPECT")], catalogue, "slip-check")
    original = rows["amount"].to_numpy()
    repaired = derived.loc[slipped_here, "unit_slip_amount"].astype("float64").to_numpy()
    recovered = abs(repaired - original) <= abs(original) * 1e-9
    flagged_keys = set(derived.loc[slipped_here & derived["row_key"].isin(set(findings["row_key"])), "row_key"])
    strip = lambda keys: {k.rsplit("#", 1)[0] for k in keys}  # noqa: E731
    return n, strip(flagged_keys), set(rows.loc[recovered, "row_key"])


def share_moves(path: str, unrepaired: set) -> pd.DataFrame:
    """Per year and share: the published value, the largest change from leaving out any one ledger row the repair
    does not recover, and how many such single rows would flip the verdict."""
    con = duckdb.connect(path, read_only=True)
    flow = con.execute("select f.fiscal_year, f.source, f.amount, f.poor_household_amount, f.is_poor_village, d.row_key "
                       "from marts.fund_flow as f left join clean.disbursements as d on d.source = f.source "
                       "and d.source_file = f.source_file and d.sheet = f.sheet and d.row_number = f.row_number").df()
    con.close()
    flow["poor_village"] = flow["amount"].where(flow["is_poor_village"], 0.0)
    flow["poor_household"] = flow["poor_household_amount"]
    out = []
    for year, group in flow.groupby("fiscal_year"):
        ledger = group[group["source"].str.endswith("disbursements") & group["row_key"].isin(unrepaired)]
        for rule, (numerator, threshold) in SHARES.items():
            total, part = group["amount"].sum(), group[numerator].sum()
            share = part / total
            without = (part - ledger[numerator]) / (total - ledger["amount"])
            flips = ((without >= threshold) != (share >= threshold)).sum()
            out.append({"fiscal_year": year, "rule": rule, "share": share, "unrepaired_rows": len(ledger),
                        "max_move_pp": float((without - share).abs().max() * 100) if len(ledger) else 0.0,
                        "verdict_flips": int(flips)})
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
    parser.add_argument("--years", default="2015,2016,2017", help="fiscal years of the sample (the slip goes into 2017)")
    args = parser.parse_args()
    from fund_pipeline.sample import generate

    work = args.work
    shutil.rmtree(work, ignore_errors=True)
    (work / "dagster_home").mkdir(parents=True)
    (work / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(work / "dagster_home")
    generate(work / "clean", scale=args.scale, years=tuple(int(y) for y in args.years.split(",")))
    clean = _run(work / "clean", work / "clean_run")
    rows, flagged, recovered = detection(clean)
    print(f"ledger rows: {rows}; held back as AMOUNT-SUSPECT when slipped ×10,000: {len(flagged)} "
          f"({len(flagged) / rows:.2%}); amount recovered by the unit-slip repair: {len(flagged & recovered)}")
    pd.set_option("display.width", 200)
    print(share_moves(clean, flagged - recovered).to_string(index=False))
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
