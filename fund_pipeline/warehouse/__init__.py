"""The warehouse: a DuckDB file by default, PostgreSQL in production, chosen by the URL in settings.

Both back-ends offer the same small interface; bulk loads never insert row by row
(DuckDB scans the DataFrame through Arrow, PostgreSQL receives COPY).
"""

from __future__ import annotations

import _thread
import contextlib
import io
import itertools
import signal
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy.engine import make_url

from fund_pipeline.settings import DUCKDB_CATALOG, duckdb_path

SCHEMAS = ("landing", "clean", "quarantine", "audit")


class _Undone(Exception):
    """Raised inside a transaction to roll it back on purpose."""


def _sql_type(series: pd.Series, dialect: str) -> str:
    kind = series.dtype.kind
    if str(series.dtype) == "boolean" or kind == "b":
        return "BOOLEAN"
    if kind in "iu" or str(series.dtype).startswith(("Int", "UInt")):
        return "BIGINT"
    if kind == "f" or str(series.dtype).startswith("Float"):
        return "DOUBLE PRECISION" if dialect == "postgres" else "DOUBLE"
    if kind == "M":
        return "TIMESTAMP"
    return "TEXT"


class Warehouse:
    """Common operations; subclasses provide a connection and a bulk loader."""

    dialect = ""
    _cascade = ""
    key_hash = ""  # SQL of a 64-bit hash of the text column {}: compares sets of row keys without joining them
    row_hash = ""  # SQL of a 64-bit hash of the columns {} (a list): equal rows hash alike

    def __init__(self, url: str, keep_open: bool = False):
        self.url = url
        self.keep_open = keep_open
        self._reshaped = False  # a table was created or gained a column: read grants need renewing
        self._catalogue: dict[tuple[str, str], list[str]] | None = None  # see read_as_snapshot
        self._answers: dict[str, pd.DataFrame] = {}

    @staticmethod
    def from_url(url: str, keep_open: bool = False) -> Warehouse:
        """keep_open: one connection serves every query while this object lives (a pipeline step's
        warehouse), instead of one per query; `release()` hands the file back earlier."""
        scheme = url.split(":", 1)[0]
        if scheme == "duckdb":
            return DuckDBWarehouse(url, keep_open)
        if scheme.startswith("postgres"):
            return PostgresWarehouse(url, keep_open)
        raise ValueError(f"unsupported warehouse URL {url!r}: use duckdb:///path/file.duckdb or postgresql+psycopg2://…")

    # -- reading -------------------------------------------------------------------------
    def query(self, sql: str, params: dict | None = None) -> pd.DataFrame:
        if self._catalogue is not None and not params:
            if sql not in self._answers:
                self._answers[sql] = self._read(sql)
            return self._answers[sql].copy()
        return self._read(sql, params)

    def _read(self, sql: str, params: dict | None = None) -> pd.DataFrame:
        with self.connect() as con:
            return self._query(con, sql, params)

    def table_exists(self, schema: str, table: str) -> bool:
        if self._catalogue is not None:
            return (schema, table) in self._catalogue
        with self.connect() as con:
            return self._exists(con, schema, table)

    @contextlib.contextmanager
    def read_as_snapshot(self) -> Iterator[None]:
        """Within the block the warehouse is read as it stood at its start: `table_exists` and `columns` answer from
        one read of the catalogue, and a query asked again is answered from its first answer. For code that asks
        dozens of small questions and writes nothing (which steps keep their output: 0.4 s of queries a run);
        a write through this object ends the block's snapshot."""
        listed = self._read("select table_schema, table_name, column_name from information_schema.columns "
                            "where table_schema not in ('pg_catalog', 'information_schema') "
                            "order by table_schema, table_name, ordinal_position")
        catalogue: dict[tuple[str, str], list[str]] = {}
        for schema, table, column in listed.itertuples(index=False, name=None):
            catalogue.setdefault((schema, table), []).append(column)
        self._catalogue = catalogue
        try:
            yield
        finally:
            self._forget_snapshot()

    def _forget_snapshot(self) -> None:
        self._catalogue, self._answers = None, {}

    def tables(self) -> set[tuple[str, str]]:
        """Every (schema, table or view): one query where many `table_exists` would ask one by one."""
        listed = self.query("select table_schema, table_name from information_schema.tables")
        return set(listed.itertuples(index=False, name=None))

    def columns(self, schema: str, table: str) -> list[str]:
        if self._catalogue is not None:
            return list(self._catalogue.get((schema, table), []))
        with self.connect() as con:
            return self._columns(con, schema, table)

    def read_table(self, schema: str, table: str, where: str = "") -> pd.DataFrame:
        return self.query(f'select * from {schema}."{table}"' + (f" where {where}" if where else ""))

    def read_large_table(self, schema: str, table: str, categorical: Iterable[str] = ()) -> pd.DataFrame:
        """The same frame as read_table, for a table of a million rows: where the back-end allows, fetched in
        parts, so the driver's whole result and the whole frame are never in memory at once. The text columns
        named `categorical` (values repeated on many rows) come as categoricals: each distinct value held once."""
        return _with_categories(self.read_table(schema, table), categorical)

    # -- writing -------------------------------------------------------------------------
    def replace_table(self, schema: str, table: str, frame: pd.DataFrame) -> int:
        """Swap in a new version of a table in one transaction: readers see the old or the new, never half."""
        return self.replace_tables({(schema, table): frame})

    def replace_tables(self, frames: dict[tuple[str, str], pd.DataFrame]) -> int:
        """Swap in new versions of several tables in one transaction (e.g. clean and quarantine together):
        readers see the old or the new, and a failure anywhere leaves every one of them as it was.

        A table keeps its identity when its columns are unchanged (emptied and refilled), so the dbt views
        built on it stay valid; only a changed layout drops and recreates it."""
        with self.transaction() as con:
            for (schema, table), frame in frames.items():
                self._ensure_schema(con, schema)
                if self._exists(con, schema, table) and self._columns(con, schema, table) == list(frame.columns):
                    self._execute(con, f'delete from {schema}."{table}"')
                else:
                    self._execute(con, f'drop table if exists {schema}."{table}"{self._cascade}')
                    self._create(con, schema, table, frame)
                self._load(con, schema, table, frame)
        return sum(len(f) for f in frames.values())

    def replace_slices(self, frames: dict[tuple[str, str], pd.DataFrame], where: str,
                       unless: str | None = None) -> int | None:
        """Replace the rows matching `where` (e.g. some fiscal years) in several tables, in one transaction.
        With `unless` (a query), the change is undone if that query, run on the tables as changed, returns a
        row: None is returned and every table stays as it was."""
        try:
            with self.transaction() as con:
                for (schema, table), frame in frames.items():
                    self._append_in(con, schema, table, frame, where)
                if unless is not None and self._rows(con, unless):
                    raise _Undone
        except _Undone:
            return None
        return sum(len(f) for f in frames.values())

    def append(self, schema: str, table: str, frame: pd.DataFrame, delete_where: str | None = None) -> int:
        """Append rows (creating the table, or adding new columns, as needed), optionally replacing a slice."""
        with self.transaction() as con:
            self._append_in(con, schema, table, frame, delete_where)
        return len(frame)

    def _append_in(self, con, schema, table, frame, delete_where):
        self._ensure_schema(con, schema)
        if not self._exists(con, schema, table):
            self._create(con, schema, table, frame)
        else:
            existing = set(self._columns(con, schema, table))
            for column in frame.columns:
                if column not in existing:
                    self._execute(con, f'alter table {schema}."{table}" add column "{column}" {_sql_type(frame[column], self.dialect)}')
                    self._reshaped = True
        if delete_where:
            self._execute(con, f'delete from {schema}."{table}" where {delete_where}')
        if len(frame):
            self._load(con, schema, table, frame)

    def execute(self, sql: str) -> None:
        with self.transaction() as con:
            self._execute(con, sql)

    def release(self) -> None:
        """Close a kept-open connection now (e.g. before another process, dbt, opens the warehouse);
        the next query opens a new one."""

    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """Serialise a publishing step across concurrent runs (a no-op where the back-end has one writer)."""
        yield

    def _create(self, con, schema, table, frame):
        columns = ", ".join(f'"{c}" {_sql_type(frame[c], self.dialect)}' for c in frame.columns)
        self._execute(con, f'create table {schema}."{table}" ({columns})')
        self._reshaped = True

    # The catalogue is asked hundreds of times a run: as plain rows, not a DataFrame built for each answer.
    def _exists(self, con, schema, table) -> bool:
        sql = ("select count(*) from information_schema.tables "
               f"where table_schema = '{schema}' and table_name = '{table}'")
        return int(self._rows(con, sql)[0][0]) > 0

    def _columns(self, con, schema, table) -> list[str]:
        sql = ("select column_name from information_schema.columns "
               f"where table_schema = '{schema}' and table_name = '{table}' order by ordinal_position")
        return [row[0] for row in self._rows(con, sql)]

    def _ensure_schema(self, con, schema):
        self._execute(con, f"create schema if not exists {schema}")



