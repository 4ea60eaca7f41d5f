"""The findings' lifecycle across three real runs on DuckDB (new → persisting → resolved, dispositions
kept), the disposition table on PostgreSQL, and no full identifier in any file or stream a run writes."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from fund_pipeline.pipeline.lifecycle import (
    DISPOSITION_FOLDER,
    DispositionError,
    latest_dispositions,
    read_disposition_workbook,
    record_dispositions,
)
from fund_pipeline.settings import PROJECT_ROOT, Settings
from fund_pipeline.warehouse import Warehouse

FIXED = ("AMOUNT-POSITIVE", "transport_disbursements", "交通运输局/2016年交通扶贫资金拨付台账.xlsx", "拨付台账", 4)


def _cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.prefix) / "bin" / "fund-pipeline"), *args], capture_output=True, text=True,
                          env=env, timeout=1800)


def _finding(warehouse: Warehouse, rule_id: str, source_file: str, row_number: int) -> pd.Series:
    current = warehouse.read_table("audit", "current_findings")
    match = current[(current["rule_id"] == rule_id) & (current["source_file"] == source_file)
                    & (current["row_number"] == row_number)]
    assert len(match) == 1, (rule_id, source_file, row_number)
    return match.iloc[0]


def _fix_negative_amount(inbox: Path) -> None:
    """The clerk corrects the planted negative payment in the 2016 transport ledger."""
    path = inbox / FIXED[2]
    book = openpyxl.load_workbook(path)
    sheet = book[FIXED[3]]
    header = next(r for r in sheet.iter_rows(min_row=1, max_row=10) if any(
        isinstance(c.value, str) and c.value.startswith("拨付金额") for c in r))
    column = next(c.column for c in header if isinstance(c.value, str) and c.value.startswith("拨付金额"))
    cell = sheet.cell(row=FIXED[4], column=column)
    assert float(cell.value) < 0
    cell.value = abs(float(cell.value))
    book.save(path)


def _retype_total(inbox: Path, row: int) -> None:
    """The clerk types a different (still wrong) amount into the transport ledger's 合计 row."""
    path = inbox / FIXED[2]
    book = openpyxl.load_workbook(path)
    sheet = book[FIXED[3]]
    cell = next(c for c in sheet[row] if isinstance(c.value, int | float) and c.value > 0)
    cell.value = cell.value + 7
    book.save(path)


def _summary_counts(outcome) -> tuple[int, int]:
    """新增 and 已解决 as `run` prints them."""
    return outcome.summary.new, outcome.summary.resolved


def _report_counts(page: str) -> tuple[int, int]:
    """新增 and 已整改 as the report's page shows them."""
    return tuple(int(re.search(f'id="count-{name}">(\\d+)<', page).group(1)) for name in ("new", "resolved"))


def _fill_disposition(workbook: Path, key: str, target: Path) -> None:
    """The auditor fills 处置 and 处置说明 for one finding in the report's workbook and drops it in the inbox."""
    book = openpyxl.load_workbook(workbook)
    sheet = book["问题明细"]
    headers = [c.value for c in sheet[1]]
    row = next(r for r in sheet.iter_rows(min_row=2) if r[headers.index("问题编号")].value == key)
    row[headers.index("处置")].value = "误报"
    row[headers.index("处置说明")].value = "收款人为学校代收,有委托书"
    target.parent.mkdir(parents=True, exist_ok=True)
    book.save(target)


def _register(inbox: Path) -> set[str]:
    """Every resident ID and account number in the sample county's spreadsheets."""
    found: set[str] = set()
    for path in inbox.rglob("*.xlsx"):
        for sheet in openpyxl.load_workbook(path, read_only=True, data_only=True).worksheets:
            for row in sheet.iter_rows(values_only=True):
                for value in row:
                    if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) >= 1e14:
                        value = f"{value:.0f}"
                    if isinstance(value, str):
                        found.update(re.findall(r"(?<!\d)\d{15,22}[Xx]?(?!\d)", value.replace(" ", "")))
    return found


def _texts_written(roots: list[Path], since: float) -> dict[str, str]:
    texts = {}
    for root in roots:
        for path in (p for p in root.rglob("*") if p.is_file() and p.stat().st_mtime >= since):
            if path.suffix == ".duckdb" or path.name.endswith(".duckdb.wal"):
                continue  # the warehouse itself holds the departments' data, as it must
            if path.suffix == ".xlsx":
                with zipfile.ZipFile(path) as book:
                    texts[str(path)] = "\n".join(book.read(n).decode("utf-8", "ignore") for n in book.namelist())
            else:
                texts[str(path)] = path.read_bytes().decode("utf-8", "ignore")
    return texts


