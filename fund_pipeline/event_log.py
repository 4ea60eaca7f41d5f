"""Dagster's SQLite event log, keeping a running run's database open in the process executing it (embedded default).

Dagster's own SQLite event log opens a new connection for every event it stores and closes it after. In WAL
mode, closing a database's last connection checkpoints the WAL into the database and deletes it, and that
open-and-close is most of what an event costs: measured here, 2.7 ms for a log line, against 0.75 ms on a
connection kept open. A county-year run stores some 450 events in its run's database (each step's start,
output and materialization, every rule check planned and evaluated), a re-sent ledger about 250.

Here the process that executes a run (the one that stores the run's start) keeps one connection to the run's
database from the run's start to its end, used under the storage's lock as Dagster uses its connections. A
process that creates a run to execute it itself (the CLI's `run`, `execute_in_process`, inside
`executing_in_process`) keeps it open from the run's creation: the planned steps and checks Dagster stores then,
before the start, are a third of a county-year run's events.
Everything else is opened and closed per use as Dagster does: a run's database read or written by another
process (the UI following or cancelling it, the daemon failing a dead run), and the cross-run index
(`index.db`), which every process writes. Kept open in one process while another process wrote it, the index was
seen malformed by the first process's later connections in the test suite (a CLI run in a subprocess of the
test process), though sound on disk: only the executing process's own run database is kept open.

The index is still opened and closed per use, but what Dagster's SQLite storage adds around each use is not
repeated: it builds a new SQLAlchemy engine for every connection (about half of what a use costs in Python),
asks whether a table exists by another new engine and connection before storing each asset check event, and
queries the index's migration table before storing each materialization. Here the index's open-per-use engine
(a NullPool: every use still opens its own SQLite connection and closes it) is built once, and the answers
"the table exists" and "this data migration is done" are kept once seen, as dagster-postgres keeps the second
(until `wipe`). Together with the run's kept-open database this halves what storing a re-sent ledger's 266
events costs.

Dagster's UI follows a running run by watching the run's database file for changes. With the connection kept
open, writes go to the WAL file and the database file changes only at a checkpoint. So after each stored event
the run's file is touched (its modification time), which the UI's watcher sees as it saw each checkpoint.

PostgreSQL instance storage (dagster-postgres) pools its connections already and is not affected.
"""

from __future__ import annotations

import contextlib
import os
from collections import OrderedDict
from collections.abc import Iterator

from dagster._core.events import DagsterEventType
from dagster._core.storage.event_log.sqlite.sqlite_event_log import INDEX_SHARD_NAME, SqliteEventLogStorage
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from sqlalchemy.pool import NullPool, QueuePool

# Runs this process executes at once; a run that never stored its end (its process interrupted) is closed beyond.
OPEN_DATABASES = 8
RUN_ENDED = frozenset({DagsterEventType.RUN_SUCCESS, DagsterEventType.RUN_FAILURE, DagsterEventType.RUN_CANCELED})
# Stored as a run is created, before its start: every step and check it will run.
PLANNED = frozenset({DagsterEventType.ASSET_MATERIALIZATION_PLANNED, DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED})


