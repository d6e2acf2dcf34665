"""Roles, grants and row-level security: each reader sees exactly what its role needs.

Group roles (NOLOGIN; people and services get LOGIN roles that are members of them):

| role        | may                                                                              |
|-------------|----------------------------------------------------------------------------------|
| load_owner  | NOLOGIN, no member: owns staging and the narrow functions (staging.replace_day, |
|             | staging.day_partition, staging.finish_batch, staging.drop_duplicate_rows) that  |
|             | change the ledger's status and replace a day's partition (grassroots.loading.owner_functions)  |
| loader      | insert into staging partitions, quarantine.rows / files and meta.load_batch;    |
|             | never update, delete or create: status changes call load_owner's functions      |
| transformer | read staging, quarantine (not raw_line), meta, scoring (risk tiers for KPIs); own|
|             | and build stg, int, warehouse, marts_candidate, marts (dbt, publication) and     |
|             | dbt_test_failures (dbt's failing rows of tests, readable by no other role);      |
|             | append to audit (quality checks)                                                 |
| scorer      | read warehouse and marts; write scoring (the scoring DAG)                        |
| bi_reader   | read marts, nothing else (BI tools; `bi_login` is its login, see ensure_bi_login) |
| auditor     | read audit and the load ledger (counts, rules, file names); no raw rows          |
| area_user   | read marts rows of its own areas only (row-level security), the areas given by   |
|             | meta.area_access (role → community / street / district)                         |
| grid_worker | the watchlist of its own communities (grassroots.scoring.access)                 |

Every Airflow task works as one of these roles (`grassroots.warehouse.db.role_dsn`; the table in
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
import time

import psycopg
from psycopg import sql

from grassroots import settings
from grassroots.warehouse import locks, schemas

log = logging.getLogger(__name__)

LOAD_OWNER = "load_owner"
LOADER = "loader"
TRANSFORMER = "transformer"
SCORER = "scorer"
BI_READER = "bi_reader"
AUDITOR = "auditor"  # also created at bootstrap (bootstrap.ensure_auditor_role) for the audit schema
AREA_USER = "area_user"
BI_LOGIN = "bi_login"  # the LOGIN BI tools use, a member of bi_reader (GRASSROOTS_BI_PASSWORD)
ROLES = (LOAD_OWNER, LOADER, TRANSFORMER, SCORER, BI_READER, AUDITOR, AREA_USER)
PROJECT_SCHEMAS = schemas.names()
READ = {
    LOADER: ("meta",),
    # scoring: the day's risk tiers, for the KPIs dbt builds after scoring (dbt_runner.AFTER_SCORING).
    TRANSFORMER: (
        "staging",
        "quarantine",
        "meta",
        "stg",
        "int",
        "warehouse",
        "marts",
        "marts_candidate",
        "scoring",
        "audit",
    ),
    SCORER: ("warehouse", "marts", "scoring"),
    BI_READER: ("marts",),
    AUDITOR: ("audit",),
    AREA_USER: ("marts",),
}
# A schema (every table in it) or one schema.table.
WRITE = {
    TRANSFORMER: ("stg", "int", "warehouse", "marts", "marts_candidate"),
    SCORER: ("scoring",),
}
APPEND_ONLY = ("audit",)  # its writers insert; nothing in the pipeline updates or deletes history
# Insert-only, no CREATE: the loader's evidence (a schema's tables, or one schema.table). Status
# changes and a day's replacement go through load_owner's functions (grassroots.loading.owner_functions).
APPEND = {
    LOADER: ("staging", "quarantine.rows", "quarantine.files", "meta.load_batch"),
    # The quality checks' history; dbt's failing rows of tests go to dbt_test_failures, so the
    # transformer creates nothing in `audit` and cannot change what it appended.
    TRANSFORMER: ("audit",),
}
# Schemas owned by a role of their own (it creates what is in them), not by the warehouse login.
SCHEMA_OWNERS = {"staging": LOAD_OWNER}
# Columns of a readable table a reader must not see: the raw line of a quarantined record holds
# names, ID numbers and health data (SECURITY.md: only the loader and DBAs read it).
HIDDEN_COLUMNS = {TRANSFORMER: (("quarantine", "rows", ("raw_line",)),)}
# Schemas dbt builds and publication fills: owned by the transformer, so it can replace what it
# built. dbt_test_failures holds dbt's failing rows of tests (dbt_project.yml data_tests), which no
# reader is granted.
FAILURES_SCHEMA = schemas.only(schemas.TEST_FAILURES)
BUILD_SCHEMAS = schemas.names(*schemas.TRANSFORMER_OWNED)
# Ledger tables an auditor reads beside `audit`: counts, rules and file names, no raw rows.
AUDITOR_TABLES = (("meta", "load_batch"), ("quarantine", "files"))
AREA_COLUMNS = ("community_code", "street_code", "district_code", "area_code")
# Marts tables of area names (reference data, no personal data): area users read every row.
AREA_NAME_TABLES = ("dim_areas",)
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
    so its tasks can start their sessions as that role (grassroots.warehouse.db.role_dsn)."""
    superuser = conn.execute("select rolsuper from pg_roles where rolname = current_user").fetchone()[0]
    # PostgreSQL 16+ gives a CREATEROLE login only ADMIN on the roles it creates (createrole_self_grant
    # is empty by default): it must grant itself SET (to hand schemas to load_owner, to start task
    # sessions as a role) and INHERIT explicitly. 15 has neither option; a plain grant gives both.
    modern = conn.info.server_version >= 160000
    check = "pg_has_role(current_user, %s, 'SET') and pg_has_role(current_user, %s, 'USAGE')"
    for role in ROLES:
        create_role(conn, role)
        if superuser:
            continue
        has = conn.execute(
            f"select {check}" if modern else "select pg_has_role(current_user, %s, 'member')",
            (role, role) if modern else (role,),
        ).fetchone()[0]
        if not has:
            options = sql.SQL(" with inherit true, set true" if modern else "")
            conn.execute(sql.SQL("grant {} to current_user{}").format(_ident(role), options))


