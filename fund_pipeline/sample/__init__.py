"""The sample county: `fund-pipeline sample` writes its departments' spreadsheets into an inbox."""

from __future__ import annotations

import hashlib
import json
from importlib.metadata import version
from pathlib import Path

import numpy as np

from fund_pipeline.configuration import reference_file
from fund_pipeline.sample import departments as d
from fund_pipeline.sample import social
from fund_pipeline.sample.county import build_county
from fund_pipeline.sample.workbook import written_in_parallel
from fund_pipeline.settings import available_cpus

DEFAULT_YEARS = (2015, 2016, 2017)
MANIFEST = "sample.json"
ANSWER_KEY = "expected_findings.csv"  # the planted violations, beside the manifest: not a department's data
_PACKAGE = Path(__file__).resolve().parents[1]


def generate(out: Path, seed: int = 20150805, scale: float = 0.02, plant_violations: bool = False,
             years: tuple[int, ...] = DEFAULT_YEARS, workers: int | None = None) -> dict:
    """Write the sample county's spreadsheets under `out`; returns a manifest (also written as sample.json).
    The workbooks are written by `workers` processes (default: one per CPU), the same bytes as by one."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    county = build_county(seed, scale)
    ctx = d.SampleContext(out=out, county=county, years=list(years), rng=np.random.default_rng(seed + 1),
                          scale=scale, plants=d.Plants(plant_violations))
    with written_in_parallel(available_cpus() if workers is None else workers):
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
        "generator": generator_digest(),
    }
    if plant_violations:
        ctx.plants.frame().sort_values(["rule_id", "source", "source_file", "sheet", "row_number"]).to_csv(
            out / ANSWER_KEY, index=False)
        manifest["planted_findings"] = len(ctx.plants.rows)
    manifest["files_sha256"] = _file_digests(out)
    (out / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    return manifest


def generator_digest() -> str:
    """What the sample's bytes depend on besides its parameters: the code that draws and writes it, the
    reference lists it draws townships and channels from, and the versions of the libraries it uses."""
    digest = hashlib.sha256()
    files = sorted(Path(__file__).parent.glob("*.py")) + [_PACKAGE / "identifiers.py", _PACKAGE / "reference" / "__init__.py"]
    files += [reference_file(name, _PACKAGE / "reference" / name) for name in ("townships.yaml", "channels.yaml")]
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    for library in ("numpy", "pandas", "xlsxwriter"):
        digest.update(f"{library}=={version(library)}".encode())
    return digest.hexdigest()


def _file_digests(out: Path) -> dict[str, str]:
    digests = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file() and p.name != MANIFEST):
        with path.open("rb") as file:
            digests[path.relative_to(out).as_posix()] = hashlib.file_digest(file, "sha256").hexdigest()
    return digests


def is_current(out: Path, seed: int, scale: float, plant_violations: bool, years: tuple[int, ...]) -> bool:
    """Whether `out` holds exactly the sample these parameters make with this code: made by it, with the
    same parameters, and no file changed, added or removed since (a test or a user may edit one)."""
    try:
        manifest = json.loads((Path(out) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    made_with = {k: manifest.get(k) for k in ("seed", "scale", "years", "plant_violations", "generator")}
    asked = {"seed": seed, "scale": scale, "years": list(years), "plant_violations": plant_violations,
             "generator": generator_digest()}
    return made_with == asked and manifest.get("files_sha256") == _file_digests(Path(out))
