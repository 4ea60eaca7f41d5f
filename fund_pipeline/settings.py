"""The one place the environment is read.

Every other module receives a `Settings` object (or a Dagster resource built from it);
nothing else calls `os.environ` for pipeline configuration.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt"
DEFAULT_DATA_DIR = PROJECT_ROOT / "data"
# The catalog name a DuckDB warehouse file is attached under, by Python and dbt alike: DuckDB would otherwise
# name it after the file, and a file called clean.duckdb (or marts, audit, …) makes `clean.x` ambiguous.
DUCKDB_CATALOG = "warehouse"


@dataclass(frozen=True)
class Settings:
    inbox: Path
    warehouse_url: str
    reports_dir: Path
    environment: str  # "local", "ci" or "prod"
    fiscal_years: tuple[str, ...] = ()  # fiscal-year partitions to register up front; the data adds its own
    config_dir: Path | None = None  # a county's own layouts/ and reference/ (FUND_PIPELINE_CONFIG)
    user: str = ""  # who is acting: the proxy's authenticated user, else the OS user
    # The warehouse user's password, from the environment or a file, never from the URL on a command line.
    warehouse_password: str = field(default="", repr=False, compare=False)
    # PostgreSQL roles made by `fund-pipeline db roles` (roles are cluster-wide, so a test can rename them).
    writer_role: str = "fund_writer"
    auditor_role: str = "fund_auditor"
    viewer_role: str = "fund_viewer"
    writer_password: str = field(default="", repr=False, compare=False)  # set on the writer role by `db roles`
    service: ServiceSettings = field(default_factory=lambda: ServiceSettings())  # serve, schedules, notices
    cache_dir: Path | None = None  # what each spreadsheet yielded, kept by content (FUND_PIPELINE_CACHE); None: no cache

    def __post_init__(self):
        # Resolved once, here, so Python and dbt (which runs in dbt/) open the same file.
        object.__setattr__(self, "warehouse_url", absolute_warehouse_url(self.warehouse_url))

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        data_dir = Path(env.get("FUND_PIPELINE_DATA_DIR", DEFAULT_DATA_DIR))
        warehouse_url, url_password = _without_password(
            env.get("FUND_PIPELINE_WAREHOUSE_URL", f"duckdb:///{(data_dir / 'warehouse.duckdb').resolve()}"))
        return cls(
            inbox=Path(env.get("FUND_PIPELINE_INBOX", data_dir / "inbox")).resolve(),
            warehouse_url=warehouse_url,
            reports_dir=Path(env.get("FUND_PIPELINE_REPORTS", data_dir / "reports")).resolve(),
            environment=env.get("FUND_PIPELINE_ENV", "ci" if env.get("CI") == "true" else "local"),
            fiscal_years=parse_years(env.get("FUND_PIPELINE_FISCAL_YEARS", "")),
            config_dir=Path(env["FUND_PIPELINE_CONFIG"]).resolve() if env.get("FUND_PIPELINE_CONFIG") else None,
            user=env.get("FUND_PIPELINE_USER") or _os_user(),
            warehouse_password=_secret(env, "FUND_PIPELINE_WAREHOUSE_PASSWORD") or url_password,
            writer_role=env.get("FUND_PIPELINE_WRITER_ROLE", "fund_writer"),
            auditor_role=env.get("FUND_PIPELINE_AUDITOR_ROLE", "fund_auditor"),
            viewer_role=env.get("FUND_PIPELINE_VIEWER_ROLE", "fund_viewer"),
            writer_password=_secret(env, "FUND_PIPELINE_WRITER_PASSWORD"),
            service=ServiceSettings.from_env(env),
            cache_dir=_cache_dir(env.get("FUND_PIPELINE_CACHE"), data_dir),
        )

    def with_overrides(self, **changes) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def dbt_env(self) -> dict[str, str]:
        """Environment for the dbt subprocess, derived from the one warehouse URL."""
        from sqlalchemy.engine import make_url

        if self.warehouse_kind == "duckdb":
            return {"FUND_PIPELINE_DBT_TARGET": "duckdb", "FUND_PIPELINE_DUCKDB_PATH": str(duckdb_path(self.warehouse_url)),
                    "FUND_PIPELINE_DUCKDB_CATALOG": DUCKDB_CATALOG}
        url = make_url(self.warehouse_url)
        env = {
            "FUND_PIPELINE_DBT_TARGET": "postgres",
            "FUND_PIPELINE_PG_HOST": url.host or "localhost",
            "FUND_PIPELINE_PG_PORT": str(url.port or 5432),
            "FUND_PIPELINE_PG_USER": url.username or "postgres",
            # dbt scrubs the values of DBT_ENV_SECRET_* variables from its logs and artifacts.
            "DBT_ENV_SECRET_PG_PASSWORD": url.password or self.warehouse_password,
            "FUND_PIPELINE_PG_DBNAME": url.database or "fund_pipeline",
        }
        if self.warehouse_password:  # libpq's own variable: this process's connections find it there
            env["PGPASSWORD"] = self.warehouse_password
        return env

    def export_dbt_env(self) -> None:
        """dagster-dbt starts dbt with this process's environment, so the connection goes there
        (and the password, kept out of the URL, reaches libpq as PGPASSWORD)."""
        os.environ.update(self.dbt_env())

    @property
    def warehouse_kind(self) -> str:
        """'duckdb' or 'postgres', from the URL scheme."""
        scheme = self.warehouse_url.split(":", 1)[0]
        return "postgres" if scheme.startswith("postgres") else scheme


def _secret(env: dict[str, str], name: str) -> str:
    """A secret from NAME_FILE (a file holding just the secret, e.g. a mounted secret) or NAME."""
    if env.get(f"{name}_FILE"):
        return Path(env[f"{name}_FILE"]).read_text(encoding="utf-8").rstrip("\r\n")
    return env.get(name, "")


def _without_password(url: str) -> tuple[str, str]:
    """A URL given with a password is split, so the URL itself (shown, logged, kept in run config) holds none."""
    if not url.startswith("postgres"):
        return url, ""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if not parsed.password:
        return url, ""
    return parsed._replace(password=None).render_as_string(hide_password=False), str(parsed.password)


@dataclass(frozen=True)
class SmtpSettings:
    """Where failure notices are emailed (FUND_PIPELINE_SMTP_*); the password from the environment or a file."""

    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    user: str = ""
    password: str = field(default="", repr=False)
    security: str = "none"  # "starttls", "ssl" or "none"

    @classmethod
    def from_env(cls, env: dict[str, str]) -> SmtpSettings | None:
        if not env.get("FUND_PIPELINE_SMTP_HOST") or not env.get("FUND_PIPELINE_SMTP_TO"):
            return None
        port = int(env.get("FUND_PIPELINE_SMTP_PORT", "25"))
        password = _secret(env, "FUND_PIPELINE_SMTP_PASSWORD")
        default_security = {465: "ssl", 587: "starttls"}.get(port, "none")
        return cls(host=env["FUND_PIPELINE_SMTP_HOST"], port=port,
                   sender=env.get("FUND_PIPELINE_SMTP_FROM", f"fund-pipeline@{env['FUND_PIPELINE_SMTP_HOST']}"),
                   recipients=tuple(a.strip() for a in env["FUND_PIPELINE_SMTP_TO"].split(",") if a.strip()),
                   user=env.get("FUND_PIPELINE_SMTP_USER", ""), password=password,
                   security=env.get("FUND_PIPELINE_SMTP_SECURITY", default_security))


@dataclass(frozen=True)
class ServiceSettings:
    """Unattended operation: the schedules' cron, the inbox sensor's interval, where the UI is (for links in
    notices), the instance's PostgreSQL storage, and SMTP for notices."""

    monthly_cron: str = "0 2 1 * *"
    inbox_interval_seconds: int = 60
    webserver_url: str = ""  # the UI's address as users reach it; `serve` passes its own when unset
    dagster_pg_url: str = field(default="", repr=False)  # DAGSTER_PG_URL: the instance's storage when set
    smtp: SmtpSettings | None = None
    stop_timeout_seconds: int = 30

    @classmethod
    def from_env(cls, env: dict[str, str]) -> ServiceSettings:
        return cls(
            monthly_cron=env.get("FUND_PIPELINE_MONTHLY_CRON", cls.monthly_cron),
            inbox_interval_seconds=int(env.get("FUND_PIPELINE_INBOX_INTERVAL", cls.inbox_interval_seconds)),
            webserver_url=env.get("FUND_PIPELINE_WEBSERVER_URL", "").rstrip("/"),
            dagster_pg_url=env.get("DAGSTER_PG_URL", ""),
            smtp=SmtpSettings.from_env(env),
            stop_timeout_seconds=int(env.get("FUND_PIPELINE_STOP_TIMEOUT", cls.stop_timeout_seconds)),
        )


