"""Warehouse roles on PostgreSQL: a writer that owns the schemas, and two read roles.

- writer (fund_writer): the pipeline and dbt connect as it; it owns every schema and table.
- auditor (fund_auditor): reads the audit schema (findings, reconciliation, measures, and any other
  record kept there, e.g. dispositions), the marts, and masked views of the clean tables in schema
  `masked`, where resident IDs and accounts read 6204**********1234 exactly as in the reports. It never
  sees a raw identifier: identifier columns (and the findings' quoted cell values and messages) are left
  out of its column grants and offered only through the masked views. It writes nothing.
- viewer (fund_viewer): reads the marts (county-year measures among them), identifier columns excepted.

Grants are re-applied (`keep_grants`) after every publish that creates or reshapes a table and after
every dbt build, in one transaction: a table dbt rebuilt, or a new one, is closed to the read roles
until then, never open wider than intended. Default privileges are deliberately not used: they grant
whole tables, identifier columns included. DuckDB is a single-user file and has no roles.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from fund_pipeline.report.masking import _PATTERNS
from fund_pipeline.sources.schemas import ENTITIES
from fund_pipeline.warehouse import SCHEMAS, Warehouse

DBT_SCHEMAS = ("staging", "intermediate", "marts")
MASKED_SCHEMA = "masked"
ACCESS_SCHEMA = "access"  # where `db roles` records the role names, for the pipeline's re-grant step
OWNED_SCHEMAS = (*SCHEMAS, *DBT_SCHEMAS, MASKED_SCHEMA, ACCESS_SCHEMA)
AUDITOR_SCHEMAS = ("audit", "marts")
VIEWER_SCHEMAS = ("marts",)

# Identifier fields: resident IDs (身份证号) and bank accounts (账号), from the canonical schemas.
IDENTIFIER_FIELDS = frozenset(f.name for fields in ENTITIES.values() for f in fields
                              if "身份证号" in f.label or f.label == "账号")
# A finding quotes the failing cell and may name it in its message: both may be an identifier.
QUOTING_COLUMNS = frozenset({"value", "message"})
_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


@dataclass(frozen=True)
class Roles:
    writer: str = "fund_writer"
    auditor: str = "fund_auditor"
    viewer: str = "fund_viewer"

    def __post_init__(self):
        for name in (self.writer, self.auditor, self.viewer):
            if not _ROLE_NAME.fullmatch(name):
                raise ValueError(f"角色名「{name}」不合规:只可用小写字母、数字和下划线,且不以数字开头。")

    @property
    def readers(self) -> tuple[str, str]:
        return (self.auditor, self.viewer)


def is_identifier(column: str) -> bool:
    """household_id, account_no, … and names built on them (main_account_no); not household_id_status."""
    return any(column == f or column.endswith(f"_{f}") for f in IDENTIFIER_FIELDS)


def is_sensitive(column: str, sql_type: str = "text") -> bool:
    """An identifier column, or a text column quoting a cell (a numeric `value`, e.g. a measure, is not)."""
    return is_identifier(column) or (column in QUOTING_COLUMNS and sql_type in ("text", "character varying"))


def mask_function_sql() -> str:
    """The reports' masking (fund_pipeline/report/masking.py) as a SQL function: the same patterns, in the
    same order, applied with PostgreSQL's regexp_replace (its regular expressions take the same syntax)."""
    expression = "value"
    for pattern, replacement in _PATTERNS:
        expression = f"regexp_replace({expression}, {_literal(pattern)}, {_literal(replacement)}, 'g')"
    return (f"create or replace function {MASKED_SCHEMA}.mask_identifiers(value text) returns text "
            f"language sql immutable parallel safe as $fn$ select {expression} $fn$")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# -- `fund-pipeline db roles`: run once by an administrator (a PostgreSQL superuser) -----------------------

