"""The one place the environment is read.

Every other module receives a `Settings` object (or a Dagster resource built from it);
nothing else calls `os.environ` for pipeline configuration.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt"
DEFAULT_DATA_DIR = PROJECT_ROOT / "data"


@dataclass(frozen=True)
class Settings:
    inbox: Path
    warehouse_url: str
    reports_dir: Path
    environment: str  # "local", "ci" or "prod"
    fiscal_years: tuple[str, ...] = ()  # fiscal-year partitions to register up front; the data adds its own
    config_dir: Path | None = None  # a county's own layouts/ and reference/ (FUND_PIPELINE_CONFIG)
    user: str = ""  # who is acting: the proxy's authenticated user, else the OS user

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        data_dir = Path(env.get("FUND_PIPELINE_DATA_DIR", DEFAULT_DATA_DIR))
        return cls(
            inbox=Path(env.get("FUND_PIPELINE_INBOX", data_dir / "inbox")).resolve(),
            warehouse_url=env.get(
                "FUND_PIPELINE_WAREHOUSE_URL", f"duckdb:///{(data_dir / 'warehouse.duckdb').resolve()}"
            ),
            reports_dir=Path(env.get("FUND_PIPELINE_REPORTS", data_dir / "reports")).resolve(),
            environment=env.get("FUND_PIPELINE_ENV", "ci" if env.get("CI") == "true" else "local"),
            fiscal_years=parse_years(env.get("FUND_PIPELINE_FISCAL_YEARS", "")),
            config_dir=Path(env["FUND_PIPELINE_CONFIG"]).resolve() if env.get("FUND_PIPELINE_CONFIG") else None,
            user=env.get("FUND_PIPELINE_USER") or _os_user(),
        )

    def with_overrides(self, **changes) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def dbt_env(self) -> dict[str, str]:
        """Environment for the dbt subprocess, derived from the one warehouse URL."""
        from sqlalchemy.engine import make_url

        if self.warehouse_kind == "duckdb":
            return {"FUND_PIPELINE_DBT_TARGET": "duckdb",
                    "FUND_PIPELINE_DUCKDB_PATH": self.warehouse_url.removeprefix("duckdb:///")}
        url = make_url(self.warehouse_url)
        return {
            "FUND_PIPELINE_DBT_TARGET": "postgres",
            "FUND_PIPELINE_PG_HOST": url.host or "localhost",
            "FUND_PIPELINE_PG_PORT": str(url.port or 5432),
            "FUND_PIPELINE_PG_USER": url.username or "postgres",
            "FUND_PIPELINE_PG_PASSWORD": url.password or "",
            "FUND_PIPELINE_PG_DBNAME": url.database or "fund_pipeline",
        }

    def export_dbt_env(self) -> None:
        """dagster-dbt starts dbt with this process's environment, so the connection goes there."""
        os.environ.update(self.dbt_env())

    @property
    def warehouse_kind(self) -> str:
        """'duckdb' or 'postgres', from the URL scheme."""
        scheme = self.warehouse_url.split(":", 1)[0]
        return "postgres" if scheme.startswith("postgres") else scheme


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

    home = os.environ.get("DAGSTER_HOME")
    if not home:
        home = str((settings.inbox.parent / ".dagster_home").resolve())
        os.environ["DAGSTER_HOME"] = home
    Path(home).mkdir(parents=True, exist_ok=True)
    config = Path(home) / "dagster.yaml"
    if not config.exists():
        config.write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    return dg.DagsterInstance.get()