class DuckDBWarehouse(Warehouse):
    dialect = "duckdb"
    _cascade = ""  # DuckDB binds views when they are queried
    key_hash = "hash({})"
    row_hash = "hash({})"

    def __init__(self, url: str, keep_open: bool = False):
        super().__init__(url, keep_open)
        if keep_open:
            _SHARED.hold(self.path)
            weakref.finalize(self, _SHARED.let_go, self.path)

    @property
    def path(self) -> Path:
        return duckdb_path(self.url)

    @contextlib.contextmanager
    def connect(self) -> Iterator:
        with _interrupt_raised_as_itself():
            if self.keep_open:
                yield _SHARED.connection(self.path)
                return
            import duckdb

            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = _connect_with_patience(duckdb, self.path)
            try:
                yield con
            finally:
                con.close()  # dbt opens the same file in another process: never hold it open

    def release(self) -> None:
        _SHARED.close(self.path)

    @contextlib.contextmanager
    def transaction(self) -> Iterator:
        self._forget_snapshot()  # a write may change what was read
        with self.connect() as con:
            con.execute("begin transaction")
            try:
                yield con
                con.execute("commit")
            except BaseException:
                con.execute("rollback")
                raise

    def _execute(self, con, sql):
        con.execute(sql)

    def _query(self, con, sql, params=None):
        return con.execute(sql, params or {}).df() if params else con.execute(sql).df()

    def _rows(self, con, sql) -> list[tuple]:
        return con.execute(sql).fetchall()

    def read_large_table(self, schema: str, table: str, categorical: Iterable[str] = ()) -> pd.DataFrame:
        """Fetched as Arrow and converted column by column (the Arrow buffers freed as each column is taken):
        several times faster than DuckDB's own DataFrame conversion, and one copy of the rows instead of two.
        Text comes with 64-bit offsets, the layout of pandas' string columns, which then take the Arrow
        buffers over as they are instead of copying every string (90 MB less at a million payments)."""
        with self.connect() as con:
            con.execute("set arrow_large_buffer_size = true")
            present = set(self._columns(con, schema, table))
            as_enums = _as_enums(con, schema, table, [c for c in categorical if c in present])
            rows = con.sql(f'select *{as_enums} from {schema}."{table}"').to_arrow_table()
        return frame_from_arrow(rows)

    def _load(self, con, schema, table, frame):
        # Handed over as an Arrow table: DuckDB scans it in parallel, and pandas' string columns (Arrow
        # already) are not converted a second time on the way, as a scan of the DataFrame would.
        import pyarrow as pa

        con.register("_incoming", pa.Table.from_pandas(_arrow_friendly(frame), preserve_index=False))
        try:
            columns = ", ".join(f'"{c}"' for c in frame.columns)
            con.execute(f'insert into {schema}."{table}" ({columns}) select {columns} from _incoming')
        finally:
            con.unregister("_incoming")