def ensure_bi_login(conn: psycopg.Connection) -> bool:
    """The BI tools' login `bi_login`, a member of bi_reader, with GRASSROOTS_BI_PASSWORD as its
    password; False (and nothing changed) when the variable is unset.

    The password is set as a SCRAM verifier computed here (libpq's PQencryptPasswordConn), so
    neither SQL text nor the server's statement log ever holds it. Repeated runs set it again:
    changing the variable changes the password. The login reads `marts` and nothing else, in
    read-only transactions, with `marts` first on its search path.
    """
    password = settings.bi_password()
    if password is None:
        return False
    create_role(conn, BI_LOGIN, login=True)
    verifier = conn.pgconn.encrypt_password(password.encode(), BI_LOGIN.encode(), b"scram-sha-256").decode()
    login = _ident(BI_LOGIN)
    try:
        _alter_role(conn, sql.SQL("alter role {} with login inherit password {}").format(login, sql.Literal(verifier)))
    except psycopg.errors.InsufficientPrivilege:
        # Made by someone else (a DBA) whom this login may not overrule (PostgreSQL 16+): theirs to manage.
        log.warning("%s exists and this login may not alter it: its password is left as it is", BI_LOGIN)
        return False
    if not conn.execute("select pg_has_role(%s, %s, 'member')", (BI_LOGIN, BI_READER)).fetchone()[0]:
        _alter_role(conn, sql.SQL("grant {} to {}").format(_ident(BI_READER), login))
    for setting in ("default_transaction_read_only = on", "search_path = marts"):
        _alter_role(conn, sql.SQL("alter role {} set " + setting).format(login))
    log.info("BI login %s ready (member of %s; password from GRASSROOTS_BI_PASSWORD)", BI_LOGIN, BI_READER)
    return True


