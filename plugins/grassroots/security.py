"""Roles, grants and row-level security: each reader sees exactly what its role needs.

Group roles (NOLOGIN; people and services get LOGIN roles that are members of them):

| role        | may                                                                              |
|-------------|----------------------------------------------------------------------------------|
| loader      | write staging, quarantine, meta (the ingest DAG)                                 |
| transformer | read staging and meta; build stg, int, warehouse, marts (dbt)                    |
| scorer      | read warehouse and marts; write scoring                                          |
| bi_reader   | read marts, nothing else (BI tools)                                              |
| auditor     | read audit and the load ledger (counts, rules, file names); no raw rows          |
| area_user   | read marts rows of its own areas only (row-level security), the areas given by   |
|             | meta.area_access (role → community / street / district)                         |
| grid_worker | the watchlist of its own communities (grassroots.scoring.access)                 |

PUBLIC gets nothing on any project schema. Row-level security is enabled and forced on
every marts table that carries an area code: members of bi_reader (and the
building roles) see all rows, members of area_user only rows of the areas
listed for them. Everything here is idempotent; `apply` runs after each build.
"""

from __future__ import annotations

import contextlib
import logging

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

LOADER = "loader"
TRANSFORMER = "transformer"
SCORER = "scorer"
BI_READER = "bi_reader"
AUDITOR = "auditor"  # also created at bootstrap (bootstrap.ensure_auditor_role) for the audit schema
AREA_USER = "area_user"
ROLES = (LOADER, TRANSFORMER, SCORER, BI_READER, AUDITOR, AREA_USER)
PROJECT_SCHEMAS = (
    "staging", "quarantine", "meta", "stg", "int", "warehouse", "marts", "marts_candidate", "scoring", "audit",
)  # fmt: skip
READ = {
    LOADER: ("meta",),
    TRANSFORMER: ("staging", "meta", "stg", "int", "warehouse", "marts", "marts_candidate", "audit"),
    SCORER: ("warehouse", "marts", "scoring"),
    BI_READER: ("marts",),
    AUDITOR: ("audit",),
    AREA_USER: ("marts",),
}
WRITE = {
    LOADER: ("staging", "quarantine", "meta"),
    TRANSFORMER: ("stg", "int", "warehouse", "marts", "marts_candidate", "audit"),
    SCORER: ("scoring",),
}
# Ledger tables an auditor reads beside `audit`: counts, rules and file names, no raw rows.
AUDITOR_TABLES = (("meta", "load_batch"), ("quarantine", "files"))
AREA_COLUMNS = ("community_code", "street_code", "district_code", "area_code")
AREA_ACCESS_DDL = """
    create table if not exists meta.area_access (
        role_name       text not null,
        area_level      text not null check (area_level in ('community', 'street', 'district')),
        area_code       text not null,
        primary key (role_name, area_level, area_code)
    )
"""


def _ident(*names: str) -> sql.Identifier:
    return sql.Identifier(*names)