def _as_enums(con, schema: str, table: str, columns: list[str]) -> str:
    """A `replace` clause reading these text columns as ENUMs of their values, which DuckDB hands over as Arrow
    dictionaries (pandas categoricals). Encoding them after the read would free nothing: DuckDB's Arrow batches
    release their memory only as a whole, and the frame keeps the other text columns' buffers."""
    if not columns:
        return ""
    lists = ", ".join(f'list(distinct "{c}") filter (where "{c}" is not null)' for c in columns)
    [distinct] = con.execute(f'select {lists} from {schema}."{table}"').fetchall()  # one scan for every column
    casts = []
    for column, values in zip(columns, distinct, strict=True):
        if values:
            literals = ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)
            casts.append(f'cast("{column}" as enum({literals})) as "{column}"')
    return f" replace ({', '.join(casts)})" if casts else ""


class _SharedConnections:
    """The DuckDB connections kept open in this process, one per file, for as long as a kept-open
    warehouse object (a pipeline step's) is alive: opening a connection attaches the file and closing it
    checkpoints, a cost paid once per step instead of once per query. Every kept-open object in the process
    shares the one connection, since DuckDB lets one database instance at a time write a file; it is closed
    when the last of them goes away or one of them releases it (other processes, dbt among them, then wait
    their turn in `_connect_with_patience`)."""

    def __init__(self):
        self._lock = threading.RLock()
        self._holders: dict[Path, int] = {}
        self._open: dict[Path, object] = {}

    def hold(self, path: Path) -> None:
        with self._lock:
            self._holders[path] = self._holders.get(path, 0) + 1

    def let_go(self, path: Path) -> None:
        with self._lock:
            self._holders[path] -= 1
            if self._holders[path] <= 0:
                del self._holders[path]
                self.close(path)

    def connection(self, path: Path):
        with self._lock:
            if path not in self._open:
                import duckdb

                path.parent.mkdir(parents=True, exist_ok=True)
                self._open[path] = _connect_with_patience(duckdb, path)
            return self._open[path]

    def close(self, path: Path) -> None:
        with self._lock:
            con = self._open.pop(path, None)
            if con is not None:
                con.close()

    def close_all(self) -> None:
        with self._lock:
            for path in list(self._open):
                self.close(path)


