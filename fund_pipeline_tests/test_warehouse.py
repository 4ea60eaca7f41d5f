"""Publishing is atomic: a failure while loading leaves the previously published tables as they were."""

import pandas as pd
import pytest

from fund_pipeline.warehouse import Warehouse
from fund_pipeline_tests.conftest import warehouse_url


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


def test_duckdb_large_read_gives_the_frame_a_plain_read_gives(tmp_path):
    # The landed rows of a large source are read through Arrow; the rules must see the very frame read_table
    # gives: nullable integers and booleans where values are missing, numpy ones where none is, text as
    # pandas strings, a column without any value as object.
    warehouse = Warehouse.from_url(f"duckdb:///{tmp_path / 'w.duckdb'}")
    warehouse.execute(
        "create schema if not exists landing; create table landing.t as select * from (values "
        "(1::bigint, 2::bigint, 1.5::double, 'a', null::varchar, true, false, timestamp '2016-01-02 03:04:05', date '2016-05-01'),"
        "(null, 3, null, null, null, null, true, null, null),"
        "(4, 5, 2.5, '身份证', null, false, true, timestamp '2016-12-31 00:00:00', date '2016-12-31')"
        ") v(with_gaps, whole, amount, name, never_filled, flag_with_gaps, flag, paid_at, paid_on)")
    warehouse.execute("create table landing.empty as select * from landing.t where false")
    for table in ("t", "empty"):
        large, plain = warehouse.read_large_table("landing", table), warehouse.read_table("landing", table)
        pd.testing.assert_frame_equal(large, plain, check_exact=True)
    large = warehouse.read_large_table("landing", "t")
    assert str(large["with_gaps"].dtype) == "Int64" and str(large["whole"].dtype) == "int64"
    assert str(large["flag_with_gaps"].dtype) == "boolean" and str(large["flag"].dtype) == "bool"
    assert large["never_filled"].dtype == object and large["never_filled"].isna().all()
    assert large["name"].tolist()[2] == "身份证"


def test_duckdb_load_keeps_every_value(tmp_path):
    # Frames are loaded through Arrow: text (pandas strings and plain objects), nullable numbers, flags and times
    # come back as they went in.
    warehouse = Warehouse.from_url(f"duckdb:///{tmp_path / 'w.duckdb'}")
    frame = pd.DataFrame({
        "text": pd.Series(["a", None, "身份证"], dtype="string"), "loose": pd.Series(["x", 7, None], dtype=object),
        "count": pd.array([1, None, 3], dtype="Int64"), "amount": [1.25, float("nan"), 3.0],
        "flag": pd.array([True, None, False], dtype="boolean"),
        "paid_at": pd.to_datetime(["2016-01-02 03:04:05", None, "2016-12-31 00:00:00"]),
    })
    warehouse.replace_table("clean", "t", frame)
    back = warehouse.read_table("clean", "t")
    assert back["text"].tolist()[::2] == ["a", "身份证"] and back["text"].isna().tolist() == [False, True, False]
    assert back["loose"].tolist()[:2] == ["x", "7"] and pd.isna(back["loose"].iloc[2])
    assert back["count"].tolist()[::2] == [1, 3] and back["count"].isna().tolist() == [False, True, False]
    assert back["amount"].tolist()[::2] == [1.25, 3.0] and pd.isna(back["amount"].iloc[1])
    assert back["flag"].tolist()[::2] == [True, False] and pd.isna(back["flag"].iloc[1])
    assert back["paid_at"].tolist()[::2] == [pd.Timestamp("2016-01-02 03:04:05"), pd.Timestamp("2016-12-31")]
    assert pd.isna(back["paid_at"].iloc[1])