def _cache_dir(value: str | None, data_dir: Path) -> Path | None:
    """FUND_PIPELINE_CACHE: a folder, or "off" (every file read on every run); unset: <data dir>/cache."""
    if value is None:
        return (data_dir / "cache").resolve()
    return None if value.strip().lower() in ("", "off", "none", "0") else Path(value).resolve()


def child_environment(**changes: str) -> dict[str, str]:
    """The environment for the service's child processes (daemon, webserver): this one plus `changes`."""
    return {**os.environ, **changes}


def duckdb_path(url: str) -> Path:
    """The file of a `duckdb:///…` URL, as SQLAlchemy reads it: `duckdb:///rel/w.duckdb` is relative to the
    working directory, `duckdb:////abs/w.duckdb` absolute."""
    return Path(os.path.abspath(Path(url.removeprefix("duckdb:///")).expanduser()))


def absolute_warehouse_url(url: str) -> str:
    """A DuckDB URL with its file made absolute against the working directory; other URLs unchanged."""
    return f"duckdb:///{duckdb_path(url)}" if url.startswith("duckdb:///") else url


def _os_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no user name in a bare container
        return f"uid{os.getuid()}"


def parse_years(text: str) -> tuple[str, ...]:
    """'2015-2017' or '2015,2016,2017' -> ('2015', '2016', '2017')."""
    years: set[int] = set()
    for part in text.replace(" ", "").split(","):
        if "-" in part:
            first, last = (int(y) for y in part.split("-", 1))
            years.update(range(first, last + 1))
        elif part:
            years.add(int(part))
    return tuple(str(y) for y in sorted(years))