_SHARED = _SharedConnections()


def release_kept_connections() -> None:
    """Close every kept-open DuckDB connection of this process (at the end of a run's steps), whether or
    not the warehouse objects holding them are gone yet."""
    _SHARED.close_all()


# DuckDB's buffer pool may grow to 80% of the machine's memory, and it holds a transaction's new rows there until
# they are committed: 300 MB more at the peak of a step that publishes a million payments. With a limit, full
# row groups go to the file as they are made (and sorts or joins larger than it spill into {file}.tmp).
DUCKDB_MEMORY_LIMIT = "512MB"


def _connect_with_patience(duckdb, path: Path, seconds: float = 120.0):
    """DuckDB lets one process write a file at a time; another process waits its turn instead of failing.

    The file is attached under the fixed catalog name dbt uses too (settings.DUCKDB_CATALOG), whatever the
    file is called; dbt's views store fully qualified names, so both must agree."""
    deadline = time.monotonic() + seconds
    while True:
        con = duckdb.connect(":memory:", config={"temp_directory": f"{path}.tmp", "memory_limit": DUCKDB_MEMORY_LIMIT})
        try:
            con.execute(f"attach '{_sql_text(str(path))}' as {DUCKDB_CATALOG}")
            con.execute(f"use {DUCKDB_CATALOG}")
            return con
        except BaseException as error:
            con.close()
            locked = isinstance(error, duckdb.IOException) and "lock" in str(error).lower()
            if not locked or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _let_pending_calls_run() -> None:
    """A Python-level call: the interpreter runs a signal handler that is due before it."""


@contextlib.contextmanager
def _interrupt_raised_as_itself() -> Iterator[None]:
    """DuckDB runs Python's signal handler while a query runs, and when the handler raises (Dagster's
    DagsterExecutionInterruptedError inside a step, KeyboardInterrupt at a terminal) it cancels the query but
    raises RuntimeError('Query interrupted') in its place. The interrupt then looked like any error: code that
    recovers from errors went on, and a run its operator had stopped ended in success. The signal is delivered
    again, so the handler raises the exception it meant, with DuckDB's error as its context."""
    try:
        yield
    except RuntimeError as error:
        if str(error) == "Query interrupted" and threading.current_thread() is threading.main_thread():
            _thread.interrupt_main(signal.SIGINT)  # whatever SIGINT's handler is now: Dagster's, or Python's
            _let_pending_calls_run()
        raise


def _sql_text(text: str) -> str:
    return text.replace("'", "''")


def sql_list(values: Iterable[str]) -> str:
    """Text values as a SQL list's items, quoted: `'a', 'b'`."""
    return ", ".join(f"'{_sql_text(str(value))}'" for value in values)