def test_postgres_large_read_keeps_every_value_and_gives_duckdbs_frame(postgres_url, tmp_path):
    # PostgreSQL's large read is a COPY parsed by Arrow: text that looks like CSV's own syntax (quotes, commas,
    # line breaks, the null marker itself, the empty string) must come back as it went in, and the frame must
    # be the one DuckDB's large read gives for the same rows.
    frame = pd.DataFrame({
        "name": pd.Series(['a,"b"', "", "line\nbreak", "\\N", None, "身份证"], dtype="string"),
        "never_filled": pd.Series([None] * 6, dtype="string"),
        "count": pd.array([1, None, 3, 4, 5, 6], dtype="Int64"), "whole": [1, 2, 3, 4, 5, 6],
        "amount": [1.25, float("nan"), 3.0, 0.1 + 0.2, -0.0, 1e-9],
        "flag": pd.array([True, None, False, True, True, False], dtype="boolean"),
        "paid_at": pd.to_datetime(["2016-01-02 03:04:05.250", None, "2016-12-31 00:00:00.000", None, None, None]),
    })
    postgres = Warehouse.from_url(postgres_url)
    duckdb = Warehouse.from_url(f"duckdb:///{tmp_path / 'w.duckdb'}")
    try:
        for warehouse in (postgres, duckdb):
            warehouse.replace_table("landing", "large_read_test", frame)
        large = postgres.read_large_table("landing", "large_read_test").sort_values("whole", ignore_index=True)
        assert large["name"].tolist()[:4] == ['a,"b"', "", "line\nbreak", "\\N"]
        assert pd.isna(large["name"].iloc[4]) and large["name"].iloc[5] == "身份证"
        assert large["never_filled"].isna().all() and large["flag"].isna().tolist() == [False, True, False, False, False, False]
        assert large["amount"].iloc[3] == 0.1 + 0.2 and large["amount"].iloc[5] == 1e-9
        assert large["paid_at"].iloc[0] == pd.Timestamp("2016-01-02 03:04:05.250")
        theirs = duckdb.read_large_table("landing", "large_read_test").sort_values("whole", ignore_index=True)
        pd.testing.assert_frame_equal(large, theirs, check_exact=True)
    finally:
        postgres.execute("drop table if exists landing.large_read_test")


def _repeated_lineage_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "whole": [1, 2, 3, 4, 5],
        "source_file": pd.Series(["乡镇/a.xlsx", "乡镇/a.xlsx", "it's b.xlsx", None, "乡镇/a.xlsx"], dtype="string"),
        "sheet": pd.Series(["", "Sheet1", "", "Sheet1", ""], dtype="string"),
        "never_filled": pd.Series([None] * 5, dtype="string"),
        "name": pd.Series(["张三", "李四", "王五", None, "赵六"], dtype="string"),
    })


@pytest.mark.parametrize("backend", ["duckdb", "postgres"])
def test_large_read_gives_repeated_text_as_categoricals_of_the_same_values(backend, tmp_path, request):
    # A county-year's lineage text (file, sheet, department …) repeats on every row of a file: read as
    # categoricals it is held once per value. The values, the missing ones, a quote, an empty string, must be
    # those of the plain read; a column without any value, or not in the table, is left as the plain read has it.
    url = warehouse_url(backend, tmp_path, request)
    warehouse = Warehouse.from_url(url)
    warehouse.replace_table("landing", "repeated_text_test", _repeated_lineage_frame())
    try:
        large = warehouse.read_large_table("landing", "repeated_text_test",
                                           categorical=["source_file", "sheet", "never_filled", "not_a_column"])
        plain = warehouse.read_table("landing", "repeated_text_test")
        large, plain = large.sort_values("whole", ignore_index=True), plain.sort_values("whole", ignore_index=True)
        for column in ("source_file", "sheet"):
            assert isinstance(large[column].dtype, pd.CategoricalDtype), column
            pd.testing.assert_series_equal(large[column].astype("string"), plain[column].astype("string"))
        assert not isinstance(large["name"].dtype, pd.CategoricalDtype)
        assert not isinstance(large["never_filled"].dtype, pd.CategoricalDtype) and large["never_filled"].isna().all()
        # Written back, the categoricals are text columns holding the same values.
        warehouse.replace_table("clean", "repeated_text_test", large)
        back = warehouse.read_table("clean", "repeated_text_test").sort_values("whole", ignore_index=True)
        pd.testing.assert_frame_equal(back, plain, check_exact=True)
    finally:
        for schema in ("landing", "clean"):
            warehouse.execute(f"drop table if exists {schema}.repeated_text_test")


