"""Unattended operation: re-dropped and corrected files, partial runs for one department, the inbox
sensor and the schedules."""

import datetime as dt
import json
import os
import shutil
import time

import dagster as dg
import duckdb
import openpyxl
import pandas as pd
import pytest

from fund_pipeline.defs.automation import build_schedules, build_sensors
from fund_pipeline.defs.resources import FundPipelineResource
from fund_pipeline.pipeline.runner import run_pipeline, sources_selection
from fund_pipeline.settings import Settings

RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
CHINA = dt.timezone(dt.timedelta(hours=8))

TRANSPORT_2016 = "交通运输局/2016年交通扶贫资金拨付台账.xlsx"
PUBLISHED = [
    "select source, count(*) as n, sum(amount) as total from clean.disbursements group by 1 order by 1",
    "select count(*) as n, sum(amount) as total from marts.fund_flow",
    "select rule_id, count(*) as n from audit.current_findings group by 1 order by 1",
]


@pytest.fixture(scope="module")
def county(sample_inbox, dagster_home, tmp_path_factory):
    """A county of its own (its inbox gets new files), fully published once."""
    work = tmp_path_factory.mktemp("operations")
    inbox = work / "inbox"
    shutil.copytree(sample_inbox, inbox)
    settings = Settings.from_env().with_overrides(inbox=inbox, warehouse_url=f"duckdb:///{work / 'w.duckdb'}",
                                                   reports_dir=work / "reports")
    outcome = run_pipeline(settings)
    assert outcome.success, outcome.error
    return settings


def snapshot(settings: Settings) -> list[pd.DataFrame]:
    con = duckdb.connect(settings.warehouse_url.removeprefix("duckdb:///"), read_only=True)
    try:
        return [con.execute(sql).df() for sql in PUBLISHED]
    finally:
        con.close()


