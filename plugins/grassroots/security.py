"""Roles, grants and row-level security: each reader sees exactly what its role needs.

Group roles (NOLOGIN; people and services get LOGIN roles that are members of them):

| role        | may                                                                              |
|-------------|----------------------------------------------------------------------------------|
| loader      | own staging (a partition per load day); write quarantine and the load ledger    |
| transformer | read staging, quarantine, meta; own and build stg, int, warehouse,               |
|             | marts_candidate, marts (dbt, publication); append to audit (quality checks)      |
| scorer      | read warehouse and marts; write scoring (the scoring DAG)                        |
| bi_reader   | read marts, nothing else (BI tools)                                              |
| auditor     | read audit and the load ledger (counts, rules, file names); no raw rows          |
| area_user   | read marts rows of its own areas only (row-level security), the areas given by   |
|             | meta.area_access (role → community / street / district)                         |
| grid_worker | the watchlist of its own communities (grassroots.scoring.access)                 |

Every Airflow task works as one of these roles (`grassroots.db.role_dsn`; the table in
SECURITY.md). Only the setup tasks (`bootstrap`, `secure`) use the warehouse login itself,
which creates schemas, roles, grants and policies. PUBLIC gets nothing on any project
schema. `audit` is append-only for the pipeline: its writers may insert, never update or
delete. Row-level security is enabled and forced on every marts table that carries an
area code: members of bi_reader (and the building roles) see all rows, members of
area_user only rows of the areas listed for them. Everything here is idempotent.
"""

from __future__ import annotations

import contextlib
import logging

import psycopg
from psycopg import sql

from grassroots import locks

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
    TRANSFORMER: ("staging", "quarantine", "meta", "stg", "int", "warehouse", "marts", "marts_candidate", "audit"),
    SCORER: ("warehouse", "marts", "scoring"),
    BI_READER: ("marts",),
    AUDITOR: ("audit",),
    AREA_USER: ("marts",),
}
# A schema (every table in it) or one schema.table.
WRITE = {
    LOADER: ("staging", "quarantine", "meta.load_batch"),
    TRANSFORMER: ("stg", "int", "warehouse", "marts", "marts_candidate", "audit"),
    SCORER: ("scoring",),
}
APPEND_ONLY = ("audit",)  # its writers insert; nothing in the pipeline updates or deletes history
# Schemas dbt builds: owned by the transformer, so it can replace what it built.
BUILD_SCHEMAS = ("stg", "int", "warehouse", "marts_candidate", "marts")
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
    """Create the group roles if missing; a login that is not a superuser becomes a member of each,
    so its tasks can start their sessions as that role (grassroots.db.role_dsn)."""
    superuser = conn.execute("select rolsuper from pg_roles where rolname = current_user").fetchone()[0]
    for role in ROLES:
        create_role(conn, role)
        member = conn.execute("select pg_has_role(current_user, %s, 'member')", (role,)).fetchone()[0]
        if not superuser and not member:
            conn.execute(sql.SQL("grant {} to current_user").format(_ident(role)))


def _existing_schemas(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "select nspname from pg_namespace where nspname = any(%s) order by 1", (list(PROJECT_SCHEMAS),)
    ).fetchall()
    return [r[0] for r in rows]


RELATION_KINDS = {"r": "table", "p": "table", "v": "view", "m": "materialized view"}


def give_relations(conn: psycopg.Connection, schema: str, owner: str, keep: tuple[str, ...] = ()) -> int:
    """Make `owner` own the schema's tables and views (but those named in `keep`); return how many moved."""
    rows = conn.execute(
        "select c.relname, c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = %s and c.relkind = any(%s) and pg_get_userbyid(c.relowner) <> %s "
        "and not (c.relname = any(%s)) order by 1",
        (schema, list(RELATION_KINDS), owner, list(keep)),
    ).fetchall()
    for name, kind in rows:
        conn.execute(
            sql.SQL("alter {} {} owner to {}").format(
                sql.SQL(RELATION_KINDS[kind]), _ident(schema, name), _ident(owner)
            )
        )
    return len(rows)


def ensure_build_schemas(conn: psycopg.Connection, audit_relations: tuple[str, ...]) -> None:
    """The schemas dbt builds exist and belong to the transformer, and so does everything in them.

    Objects made earlier by another role (a deployment from before the roles) are handed over,
    and so are dbt's stored test failures in `audit`; the audit history (`audit_relations`)
    stays with the login, so the transformer can append to it but not rewrite it.
    """
    for schema in BUILD_SCHEMAS:
        owner = conn.execute("select pg_get_userbyid(nspowner) from pg_namespace where nspname = %s", (schema,))
        row = owner.fetchone()
        if row is None:
            conn.execute(sql.SQL("create schema {} authorization {}").format(_ident(schema), _ident(TRANSFORMER)))
        elif row[0] != TRANSFORMER:
            conn.execute(sql.SQL("alter schema {} owner to {}").format(_ident(schema), _ident(TRANSFORMER)))
        give_relations(conn, schema, TRANSFORMER)
    give_relations(conn, "audit", TRANSFORMER, keep=audit_relations)