def create_roles(warehouse: Warehouse, roles: Roles, writer_password: str = "") -> list[str]:
    """Create the roles and hand the schemas to the writer; idempotent. Returns what was done, in Chinese."""
    done = []
    with warehouse.transaction() as con:
        existing = set(warehouse._query(con, "select rolname from pg_roles")["rolname"])
        for name, login in ((roles.writer, True), (roles.auditor, False), (roles.viewer, False)):
            verb = "alter" if name in existing else "create"
            warehouse._execute(con, f"{verb} role {_ident(name)} {'login' if login else 'nologin'} nosuperuser")
            done.append(f"角色 {name}:{'已存在,已核对' if verb == 'alter' else '已创建'}")
        if writer_password:
            _set_password(con, roles.writer, writer_password)
            done.append(f"角色 {roles.writer}:已设置密码")
        # The pipeline makes any schema it misses (create schema if not exists needs the right even when it exists).
        warehouse._execute(con, f"grant connect, create on database {_ident(_database(warehouse, con))} to {_ident(roles.writer)}")
        for schema in OWNED_SCHEMAS:
            warehouse._execute(con, f"create schema if not exists {schema} authorization {_ident(roles.writer)}")
            warehouse._execute(con, f"alter schema {schema} owner to {_ident(roles.writer)}")
            warehouse._execute(con, f"revoke all on schema {schema} from public")
        _hand_over_objects(warehouse, con, roles.writer)
        warehouse._execute(con, f"create table if not exists {ACCESS_SCHEMA}.roles (kind text primary key, role_name text not null)")
        warehouse._execute(con, f"alter table {ACCESS_SCHEMA}.roles owner to {_ident(roles.writer)}")
        warehouse._execute(con, f"delete from {ACCESS_SCHEMA}.roles")
        warehouse._execute(con, f"insert into {ACCESS_SCHEMA}.roles values ('writer', {_literal(roles.writer)}), "
                                f"('auditor', {_literal(roles.auditor)}), ('viewer', {_literal(roles.viewer)})")
        done.append(f"模式 {', '.join(OWNED_SCHEMAS)}:归 {roles.writer} 所有")
    apply_grants(warehouse, roles)
    done.append(f"授权:{roles.auditor} 只读审计、汇总表和脱敏视图;{roles.viewer} 只读汇总表")
    return done


def _database(warehouse: Warehouse, con) -> str:
    return str(warehouse._query(con, "select current_database() as name").iloc[0, 0])


def _set_password(con, role: str, password: str) -> None:
    """Send a SCRAM hash, never the password itself, so no server log can show it."""
    from psycopg2.extensions import encrypt_password

    hashed = encrypt_password(password, role, getattr(con, "driver_connection", con), "scram-sha-256")
    with con.cursor() as cur:
        cur.execute(f"alter role {_ident(role)} password %s", (hashed,))


def _hand_over_objects(warehouse: Warehouse, con, writer: str) -> None:
    """Tables, views and functions made before the roles existed (e.g. by an earlier run as postgres)."""
    kinds = {"r": "table", "p": "table", "v": "view", "m": "materialized view", "S": "sequence"}
    objects = warehouse._query(con, (
        "select n.nspname, c.relname, c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = any(%(schemas)s) and c.relkind = any(%(kinds)s) and pg_get_userbyid(c.relowner) <> %(writer)s"),
        {"schemas": list(OWNED_SCHEMAS), "kinds": list(kinds), "writer": writer})
    for schema, name, kind in objects.itertuples(index=False):
        warehouse._execute(con, f"alter {kinds[kind]} {schema}.{_ident(name)} owner to {_ident(writer)}")
    functions = warehouse._query(con, (
        "select p.oid::regprocedure::text as signature from pg_proc p join pg_namespace n on n.oid = p.pronamespace "
        "where n.nspname = any(%(schemas)s) and pg_get_userbyid(p.proowner) <> %(writer)s"),
        {"schemas": list(OWNED_SCHEMAS), "writer": writer})
    for signature in functions["signature"]:
        warehouse._execute(con, f"alter function {signature} owner to {_ident(writer)}")


# -- the pipeline's re-grant step -------------------------------------------------------------------------

def configured_roles(warehouse: Warehouse) -> Roles | None:
    """The roles `db roles` recorded in this warehouse, or None (DuckDB, or roles never set up)."""
    if warehouse.dialect != "postgres":
        return None
    with warehouse.connect() as con:
        if warehouse._query(con, f"select to_regclass('{ACCESS_SCHEMA}.roles') is not null as present").iloc[0, 0]:
            kinds = dict(warehouse._query(con, f"select kind, role_name from {ACCESS_SCHEMA}.roles").itertuples(index=False))
            return Roles(kinds["writer"], kinds["auditor"], kinds["viewer"])
    return None


def keep_grants(warehouse: Warehouse) -> None:
    """Make the read roles' grants true again (after a publish or a dbt build); a no-op without roles."""
    roles = configured_roles(warehouse)
    if roles is not None:
        apply_grants(warehouse, roles)


def apply_grants(warehouse: Warehouse, roles: Roles, attempts: int = 5) -> None:
    """Rebuild the masked views and every read grant in one transaction, one re-grant at a time.
    A concurrent run may swap a table at the same moment (PostgreSQL then reports the catalogue row as
    concurrently updated): the step is simply repeated."""
    import psycopg2

    with warehouse.lock("access"):
        for attempt in range(attempts):
            try:
                with warehouse.transaction() as con:
                    _apply(warehouse, con, roles)
                return
            except (psycopg2.errors.InternalError_, psycopg2.errors.UndefinedTable, psycopg2.errors.UndefinedColumn,
                    psycopg2.errors.DeadlockDetected, psycopg2.errors.UndefinedObject):
                if attempt == attempts - 1:
                    raise
                time.sleep(0.5 * (attempt + 1))