def _alter_role(conn: psycopg.Connection, statement: sql.Composable, attempts: int = 5) -> None:
    """Run a statement on a server-wide role. Another database's bootstrap (no advisory lock spans
    databases) may update the same catalog row at the same moment ("tuple concurrently updated"):
    try again in a fresh savepoint."""
    for attempt in range(attempts):
        try:
            with conn.transaction():
                conn.execute(statement)
            return
        except psycopg.errors.InternalError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.1 * (attempt + 1))


def ensure_schema(conn: psycopg.Connection, schema: str) -> None:
    """Create a project schema unless it exists; one with an owner role of its own (SCHEMA_OWNERS) belongs to it."""
    owner = SCHEMA_OWNERS.get(schema)
    row = conn.execute("select pg_get_userbyid(nspowner) from pg_namespace where nspname = %s", (schema,)).fetchone()
    if row is None:
        authorization = sql.SQL(" authorization {}").format(_ident(owner)) if owner else sql.SQL("")
        conn.execute(sql.SQL("create schema if not exists {}{}").format(_ident(schema), authorization))
    elif owner and row[0] != owner:
        conn.execute(sql.SQL("alter schema {} owner to {}").format(_ident(schema), _ident(owner)))


def grant_load_owner(conn: psycopg.Connection) -> None:
    """What load_owner's functions (loading.owner_functions) touch beyond its own staging: the ledger's status."""
    conn.execute(sql.SQL("grant usage on schema meta to {}").format(_ident(LOAD_OWNER)))
    conn.execute(sql.SQL("grant select, update on meta.load_batch to {}").format(_ident(LOAD_OWNER)))


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


def ensure_build_schemas(conn: psycopg.Connection) -> None:
    """The schemas dbt builds exist and belong to the transformer, and so does everything in them.

    Objects another role made there (dbt run as the warehouse login, which `dbt_runner.invoke`
    does when given no role's DSN, or a DBA) are handed over.
    dbt's stored test failures go to dbt_test_failures; the audit history stays with the login,
    so the transformer can append to it but not rewrite it.
    """
    for schema in BUILD_SCHEMAS:
        owner = conn.execute("select pg_get_userbyid(nspowner) from pg_namespace where nspname = %s", (schema,))
        row = owner.fetchone()
        if row is None:
            conn.execute(sql.SQL("create schema {} authorization {}").format(_ident(schema), _ident(TRANSFORMER)))
        elif row[0] != TRANSFORMER:
            conn.execute(sql.SQL("alter schema {} owner to {}").format(_ident(schema), _ident(TRANSFORMER)))
        give_relations(conn, schema, TRANSFORMER)


def _target(entry: str) -> tuple[str, sql.Composable]:
    """(schema, what to grant on) for a WRITE entry: a whole schema or one table."""
    schema, _, table = entry.partition(".")
    what = (
        sql.SQL("{}").format(_ident(schema, table))
        if table
        else sql.SQL("all tables in schema {}").format(_ident(schema))
    )
    return schema, what


def _creators(login: str, schema: str) -> list[str]:
    """Roles that create tables in `schema`: the login running this, the schema's owner role and its writers."""
    writers = [role for role, entries in WRITE.items() if schema in entries]
    owner = [SCHEMA_OWNERS[schema]] if schema in SCHEMA_OWNERS else []
    return list(dict.fromkeys([login, *owner, *writers]))


def _default_privileges(conn: psycopg.Connection, login: str, schema: str, privileges: str, grantee: str) -> None:
    """Tables created later in `schema` by any of its creators carry the same grant."""
    for creator in _creators(login, schema):
        if creator != grantee:
            conn.execute(
                sql.SQL(
                    "alter default privileges for role {} in schema {} grant " + privileges + " on tables to {}"
                ).format(_ident(creator), _ident(schema), _ident(grantee))
            )


