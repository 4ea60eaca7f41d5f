"""`fund-pipeline run` as an operator runs it: a real process, the sample county, a real DuckDB file."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

CLI = str(Path(sys.executable).parent / "fund-pipeline")


def run(*args, timeout=1800, env_password=None) -> subprocess.CompletedProcess:
    env = {**os.environ, **({"FUND_PIPELINE_WAREHOUSE_PASSWORD": env_password} if env_password else {})}
    return subprocess.run([CLI, "run", *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def first_run(sample_inbox, dagster_home, tmp_path_factory):
    work = tmp_path_factory.mktemp("console")
    url = f"duckdb:///{work / 'w.duckdb'}"
    result = run("--inbox", sample_inbox, "--warehouse", url, "--reports", work / "reports", "--fail-on", "error")
    return result, url, work


def test_progress_lines_by_stage_and_department_without_dagsters_debug_log(first_run):
    result, _, _ = first_run
    out = result.stdout
    assert "DEBUG" not in out + result.stderr and "dagster - " not in out + result.stderr
    assert "Running with dbt" not in out  # dbt's own log is part of Dagster's (--verbose)
    progress = [line for line in out.splitlines() if re.match(r"\[\d\d:\d\d\] ", line)]
    assert any(re.search(r"读取 会宁县交通运输局 · transport_disbursements:3 个文件,\d+ 行", line) for line in progress)
    assert any(re.search(r"校验发布 disbursements:发布 [\d,]+ 行,隔离 [\d,]+ 行", line) for line in progress)
    assert any(line.endswith("建模 fund_flow 完成") for line in progress)
    assert any("审核 全部规则已检查" in line for line in progress)
    assert len(progress) == len(set(progress))  # a partitioned asset's three years are one line
    assert len(out.splitlines()) < 120


def test_closing_summary(first_run):
    result, url, work = first_run
    out = result.stdout
    summary = out[out.index("\n运行 "):]
    assert re.search(r"运行 \w{8}:完成", summary)
    row = next(line for line in summary.splitlines() if "transport_disbursements" in line)
    read, published, quarantined, set_aside = (int(n.replace(",", "")) for n in row.split()[-4:])
    assert "会宁县交通运输局" in row and read == published + quarantined + set_aside and quarantined > 0
    assert re.search(r"当前问题:错误 [1-9][\d,]* 处,警告 [\d,]+ 处;较上次运行:无上次运行的问题记录", summary)
    failed = re.search(r"未通过的规则检查\(\d+ 条\):(.*)", summary).group(1).split("、")
    assert "AMOUNT-POSITIVE" in failed and all("_" not in rule for rule in failed)  # rule ids as the report has them
    assert f"审计报告(网页):{work / 'reports'}" in summary and "审计报告.xlsx" in summary
    assert not re.search(r"\d{15,}", out)


def test_fail_on_error_exits_3_when_the_county_has_errors(first_run):
    result, _, _ = first_run
    assert result.returncode == 3, result.stderr[-3000:]


def test_a_second_run_says_what_changed_and_fail_on_warning(first_run, sample_inbox):
    _, url, work = first_run
    result = run("--inbox", sample_inbox, "--warehouse", url, "--reports", work / "reports", "--source", "审计局",
                 "--fail-on", "warning", "--verbose")
    assert result.returncode == 3, result.stderr[-3000:]
    assert "较上次运行:新增 0 处,已解决 0 处" in result.stdout
    assert "读取 会宁县审计局 · audit_records" in result.stdout
    assert "transport_disbursements" not in result.stdout.split("\n运行 ")[-1]  # only what ran
    assert "DEBUG" in result.stdout + result.stderr  # Dagster's log, asked for


def test_an_unreachable_warehouse_is_one_line(sample_inbox, tmp_path):
    result = run("--inbox", sample_inbox, "--warehouse", "postgresql+psycopg2://postgres@127.0.0.1:9/fund_pipeline",
                 "--reports", tmp_path, env_password="secret-pw")
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "无法连接数据仓库" in lines[0] and "127.0.0.1:9" in lines[0] and "secret" not in lines[0]


def test_an_unknown_source_or_year_is_one_line(sample_inbox, tmp_path):
    result = run("--inbox", sample_inbox, "--warehouse", f"duckdb:///{tmp_path / 'w.duckdb'}", "--source", "公安局")
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and "未知的来源「公安局」" in result.stderr
    # A year is known once the departments' files are read: the run stops there, saying so once.
    result = run("--inbox", sample_inbox, "--warehouse", f"duckdb:///{tmp_path / 'w.duckdb'}", "--source", "审计局",
                 "--year", "2031")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "财政年度 2031 不在数据中" in result.stderr


def test_a_reader_that_leaves_early_neither_fails_the_run_nor_holds_up_the_next(sample_inbox, dagster_home, tmp_path):
    """`fund-pipeline run | head -1`: the pipe closes after the first line, while the steps still print."""
    import dagster as dg
    import duckdb

    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    command = [CLI, "run", "--inbox", str(sample_inbox), "--warehouse", url, "--reports", str(tmp_path / "reports"),
               "--source", "审计局"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout.readline()
    process.stdout.close()
    errors = process.stderr.read().decode()
    assert process.wait(timeout=1800) == 0, errors[-3000:]
    assert "Traceback" not in errors and "BrokenPipeError" not in errors
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from clean.audits").fetchone()[0] > 0
    with dg.DagsterInstance.get() as instance:
        [last] = instance.get_runs(limit=1)
        assert last.status == dg.DagsterRunStatus.SUCCESS
        assert not instance.event_log_storage.get_concurrency_run_ids()  # no pool slot left held
    again = run(*command[2:], timeout=900)
    assert again.returncode == 0 and "完成" in again.stdout, again.stderr[-3000:]