class PostgresWarehouse(Warehouse):
    dialect = "postgres"
    _cascade = " cascade"  # dbt's views on a recreated table are rebuilt by the dbt step that follows
    key_hash = "hashtextextended({}, 0)"
    row_hash = "hashtextextended(row({})::text, 0)"

    def __init__(self, url: str, keep_open: bool = False):
        super().__init__(url, keep_open)  # the engine's pool already keeps connections open
        parsed = make_url(url)
        # SQLAlchemy 2.1 picks psycopg 3 for a bare postgresql:// URL; this project uses psycopg2.
        self.sqlalchemy_url = parsed.set(drivername="postgresql+psycopg2")
        self._engine = None

    @property
    def engine(self):
        if self._engine is None:
            from sqlalchemy import create_engine

            self._engine = create_engine(self.sqlalchemy_url, pool_pre_ping=True)
        return self._engine

    @contextlib.contextmanager
    def connect(self) -> Iterator:
        raw = self.engine.raw_connection()
        try:
            yield raw
            raw.commit()
        finally:
            raw.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator:
        self._forget_snapshot()  # a write may change what was read
        raw = self.engine.raw_connection()
        try:
            yield raw
            raw.commit()
        except BaseException:
            raw.rollback()
            raise
        finally:
            raw.close()
        self._renew_grants_if_reshaped()

    def _renew_grants_if_reshaped(self) -> None:
        """A new or reshaped table is closed to the read roles until their grants are made true again
        (fund_pipeline/access/roles.py; a no-op where `fund-pipeline db roles` was never run)."""
        if self._reshaped:
            from fund_pipeline.access.roles import keep_grants

            self._reshaped = False
            keep_grants(self)

    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """A session-level advisory lock, held on its own connection for the duration of the block."""
        raw = self.engine.raw_connection()
        try:
            with raw.cursor() as cur:
                cur.execute("select pg_advisory_lock(hashtext(%s))", (f"fund_pipeline:{name}",))
            raw.commit()
            yield
        finally:
            with raw.cursor() as cur:
                cur.execute("select pg_advisory_unlock(hashtext(%s))", (f"fund_pipeline:{name}",))
            raw.commit()
            raw.close()

    def _execute(self, con, sql):
        with con.cursor() as cur:
            cur.execute(sql)

    def _rows(self, con, sql) -> list[tuple]:
        with con.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()

    def _query(self, con, sql, params=None):
        """Rows come from a server-side cursor in batches, so the whole result is never held twice
        (libpq's copy and Python's) while the frame is built."""
        if not sql.lstrip().lower().startswith(("select", "with")):  # only queries can be declared as cursors
            with con.cursor() as cur:
                cur.execute(sql, params)
                return pd.DataFrame(cur.fetchall(), columns=[d[0] for d in cur.description])
        with con.cursor(name=f"fund_pipeline_read_{next(_CURSOR_NUMBERS)}") as cur:
            cur.itersize = _READ_BATCH_ROWS
            cur.execute(sql, params)
            rows = cur.fetchmany(_READ_BATCH_ROWS)
            columns = [d[0] for d in cur.description]
            while batch := cur.fetchmany(_READ_BATCH_ROWS):
                rows += batch
            return pd.DataFrame(rows, columns=columns)

    def _load(self, con, schema, table, frame):
        columns = ", ".join(f'"{c}"' for c in frame.columns)
        with con.cursor() as cur:
            cur.copy_expert(f"copy {schema}.\"{table}\" ({columns}) from stdin with (format csv)",
                            _CsvStream(frame), size=1 << 20)

    def read_large_table(self, schema: str, table: str, categorical: Iterable[str] = ()) -> pd.DataFrame:
        """COPY out as CSV into a temporary file, parsed by Arrow with the table's own column types: no
        Python object per cell (a million rows as tuples took gigabytes), and the same frame DuckDB gives."""
        import tempfile

        import pyarrow as pa
        import pyarrow.csv as pacsv

        described = self.query("select column_name, data_type from information_schema.columns "
                               "where table_schema = %(schema)s and table_name = %(table)s order by ordinal_position",
                               {"schema": schema, "table": table})
        types = {name: _ARROW_TYPES.get(kind) for name, kind in described.itertuples(index=False)}
        if not types or None in types.values():  # a column type this loader does not know: the plain read
            return super().read_large_table(schema, table, categorical)
        with tempfile.TemporaryFile() as spool:
            with self.connect() as con, con.cursor() as cur:
                cur.copy_expert(f"copy {schema}.\"{table}\" to stdout with (format csv, header true)", spool,
                                size=1 << 20)
            spool.seek(0)
            rows = pacsv.read_csv(
                spool, parse_options=pacsv.ParseOptions(newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(
                    column_types={name: getattr(pa, kind)() if kind != "timestamp" else pa.timestamp("us")
                                  for name, kind in types.items()},
                    null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=False,
                    true_values=["t"], false_values=["f"]))
        return _with_categories(frame_from_arrow(rows), categorical)


_READ_BATCH_ROWS = 50_000
# PostgreSQL's names for the column types the warehouse creates (_sql_type), as Arrow types (text with 64-bit
# offsets, the layout pandas' string columns take over without a copy).
_ARROW_TYPES = {"text": "large_string", "character varying": "large_string", "bigint": "int64", "integer": "int64",
                "smallint": "int64", "double precision": "float64", "real": "float64", "boolean": "bool_",
                "timestamp without time zone": "timestamp"}
_CURSOR_NUMBERS = itertools.count()


class _CsvStream(io.RawIOBase):
    """A frame as CSV for COPY, written by Arrow a slice of rows at a time as PostgreSQL reads it, instead of
    the whole table's text at once. Text is always quoted and a missing value is an unquoted empty field:
    PostgreSQL's own CSV convention, so an empty text, or a cell that reads like a null marker, stays text."""

    ROWS = 50_000

    def __init__(self, frame: pd.DataFrame):
        self._frame = frame
        self._next_row = 0
        self._text = b""
        self._position = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        """Up to size bytes (fewer at the end of a slice); b"" once every row was read."""
        if self._position >= len(self._text):
            if self._next_row >= len(self._frame):
                return b""
            part = self._frame.iloc[self._next_row:self._next_row + self.ROWS]
            self._next_row += self.ROWS
            self._text = _csv_bytes(part)
            self._position = 0
        end = len(self._text) if size is None or size < 0 else self._position + size
        chunk = self._text[self._position:end]
        self._position += len(chunk)
        return chunk


def _csv_bytes(part: pd.DataFrame) -> bytes:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rows = pa.Table.from_pandas(_arrow_friendly(part), preserve_index=False)
    sink = pa.BufferOutputStream()
    pacsv.write_csv(rows, sink, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    return sink.getvalue().to_pybytes()


# Arrow types a warehouse table holds (see _sql_type) and the pandas types DuckDB's own conversion gives them.
_NULLABLE_PANDAS = {pa_type: dtype for pa_type, dtype in (
    ("int8", "Int8"), ("int16", "Int16"), ("int32", "Int32"), ("int64", "Int64"),
    ("uint8", "UInt8"), ("uint16", "UInt16"), ("uint32", "UInt32"), ("uint64", "UInt64"), ("bool", "boolean"))}


def frame_from_arrow(table) -> pd.DataFrame:
    """A DuckDB result fetched as Arrow, as the same frame DuckDB's `.df()` builds: integers and booleans
    with nulls become nullable (Int64, boolean) and without nulls numpy; text is pandas' string type, or
    object holding None where the column has no value at all; dates become datetime64[us]. The table is
    consumed: its buffers are released as the frame takes each column over."""
    import pyarrow as pa

    nulls = {name: table.column(name).null_count for name in table.column_names}
    kinds = {field.name: field.type for field in table.schema}
    rows = table.num_rows

    def nullable(pa_type):
        dtype = _NULLABLE_PANDAS.get(str(pa_type))
        return pd.api.types.pandas_dtype(dtype) if dtype else None

    frame = table.to_pandas(types_mapper=nullable, date_as_object=False, split_blocks=True, self_destruct=True)
    del table
    for name, kind in kinds.items():
        if str(kind) in _NULLABLE_PANDAS and not nulls[name]:
            frame[name] = frame[name].to_numpy(dtype=frame[name].dtype.numpy_dtype)
        elif pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
            if nulls[name] == rows:
                frame[name] = pd.Series(np.full(rows, None, dtype=object), index=frame.index)
        elif pa.types.is_date(kind):
            frame[name] = frame[name].astype("datetime64[us]")
    return frame


def _with_categories(frame: pd.DataFrame, names: Iterable[str]) -> pd.DataFrame:
    """The frame with these text columns as categoricals, where they hold a value (each column's strings are
    freed as its categorical replaces it)."""
    for name in names:
        column = frame[name] if name in frame.columns else None
        if column is not None and pd.api.types.is_string_dtype(column.dtype) and column.notna().any() \
                and not isinstance(column.dtype, pd.CategoricalDtype):
            frame[name] = column.astype("category")
    return frame


def _arrow_friendly(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns holding text become pandas strings so DuckDB types them as VARCHAR."""
    out = frame.copy(deep=False)
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = out[column].astype("string")
    return out
