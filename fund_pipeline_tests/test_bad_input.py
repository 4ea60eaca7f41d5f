"""A broken department file is reported by name and does not stop the other departments' data."""

import shutil

import duckdb

from fund_pipeline_tests.conftest import run_on


def test_a_broken_workbook_is_reported_and_everything_else_is_published(sample_inbox, dagster_home, tmp_path):
    inbox = tmp_path / "inbox"
    shutil.copytree(sample_inbox, inbox)
    broken = inbox / "水务局" / "水利扶贫项目资金支出明细.xlsx"
    broken.write_bytes(b"PK\x03\x04 this is not really a workbook")
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    outcome = run_on(url, inbox, tmp_path / "reports")
    assert outcome.success, outcome.error
    con = duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
    problem = con.execute("select source_file, message from audit.validation_findings where rule_id = 'INGEST-FILE'").df()
    assert problem["source_file"].tolist() == ["水务局/水利扶贫项目资金支出明细.xlsx"]
    sources = set(con.execute("select distinct source from clean.disbursements").df()["source"])
    assert sources == {"transport_disbursements", "agriculture_disbursements"}
    assert con.execute("select count(*) from marts.fund_flow").fetchone()[0] > 0
