"""`make bench`: a county-year through the naive stack and through fund_pipeline, written to benchmarks/results.md.

Every stage is a new process started from the command line, measured from outside: wall time, CPU (user +
system of every process of the stage: the command, the children it waited for, and those it left behind, such as
the reader's, the GX and the dbt worker) and peak resident memory (the largest single process of that tree), so interpreter
start and imports count. The stages, in order:

  naive            pandas read_excel (openpyxl) + GX with COMPLETE results + DataFrame.to_sql into SQLite
  duckdb           `fund-pipeline run` on a fresh DuckDB warehouse
  postgres         the same on a fresh PostgreSQL database
  redrop-ledger    one small ledger re-sent with a changed cell, run again on the DuckDB warehouse
  redrop-township  one township file of 惠农补贴 re-sent with a changed cell, run again
  validate         `fund-pipeline validate` of one ledger
  make-run         `make run`: the default sample made and run on a fresh warehouse, as a new user does
  make-run-again   `make run` once more: the unedited sample reused, run on the same warehouse
  rules            (optional) GX against plain pandas on the 惠农补贴 rows, in-process
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BIN = Path(sys.executable).parent
STAGES = ("naive", "duckdb", "postgres", "redrop-ledger", "redrop-township", "validate", "make-run", "make-run-again")
OPTIONAL_STAGES = ("rules",)
SMALL_LEDGER = "交通运输局/*交通扶贫资金拨付台账*.xlsx"
TOWNSHIP_FILES = "农业农村局/惠农补贴/*/*.xlsx"
GIB = 1024.0
DEFAULT_SAMPLE_SCALE = "0.02"  # the Makefile's SCALE: what `make run` makes


@dataclass
class Measured:
    stage: str
    title: str
    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_mib: float = 0.0
    exit_code: int | None = None
    detail: str = ""
    skipped: str = ""  # why the stage did not run
    extra: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.skipped and self.exit_code == 0


def settle() -> None:
    """Start a stage on a machine that is done with the last one: its written files flushed to disk (the naive
    stack leaves a 170 MB SQLite file that the kernel would write out during the next stage)."""
    os.sync()
    time.sleep(2)


def measure(stage: str, title: str, command: list[str], env: dict[str, str], log: Path) -> Measured:
    """Run one command as a child process; the clock gives wall (until the command ends). CPU and peak RSS come
    from its rusage (wait4: itself and the children it waited for) and from that of every process it left behind,
    which this process, their subreaper, waits for once the command has ended."""
    log.parent.mkdir(parents=True, exist_ok=True)
    print(f"[bench] {stage}: {' '.join(str(c) for c in command)}", flush=True)
    settle()
    with log.open("w", encoding="utf-8") as out:
        start = time.perf_counter()
        child = subprocess.Popen([str(c) for c in command], stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    usages = [usage, *reap_left_behind()]
    result = Measured(stage, title, wall, sum(u.ru_utime + u.ru_stime for u in usages),
                      max(u.ru_maxrss for u in usages) / 1024, child.returncode)
    print(f"[bench] {stage}: {wall:.1f} s wall, {result.cpu_s:.1f} s CPU, {result.peak_mib:.0f} MiB, exit {child.returncode}",
          flush=True)
    if child.returncode != 0:
        result.detail = f"退出码 {child.returncode},见 {log.relative_to(ROOT)}"
    return result


PR_SET_CHILD_SUBREAPER = 36


def adopt_left_behind() -> bool:
    """Make this process the subreaper of what the stages start: a process a command leaves behind (Python's
    multiprocessing forkserver, which outlives the run by a moment, with the reader's, the GX and the dbt worker it
    forked and waited for) comes to this process when the command ends, instead of to init, and its CPU is
    counted. Linux only; elsewhere such processes go uncounted (the results say so)."""
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def reap_left_behind(timeout_s: float = 60.0) -> list:
    """The rusage of each process the last command left behind, once it has ended."""
    usages, deadline = [], time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            pid, _, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:  # none left
            return usages
        if pid:
            usages.append(usage)
        else:
            time.sleep(0.05)
    print(f"[bench] processes left behind still running after {timeout_s:.0f} s: not counted", flush=True)
    return usages


# ------------------------------------------------------------------ the sample and the warehouses

def ensure_sample(inbox: Path, scale: float, year: int, env: dict[str, str]) -> str:
    if (inbox / "sample.json").exists():
        return "cached"
    shutil.rmtree(inbox, ignore_errors=True)
    start = time.perf_counter()
    subprocess.run([BIN / "fund-pipeline", "sample", "--out", inbox, "--scale", str(scale), "--years", str(year)],
                   check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    return f"generated in {time.perf_counter() - start:.0f} s"


def postgres_url() -> tuple[str | None, str]:
    """FUND_PIPELINE_BENCH_PG_URL, else a fund_pipeline_bench database on the server of FUND_PIPELINE_TEST_PG_URL
    (which `. .ci/postgres.sh` exports); the database is dropped and made again so every run starts empty."""
    url = os.environ.get("FUND_PIPELINE_BENCH_PG_URL")
    test_url = os.environ.get("FUND_PIPELINE_TEST_PG_URL")
    if not url and not test_url:
        return None, "no PostgreSQL server: set FUND_PIPELINE_BENCH_PG_URL, or run `. .ci/postgres.sh` first"
    from sqlalchemy.engine import make_url

    target = make_url(url) if url else make_url(test_url).set(database="fund_pipeline_bench")
    try:
        import psycopg2

        admin = psycopg2.connect(host=target.host, port=target.port or 5432, user=target.username,
                                 password=target.password, dbname="postgres", connect_timeout=5)
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{target.database}"')
        admin.close()
    except Exception as error:  # noqa: BLE001 - any connection problem means "no server" for the bench
        return None, f"PostgreSQL at {target.host}:{target.port} not usable: {str(error).strip().splitlines()[0]}"
    return target.render_as_string(hide_password=False), f"database {target.database} on {target.host}:{target.port}"


def redrop(path: Path) -> str:
    """The file re-sent corrected: its first amount one yuan more and its 合计 row with it, so its content hash
    changes and its totals still agree (no new finding comes from the change itself)."""
    from openpyxl import load_workbook

    workbook = load_workbook(path)
    sheet = workbook.worksheets[0]
    header = next(((cell.row, cell.column) for row in sheet.iter_rows(max_row=min(sheet.max_row, 40))
                   for cell in row if isinstance(cell.value, str) and "金额" in cell.value), None)
    first = sheet.cell(row=header[0] + 1, column=header[1]) if header else None
    if first is None or not isinstance(first.value, int | float):
        workbook.properties.title = f"re-sent {dt.datetime.now().isoformat()}"
        workbook.save(path)
        return "document properties changed"
    first.value += 1
    changed = [first.coordinate]
    for row in sheet.iter_rows(min_row=header[0] + 1, max_col=3):
        if any(isinstance(c.value, str) and re.sub(r"\s", "", c.value) in ("合计", "总计") for c in row):
            total = sheet.cell(row=row[0].row, column=header[1])
            if isinstance(total.value, int | float):
                total.value += 1
                changed.append(total.coordinate)
    workbook.save(path)
    return f"{sheet.title}!{' and '.join(changed)} +1"


def rows_read(log: Path) -> str:
    """The run's own count of detail rows read (its summary's 合计 line)."""
    match = re.search(r"^\s*合计\s+([\d,]+)", log.read_text(encoding="utf-8", errors="replace"), re.MULTILINE)
    return f"{match.group(1)} rows" if match else ""


# ------------------------------------------------------------------ the rules comparison (optional)

RULES_SNIPPET = """
import json, sys, time
sys.path.insert(0, {benchmarks!r})
from pathlib import Path
from fund_pipeline.rules.catalogue import load_catalogue
from fund_pipeline.rules.derive import References, add_derived_columns
from fund_pipeline.rules.validation import evaluate
from fund_pipeline.sources.reader import read_source
from fund_pipeline.sources.schemas import conform
from fund_pipeline.sources.spec import layout_by_name
import pandas_rules

