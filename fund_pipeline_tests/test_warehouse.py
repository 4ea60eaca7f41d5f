"""Publishing is atomic: a failure while loading leaves the previously published tables as they were."""

import pandas as pd
import pytest

from fund_pipeline.warehouse import Warehouse


def _publish_then_fail(warehouse: Warehouse, bad: pd.DataFrame) -> None:
    warehouse.replace_tables({("clean", "t"): pd.DataFrame({"a": [1, 2]}), ("quarantine", "t"): pd.DataFrame({"a": [3]})})
    with pytest.raises(Exception):  # noqa: B017 - the back-end's own error type
        warehouse.replace_tables({("clean", "t"): pd.DataFrame({"a": [9, 9, 9]}), ("quarantine", "t"): bad})
    assert warehouse.read_table("clean", "t")["a"].tolist() == [1, 2]
    assert warehouse.read_table("quarantine", "t")["a"].tolist() == [3]
    assert not warehouse.table_exists("clean", "t__new")


def test_republishing_keeps_views_on_the_table_valid(tmp_path):
    warehouse = Warehouse.from_url(f"duckdb:///{tmp_path / 'w.duckdb'}")
    warehouse.replace_table("clean", "v", pd.DataFrame({"a": [1]}))
    warehouse.execute("create schema if not exists staging; create or replace view staging.v as select * from clean.v")
    warehouse.replace_table("clean", "v", pd.DataFrame({"a": [5, 6]}))
    assert warehouse.query("select sum(a) as s from staging.v")["s"].iloc[0] == 11


def test_duckdb_failed_publish_leaves_previous_tables(tmp_path):
    # A frame with two columns of one name cannot become a table: the second table fails after the first was swapped.
    _publish_then_fail(Warehouse.from_url(f"duckdb:///{tmp_path / 'w.duckdb'}"), pd.DataFrame([[1, 2]], columns=["a", "a"]))


@pytest.mark.postgres
def test_postgres_failed_publish_leaves_previous_tables(postgres_url):
    # PostgreSQL refuses a NUL byte in text: COPY fails midway, the transaction rolls back.
    warehouse = Warehouse.from_url(postgres_url)
    for schema in ("clean", "quarantine"):
        warehouse.execute(f"drop table if exists {schema}.t")
    _publish_then_fail(warehouse, pd.DataFrame({"a": ["ok", "bad\x00value"]}))
