"""The door and the secrets without a server: serve's host check, passwords kept off the command line and
out of URLs, DuckDB's single-user answer to `db roles`, and which columns count as identifiers."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fund_pipeline.access.door import exposure_problem, is_local
from fund_pipeline.access.roles import IDENTIFIER_FIELDS, is_identifier, is_sensitive
from fund_pipeline.settings import PROJECT_ROOT, Settings


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fund_pipeline.cli", *args], capture_output=True, text=True,
                          cwd=PROJECT_ROOT, env=env, timeout=300)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_local_hosts_are_served(host):
    assert is_local(host) and exposure_problem(host, behind_proxy=False) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "fund.county.local"])
def test_other_hosts_need_a_proxy(host):
    assert "--behind-proxy" in exposure_problem(host, behind_proxy=False)
    assert exposure_problem(host, behind_proxy=True) is None


def test_serve_refuses_an_exposed_host_before_starting_anything():
    done = _cli("serve", "--host", "0.0.0.0", "--port", "3299")
    assert done.returncode == 2
    assert "拒绝在 0.0.0.0 上提供服务" in done.stderr and "Traceback" not in done.stderr


def test_a_password_on_the_command_line_is_refused():
    done = _cli("run", "--warehouse", "postgresql+psycopg2://fund:Sesame-123@db.local/fund")
    assert done.returncode == 2
    assert "不可带密码" in done.stderr and "Sesame-123" not in done.stderr + done.stdout


def test_a_password_in_the_environment_url_is_taken_out_of_the_url(tmp_path):
    settings = Settings.from_env({"FUND_PIPELINE_WAREHOUSE_URL": "postgresql+psycopg2://fund:Sesame-123@db.local:5433/fund"})
    assert settings.warehouse_url == "postgresql+psycopg2://fund@db.local:5433/fund"
    assert settings.warehouse_password == "Sesame-123" and "Sesame-123" not in repr(settings)
    env = settings.dbt_env()
    assert env["DBT_ENV_SECRET_PG_PASSWORD"] == "Sesame-123" and "FUND_PIPELINE_PG_PASSWORD" not in env


def test_passwords_come_from_files(tmp_path):
    (tmp_path / "pw").write_text("From-a-file\n", encoding="utf-8")
    (tmp_path / "writer").write_text("Writer-file", encoding="utf-8")
    settings = Settings.from_env({"FUND_PIPELINE_WAREHOUSE_URL": "postgresql+psycopg2://fund_writer@db.local/fund",
                                  "FUND_PIPELINE_WAREHOUSE_PASSWORD_FILE": str(tmp_path / "pw"),
                                  "FUND_PIPELINE_WRITER_PASSWORD_FILE": str(tmp_path / "writer")})
    assert (settings.warehouse_password, settings.writer_password) == ("From-a-file", "Writer-file")
    assert settings.dbt_env()["PGPASSWORD"] == "From-a-file"
    assert (settings.writer_role, settings.auditor_role, settings.viewer_role) == ("fund_writer", "fund_auditor", "fund_viewer")


def test_db_roles_on_duckdb_says_it_is_single_user(tmp_path):
    done = _cli("db", "roles", "--warehouse", f"duckdb:///{tmp_path / 'w.duckdb'}")
    assert done.returncode == 1 and "单用户" in done.stderr


def test_identifier_columns_are_the_ids_and_accounts():
    assert IDENTIFIER_FIELDS == {"household_id", "borrower_id", "doctor_id", "patient_id", "account_no"}
    assert is_identifier("main_account_no") and not is_identifier("household_id_status")
    assert is_sensitive("value", "text") and not is_sensitive("value", "double precision")