def _target(entry: str) -> tuple[str, sql.Composable]:
    """(schema, what to grant on) for a WRITE entry: a whole schema or one table."""
    schema, _, table = entry.partition(".")
    what = (
        sql.SQL("{}").format(_ident(schema, table))
        if table
        else sql.SQL("all tables in schema {}").format(_ident(schema))
    )
    return schema, what


def _default_privileges(conn: psycopg.Connection, login: str, schema: str, privileges: str, grantee: str) -> None:
    """Tables created later in `schema` by any of its creators (the login running this, and the
    roles that write the schema) carry the same grant."""
    writers = [role for role, entries in WRITE.items() if schema in entries]
    for creator in (login, *writers):
        if creator != grantee:
            conn.execute(
                sql.SQL(
                    "alter default privileges for role {} in schema {} grant " + privileges + " on tables to {}"
                ).format(_ident(creator), _ident(schema), _ident(grantee))
            )


def _grant_schemas(conn: psycopg.Connection, schemas: list[str]) -> None:
    login = conn.execute("select current_user").fetchone()[0]
    for schema in schemas:
        conn.execute(sql.SQL("revoke all on schema {} from public").format(_ident(schema)))
        conn.execute(sql.SQL("revoke all on all tables in schema {} from public").format(_ident(schema)))
    for role, readable in READ.items():
        for schema in set(readable) & set(schemas):
            conn.execute(sql.SQL("grant usage on schema {} to {}").format(_ident(schema), _ident(role)))
            conn.execute(sql.SQL("grant select on all tables in schema {} to {}").format(_ident(schema), _ident(role)))
            _default_privileges(conn, login, schema, "select", role)
    for role, entries in WRITE.items():
        for entry in entries:
            schema, what = _target(entry)
            if schema not in schemas or ("." in entry and not _table_exists(conn, *entry.split("."))):
                continue
            whole = "." not in entry
            dml = "select, insert" if schema in APPEND_ONLY else "select, insert, update, delete"
            conn.execute(
                sql.SQL("grant usage" + (", create" if whole else "") + " on schema {} to {}").format(
                    _ident(schema), _ident(role)
                )
            )
            conn.execute(sql.SQL("grant " + dml + " on {} to {}").format(what, _ident(role)))
            conn.execute(
                sql.SQL("grant usage on all sequences in schema {} to {}").format(_ident(schema), _ident(role))
            )
            if whole:
                _default_privileges(conn, login, schema, dml, role)
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


def grant_roles(conn: psycopg.Connection) -> int:
    """Roles and grants on every existing project schema (no row-level security); returns the schema count.

    The caller holds the bootstrap lock (36900, 0): concurrent GRANTs on one object fail, and has
    created the roles (`ensure_roles`).
    """
    conn.execute("create schema if not exists meta")
    conn.execute(AREA_ACCESS_DDL)
    schemas = _existing_schemas(conn)
    _grant_schemas(conn, schemas)
    # Policies run with the reader's privileges: area users read their own grants.
    conn.execute(sql.SQL("grant usage on schema meta to {}").format(_ident(AREA_USER)))
    conn.execute(sql.SQL("grant select on meta.area_access to {}").format(_ident(AREA_USER)))
    return len(schemas)


def apply(dsn: str, rls_schemas: tuple[str, ...] = ("marts",)) -> dict[str, int]:
    """Roles, grants on every existing project schema, RLS on area tables; returns counts."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("select pg_advisory_lock(%s, %s)", locks.BOOTSTRAP)  # one grantor at a time
        try:
            ensure_roles(conn)
            schemas = grant_roles(conn)
            secured = 0
            for schema in set(rls_schemas) & set(_existing_schemas(conn)):
                for table, columns in _area_tables(conn, schema).items():
                    secure_table(conn, schema, table, columns)
                    secured += 1
        finally:
            conn.execute("select pg_advisory_unlock(%s, %s)", locks.BOOTSTRAP)
    log.info("security applied: %d schemas granted, %d tables under row-level security", schemas, secured)
    return {"schemas": schemas, "secured_tables": secured}


def grant_area(dsn: str, role: str, level: str, code: str) -> None:
    """Create (if needed) a NOLOGIN area role, make it an area user, and grant it one area."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        ensure_roles(conn)
        create_role(conn, role)
        conn.execute(sql.SQL("grant {} to {}").format(_ident(AREA_USER), _ident(role)))
        conn.execute(AREA_ACCESS_DDL)
        conn.execute("insert into meta.area_access values (%s, %s, %s) on conflict do nothing", (role, level, code))