def _leaks(text: str, register: set[str]) -> set[str]:
    normal = text.translate(str.maketrans("０１２３４５６７８９", "0123456789"))
    runs = set(re.findall(r"\d{15,22}[Xx]?", re.sub(r"(?<=\d)[ \-](?=\d)", "", normal)))
    scientific = {m.replace(".", "")[:13] for m in re.findall(r"\d\.\d{12,}(?=[eE]\+?1\d)", normal)}
    return {r for r in runs if r in register} | {s for s in scientific if any(i.startswith(s) for i in register)}


def test_three_runs_new_persisting_resolved_with_dispositions(sample_inbox, tmp_path, dagster_home):
    inbox = tmp_path / "inbox"
    shutil.copytree(sample_inbox, inbox)
    reports, url = tmp_path / "reports", f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home), "FUND_PIPELINE_USER": "审计员甲"}
    started = __import__("time").time()

    # Run 1, as the operator runs it: every finding is new.
    first = _cli("run", "--inbox", str(inbox), "--warehouse", url, "--reports", str(reports), env=env)
    assert "运行" in first.stdout, first.stderr[-3000:]
    warehouse = Warehouse.from_url(url)
    current = warehouse.read_table("audit", "current_findings")
    assert len(current) > 50 and set(current["status"]) == {"新增"}
    assert current["finding_key"].is_unique
    fixed = _finding(warehouse, *FIXED[:1], FIXED[2], FIXED[4])
    kept = _finding(warehouse, "DIRECT-PAY", "扶贫办/2016年雨露计划补助发放花名册.xlsx", 22)

    # Dispositions: one on the command line, one filled into the workbook and dropped into the inbox.
    disposed = _cli("findings", "dispose", fixed["finding_key"], "--as", "整改中", "--note", "已通知交通局更正",
                    "--warehouse", url, env=env)
    assert disposed.returncode == 0 and "已登记处置 1 条" in disposed.stdout, disposed.stderr
    unknown = _cli("findings", "dispose", "NO-SUCH-KEY", "--as", "误报", "--warehouse", url, env=env)
    assert unknown.returncode == 2 and "不存在" in unknown.stderr and "Traceback" not in unknown.stderr
    first_book = next(reports.glob("run-*/审计报告.xlsx"))
    _fill_disposition(first_book, kept["finding_key"], inbox / DISPOSITION_FOLDER / "审计报告-处置.xlsx")

    # Run 2, nothing changed: every finding persists, with its key, and both dispositions show.
    from fund_pipeline.pipeline.runner import run_pipeline, sources_selection

    settings = Settings.from_env().with_overrides(inbox=inbox, warehouse_url=url, reports_dir=reports)
    second = run_pipeline(settings)
    assert second.success, second.error
    current = warehouse.read_table("audit", "current_findings")
    assert set(current["status"]) == {"持续"}
    assert set(current["finding_key"]) >= {fixed["finding_key"], kept["finding_key"]}
    dispositions = latest_dispositions(warehouse).set_index("finding_key")
    assert dispositions.loc[fixed["finding_key"], "disposition"] == "整改中"
    assert dispositions.loc[fixed["finding_key"], "disposed_by"] == "审计员甲"
    assert dispositions.loc[kept["finding_key"], "disposition"] == "误报"
    assert dispositions.loc[kept["finding_key"], "via"].startswith("Excel回填")
    page = Path(second.reports["html"]).read_text(encoding="utf-8")
    assert kept["finding_key"] in page and "误报" in page and "整改中" in page
    assert _summary_counts(second) == _report_counts(page) == (0, 0)
    assert (second.summary.errors + second.summary.warnings) == len(current)
    assert "INGEST-UNMATCHED" not in set(current["rule_id"]) or not current["source_file"].fillna("").str.contains(
        DISPOSITION_FOLDER).any()

    # Run 3, the transport bureau corrected its ledger: that finding is resolved, its disposition kept.
    _fix_negative_amount(inbox)
    third = run_pipeline(settings, selection=sources_selection(["transport_disbursements"]))
    assert third.success, third.error
    current = warehouse.read_table("audit", "current_findings")
    assert fixed["finding_key"] not in set(current["finding_key"])
    assert kept["finding_key"] in set(current["finding_key"])
    resolved = warehouse.read_table("audit", "resolved_findings", where=f"resolved_run = '{third.run_id}'")
    assert list(resolved["finding_key"]) == [fixed["finding_key"]]
    transport = current[current["source"] == "transport_disbursements"]
    fresh = transport[transport["status"] == "新增"]
    # The clerk fixed the row but not the sheet's 合计 row: that new warning is the only new finding.
    assert set(fresh["rule_id"]) <= {"INGEST-TOTAL"} and set(fresh["source_file"]) <= {FIXED[2]}
    assert (transport.loc[transport["rule_id"] != "INGEST-TOTAL", "status"] == "持续").all()
    page = Path(third.reports["html"]).read_text(encoding="utf-8")
    resolved_section = page[page.index('id="resolved-list"'):page.index('id="by-department"')]
    assert "AMOUNT-POSITIVE" in resolved_section and "整改中" in resolved_section
    assert 'id="count-resolved">1<' in page
    assert _summary_counts(third) == _report_counts(page) == (len(fresh), 1)
    book = openpyxl.load_workbook(third.reports["excel"])
    changes = [[c.value for c in r] for r in book["本次变化"].iter_rows(min_row=3)]
    assert any("已整改" in row and fixed["finding_key"] in row for row in changes)

    # Run 4, the clerk retypes the 合计 row, still wrong: the same finding persists with another value, and
    # `run` counts it as the report does, neither new nor resolved.
    total = fresh[fresh["rule_id"] == "INGEST-TOTAL"].iloc[0]
    _retype_total(inbox, int(total["row_number"]))
    fourth = run_pipeline(settings, selection=sources_selection(["transport_disbursements"]))
    assert fourth.success, fourth.error
    again = _finding(warehouse, "INGEST-TOTAL", FIXED[2], int(total["row_number"]))
    assert (again["finding_key"], again["status"]) == (total["finding_key"], "持续") and again["value"] != total["value"]
    page = Path(fourth.reports["html"]).read_text(encoding="utf-8")
    assert _summary_counts(fourth) == _report_counts(page) == (0, 0)

    # Nothing any of the three runs wrote — reports, Data Docs, Dagster's storage and logs, dbt's
    # artefacts, the terminal — holds a full resident ID or account number of the sample county.
    register = _register(sample_inbox)
    assert len(register) > 100
    texts = _texts_written([reports, dagster_home, PROJECT_ROOT / "dbt" / "target", PROJECT_ROOT / "dbt" / "logs",
                            inbox / DISPOSITION_FOLDER], since=started)
    texts["run 1 stdout"], texts["run 1 stderr"] = first.stdout, first.stderr
    assert any(p.endswith(".html") and "gx-data-docs" in p for p in texts)
    leaks = {path: sorted(_leaks(text, register))[:3] for path, text in texts.items() if _leaks(text, register)}
    assert leaks == {}


