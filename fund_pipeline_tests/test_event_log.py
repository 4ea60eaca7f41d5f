"""The embedded default's event log (fund_pipeline/event_log.py): a run's database stays open in the process
executing it until the run ends, and what it stores is seen at once by another instance on the same home, as
the UI's live view of a run sees it: through the watcher on the run's database file."""

import threading

import dagster as dg

from fund_pipeline.event_log import KeptOpenSqliteEventLogStorage
from fund_pipeline.instance_config import instance_yaml
from fund_pipeline.settings import Settings


def _instance(home) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(str(home))


def _home(tmp_path):
    (tmp_path / "dagster.yaml").write_text(instance_yaml(Settings.from_env({}), tmp_path), encoding="utf-8")
    return tmp_path


def test_a_watcher_sees_each_event_of_a_running_run_as_it_is_stored(tmp_path):
    home = _home(tmp_path)
    runs = home / "history" / "runs"
    writer, reader = _instance(home), _instance(home)  # the run's process and the UI's
    assert isinstance(writer.event_log_storage, KeptOpenSqliteEventLogStorage)
    seen: list[str] = []
    arrived = threading.Condition()
    kept_open: list[bool] = []

    def on_event(entry, _cursor):
        with arrived:
            seen.append(entry.message)
            arrived.notify_all()

    @dg.asset
    def payments(context: dg.AssetExecutionContext) -> None:
        reader.event_log_storage.watch(context.run_id, None, on_event)
        for step in ("读取", "校验", "发布"):
            context.log.info(step)
            with arrived:  # each event reaches the watcher before the step goes on
                assert arrived.wait_for(lambda s=step: any(s in m for m in seen), timeout=20), (step, seen)
        # the run's connection stayed open: its writes sit in the WAL, not yet in the database file
        kept_open.append((runs / f"{context.run_id}.db-wal").exists())

    try:
        result = dg.materialize([payments], instance=writer)
        assert result.success and kept_open == [True]
        # the run's end closed its connection: the WAL is checkpointed and gone
        assert not (runs / f"{result.run_id}.db-wal").exists()
    finally:
        reader.dispose()
        writer.dispose()


def test_materializations_are_read_back_by_another_instance(tmp_path):
    home = _home(tmp_path)

    with _instance(home) as instance:
        result = dg.materialize([_one()], instance=instance)
        assert result.success
    with _instance(home) as other:  # a new process would read the same
        record = other.get_latest_materialization_event(dg.AssetKey("payments"))
        assert record is not None and record.run_id == result.run_id
        assert len(other.all_logs(result.run_id)) == len(result.all_events) + 2  # and the run's start and end


def _one():
    @dg.asset
    def payments() -> int:
        return 1

    return payments


def test_a_wiped_instance_stores_events_again(tmp_path):
    home = _home(tmp_path)
    with _instance(home) as instance:
        first = dg.materialize([_one()], instance=instance)
        instance.wipe()  # the run files are deleted
        assert not (home / "history" / "runs" / f"{first.run_id}.db").exists()
        second = dg.materialize([_one()], instance=instance)
        assert second.success and instance.all_logs(second.run_id) and not instance.all_logs(first.run_id)


def test_a_run_executed_in_process_is_kept_open_from_its_creation(tmp_path):
    """`fund-pipeline run` creates and executes its run in one process: the planned steps and checks, stored as the
    run is created, already go to the kept connection (the WAL stays). A run created outside that block (the UI's,
    whose worker executes it) is stored open-and-close until some process stores its start."""
    from fund_pipeline.event_log import executing_in_process

    home = _home(tmp_path)
    runs = home / "history" / "runs"

    @dg.asset(check_specs=[dg.AssetCheckSpec("rows_reconcile", asset="payments")])
    def payments():
        yield dg.Output(None)
        yield dg.AssetCheckResult(passed=True)

    job = dg.Definitions(assets=[payments]).resolve_implicit_global_asset_job_def()
    with _instance(home) as instance:
        elsewhere = instance.create_run_for_job(job)
        with executing_in_process(instance):
            here = instance.create_run_for_job(job)
        planned = instance.get_records_for_run(here.run_id, of_type={
            dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED, dg.DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED}).records
        assert len(planned) == 2
        assert (runs / f"{here.run_id}.db-wal").exists()
        assert (runs / f"{elsewhere.run_id}.db").exists() and not (runs / f"{elsewhere.run_id}.db-wal").exists()
    assert not (runs / f"{here.run_id}.db-wal").exists()  # closed with the instance


def test_the_index_is_still_opened_per_use_through_one_engine_and_its_check_rows_are_read_back(tmp_path, monkeypatch):
    """Dagster's SQLite storage builds a new engine for every use of the cross-run index and asks for a table's
    existence before every asset check event; here one open-per-use engine serves every use and a table seen
    once is known. What is stored is the same: another instance reads the check's executions back."""
    import sqlalchemy

    home = _home(tmp_path)
    built = []
    real_create_engine = sqlalchemy.create_engine

    def counting_create_engine(url, *args, **kwargs):
        built.append(str(url))
        return real_create_engine(url, *args, **kwargs)

    @dg.asset(check_specs=[dg.AssetCheckSpec(f"rule_{i}", asset="payments") for i in range(5)])
    def payments():
        yield dg.Output(None)
        for i in range(5):
            yield dg.AssetCheckResult(check_name=f"rule_{i}", passed=i != 3)

    with _instance(home) as instance:
        storage = instance.event_log_storage
        assert storage.has_table("asset_check_executions") and not storage.has_table("no_such_table")
        for module in ("dagster._core.storage.event_log.sqlite.sqlite_event_log", "fund_pipeline.event_log"):
            monkeypatch.setattr(f"{module}.create_engine", counting_create_engine)
        result = dg.materialize([payments], instance=instance)
        assert result.success
        # the index engine built before the run served every use (Dagster's own storage builds one per use)
        assert [url for url in built if url.endswith("index.db")] == []
        assert not storage.has_table("no_such_table")  # an answer "no" is asked again, not kept
    with _instance(home) as other:
        outcomes = {}
        for i in range(5):
            key = dg.AssetCheckKey(dg.AssetKey("payments"), f"rule_{i}")
            [execution] = other.event_log_storage.get_asset_check_execution_history(key, limit=5)
            outcomes[i] = execution.status.value
        assert outcomes == {0: "SUCCEEDED", 1: "SUCCEEDED", 2: "SUCCEEDED", 3: "FAILED", 4: "SUCCEEDED"}