def test_frames_concatenated_keep_their_categoricals_with_every_value():
    from fund_pipeline.sources.schemas import concat_keeping_categories

    first = pd.DataFrame({"source_file": pd.Categorical(["a", "a", None]), "n": [1, 2, 3]})
    second = pd.DataFrame({"source_file": pd.Categorical(["b", "a"]), "n": [4, 5]})
    third = pd.DataFrame({"source_file": pd.Series(["c"], dtype="string"), "n": [6]})
    both = concat_keeping_categories([first, second])
    assert isinstance(both["source_file"].dtype, pd.CategoricalDtype)
    assert both["source_file"].tolist()[:2] == ["a", "a"] and pd.isna(both["source_file"].iloc[2])
    assert both["source_file"].tolist()[3:] == ["b", "a"] and both["n"].tolist() == [1, 2, 3, 4, 5]
    mixed = concat_keeping_categories([first.copy(), third])  # text in one frame: text, every value kept
    assert mixed["source_file"].astype("string").tolist()[:2] == ["a", "a"] and mixed["source_file"].iloc[3] == "c"


def test_duckdb_buffer_pool_of_the_pipelines_connections_is_limited(tmp_path):
    """A million new rows go to the file as they are inserted, not into up to 80% of the machine's memory."""
    from fund_pipeline.warehouse import DUCKDB_MEMORY_LIMIT

    warehouse = Warehouse.from_url(f"duckdb:///{tmp_path / 'w.duckdb'}")
    limit = warehouse.query("select current_setting('memory_limit') as limit_")["limit_"].iloc[0]
    assert DUCKDB_MEMORY_LIMIT == "512MB" and limit == "488.2 MiB"  # 512 MB, as DuckDB shows it


@pytest.mark.parametrize("backend", ["duckdb", "postgres"])
def test_a_snapshot_answers_as_the_warehouse_stood_until_it_writes(backend, tmp_path, request):
    """Deciding which steps keep their output asks a few hundred small questions: read as a snapshot, each is
    answered from one read of the catalogue or from its first answer, and a write through the object ends that."""
    url = warehouse_url(backend, tmp_path, request)
    reader, writer = Warehouse.from_url(url), Warehouse.from_url(url)
    for table in ("snapshot_first", "snapshot_later"):
        writer.execute(f"drop table if exists audit.{table}")
    writer.replace_table("audit", "snapshot_first", pd.DataFrame({"step": ["a", "b"], "n": [1, 2]}))
    count = "select count(*) as n from audit.snapshot_first"
    with reader.read_as_snapshot():
        assert reader.table_exists("audit", "snapshot_first") and not reader.table_exists("audit", "snapshot_later")
        assert reader.columns("audit", "snapshot_first") == ["step", "n"] and reader.columns("audit", "nowhere") == []
        assert reader.query(count)["n"].iloc[0] == 2
        # Another connection writes meanwhile: the snapshot still answers as the warehouse stood.
        writer.append("audit", "snapshot_first", pd.DataFrame({"step": ["c"], "n": [3]}))
        writer.replace_table("audit", "snapshot_later", pd.DataFrame({"x": [1]}))
        answer = reader.query(count)
        answer.loc[0, "n"] = 99  # a caller's change to its answer is its own
        assert reader.query(count)["n"].iloc[0] == 2 and not reader.table_exists("audit", "snapshot_later")
        reader.append("audit", "snapshot_first", pd.DataFrame({"step": ["d"], "n": [4]}))  # its own write ends it
        assert reader.query(count)["n"].iloc[0] == 4 and reader.table_exists("audit", "snapshot_later")
    assert reader.columns("audit", "snapshot_later") == ["x"] and reader.query(count)["n"].iloc[0] == 4


def test_an_interrupt_during_a_query_stays_an_interrupt(tmp_path):
    """Stopping a run interrupts the step under way (Dagster raises DagsterExecutionInterruptedError from its
    SIGINT handler). DuckDB, mid-query, turned that into RuntimeError('Query interrupted'), which code recovering
    from errors went past: the stopped run ended in success. The interrupt must come through as itself."""
    import os
    import signal
    import threading

    from dagster._core.errors import DagsterExecutionInterruptedError
    from dagster._utils.interrupts import capture_interrupts, raise_interrupts_as

    warehouse = Warehouse.from_url(f"duckdb:///{tmp_path / 'w.duckdb'}")
    stop = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    with capture_interrupts(), raise_interrupts_as(DagsterExecutionInterruptedError):
        stop.start()
        try:
            with pytest.raises(DagsterExecutionInterruptedError) as raised:
                try:
                    warehouse.query("select count(*) as n from range(2000000000) t(i) where i % 7 = 3")
                except Exception:  # noqa: BLE001, S110 - what code that recovers from errors does
                    pass
        finally:
            stop.cancel()
    assert isinstance(raised.value.__context__, RuntimeError)  # DuckDB's cancelled query, kept for the record