def query(settings: Settings, sql: str) -> pd.DataFrame:
    con = duckdb.connect(settings.warehouse_url.removeprefix("duckdb:///"), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


def test_the_sensors_first_tick_after_a_run_requests_nothing(county):
    """A sensor without a cursor (a fresh `dagster dev`) starts from the fingerprints the last run recorded:
    on an unchanged inbox it requests nothing, and leaves a cursor for the ticks that follow."""
    from fund_pipeline.defs.assemble import build_definitions

    [inbox_sensor] = build_sensors(county.fiscal_years)
    resources = {"fund": FundPipelineResource.from_settings(county)}
    with dg.build_sensor_context(instance=dg.DagsterInstance.get(), definitions=build_definitions(county),
                                 resources=resources) as context:
        assert isinstance(inbox_sensor(context), dg.SkipReason)
        cursor = json.loads(context.cursor)
    assert TRANSPORT_2016 in cursor["transport_disbursements"]


def test_the_same_file_dropped_twice_changes_nothing(county):
    before = snapshot(county)
    shutil.copy(county.inbox / TRANSPORT_2016, county.inbox / "交通运输局/2016年交通扶贫资金拨付台账 - 副本.xlsx")
    outcome = run_pipeline(county, selection=sources_selection(["transport_disbursements"]))
    assert outcome.success, outcome.error
    after = snapshot(county)
    for old, new in zip(before[:2], after[:2], strict=True):
        pd.testing.assert_frame_equal(old, new)
    duplicate = query(county, "select source_file from audit.current_findings where rule_id = 'INGEST-DUPLICATE-FILE'")
    assert duplicate["source_file"].tolist() == ["交通运输局/2016年交通扶贫资金拨付台账 - 副本.xlsx"]
    (county.inbox / "交通运输局/2016年交通扶贫资金拨付台账 - 副本.xlsx").unlink()


def test_a_corrected_file_replaces_its_previous_version(county):
    original = county.inbox / TRANSPORT_2016
    corrected = county.inbox / "交通运输局/2016年交通扶贫资金拨付台账(更正).xlsx"
    workbook = openpyxl.load_workbook(original)
    sheet = workbook["拨付台账"]
    first_row = next(r for r in range(1, 20) if sheet.cell(r, 2).value and str(sheet.cell(r, 2).value).startswith("HN"))
    sheet.cell(first_row, 8).value = 123.4567  # 万元
    workbook.save(corrected)
    os.utime(original, (time.time() - 3600, time.time() - 3600))
    rows_before = query(county, "select count(*) as n from landing.transport_disbursements")["n"].iloc[0]
    outcome = run_pipeline(county, selection=sources_selection(["transport_disbursements"]))
    assert outcome.success, outcome.error
    landed = query(county, "select source_file, amount from landing.transport_disbursements where fiscal_year = 2016")
    assert set(landed["source_file"]) == {"交通运输局/2016年交通扶贫资金拨付台账(更正).xlsx"}
    assert 1_234_567.0 in set(landed["amount"])
    assert query(county, "select count(*) as n from landing.transport_disbursements")["n"].iloc[0] == rows_before
    superseded = query(county, "select source_file from audit.current_findings where rule_id = 'INGEST-SUPERSEDED'")
    assert superseded["source_file"].tolist() == [TRANSPORT_2016]
    published = query(county, "select count(*) as n from marts.fund_flow where amount = 1234567.0")
    assert published["n"].iloc[0] == 1


def test_a_run_for_one_department_keeps_the_other_departments_findings(county):
    others = query(county, "select count(*) as n from audit.current_findings where source = 'poverty_yulu'")["n"].iloc[0]
    assert others > 0
    assert run_pipeline(county, selection=sources_selection(["audit_records"])).success
    after = query(county, "select count(*) as n from audit.current_findings where source = 'poverty_yulu'")["n"].iloc[0]
    assert after == others


def test_inbox_sensor_requests_a_run_for_exactly_the_changed_source(county):
    from fund_pipeline.defs.assemble import build_definitions

    defs = build_definitions(county)
    [inbox_sensor] = build_sensors(county.fiscal_years)
    resources = {"fund": FundPipelineResource.from_settings(county)}
    with dg.build_sensor_context(instance=dg.DagsterInstance.ephemeral(), definitions=defs, resources=resources) as context:
        result = inbox_sensor(context)
        first = result.run_requests[0] if isinstance(result, dg.SensorResult) else result
        landing = {k.path[1] for k in first.asset_selection if k.path[0] == "landing"}
        assert len(landing) >= 18  # no run ever recorded what it read: everything is new on the first look
        cursor = result.cursor if isinstance(result, dg.SensorResult) else context.cursor
    with dg.build_sensor_context(definitions=defs, resources=resources, cursor=cursor) as context:
        assert isinstance(inbox_sensor(context), dg.SkipReason)
        os.utime(county.inbox / "审计局/2016年扶贫项目审计情况表.xlsx")  # touched, same content: no change
        assert isinstance(inbox_sensor(context), dg.SkipReason)
        workbook = openpyxl.load_workbook(county.inbox / "审计局/2016年扶贫项目审计情况表.xlsx")
        workbook["审计情况"].cell(4, 6).value = "资金使用规范(复核)"
        workbook.save(county.inbox / "审计局/2016年扶贫项目审计情况表.xlsx")
        request = inbox_sensor(context)
    request = request.run_requests[0] if isinstance(request, dg.SensorResult) else request
    keys = {k.to_user_string() for k in request.asset_selection}
    assert {k for k in keys if k.startswith("landing/")} == {"landing/audit_records"}
    assert {"clean/audits", "warehouse/project_compliance", "reports/audit_report"} <= keys
    assert request.tags["fund_pipeline/sources"] == "audit_records"
    # the changed file is 2016's: the run covers the 2016 partition only
    assert (request.tags[RANGE_START], request.tags[RANGE_END]) == ("2016", "2016")


def test_schedules_evaluate_to_the_expected_runs():
    monthly_refresh, year_end_close = build_schedules(("2015", "2016", "2017"))
    assert monthly_refresh.cron_schedule == "0 2 1 * *" and monthly_refresh.execution_timezone == "Asia/Shanghai"
    with dg.build_schedule_context(scheduled_execution_time=dt.datetime(2017, 3, 1, 2, 0, tzinfo=CHINA)) as context:
        monthly = monthly_refresh(context)
    assert (monthly.tags[RANGE_START], monthly.tags[RANGE_END]) == ("2015", "2017")
    with dg.build_schedule_context(scheduled_execution_time=dt.datetime(2017, 1, 20, 3, 0, tzinfo=CHINA)) as context:
        request = year_end_close(context)
    assert request.run_key == "close-2016"
    assert request.tags["fund_pipeline/closes_fiscal_year"] == "2016"
    assert (request.tags[RANGE_START], request.tags[RANGE_END]) == ("2016", "2016")


def test_a_correction_to_one_year_republishes_that_year_only(county):
    before = query(county, "select fiscal_year, run_id from audit.current_findings where target = 'household_payments' "
                           "and fiscal_year is not null group by 1, 2 order by 1")
    outcome = run_pipeline(county, selection=sources_selection(["poverty_yulu"]), years=["2016"])
    assert outcome.success, outcome.error
    after = query(county, "select fiscal_year, run_id from audit.current_findings where target = 'household_payments' "
                          "and fiscal_year is not null group by 1, 2 order by 1")
    changed = set(after.loc[after["run_id"] == outcome.run_id, "fiscal_year"])
    assert changed == {2016}
    kept = after[after["fiscal_year"] != 2016].merge(before, on=["fiscal_year", "run_id"])
    assert len(kept) == len(after[after["fiscal_year"] != 2016])
    counts = query(county, "select fiscal_year, count(*) as n from clean.household_payments group by 1 order by 1")
    assert counts["fiscal_year"].tolist() == [2015, 2016, 2017]