def dagster_instance(settings: Settings):
    """The Dagster instance: DAGSTER_HOME's when set (PostgreSQL storage is configured there, see
    docs/operations.md); otherwise a local one in `.dagster_home` beside the data, telemetry off."""
    import dagster as dg

    home = os.environ.get("DAGSTER_HOME") or str(settings.inbox.parent / ".dagster_home")
    if not os.path.isabs(home):  # Dagster stops with a traceback on a relative one (DAGSTER_HOME=dagster_home)
        home = os.path.abspath(home)
    os.environ["DAGSTER_HOME"] = home
    Path(home).mkdir(parents=True, exist_ok=True)
    config = Path(home) / "dagster.yaml"
    if not config.exists():
        from fund_pipeline.instance_config import instance_yaml

        config.write_text(instance_yaml(settings, Path(home)), encoding="utf-8")
    return dg.DagsterInstance.get()


def reader_workers(env: dict[str, str] | None = None) -> int:
    """How many processes read a source's files at once: FUND_PIPELINE_READ_WORKERS, else one per CPU this
    process may use; 1 reads them one after another in this process."""
    env = os.environ if env is None else env
    if env.get("FUND_PIPELINE_READ_WORKERS", "").strip():
        return max(1, int(env["FUND_PIPELINE_READ_WORKERS"]))
    return available_cpus()


def dbt_target_path(warehouse_url: str) -> Path:
    """dbt's target folder for one warehouse, the same on every run.

    dbt re-parses the whole project when the connection differs from the one its partial-parse state was saved
    with (the DuckDB file is part of the profile). dagster-dbt gives each invocation a new folder, seeded from
    dbt/target's state, so every run on any warehouse but the one last parsed for parsed everything again (and
    the folders piled up). A folder per warehouse keeps that warehouse's state from run to run; the dbt build
    lock makes one dbt at a time use it."""
    key = hashlib.sha256(warehouse_url.encode("utf-8")).hexdigest()[:12]
    return DBT_PROJECT_DIR / "target" / f"warehouse-{key}"  # under dbt_project.yml's target-path


def available_cpus() -> int:
    """The CPUs this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