def create_role(conn: psycopg.Connection, role: str, login: bool = False) -> None:
    """Create a role unless it exists. Roles are server-wide, so another database's run may create
    it at the same moment: that error is absorbed in a savepoint (works with or without autocommit)."""
    if conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone():
        return
    with contextlib.suppress(psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
        with conn.transaction():
            conn.execute(sql.SQL("create role {} " + ("login" if login else "nologin")).format(_ident(role)))


def ensure_roles(conn: psycopg.Connection) -> None:
    """Create the group roles if missing."""
    for role in ROLES:
        create_role(conn, role)


def _existing_schemas(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "select nspname from pg_namespace where nspname = any(%s) order by 1", (list(PROJECT_SCHEMAS),)
    ).fetchall()
    return [r[0] for r in rows]


def _grant_schemas(conn: psycopg.Connection, schemas: list[str]) -> None:
    for schema in schemas:
        conn.execute(sql.SQL("revoke all on schema {} from public").format(_ident(schema)))
        conn.execute(sql.SQL("revoke all on all tables in schema {} from public").format(_ident(schema)))
    for role, readable in READ.items():
        for schema in set(readable) & set(schemas):
            conn.execute(sql.SQL("grant usage on schema {} to {}").format(_ident(schema), _ident(role)))
            conn.execute(sql.SQL("grant select on all tables in schema {} to {}").format(_ident(schema), _ident(role)))
            conn.execute(
                sql.SQL("alter default privileges in schema {} grant select on tables to {}").format(
                    _ident(schema), _ident(role)
                )
            )
    for role, writable in WRITE.items():
        for schema in set(writable) & set(schemas):
            conn.execute(sql.SQL("grant usage, create on schema {} to {}").format(_ident(schema), _ident(role)))
            conn.execute(
                sql.SQL("grant select, insert, update, delete on all tables in schema {} to {}").format(
                    _ident(schema), _ident(role)
                )
            )
            conn.execute(
                sql.SQL("grant usage on all sequences in schema {} to {}").format(_ident(schema), _ident(role))
            )
    for schema, table in AUDITOR_TABLES:
        if schema in schemas and _table_exists(conn, schema, table):
            conn.execute(sql.SQL("grant usage on schema {} to {}").format(_ident(schema), _ident(AUDITOR)))
            conn.execute(sql.SQL("grant select on {} to {}").format(_ident(schema, table), _ident(AUDITOR)))


def _table_exists(conn: psycopg.Connection, schema: str, table: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (f"{schema}.{table}",)).fetchone()[0]


def _area_tables(conn: psycopg.Connection, schema: str) -> dict[str, list[str]]:
    rows = conn.execute(
        "select c.table_name, array_agg(c.column_name::text order by c.column_name) from information_schema.columns c "
        "join information_schema.tables t using (table_schema, table_name) "
        "where c.table_schema = %s and t.table_type = 'BASE TABLE' and c.column_name = any(%s) group by 1",
        (schema, list(AREA_COLUMNS)),
    ).fetchall()
    return {name: columns for name, columns in rows}


_GRANTED = (
    "select a.area_level, a.area_code from meta.area_access a join pg_roles r on r.rolname = a.role_name "
    "where pg_has_role(current_user, r.oid, 'member')"
)


def _area_predicate(columns: list[str]) -> sql.Composable:
    """Rows of an area the current role is granted in meta.area_access.

    KPI tables carry (area_level, area_code); other tables a community, street or district code.
    """
    if "area_code" in columns:
        return sql.SQL("(area_level, area_code) in (" + _GRANTED + ")")
    parts = [
        sql.SQL("({}, {}) in (" + _GRANTED + ")").format(sql.Literal(column.removesuffix("_code")), _ident(column))
        for column in columns
    ]
    return sql.SQL(" or ").join(parts)


def secure_table(conn: psycopg.Connection, schema: str, table: str, area_columns: list[str]) -> None:
    """Enable and force RLS on one table: full readers see all rows, area users their areas' rows."""
    target = _ident(schema, table)
    conn.execute(sql.SQL("alter table {} enable row level security").format(target))
    conn.execute(sql.SQL("alter table {} force row level security").format(target))
    conn.execute(sql.SQL("drop policy if exists full_access on {}").format(target))
    conn.execute(sql.SQL("drop policy if exists own_area on {}").format(target))
    full = sql.SQL(", ").join(_ident(r) for r in (BI_READER, TRANSFORMER, SCORER, AUDITOR))
    conn.execute(sql.SQL("create policy full_access on {} for select to {} using (true)").format(target, full))
    conn.execute(
        sql.SQL("create policy own_area on {} for select to {} using ({})").format(
            target, _ident(AREA_USER), _area_predicate(area_columns)
        )
    )
    # Writers of the table keep writing: the building roles and whoever runs the pipeline (the
    # owner, subject to RLS too because it is forced, unless a superuser).
    conn.execute(sql.SQL("drop policy if exists writers on {}").format(target))
    writers = sql.SQL(", ").join([*(_ident(r) for r in (TRANSFORMER, SCORER)), sql.SQL("current_user")])
    conn.execute(
        sql.SQL("create policy writers on {} for all to {} using (true) with check (true)").format(target, writers)
    )


def apply(dsn: str, rls_schemas: tuple[str, ...] = ("marts",)) -> dict[str, int]:
    """Roles, grants on every existing project schema, RLS on area tables; returns counts."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("select pg_advisory_lock(36900, 1)")
        try:
            ensure_roles(conn)
            conn.execute("create schema if not exists meta")
            conn.execute(AREA_ACCESS_DDL)
            schemas = _existing_schemas(conn)
            _grant_schemas(conn, schemas)
            # Policies run with the reader's privileges: area users read their own grants.
            conn.execute(sql.SQL("grant usage on schema meta to {}").format(_ident(AREA_USER)))
            conn.execute(sql.SQL("grant select on meta.area_access to {}").format(_ident(AREA_USER)))
            secured = 0
            for schema in set(rls_schemas) & set(schemas):
                for table, columns in _area_tables(conn, schema).items():
                    secure_table(conn, schema, table, columns)
                    secured += 1
        finally:
            conn.execute("select pg_advisory_unlock(36900, 1)")
    log.info("security applied: %d schemas granted, %d tables under row-level security", len(schemas), secured)
    return {"schemas": len(schemas), "secured_tables": secured}


def grant_area(dsn: str, role: str, level: str, code: str) -> None:
    """Create (if needed) a NOLOGIN area role, make it an area user, and grant it one area."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        ensure_roles(conn)
        create_role(conn, role)
        conn.execute(sql.SQL("grant {} to {}").format(_ident(AREA_USER), _ident(role)))
        conn.execute(AREA_ACCESS_DDL)
        conn.execute("insert into meta.area_access values (%s, %s, %s) on conflict do nothing", (role, level, code))