records = conform("household_payments", read_source(layout_by_name("agriculture_policy_subsidies"),
                                                    Path({inbox!r})).records).reset_index(drop=True)
frame = add_derived_columns("household_payments", records, References.empty())
catalogue = load_catalogue()
rules = [r for r in catalogue.for_target("household_payments")
         if not any({{"household_registered_poor", "village_code", "project_known"}} & {{c.column, *c.where}}
                    for c in r.checks_for("household_payments"))]
evaluate("household_payments", frame.head(50), rules[:1], catalogue, "warm-up")
start = time.perf_counter()
evaluate("household_payments", frame, rules, catalogue, "bench")
gx_s = time.perf_counter() - start
start = time.perf_counter()
sum(len(pandas_rules.failing_index(frame, r, "household_payments")) for r in rules)
pandas_s = time.perf_counter() - start
print(json.dumps({{"rows": len(frame), "rules": len(rules), "gx_s": gx_s, "pandas_s": pandas_s}}))
"""


# ------------------------------------------------------------------ the report

def machine(load_start: tuple, load_end: tuple) -> list[str]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown")
    mem_kib = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                    if line.startswith("MemTotal")), 0)
    try:
        os_name = next(line.split("=", 1)[1].strip('"') for line in Path("/etc/os-release").read_text().splitlines()
                       if line.startswith("PRETTY_NAME="))
    except (OSError, StopIteration):
        os_name = platform.platform()

    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "not installed"

    packages = ", ".join(f"{p} {version(p)}" for p in ("dagster", "dagster-dbt", "great-expectations", "dbt-core",
                                                       "dbt-duckdb", "dbt-postgres", "duckdb", "pandas", "openpyxl"))
    return [
        "## Machine", "",
        f"- CPU: {cpu}; {os.cpu_count()} cores; RAM {mem_kib / 1024 / 1024:.1f} GiB",
        f"- OS: {os_name} ({platform.release()}, {platform.machine()})",
        f"- Python {platform.python_version()}; {packages}",
        f"- Load average (1/5/15 min) at start {' '.join(f'{x:.2f}' for x in load_start)}, "
        f"at end {' '.join(f'{x:.2f}' for x in load_end)}",
    ]


def target_lines(results: dict[str, Measured], scale: float, make_run_scale: str) -> list[str]:
    def get(stage: str) -> Measured | None:
        m = results.get(stage)
        return m if m is not None and m.ok else None

    def verdict(stage_values: list[Measured | None], test) -> str:
        if any(v is None for v in stage_values):
            return "not measured"
        return "**met**" if test(*stage_values) else "**not met**"

    duck, pg, naive = get("duckdb"), get("postgres"), get("naive")
    rows = [
        ("County-year on DuckDB: ≤ 30 s wall", [duck], lambda d: d.wall_s <= 30),
        ("County-year on DuckDB: ≤ 40 s CPU", [duck], lambda d: d.cpu_s <= 40),
        ("County-year on DuckDB: ≤ 1.5 GiB peak RSS", [duck], lambda d: d.peak_mib <= 1.5 * GIB),
        ("County-year on DuckDB: ≥ 4× faster (wall) than the naive stack", [duck, naive],
         lambda d, n: n.wall_s >= 4 * d.wall_s),
        ("County-year on PostgreSQL: ≤ 1.5× DuckDB's wall", [pg, duck], lambda p, d: p.wall_s <= 1.5 * d.wall_s),
        ("County-year on PostgreSQL: ≤ 2 GiB peak RSS", [pg], lambda p: p.peak_mib <= 2 * GIB),
        ("Re-drop of one small ledger ≤ 8 s end to end", [get("redrop-ledger")], lambda r: r.wall_s <= 8),
        ("Re-drop of one township file of 惠农补贴 ≤ 12 s", [get("redrop-township")], lambda r: r.wall_s <= 12),
        ("`validate` of one ledger ≤ 3 s", [get("validate")], lambda v: v.wall_s <= 3),
    ]
    lines = ["## Targets", ""]
    if scale != 1.0:
        lines += [f"The targets are set for a county-year (`--scale 1`); at scale {scale} they are shown but not judged.", ""]
    lines += ["| target | result |", "|---|---|"]
    for name, values, test in rows:
        lines.append(f"| {name} | {verdict(values, test) if scale == 1.0 else '— (not judged)'} |")
    make_run = verdict([get("make-run")], lambda r: r.wall_s <= 30)
    lines.append("| `make run` (the default sample) ≤ 30 s after the environment is built | "
                 + (make_run if make_run_scale == DEFAULT_SAMPLE_SCALE else "— (not judged: not the default sample)") + " |")
    return lines


def report(results: list[Measured], args, notes: list[str], load_start: tuple, load_end: tuple) -> str:
    by_stage = {m.stage: m for m in results}
    lines = [
        "# Benchmark results", "",
        f"`make bench` (benchmarks/run.py), {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC: sample county at scale "
        f"{args.scale}, fiscal year {args.year}, stages {', '.join(m.stage for m in results)}. Every stage is a new "
        "process started as from the command line; wall is the clock, CPU is user + system of every process of the "
        "stage (the command, the children it waited for, and those it left behind: the reader's, the GX and the dbt worker, "
        "multiprocessing's forkserver), peak RSS is the largest single process of that tree, interpreter start and "
        "imports included. Numbers from a shared machine are noisy: compare runs made back to back.", "",
        "| stage | wall s | CPU s | peak RSS MiB | detail |", "|---|---:|---:|---:|---|",
    ]
    for m in results:
        if m.skipped:
            lines.append(f"| {m.title} | — | — | — | skipped: {m.skipped} |")
        else:
            lines.append(f"| {m.title} | {m.wall_s:.1f} | {m.cpu_s:.1f} | {m.peak_mib:.0f} | {m.detail} |")
    lines += ["", "## Ratios", ""]
    duck, pg, naive = (by_stage.get(s) for s in ("duckdb", "postgres", "naive"))
    for label, a, b in (("naive / DuckDB", naive, duck), ("PostgreSQL / DuckDB", pg, duck)):
        if a is not None and b is not None and a.ok and b.ok:
            lines.append(f"- {label}: wall {a.wall_s / b.wall_s:.2f}×, CPU {a.cpu_s / max(b.cpu_s, 1e-9):.2f}×, "
                         f"peak RSS {a.peak_mib / max(b.peak_mib, 1e-9):.2f}×")
        else:
            lines.append(f"- {label}: not measured (a stage was skipped or failed)")
    lines += ["", *target_lines(by_stage, args.scale, args.make_run_scale), "", *machine(load_start, load_end), ""]
    if notes:
        lines += ["## Notes", "", *(f"- {n}" for n in notes), ""]
    lines.append("The sample files are cached in benchmarks/work/ (not committed); delete it to regenerate.")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ the run

def parse_args(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(description="Benchmark a county-year: the naive stack, then fund_pipeline.")
    parser.add_argument("--scale", type=float, default=1.0, help="sample size; 1.0 is a county-year (default)")
    parser.add_argument("--year", type=int, default=2016, help="fiscal year of the sample (default 2016)")
    parser.add_argument("--stages", default=",".join(STAGES),
                        help=f"comma-separated, run in the fixed order; default {','.join(STAGES)}; "
                             f"optional: {','.join(OPTIONAL_STAGES)}; 'all' for every stage")
    parser.add_argument("--make-run-scale", default=DEFAULT_SAMPLE_SCALE,
                        help=f"SCALE for the make-run stages (default {DEFAULT_SAMPLE_SCALE}, the Makefile's)")
    parser.add_argument("--out", type=Path, default=HERE / "results.md")
    parser.add_argument("--work", type=Path, default=HERE / "work", help="cache of samples and runs")
    args = parser.parse_args(argv)
    wanted = STAGES + OPTIONAL_STAGES if args.stages == "all" else tuple(s.strip() for s in args.stages.split(","))
    unknown = set(wanted) - set(STAGES + OPTIONAL_STAGES)
    if unknown:
        parser.error(f"unknown stage(s) {sorted(unknown)}; known: {', '.join(STAGES + OPTIONAL_STAGES)}")
    args.stages = [s for s in STAGES + OPTIONAL_STAGES if s in wanted]
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if not adopt_left_behind():
        print("[bench] cannot become the subreaper: the CPU of processes a stage leaves behind is not counted",
              flush=True)
    load_start = os.getloadavg()
    sample_dir = args.work / f"scale-{args.scale}-{args.year}"
    run_dir = sample_dir / "run"
    base_env = {**os.environ, "DO_NOT_TRACK": "1", "PYTHONUNBUFFERED": "1",
                "DAGSTER_HOME": str(run_dir / "dagster_home"), "FUND_PIPELINE_DATA_DIR": str(run_dir)}
    for key in ("FUND_PIPELINE_WAREHOUSE_URL", "FUND_PIPELINE_INBOX", "FUND_PIPELINE_REPORTS"):
        base_env.pop(key, None)  # the bench names its own warehouse, inbox and reports
    notes = [f"Sample (scale {args.scale}, {args.year}): {ensure_sample(sample_dir / 'inbox', args.scale, args.year, base_env)}."]
    # a fresh copy of the inbox each run: the re-drop stages change files in it, never in the cached sample
    shutil.rmtree(run_dir, ignore_errors=True)
    inbox = run_dir / "inbox"
    shutil.copytree(sample_dir / "inbox", inbox)
    subprocess.run([BIN / "python", "-m", "fund_pipeline.instance_config", run_dir / "dagster_home"],
                   check=True, env=base_env, stdout=subprocess.DEVNULL)
    duckdb_url = f"duckdb:///{run_dir / 'warehouse.duckdb'}"
    pipeline = [BIN / "fund-pipeline", "run", "--inbox", inbox]
    logs = run_dir / "logs"
    results: list[Measured] = []
    duckdb_built = False

    def run_duckdb(stage: str, title: str) -> Measured:
        return measure(stage, title, [*pipeline, "--warehouse", duckdb_url, "--reports", run_dir / "reports-duckdb"],
                       base_env, logs / f"{stage}.log")

    for stage in args.stages:
        if stage == "naive":
            m = measure(stage, "naive stack: pandas read_excel (openpyxl) + GX COMPLETE + to_sql SQLite",
                        [BIN / "python", HERE / "naive_stack.py", inbox, "--sqlite", run_dir / "naive.sqlite"],
                        base_env, logs / "naive.log")
            summary = _last_json(logs / "naive.log")
            if summary:
                m.detail = m.detail or (f"{summary['rows']:,} rows, {summary['sources']} sources, "
                                        f"{summary['expectations']} expectations; read {summary['seconds']['read']} s, "
                                        f"GX {summary['seconds']['validate']} s, to_sql {summary['seconds']['to_sql']} s")
        elif stage == "duckdb":
            m = run_duckdb(stage, "fund_pipeline `run`, DuckDB, fresh warehouse")
            m.detail = m.detail or rows_read(logs / "duckdb.log")
            duckdb_built = m.ok
        elif stage == "postgres":
            url, where = postgres_url()
            title = "fund_pipeline `run`, PostgreSQL, fresh database"
            if url is None:
                m = Measured(stage, title, skipped=where)
            else:
                env = {**base_env, "FUND_PIPELINE_WAREHOUSE_URL": url}
                m = measure(stage, title, [*pipeline, "--reports", run_dir / "reports-postgres"], env,
                            logs / "postgres.log")
                m.detail = m.detail or f"{rows_read(logs / 'postgres.log')}; {where}"
        elif stage in ("redrop-ledger", "redrop-township"):
            if not duckdb_built:  # a re-drop lands on a warehouse that already holds the county-year
                prepared = run_duckdb("prepare", "")
                duckdb_built = prepared.ok
                notes.append(f"{stage}: the DuckDB warehouse was first built by an untimed run ({prepared.wall_s:.0f} s).")
            pattern = SMALL_LEDGER if stage == "redrop-ledger" else TOWNSHIP_FILES
            path = sorted(inbox.glob(pattern))[0]
            change = redrop(path)
            what = "small ledger" if stage == "redrop-ledger" else "township file of 惠农补贴"
            m = run_duckdb(stage, f"re-drop of one {what}, `run` on the same DuckDB warehouse")
            m.detail = m.detail or f"{path.relative_to(inbox)} ({_data_rows(path):,} sheet rows; {change})"
        elif stage == "validate":
            path = sorted(inbox.glob(SMALL_LEDGER))[0]
            m = measure(stage, "`fund-pipeline validate` of one ledger, new process",
                        [BIN / "fund-pipeline", "validate", path], base_env, logs / "validate.log")
            if m.exit_code == 1:  # validate exits 1 when the file has errors: the check itself ran
                m.exit_code, m.detail = 0, "exit 1: the check ran and found errors in the file"
            m.detail = m.detail or str(path.relative_to(inbox))
        elif stage in ("make-run", "make-run-again"):
            sample = run_dir / "make-run"
            if stage == "make-run":
                shutil.rmtree(sample, ignore_errors=True)
            again = stage == "make-run-again"
            m = measure(stage, f"`make run`{' again (sample reused, same warehouse)' if again else ', fresh warehouse'}",
                        ["make", "--no-print-directory", "run", f"SAMPLE={sample}", f"SCALE={args.make_run_scale}"],
                        base_env, logs / f"{stage}.log")
            log_text = (logs / f"{stage}.log").read_text(encoding="utf-8", errors="replace")
            steps = sum("(输入未变,沿用上次结果)" in line and "建模 dbt" not in line for line in log_text.splitlines())
            models = "; the dbt models were not built again" if "dbt 模型未重建" in log_text else ""
            kept = f"; {steps} steps kept their output{models}" if again else ""
            m.detail = m.detail or f"sample scale {args.make_run_scale}; {rows_read(logs / f'{stage}.log')}{kept}"
        else:  # rules
            snippet = RULES_SNIPPET.format(benchmarks=str(HERE), inbox=str(inbox))
            m = measure(stage, "row rules on 惠农补贴 rows, GX against plain pandas (reading included in wall)",
                        [BIN / "python", "-c", snippet], base_env, logs / "rules.log")
            summary = _last_json(logs / "rules.log")
            if summary:
                m.detail = m.detail or (f"{summary['rows']:,} rows, {summary['rules']} rules: GX {summary['gx_s']:.2f} s,"
                                        f" pandas {summary['pandas_s']:.2f} s "
                                        f"({summary['gx_s'] / max(summary['pandas_s'], 1e-9):.1f}×)")
        results.append(m)
        # written after every stage, so a long run stopped halfway still leaves what it measured
        remaining = args.stages[len(results):]
        partial = [f"Incomplete: stages not yet run: {', '.join(remaining)}."] if remaining else []
        text = report(results, args, notes + partial, load_start, os.getloadavg())
        args.out.write_text(text, encoding="utf-8")
    print(text)


def _last_json(log: Path) -> dict | None:
    for line in reversed(log.read_text(encoding="utf-8", errors="replace").splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                return None
    return None


def _data_rows(path: Path) -> int:
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True)
    rows = workbook.worksheets[0].max_row or 0
    workbook.close()
    return rows


if __name__ == "__main__":
    main()