def _relations(warehouse: Warehouse, con, schemas: tuple[str, ...]) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(schema, relation) -> [(column, type)] for the tables and views in these schemas."""
    frame = warehouse._query(con, (
        "select n.nspname as schema, c.relname as relation, a.attname as column, format_type(a.atttypid, a.atttypmod) as type "
        "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped "
        "where n.nspname = any(%(schemas)s) and c.relkind in ('r', 'p', 'v', 'm') "
        "and c.relname not like '%%\\_\\_dbt\\_%%' order by 1, 2, a.attnum"), {"schemas": list(schemas)})
    relations: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for schema, relation, column, kind in frame.itertuples(index=False):
        relations.setdefault((schema, relation), []).append((column, kind))
    return relations


def _apply(warehouse: Warehouse, con, roles: Roles) -> None:
    run = lambda sql: warehouse._execute(con, sql)  # noqa: E731
    # Lock the tables the views read first: a run swapping one of them (which drops its masked view) then
    # finishes before this step touches the views, instead of each waiting for the other.
    for schema, relation in sorted(_relations(warehouse, con, ("clean", *AUDITOR_SCHEMAS))):
        run(f"lock table {schema}.{_ident(relation)} in access share mode")
    readers = ", ".join(_ident(r) for r in roles.readers)
    for schema in OWNED_SCHEMAS:
        if _schema_exists(warehouse, con, schema):
            run(f"revoke all on all tables in schema {schema} from {readers}")
            run(f"revoke all on schema {schema} from {readers}")
    run(f"create schema if not exists {MASKED_SCHEMA}")
    for (_, view) in _relations(warehouse, con, (MASKED_SCHEMA,)):
        run(f"drop view if exists {MASKED_SCHEMA}.{_ident(view)} cascade")
    run(mask_function_sql())

    relations = _relations(warehouse, con, ("clean", *AUDITOR_SCHEMAS))
    for (schema, relation), columns in relations.items():
        if schema == "clean" or any(is_sensitive(c, t) for c, t in columns):
            run(_masked_view_sql(schema, relation, columns, taken=relations))
        if schema in AUDITOR_SCHEMAS:
            _grant_safe_columns(run, schema, relation, columns, roles.auditor)
        if schema in VIEWER_SCHEMAS:
            _grant_safe_columns(run, schema, relation, columns, roles.viewer)
    for schema in (*AUDITOR_SCHEMAS, MASKED_SCHEMA):
        if _schema_exists(warehouse, con, schema):
            run(f"grant usage on schema {schema} to {_ident(roles.auditor)}")
    for schema in VIEWER_SCHEMAS:
        if _schema_exists(warehouse, con, schema):
            run(f"grant usage on schema {schema} to {_ident(roles.viewer)}")
    run(f"grant select on all tables in schema {MASKED_SCHEMA} to {_ident(roles.auditor)}")
    run(f"grant execute on function {MASKED_SCHEMA}.mask_identifiers(text) to {_ident(roles.auditor)}")


def _schema_exists(warehouse: Warehouse, con, schema: str) -> bool:
    return bool(warehouse._query(con, f"select count(*) as n from pg_namespace where nspname = '{schema}'").iloc[0, 0])


def _masked_view_name(schema: str, relation: str, taken: dict) -> str:
    """Clean tables keep their name (masked.household_payments); a mart or audit table whose name a clean
    table already has would be prefixed with its schema."""
    if schema == "clean" or ("clean", relation) not in taken:
        return relation
    return f"{schema}_{relation}"


def _masked_view_sql(schema: str, relation: str, columns: list[tuple[str, str]], taken: dict) -> str:
    selected = ", ".join(
        f"{MASKED_SCHEMA}.mask_identifiers({_ident(c)}::text) as {_ident(c)}" if is_sensitive(c, t) else _ident(c)
        for c, t in columns)
    name = _masked_view_name(schema, relation, taken)
    return f"create view {MASKED_SCHEMA}.{_ident(name)} as select {selected} from {schema}.{_ident(relation)}"


def _grant_safe_columns(run, schema: str, relation: str, columns: list[tuple[str, str]], role: str) -> None:
    """Whole-table SELECT when nothing is sensitive, otherwise SELECT on the other columns only."""
    safe = [c for c, t in columns if not is_sensitive(c, t)]
    target = f"{schema}.{_ident(relation)}"
    if len(safe) == len(columns):
        run(f"grant select on {target} to {_ident(role)}")
    elif safe:
        run(f"grant select ({', '.join(_ident(c) for c in safe)}) on {target} to {_ident(role)}")
