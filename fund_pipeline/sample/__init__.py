"""The sample county: `fund-pipeline sample` writes its departments' spreadsheets into an inbox."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from fund_pipeline.sample import departments as d
from fund_pipeline.sample import social
from fund_pipeline.sample.county import build_county

DEFAULT_YEARS = (2015, 2016, 2017)


def generate(out: Path, seed: int = 20150805, scale: float = 0.02, plant_violations: bool = False,
             years: tuple[int, ...] = DEFAULT_YEARS) -> dict:
    """Write the sample county's spreadsheets under `out`; returns a manifest (also written as sample.json)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    county = build_county(seed, scale)
    ctx = d.SampleContext(out=out, county=county, years=list(years), rng=np.random.default_rng(seed + 1),
                          scale=scale, plants=d.Plants(plant_violations))
    d.finance(ctx)
    d.registers(ctx)
    roster_budgets = d.household_rosters(ctx)
    projects = d.projects_and_ledgers(ctx, roster_budgets)
    d.receipts(ctx, projects)
    d.policy_subsidies(ctx)
    d.loans(ctx)
    d.mutual_aid(ctx)
    d.audits(ctx, projects)
    social.student_loans(ctx)
    social.village_doctors(ctx)
    social.illness_claims(ctx)
    manifest = {
        "seed": seed, "scale": scale, "years": list(years), "plant_violations": plant_violations,
        "villages": len(county.villages), "poor_villages": int(county.villages["is_poor_village"].sum()),
        "households": len(county.households), "poor_households": int(county.households["is_poor"].sum()),
        "files": sum(1 for _ in out.rglob("*.xlsx")),
        "note": "Townships and their codes are Huining's; village codes, people and amounts are made up.",
    }
    if plant_violations:
        ctx.plants.frame().sort_values(["rule_id", "source", "source_file", "sheet", "row_number"]).to_csv(
            out / "expected_findings.csv", index=False)
        manifest["planted_findings"] = len(ctx.plants.rows)
    (out / "sample.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    return manifest