def test_dispositions_on_postgres(postgres_url, tmp_path):
    """The disposition table and the lifecycle's slices on PostgreSQL."""
    from fund_pipeline.pipeline.findings import replace_findings
    from fund_pipeline.rules.validation import normalise_findings

    warehouse = Warehouse.from_url(postgres_url)
    for table in ("current_findings", "validation_findings", "resolved_findings", "finding_dispositions"):
        warehouse.execute(f"drop table if exists audit.{table}")
    rows = pd.DataFrame([{"rule_id": "AMOUNT-POSITIVE", "severity": "error", "level": "row", "target": "disbursements",
                          "source": "transport_disbursements", "source_file": "交通运输局/2016年台账.xlsx", "sheet": "拨付台账",
                          "row_number": n, "business_key": f"bk{n}", "column_name": "拨付金额", "value": "-1.0",
                          "fiscal_year": 2016, "run_id": "run-a", "detected_at": pd.Timestamp("2026-01-01")}
                         for n in (4, 5)])
    replace_findings(warehouse, normalise_findings(rows), "run-a", target="disbursements")
    keys = warehouse.read_table("audit", "current_findings")["finding_key"].tolist()
    assert len(set(keys)) == 2
    assert record_dispositions(warehouse, pd.DataFrame({"finding_key": [keys[0]], "disposition": ["确认问题"],
                                                        "note": ["金额为负"]}), "审计员乙", via="命令行") == 1
    assert record_dispositions(warehouse, pd.DataFrame({"finding_key": [keys[0]], "disposition": ["确认问题"],
                                                        "note": ["金额为负"]}), "审计员乙", via="命令行") == 0
    second = normalise_findings(rows.iloc[[1]].assign(run_id="run-b"))
    replace_findings(warehouse, second, "run-b", target="disbursements")
    current = warehouse.read_table("audit", "current_findings")
    assert current["status"].tolist() == ["持续"]
    resolved = warehouse.read_table("audit", "resolved_findings")
    assert resolved["finding_key"].tolist() == [keys[0]] and resolved["resolved_run"].tolist() == ["run-b"]
    latest = latest_dispositions(warehouse)
    assert latest[["finding_key", "disposition", "disposed_by"]].values.tolist() == [[keys[0], "确认问题", "审计员乙"]]
    with pytest.raises(DispositionError, match="无效"):
        record_dispositions(warehouse, pd.DataFrame({"finding_key": [keys[1]], "disposition": ["随便"]}), "x", via="命令行")


def test_a_workbook_without_the_findings_sheet_is_a_clear_error(tmp_path):
    path = tmp_path / "别的表.xlsx"
    book = openpyxl.Workbook()
    book.active.title = "Sheet1"
    book.save(path)
    with pytest.raises(DispositionError, match="问题明细"):
        read_disposition_workbook(path)
