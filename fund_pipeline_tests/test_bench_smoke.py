"""`make bench` end to end at a tiny scale: every stage runs as a real process and lands in the results table.

Timings are not checked (no timed tests); the table's shape and the machine section are."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
STAGE_TITLES = {
    "naive": "naive stack: pandas read_excel (openpyxl) + GX COMPLETE + to_sql SQLite",
    "duckdb": "fund_pipeline `run`, DuckDB, fresh warehouse",
    "postgres": "fund_pipeline `run`, PostgreSQL, fresh database",
    "redrop-ledger": "re-drop of one small ledger, `run` on the same DuckDB warehouse",
    "redrop-township": "re-drop of one township file of 惠农补贴, `run` on the same DuckDB warehouse",
    "validate": "`fund-pipeline validate` of one ledger, new process",
    "make-run": "`make run`, fresh warehouse",
    "make-run-again": "`make run` again (sample reused, same warehouse)",
}
MEASURED_ROW = re.compile(r"^\| (?P<title>.+?) \| (?P<wall>[\d.]+) \| (?P<cpu>[\d.]+) \| (?P<rss>\d+) \| (?P<detail>.*) \|$")


def test_bench_writes_every_stage_ratios_targets_and_machine(tmp_path, postgres_url):
    bench_db = make_url(postgres_url).set(database="fund_pipeline_bench_smoke")
    results = tmp_path / "results.md"
    env = {**os.environ, "FUND_PIPELINE_BENCH_PG_URL": bench_db.render_as_string(hide_password=False)}
    finished = subprocess.run(
        [sys.executable, ROOT / "benchmarks" / "run.py", "--scale", "0.005", "--make-run-scale", "0.005", "--out", results, "--work", tmp_path / "work"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]

    text = results.read_text(encoding="utf-8")
    rows = {m["title"]: m for m in map(MEASURED_ROW.match, text.splitlines()) if m}
    assert list(rows) == list(STAGE_TITLES.values())  # every stage measured, in the order
    assert all("退出码" not in row["detail"] for row in rows.values()), text
    assert float(rows[STAGE_TITLES["naive"]]["rss"]) > 0
    assert "rows" in rows[STAGE_TITLES["duckdb"]]["detail"]
    assert "fund_pipeline_bench_smoke" in rows[STAGE_TITLES["postgres"]]["detail"]
    assert "+1" in rows[STAGE_TITLES["redrop-ledger"]]["detail"]
    assert "惠农补贴" in rows[STAGE_TITLES["redrop-township"]]["detail"]
    # The sample is reused as it is: every landing and publishing step keeps its output, dbt does not run.
    again = rows[STAGE_TITLES["make-run-again"]]["detail"]
    kept = re.search(r"; (\d+) steps kept their output; the dbt models were not built again", again)
    assert kept and int(kept.group(1)) > 20, again
    assert "— (not judged: not the default sample)" in text

    assert "- naive / DuckDB: wall " in text and "- PostgreSQL / DuckDB: wall " in text
    assert "## Targets" in text and "`validate` of one ledger ≤ 3 s" in text
    machine = text[text.index("## Machine"):]
    for needle in ("CPU: ", " cores; RAM ", "OS: ", "Python 3.", "dagster ", "great-expectations ", "dbt-core ",
                   "duckdb ", "pandas ", "Load average (1/5/15 min) at start "):
        assert needle in machine, needle


def test_the_cpu_of_processes_a_stage_leaves_behind_is_counted(tmp_path):
    """A command that ends at once, leaving a process behind that works for a while (as multiprocessing's
    forkserver and its workers outlive `run` by a moment): the bench waits for it and counts its CPU."""
    busy = "import time\nend = time.process_time() + 1.0\nwhile time.process_time() < end: pass"
    command = [sys.executable, "-c", f"import subprocess, sys; subprocess.Popen([sys.executable, '-c', {busy!r}])"]
    probe = (f"import sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); import run\n"
             "assert run.adopt_left_behind()\n"
             f"m = run.measure('probe', 'probe', {[str(c) for c in command]!r}, dict(__import__('os').environ), "
             f"__import__('pathlib').Path({str(tmp_path / 'probe.log')!r}))\n"
             "print(m.wall_s, m.cpu_s)")
    wall, cpu = map(float, subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                                          cwd=ROOT).stdout.split()[-2:])
    assert cpu >= 1.0 > wall