class KeptOpenSqliteEventLogStorage(SqliteEventLogStorage):
    """SqliteEventLogStorage that keeps the database of a run it executes open between events. Its `base_dir` is
    the folder of Dagster's default storage (`<DAGSTER_HOME>/history/runs/`), so an instance keeps its history
    whichever of the two it is configured with."""

    def __init__(self, base_dir: str, inst_data=None):
        self._engines: OrderedDict = OrderedDict()  # run id -> the engine of its kept connection
        self._executing: set[str] = set()  # the runs whose start this process stored, until their end
        self._creates_to_execute = 0  # inside `executing_here`: the runs created now are executed in this process
        self._index_engine = None  # open-per-use (NullPool), built once
        self._tables_seen: set[str] = set()  # index tables known to exist
        self._secondary_indexes: dict[str, bool] = {}  # data migrations known done or not, as dagster-postgres keeps
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(inst_data=inst_data, **config_value)

    @contextlib.contextmanager
    def _connect(self, shard: str) -> Iterator:
        if shard == INDEX_SHARD_NAME:
            with self._db_lock:
                with self._index().connect() as connection, connection.begin():
                    yield connection
            return
        if shard not in self._executing:
            with super()._connect(shard) as connection:
                yield connection
            return
        with self._db_lock:
            with self._engine(shard).connect() as connection, connection.begin():
                yield connection

    def _index(self):
        """The index's engine, initialised as Dagster's `_connect` does (again after a wipe)."""
        engine = self._open_per_use_index()
        if INDEX_SHARD_NAME not in self._initialized_dbs:
            self._initdb(engine)
            self._initialized_dbs.add(INDEX_SHARD_NAME)
        return engine

    def _open_per_use_index(self):
        """The engine Dagster's `_connect` builds for every use of the index, built once."""
        if self._index_engine is None:
            self._index_engine = create_engine(self.conn_string_for_shard(INDEX_SHARD_NAME), poolclass=NullPool,
                                               connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
        return self._index_engine

    def has_table(self, table_name: str) -> bool:
        # No lock, as Dagster's: it is asked inside an index transaction too.
        if table_name not in self._tables_seen:
            engine = self._open_per_use_index()
            with engine.connect() as connection:
                if not engine.dialect.has_table(connection, table_name):
                    return False
            self._tables_seen.add(table_name)
        return True

    def has_secondary_index(self, name: str) -> bool:
        if name not in self._secondary_indexes:
            self._secondary_indexes[name] = super().has_secondary_index(name)
        return self._secondary_indexes[name]

    def enable_secondary_index(self, name: str) -> None:
        super().enable_secondary_index(name)
        self._secondary_indexes.pop(name, None)

    def _engine(self, shard: str):
        engine = self._engines.get(shard)
        if engine is not None:
            self._engines.move_to_end(shard)
            return engine
        # check_same_thread off: the one connection serves whichever of the process's threads holds the lock
        engine = create_engine(self.conn_string_for_shard(shard), poolclass=QueuePool, pool_size=1,
                               connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False})
        if shard not in self._initialized_dbs:
            self._initdb(engine)
            self._initialized_dbs.add(shard)
        self._engines[shard] = engine
        while len(self._engines) > OPEN_DATABASES:
            self._close(next(iter(self._engines)))  # the least recently used
        return engine

    def store_event(self, event) -> None:
        kind = event.dagster_event_type
        if kind == DagsterEventType.RUN_START or (self._creates_to_execute and kind in PLANNED):
            self._executing.add(event.run_id)
        super().store_event(event)
        if event.run_id not in self._executing:
            return
        with contextlib.suppress(OSError):  # the watcher's signal only; the event is stored
            os.utime(self.path_for_shard(event.run_id))
        if kind in RUN_ENDED:
            with self._db_lock:
                self._close(event.run_id)

    @contextlib.contextmanager
    def executing_here(self) -> Iterator[None]:
        """Within the block, the runs this process creates it also executes (`execute_in_process`): their
        databases are kept open from the run's creation, whose planned steps and checks are its first events
        (a county-year run plans some 145), not only from its start."""
        with self._db_lock:
            self._creates_to_execute += 1
        try:
            yield
        finally:
            with self._db_lock:
                self._creates_to_execute -= 1

    def wipe(self) -> None:
        self._close_all()  # the run files are deleted: no connection may stay on them
        super().wipe()
        self._tables_seen.clear()
        self._secondary_indexes.clear()

    def dispose(self) -> None:
        super().dispose()
        self._close_all()

    def _close_all(self) -> None:
        with self._db_lock:
            for run_id in [*self._engines, *self._executing]:
                self._close(run_id)

    def _close(self, run_id: str) -> None:
        """The run's database is Dagster's open-per-use again (the caller holds the lock)."""
        self._executing.discard(run_id)
        engine = self._engines.pop(run_id, None)
        if engine is not None:
            engine.dispose()


@contextlib.contextmanager
def executing_in_process(instance) -> Iterator[None]:
    """The block executes the runs it creates in this process (the CLI's `run`): on the embedded default their
    databases stay open from the run's creation (KeptOpenSqliteEventLogStorage.executing_here)."""
    storage = instance.event_log_storage
    if not isinstance(storage, KeptOpenSqliteEventLogStorage):
        yield
        return
    with storage.executing_here():
        yield