def _grant_dml(conn: psycopg.Connection, login: str, role: str, entry: str, dml: str, create: bool) -> None:
    """`dml` on a WRITE or APPEND entry (a schema's tables, or one table) with usage (and create) on its schema."""
    schema, what = _target(entry)
    whole = "." not in entry
    schema_privileges = "usage, create" if whole and create else "usage"
    conn.execute(sql.SQL("grant " + schema_privileges + " on schema {} to {}").format(_ident(schema), _ident(role)))
    conn.execute(sql.SQL("grant " + dml + " on {} to {}").format(what, _ident(role)))
    conn.execute(sql.SQL("grant usage on all sequences in schema {} to {}").format(_ident(schema), _ident(role)))
    if whole:
        _default_privileges(conn, login, schema, dml, role)


def _hide_columns(conn: psycopg.Connection, role: str, hidden: list[tuple[str, str, tuple[str, ...]]]) -> None:
    """Replace `role`'s SELECT on each (schema, table, columns) by SELECT on the table's other columns."""
    for schema, table, columns in hidden:
        _select_but(conn, role, schema, table, columns)


def _select_but(conn: psycopg.Connection, role: str, schema: str, table: str, hidden: tuple[str, ...]) -> None:
    columns = [
        row[0]
        for row in conn.execute(
            "select attname from pg_attribute where attrelid = to_regclass(%s) and attnum > 0 "
            "and not attisdropped and not (attname = any(%s)) order by attnum",
            (f"{schema}.{table}", list(hidden)),
        )
    ]
    conn.execute(sql.SQL("revoke select on {} from {}").format(_ident(schema, table), _ident(role)))
    conn.execute(
        sql.SQL("grant select ({}) on {} to {}").format(
            sql.SQL(", ").join(map(_ident, columns)), _ident(schema, table), _ident(role)
        )
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
    for role, hidden in HIDDEN_COLUMNS.items():
        _hide_columns(conn, role, [h for h in hidden if h[0] in schemas and _table_exists(conn, h[0], h[1])])
    for role, entry, create in _writes(conn, schemas):
        full = create and entry.partition(".")[0] not in APPEND_ONLY
        _grant_dml(conn, login, role, entry, "select, insert, update, delete" if full else "select, insert", create)
    for schema, table in AUDITOR_TABLES:
        if schema in schemas and _table_exists(conn, schema, table):
            conn.execute(sql.SQL("grant usage on schema {} to {}").format(_ident(schema), _ident(AUDITOR)))
            conn.execute(sql.SQL("grant select on {} to {}").format(_ident(schema, table), _ident(AUDITOR)))


def _writes(conn: psycopg.Connection, schemas: list[str]) -> list[tuple[str, str, bool]]:
    """(role, WRITE or APPEND entry, may create) for the entries whose schema or table exists."""
    found = []
    for grants, create in ((WRITE, True), (APPEND, False)):
        for role, entries in grants.items():
            for entry in entries:
                schema, _, table = entry.partition(".")
                if schema in schemas and (not table or _table_exists(conn, schema, table)):
                    found.append((role, entry, create))
    return found


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
    """Enable and force RLS on one table: full readers see all rows, area users their areas' rows
    (all rows of a table of area names, AREA_NAME_TABLES: names are not the areas' data)."""
    target = _ident(schema, table)
    own_area = sql.SQL("true") if table in AREA_NAME_TABLES else _area_predicate(area_columns)
    conn.execute(sql.SQL("alter table {} enable row level security").format(target))
    conn.execute(sql.SQL("alter table {} force row level security").format(target))
    conn.execute(sql.SQL("drop policy if exists full_access on {}").format(target))
    conn.execute(sql.SQL("drop policy if exists own_area on {}").format(target))
    full = sql.SQL(", ").join(_ident(r) for r in (BI_READER, TRANSFORMER, SCORER, AUDITOR))
    conn.execute(sql.SQL("create policy full_access on {} for select to {} using (true)").format(target, full))
    conn.execute(
        sql.SQL("create policy own_area on {} for select to {} using ({})").format(target, _ident(AREA_USER), own_area)
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
    secure_area_access(conn)
    return len(schemas)


def secure_area_access(conn: psycopg.Connection) -> None:
    """Policies run with the reader's privileges, so area users read meta.area_access, but only the
    rows of roles they are members of (their own grants); the transformer reads it whole, the loader
    (which reads the rest of `meta`) none of it. The owner (the warehouse login, which grants
    areas) is not subject to it."""
    conn.execute(sql.SQL("grant usage on schema meta to {}").format(_ident(AREA_USER)))
    conn.execute(sql.SQL("grant select on meta.area_access to {}").format(_ident(AREA_USER)))
    conn.execute("alter table meta.area_access enable row level security")
    conn.execute("drop policy if exists own_grants on meta.area_access")
    conn.execute(
        sql.SQL(
            "create policy own_grants on meta.area_access for select to {} using (exists ("
            "select 1 from pg_catalog.pg_roles as r where r.rolname = role_name "
            "and pg_catalog.pg_has_role(current_user, r.oid, 'member')))"
        ).format(_ident(AREA_USER))
    )
    conn.execute("drop policy if exists readers on meta.area_access")
    conn.execute(
        sql.SQL("create policy readers on meta.area_access for select to {} using (true)").format(_ident(TRANSFORMER))
    )


def apply(dsn: str, rls_schemas: tuple[str, ...] = ("marts",)) -> dict[str, int]:
    """Roles, grants on every existing project schema, RLS on area tables; returns counts."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("select pg_advisory_lock(%s, %s)", locks.BOOTSTRAP)  # one grantor at a time
        try:
            ensure_roles(conn)
            ensure_bi_login(conn)
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


MATRIX_ROLES = (LOAD_OWNER, *ROLES[1:], "grid_worker")
_MATRIX_SQL = """
select n.nspname,
       pg_get_userbyid(n.nspowner) = %(role)s,
       has_schema_privilege(%(role)s, n.oid, 'USAGE'),
       has_schema_privilege(%(role)s, n.oid, 'CREATE'),
       coalesce(bool_or(has_table_privilege(%(role)s, c.oid, 'SELECT')
                        or has_any_column_privilege(%(role)s, c.oid, 'SELECT')), false),
       coalesce(bool_or(has_table_privilege(%(role)s, c.oid, 'INSERT')), false),
       coalesce(bool_or(has_table_privilege(%(role)s, c.oid, 'UPDATE')), false),
       coalesce(bool_or(has_table_privilege(%(role)s, c.oid, 'DELETE')), false)
from pg_namespace n left join pg_class c on c.relnamespace = n.oid and c.relkind in ('r', 'p', 'v', 'm')
where n.nspname = any(%(schemas)s)
group by n.oid, n.nspname
"""


def privilege_matrix(conn: psycopg.Connection) -> dict[str, dict[str, str]]:
    """role → schema → what the database grants: `owner`, or the letters C (create in the schema),
    S, I, U, D (select, insert, update, delete on at least one of its tables or views), `-` for nothing.

    SECURITY.md's table "Privileges by schema" is this matrix of a bootstrapped database after a day."""
    matrix: dict[str, dict[str, str]] = {}
    for role in MATRIX_ROLES:
        row: dict[str, str] = {}
        for schema, owner, usage, create, *dml in conn.execute(
            _MATRIX_SQL, {"role": role, "schemas": list(PROJECT_SCHEMAS)}
        ):
            letters = ("C" if create else "") + "".join(
                letter for letter, held in zip("SIUD", dml, strict=True) if held
            )
            row[schema] = "owner" if owner else (letters if usage and letters else "-")
        matrix[role] = row
    return matrix
