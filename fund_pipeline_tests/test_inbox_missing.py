"""An inbox that is not there (a mistyped --inbox, a network share not mounted) or holds no workbook at all
would land every source empty and so un-publish every department's data. `run` refuses it before anything
starts; a run launched otherwise (the daemon's schedule) fails its landing steps and changes nothing."""

from __future__ import annotations

import shutil
import signal
from pathlib import Path

import pytest

from fund_pipeline.cli import main
from fund_pipeline.warehouse import Warehouse
from fund_pipeline_tests.conftest import run_on

KEPT_TABLES = ("clean.household_payments", "clean.disbursements", "marts.fund_flow", "audit.current_findings")


def published(url: str) -> dict[str, int]:
    warehouse = Warehouse.from_url(url)
    return {name: int(warehouse.query(f"select count(*) as n from {name}")["n"].iloc[0]) for name in KEPT_TABLES}


@pytest.fixture
def warehouse_copy(duckdb_run, tmp_path) -> str:
    _, url, _ = duckdb_run
    shutil.copy(url.removeprefix("duckdb:///"), tmp_path / "warehouse.duckdb")
    return f"duckdb:///{tmp_path / 'warehouse.duckdb'}"


def test_the_published_warehouse_has_data_to_lose(warehouse_copy):
    assert all(count > 0 for count in published(warehouse_copy).values())


@pytest.mark.parametrize("inbox, reason", [("no-such-inbox", "不存在"), ("empty", "没有任何 Excel 报表"),
                                           ("only-notes", "没有任何 Excel 报表"), ("a-file", "不是文件夹")])
def test_run_refuses_an_inbox_without_workbooks_and_changes_nothing(warehouse_copy, tmp_path, capsys, inbox, reason):
    folder = tmp_path / inbox
    if inbox == "empty":
        folder.mkdir()
    if inbox == "only-notes":
        (folder / "财政局").mkdir(parents=True)
        (folder / "财政局" / "说明.txt").write_text("报表随后报送", encoding="utf-8")
        (folder / "财政局" / "~$扶贫投入情况表.xlsx").write_bytes(b"an Excel lock file")
    if inbox == "a-file":
        folder.write_text("not a folder", encoding="utf-8")
    before = published(warehouse_copy)
    code = main(["run", "--inbox", str(folder), "--warehouse", warehouse_copy, "--reports", str(tmp_path / "reports")])
    err = capsys.readouterr().err
    assert code == 2
    assert f"收件箱「{folder.resolve()}」" in err and reason in err and "已发布的数据未作改动" in err
    assert "Traceback" not in err
    assert published(warehouse_copy) == before
    assert not (tmp_path / "reports").exists()
    # main() called inside another program leaves its Ctrl-C alone (only the `fund-pipeline` command takes it over)
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, set())


def test_a_scheduled_run_on_an_empty_inbox_fails_its_landing_steps_and_changes_nothing(warehouse_copy, tmp_path: Path):
    empty = tmp_path / "unmounted-share"
    empty.mkdir()
    before = published(warehouse_copy)
    outcome = run_on(warehouse_copy, empty, tmp_path / "reports")
    assert not outcome.success
    assert "landing__" in outcome.error and f"收件箱「{empty}」中没有任何 Excel 报表" in outcome.error
    assert published(warehouse_copy) == before
