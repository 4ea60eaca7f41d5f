"""Warehouse roles on a real PostgreSQL: `fund-pipeline db roles`, then the whole pipeline run twice as the
writer (`fund-pipeline run` in a subprocess, the password from a file), checking after each run, as each
read role, what is refused and what is not; and every file and log line the runs wrote, for the password.

Roles are cluster-wide, so this module's role names are prefixed with the test database's name."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time

import pandas as pd
import psycopg2
import pytest
from sqlalchemy.engine import make_url

from fund_pipeline.access.roles import OWNED_SCHEMAS
from fund_pipeline.report.masking import mask_text
from fund_pipeline.settings import DBT_PROJECT_DIR, PROJECT_ROOT

pytestmark = pytest.mark.postgres
URL_WITH_PASSWORD = re.compile(rb"postgres(?:ql)?(?:\+\w+)?://[^/\s:@'\"]+:[^@\s/'\"]+@")
USER = "zhang_san"


def _connect(url: str):
    parsed = make_url(url)
    return psycopg2.connect(host=parsed.host, port=parsed.port or 5432, user=parsed.username,
                            password=parsed.password, dbname=parsed.database)


def _drop_roles_and_schemas(admin_url: str, roles: dict[str, str]) -> None:
    con = _connect(admin_url)
    con.autocommit = True
    with con.cursor() as cur:
        for schema in OWNED_SCHEMAS:
            cur.execute(f"drop schema if exists {schema} cascade")
        for name in roles.values():
            cur.execute("select 1 from pg_roles where rolname = %s", (name,))
            if cur.fetchone():
                cur.execute(f'drop owned by "{name}" cascade')
                cur.execute(f'drop role "{name}"')
    con.close()


class Probe:
    """Statements tried as one role (SET ROLE from the administrator's session), each in its own transaction."""

    def __init__(self, admin_url: str, role: str):
        self.con = _connect(admin_url)
        self.role = role

    def outcome(self, sql: str) -> str:
        """'ok', 'denied' (insufficient privilege) or the error's class name."""
        try:
            with self.con.cursor() as cur:
                cur.execute(f'set role "{self.role}"')
                cur.execute(sql)
            return "ok"
        except psycopg2.errors.InsufficientPrivilege:
            return "denied"
        except psycopg2.Error as error:
            return type(error).__name__
        finally:
            self.con.rollback()

    def frame(self, sql: str) -> pd.DataFrame:
        with self.con.cursor() as cur:
            cur.execute(f'set role "{self.role}"')
            cur.execute(sql)
            frame = pd.DataFrame(cur.fetchall(), columns=[d[0] for d in cur.description])
        self.con.rollback()
        return frame

    def close(self):
        self.con.close()


def _relations(admin_url: str, schemas: tuple[str, ...]) -> list[tuple[str, str, str, str]]:
    """(schema, relation, kind, first column) of every table and view in these schemas."""
    con = _connect(admin_url)
    with con.cursor() as cur:
        cur.execute("select n.nspname, c.relname, c.relkind, (select attname from pg_attribute where attrelid = c.oid "
                    "and attnum = 1) from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                    "where n.nspname = any(%s) and c.relkind in ('r', 'v') order by 1, 2", (list(schemas),))
        rows = cur.fetchall()
    con.close()
    return rows


def permissions(admin_url: str, roles: dict[str, str]) -> dict[str, str]:
    """What each read role may do, as statement -> outcome."""
    results = {}
    auditor, viewer = Probe(admin_url, roles["auditor"]), Probe(admin_url, roles["viewer"])
    try:
        for sql in ("select household_id from clean.household_payments",
                    "select account_no from clean.household_payments",
                    "select borrower_id from clean.loans",
                    "select household_id from marts.fund_flow",
                    "select account_no, main_account_no from marts.payment_accounts",
                    "select * from marts.household_transfers",
                    "select value from audit.current_findings",
                    "select * from quarantine.household_payments",
                    "select * from landing.poverty_households",
                    "select * from staging.stg_household_payments",
                    "select household_id, account_no from masked.household_payments",
                    "select * from masked.fund_flow",
                    "select * from masked.current_findings",
                    "select * from masked.validation_findings",
                    "select fiscal_year, count(*), sum(amount) from marts.fund_flow group by 1",
                    "select * from marts.county_year_measures",
                    "select rule_id, severity, source, sheet, row_number from audit.current_findings",
                    "select * from audit.current_reconciliation",
                    "select * from audit.row_reconciliation",
                    "select * from audit.rule_summary", "select * from audit.policy_measures"):
            results[f"auditor: {sql}"] = auditor.outcome(sql)
        for schema, relation, kind, first in _relations(admin_url, ("clean", "audit", "marts", "masked")):
            target = f'{schema}."{relation}"'
            for sql in (f"insert into {target} default values", f'update {target} set "{first}" = "{first}"',
                        f"delete from {target}", f"truncate {target}",
                        f"drop {'view' if kind == 'v' else 'table'} {target}",
                        f'alter table {target} add column intruder text'):
                results[f"auditor: {sql}"] = auditor.outcome(sql)
        for sql in ("select * from audit.current_findings", "select rule_id from audit.current_findings",
                    "select rule_id from audit.validation_findings", "select * from audit.rule_summary",
                    "select * from masked.current_findings", "select * from masked.household_payments",
                    "select household_id from clean.household_payments", "select household_id from marts.fund_flow",
                    "select * from marts.county_year_measures",
                    "select fiscal_year, count(*), sum(amount) from marts.fund_flow group by 1",
                    "insert into marts.county_year_measures default values", "delete from marts.county_year_measures",
                    "drop table marts.county_year_measures"):
            results[f"viewer: {sql}"] = viewer.outcome(sql)
    finally:
        auditor.close()
        viewer.close()
    return results


def _expected(observed: dict[str, str]) -> dict[str, str]:
    """The policy, statement by statement: raw identifiers, findings' quoted values, and any write are refused."""
    allowed = ("masked.", "group by 1", "marts.county_year_measures", "audit.current_reconciliation",
               "audit.row_reconciliation", "audit.rule_summary", "audit.policy_measures", "severity, source")
    expected = {}
    for key in observed:
        role, sql = key.split(": ", 1)
        reading = sql.startswith("select")
        if role == "viewer":
            ok = reading and ("marts.county_year_measures" in sql or "group by 1" in sql)
        else:
            ok = reading and any(a in sql for a in allowed) and "household_transfers" not in sql
        expected[key] = "ok" if ok else "denied"
    return expected


@pytest.fixture(scope="module")
def access_runs(postgres_url, sample_inbox, tmp_path_factory):
    """db roles (twice: idempotent), then two whole runs as the writer, each followed by the role probes."""
    work = tmp_path_factory.mktemp("access")
    admin = make_url(postgres_url)
    prefix = re.sub(r"[^a-z0-9_]", "_", (admin.database or "fund").lower())
    roles = {kind: f"{prefix}_fund_{kind}" for kind in ("writer", "auditor", "viewer")}
    _drop_roles_and_schemas(postgres_url, roles)
    password = "Pw-" + secrets.token_urlsafe(24)
    (work / "admin.password").write_text(str(admin.password or ""), encoding="utf-8")
    (work / "writer.password").write_text(password + "\n", encoding="utf-8")
    for f in ("admin.password", "writer.password"):
        (work / f).chmod(0o600)
    home = work / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FUND_PIPELINE_", "PG", "DBT_ENV_SECRET"))}
    env.update(DAGSTER_HOME=str(home), FUND_PIPELINE_USER=USER, FUND_PIPELINE_DATA_DIR=str(work / "data"),
               FUND_PIPELINE_WRITER_ROLE=roles["writer"], FUND_PIPELINE_AUDITOR_ROLE=roles["auditor"],
               FUND_PIPELINE_VIEWER_ROLE=roles["viewer"])
    admin_env = dict(env, FUND_PIPELINE_WAREHOUSE_URL=admin._replace(password=None).render_as_string(hide_password=False),
                     FUND_PIPELINE_WAREHOUSE_PASSWORD_FILE=str(work / "admin.password"),
                     FUND_PIPELINE_WRITER_PASSWORD_FILE=str(work / "writer.password"))
    writer_env = dict(env, FUND_PIPELINE_WAREHOUSE_URL=admin._replace(username=roles["writer"], password=None)
                      .render_as_string(hide_password=False),
                      FUND_PIPELINE_WAREHOUSE_PASSWORD_FILE=str(work / "writer.password"))
    started = time.time()
    outputs, probes = [], []

    def cli(name, args, env):
        out, err = work / f"{name}.stdout", work / f"{name}.stderr"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            code = subprocess.call([sys.executable, "-m", "fund_pipeline.cli", *args], env=env, cwd=PROJECT_ROOT,
                                   stdout=stdout, stderr=stderr)
        outputs.extend([out, err])
        assert code == 0, f"fund-pipeline {' '.join(args)} failed:\n{out.read_text()}\n{err.read_text()[-3000:]}"
        return out.read_text(encoding="utf-8")

    cli("roles-1", ["db", "roles"], admin_env)
    cli("roles-2", ["db", "roles"], admin_env)
    run_ids = []
    for n in (1, 2):
        printed = cli(f"run-{n}", ["run", "--inbox", str(sample_inbox), "--reports", str(work / "reports")], writer_env)
        run_ids.append(re.search(r"运行 (\S+):完成", printed).group(1))
        probes.append(permissions(postgres_url, roles))
    yield {"roles": roles, "password": password, "work": work, "home": home, "outputs": outputs,
           "probes": probes, "run_ids": run_ids, "started": started}
    # The other PostgreSQL tests share the database and connect as its superuser, without these roles.
    _drop_roles_and_schemas(postgres_url, roles)


def test_db_roles_is_idempotent_and_hands_the_schemas_to_the_writer(access_runs, postgres_url):
    roles = access_runs["roles"]
    assert "已存在,已核对" in (access_runs["work"] / "roles-2.stdout").read_text(encoding="utf-8")
    con = _connect(postgres_url)
    with con.cursor() as cur:
        cur.execute("select nspname, pg_get_userbyid(nspowner) from pg_namespace where nspname = any(%s)",
                    (list(OWNED_SCHEMAS),))
        owners = dict(cur.fetchall())
        cur.execute("select rolname, rolcanlogin, rolsuper from pg_roles where rolname = any(%s) order by 1",
                    (list(roles.values()),))
        logins = {name: (login, superuser) for name, login, superuser in cur.fetchall()}
    con.close()
    assert owners == {schema: roles["writer"] for schema in OWNED_SCHEMAS}
    assert logins == {roles["writer"]: (True, False), roles["auditor"]: (False, False), roles["viewer"]: (False, False)}


@pytest.mark.parametrize("run", [0, 1], ids=["first run", "re-run"])
def test_read_roles_see_what_the_policy_allows_after_each_run(access_runs, run):
    observed = access_runs["probes"][run]
    writes = [k for k in observed if k.startswith("auditor: ") and not k.removeprefix("auditor: ").startswith("select")]
    assert len(writes) > 6 * 30, "every clean, audit, mart and masked relation is probed for writes"
    expected = _expected(observed)
    # Writing to a view fails on the view's nature or on privilege, depending on the statement: refused either way.
    wrong = {k: v for k, v in observed.items()
             if v != expected[k] and not (" masked." in k and expected[k] == "denied" and v != "ok")}
    assert not wrong, wrong


def test_masked_views_mask_exactly_as_the_reports(access_runs, postgres_url):
    roles = access_runs["roles"]
    auditor = Probe(postgres_url, roles["auditor"])
    admin = _connect(postgres_url)
    try:
        for raw_sql, masked_sql in (
            ("select household_id, account_no from clean.household_payments",
             "select household_id, account_no from masked.household_payments"),
            ("select patient_id, household_id from clean.illness_claims",
             "select patient_id, household_id from masked.illness_claims"),
            ("select value, message from audit.current_findings", "select value, message from masked.current_findings"),
        ):
            with admin.cursor() as cur:
                cur.execute(raw_sql)
                raw = pd.DataFrame(cur.fetchall(), columns=[d[0] for d in cur.description])
            masked = auditor.frame(masked_sql)
            assert len(raw) == len(masked) > 0
            for column in raw.columns:
                expected = sorted(mask_text(raw[column]).fillna("<null>").tolist())
                assert sorted(masked[column].fillna("<null>").tolist()) == expected, column
        shown = auditor.frame("select household_id from masked.household_payments")["household_id"].dropna()
        assert shown.str.fullmatch(r"\d{4}\*{10}\d{3}[\dX]").mean() > 0.9  # 6204**********1234
        tricky = pd.Series(["620421199001011234", "身份证62042119900101123X号", "a620421199001011234",
                            "6222021234567890123 与 6222 0212", "62042119900101123", "123"])
        with admin.cursor() as cur:
            cur.execute("select masked.mask_identifiers(v) from unnest(%s::text[]) with ordinality as t(v, i) order by i",
                        (tricky.tolist(),))
            in_sql = [r[0] for r in cur.fetchall()]
        assert in_sql == mask_text(tricky).tolist()
    finally:
        auditor.close()
        admin.close()


def test_manual_runs_carry_the_person(access_runs):
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(access_runs["home"]))
    try:
        runs = instance.get_runs()
        for short_id in access_runs["run_ids"]:  # the console prints a run's first 8 characters
            [run] = [r for r in runs if r.run_id.startswith(short_id)]
            assert run.tags["fund_pipeline/user"] == USER
    finally:
        instance.dispose()


def test_no_password_in_anything_the_runs_wrote(access_runs):
    secret = access_runs["password"].encode()
    written = [p for p in access_runs["home"].rglob("*") if p.is_file()]
    written += [p for p in (access_runs["work"] / "reports").rglob("*") if p.is_file()]
    written += [p for folder in (DBT_PROJECT_DIR / "target", DBT_PROJECT_DIR / "logs") if folder.exists()
                for p in folder.rglob("*") if p.is_file() and p.stat().st_mtime >= access_runs["started"]]
    written += access_runs["outputs"]
    assert len(written) > 20 and any(p.suffix == ".log" for p in written)
    assert sum(p.stat().st_size for p in access_runs["outputs"]) > 10_000, "the runs' logs were captured"
    leaks = [str(p) for p in written if secret in p.read_bytes()]
    urls = [str(p) for p in written if URL_WITH_PASSWORD.search(p.read_bytes())]
    assert not leaks, f"the password appears in {leaks}"
    assert not urls, f"a URL with a password appears in {urls}"
