"""The Dagster instance configuration (DAGSTER_HOME/dagster.yaml) the project writes when there is none.

The embedded default keeps Dagster's SQLite files where Dagster puts them; its event log keeps a running run's
database open in the process executing it (fund_pipeline/event_log.py). Recovery and concurrency are Dagster's own: run monitoring fails runs
that never start or never finish cancelling and frees pool slots that dead runs hold; run retries re-launch a
run whose process died (not one whose step failed on bad input: retrying that changes nothing); the run queue
limits runs at once (one on DuckDB, which allows one writing process) and runs for the same departments one at
a time; pools make publishing an entity and the dbt build one step at a time across runs.

`python -m fund_pipeline.instance_config DIR` writes DIR/dagster.yaml when missing (used by the Makefile).
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from fund_pipeline.settings import Settings

# Run tags on the refresh job's runs (schedules, the inbox sensor, launches from the UI).
RETRY_TAGS = {"dagster/max_retries": "2", "dagster/retry_strategy": "ALL_STEPS"}
# Runs for the same departments queue behind each other (the inbox sensor tags its runs with them).
SOURCES_TAG = "fund_pipeline/sources"
# Concurrency pools: one publishing step per entity, one dbt build, across all runs.
DBT_POOL = "dbt_build"


def publish_pool(entity: str) -> str:
    return f"publish_{entity}"


def instance_config(settings: Settings, home: Path) -> dict:
    config: dict = {
        "telemetry": {"enabled": False},
        "run_monitoring": {
            "enabled": True,
            "start_timeout_seconds": 180,
            "cancel_timeout_seconds": 60,
            "max_resume_run_attempts": 0,  # the default run launcher cannot resume a run; it is retried
            "poll_interval_seconds": 20,
            "free_slots_after_run_end_seconds": 60,
        },
        "run_retries": {"enabled": True, "max_retries": 0, "retry_on_asset_or_op_failure": False},
        "concurrency": {
            "runs": {
                "max_concurrent_runs": 1 if settings.warehouse_kind == "duckdb" else 4,
                "tag_concurrency_limits": [{"key": SOURCES_TAG, "value": {"applyLimitPerUniqueValue": True},
                                            "limit": 1}],
            },
            "pools": {"default_limit": 1, "granularity": "op"},
        },
    }
    if settings.service.dagster_pg_url:
        # The URL stays in the environment (it carries a password); Dagster reads it there.
        config["storage"] = {"postgres": {"postgres_url": {"env": "DAGSTER_PG_URL"}}}
    else:  # Dagster's SQLite files, where its default puts them; a running run's event database kept open
        config["event_log_storage"] = event_log_storage(home)
    return config


def event_log_storage(home: Path) -> dict:
    """The SQLite event log of an instance in `home`, in the folder Dagster's default storage uses for it."""
    return {"module": "fund_pipeline.event_log", "class": "KeptOpenSqliteEventLogStorage",
            "config": {"base_dir": str(Path(home).resolve() / "history" / "runs")}}


def instance_yaml(settings: Settings, home: Path) -> str:
    return yaml.safe_dump(instance_config(settings, home), sort_keys=False, allow_unicode=True)


def write_if_missing(home: Path, settings: Settings) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "dagster.yaml"
    if not path.exists():
        path.write_text(instance_yaml(settings, home), encoding="utf-8")
    return path


if __name__ == "__main__":
    print(write_if_missing(Path(sys.argv[1]), Settings.from_env()))
