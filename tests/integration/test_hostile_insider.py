"""A hostile insider against the roles, with real logins on the warehouse server (the embedded one,
or WAREHOUSE_DSN's: CI runs this file against the PostgreSQL 15 server too).

The warehouse is owned by a login holding only CREATEROLE and CREATEDB (no superuser); a second
login is a member of `loader` only and tries what the loader must not do: rewrite the ledger or
quarantine, replace a day's staging rows, create functions or views, and replay the escalation
through `scoring.masked_resident_names` (a function and a view in place of the registry). Then a
full day runs as the owner login and no role has gained a membership or an attribute.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from grassroots.generator import feed_server
from grassroots.local import pipeline
from grassroots.warehouse import db, security
from grassroots.warehouse.bootstrap import bootstrap
from tests.conftest import DEMO_DAY

DAGS = Path(__file__).resolve().parents[2] / "dags"


@dataclass(frozen=True)
class Warehouse:
    """A database owned by a CREATEROLE + CREATEDB login, and a login that is only a loader."""

    owner_dsn: str
    loader_dsn: str
    server_dsn: str


def _login_dsn(server: str, user: str, dbname: str) -> str:
    """The server's DSN for another login and database (no password: the test server trusts its clients)."""
    return make_conninfo(server, user=user, dbname=dbname, password="")


@pytest.fixture(scope="module")
def warehouse(server_dsn: str) -> Iterator[Warehouse]:
    tag = uuid.uuid4().hex[:10]
    owner, insider, name = f"gr_owner_{tag}", f"gr_insider_{tag}", f"grassroots_insider_{tag}"
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("create role {} login createrole createdb").format(sql.Identifier(owner)))
        # Group roles other databases' bootstraps created on this server (the README's privileges):
        # from PostgreSQL 16 a CREATEROLE login grants only roles it administers.
        groups = [*security.ROLES, "grid_worker"]
        existing = [r[0] for r in conn.execute("select rolname from pg_roles where rolname = any(%s)", (groups,))]
        for role in existing:
            grant = sql.SQL("grant {} to {} with admin option")
            conn.execute(grant.format(sql.Identifier(role), sql.Identifier(owner)))
    try:
        with psycopg.connect(_login_dsn(server_dsn, owner, "postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        owner_dsn = _login_dsn(server_dsn, owner, name)
        bootstrap(owner_dsn)
        with psycopg.connect(owner_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("create role {} login in role loader").format(sql.Identifier(insider)))
        yield Warehouse(owner_dsn, _login_dsn(server_dsn, insider, name), server_dsn)
    finally:
        db.drop_database(server_dsn, name)
        with psycopg.connect(server_dsn, autocommit=True) as conn:
            # From PostgreSQL 16 a membership remembers its grantor: memberships the owner granted (a
            # bi_login its bootstrap made, when no earlier bootstrap on the server had) hold the owner.
            granted = conn.execute(
                "select r.rolname, m.rolname from pg_auth_members a join pg_roles r on r.oid = a.roleid "
                "join pg_roles m on m.oid = a.member join pg_roles g on g.oid = a.grantor "
                "where g.rolname = %s and current_setting('server_version_num')::int >= 160000",
                (owner,),
            ).fetchall()
            for role, member in granted:
                revoke = sql.SQL("revoke {} from {} granted by {}")
                conn.execute(revoke.format(sql.Identifier(role), sql.Identifier(member), sql.Identifier(owner)))
            for role in (insider, owner):
                conn.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(role)))


def _roles(dsn: str) -> tuple[set[tuple], set[tuple]]:
    """(role attributes, memberships) of every role on the server."""
    with psycopg.connect(dsn) as conn:
        attributes = conn.execute(
            "select rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication, "
            "rolbypassrls from pg_roles"
        ).fetchall()
        members = conn.execute(
            "select pg_get_userbyid(roleid), pg_get_userbyid(member), admin_option from pg_auth_members"
        ).fetchall()
    return set(attributes), set(members)


def test_the_owner_login_is_no_superuser_and_owns_the_database(warehouse: Warehouse) -> None:
    with psycopg.connect(warehouse.owner_dsn) as conn:
        row = conn.execute(
            "select r.rolsuper, r.rolcreaterole, r.rolcreatedb, pg_get_userbyid(d.datdba) = current_user "
            "from pg_roles r, pg_database d where r.rolname = current_user and d.datname = current_database()"
        ).fetchone()
    assert row == (False, True, True, True)
    bootstrap(warehouse.owner_dsn)  # and a second bootstrap changes nothing it cannot


def test_the_escalation_through_the_masked_names_is_closed(warehouse: Warehouse) -> None:
    """The replay of issue 15: a function and a view put in place of staging.population_registry."""
    with psycopg.connect(warehouse.loader_dsn) as conn:
        for statement in (
            "create function staging.escalate() returns text language plpgsql as "
            "$$ begin execute 'alter role ' || quote_ident(session_user) || ' superuser'; return 'x'; end $$",
            "alter table staging.population_registry rename to population_registry_real",
            "create view staging.population_registry_swap as select 1 as person_key",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
            conn.rollback()
    with psycopg.connect(warehouse.owner_dsn) as conn:
        definers = conn.execute(
            "select p.oid::regprocedure::text, pg_get_userbyid(p.proowner), p.proconfig from pg_proc p "
            "join pg_namespace n on n.oid = p.pronamespace "
            "where p.prosecdef and n.nspname = any(%s) order by 1",
            (list(security.PROJECT_SCHEMAS),),
        ).fetchall()
        owned_by_lesser = conn.execute(
            "select c.oid::regclass::text from pg_class c join pg_roles r on r.oid = c.relowner "
            "where r.rolname = any(%s)",
            ([security.LOADER, security.BI_READER, security.AREA_USER, security.AUDITOR],),
        ).fetchall()
    assert "scoring.masked_resident_names(date)" in [name for name, _, _ in definers]
    for name, owner, config in definers:
        assert owner == security.LOAD_OWNER, name
        assert config == ["search_path=pg_catalog, pg_temp"], name
    assert owned_by_lesser == []


def test_a_full_day_runs_as_a_non_superuser_and_no_role_gains_anything(
    warehouse: Warehouse,
    demo_landing: Path,
    airflow_db: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = _roles(warehouse.server_dsn)
    monkeypatch.setenv("WAREHOUSE_DSN", warehouse.owner_dsn)
    monkeypatch.setenv("GRASSROOTS_LANDING_DIR", str(demo_landing))
    server, url = feed_server.serve(demo_landing)
    monkeypatch.setenv("GRASSROOTS_API_URL", url)
    try:
        states = pipeline.run_day(DEMO_DAY, DAGS)
    finally:
        server.shutdown()
    assert [state for _, state in states] == ["success"] * 3, states
    with psycopg.connect(warehouse.owner_dsn) as conn:
        loaded_by = {
            row[0] for row in conn.execute("select distinct loaded_by from meta.load_batch where ds = %s", (DEMO_DAY,))
        }
        watchlist = conn.execute("select count(*) from scoring.watchlist where ds = %s", (DEMO_DAY,)).fetchone()[0]
        masked = conn.execute(
            "select count(*) from scoring.watchlist where ds = %s and masked_name <> '*'", (DEMO_DAY,)
        ).fetchone()[0]
    assert loaded_by == {security.LOADER}
    assert watchlist > 0 and masked == watchlist, "the masked names came through load_owner's function"
    after = _roles(warehouse.server_dsn)
    known = {attributes[0] for attributes in before[0]}
    assert {a for a in after[0] if a[0] in known} == before[0], "no role gained an attribute"
    assert {m for m in after[1] if m[1] in known} == {m for m in before[1] if m[1] in known}, "no new membership"


FORBIDDEN = [
    "update meta.load_batch set status = 'superseded'",
    "delete from meta.load_batch",
    "truncate meta.load_batch",
    "update quarantine.rows set raw_line = ''",
    "delete from quarantine.rows",
    "update quarantine.files set detail = ''",
    "delete from quarantine.files",
    "delete from staging.population_registry",
    "update staging.population_registry set name = ''",
    "truncate staging.population_registry",
    "alter table staging.population_registry rename to population_registry_old",
    "drop table staging.population_registry",
    "create table staging.extra (i integer)",
    "create view staging.extra as select 1 as i",
    "create function staging.extra() returns integer language sql as 'select 1'",
    "create table quarantine.extra (i integer)",
    "create view quarantine.extra as select 1 as i",
    "create function quarantine.extra() returns integer language sql as 'select 1'",
    "create table meta.extra (i integer)",
    "create view meta.extra as select 1 as i",
    "create function meta.extra() returns integer language sql as 'select 1'",
    "create function public.extra() returns integer language sql as 'select 1'",
    "select staging.feed_table('population_registry')",
    "select scoring.masked_resident_names(current_date)",
]


@pytest.mark.parametrize("statement", FORBIDDEN)
def test_the_loader_cannot_rewrite_evidence_or_create_objects(warehouse: Warehouse, statement: str) -> None:
    with psycopg.connect(warehouse.loader_dsn) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(statement)


def test_the_loader_appends_and_finishes_only_its_own_batches(warehouse: Warehouse) -> None:
    """Inserting works; another transaction's batch cannot be finished, counted or superseded by hand."""
    insert = (
        "insert into meta.load_batch (feed, ds, file_name, sha256, bytes, rows_received, rows_loaded, "
        "rows_quarantined, status, loaded_at) values ('population_registry', '2020-01-01', 'f.csv', "
        "repeat('0', 64), 1, 0, 0, 0, 'loaded', now()) returning batch_id"
    )
    with psycopg.connect(warehouse.loader_dsn) as conn:
        batch_id = conn.execute(insert).fetchone()[0]
        conn.execute(
            "insert into quarantine.rows values ('population_registry', '2020-01-01', %s, 'f.csv', 2, null, 'r', 'x')",
            (batch_id,),
        )
        conn.execute("select staging.finish_batch(%s, 1, 0, 1, 'loaded', null, null)", (batch_id,))
        conn.commit()
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="not written by this transaction"):
            conn.execute("select staging.finish_batch(%s, 9, 9, 0, 'loaded', null, null)", (batch_id,))
        conn.rollback()
        with pytest.raises(psycopg.errors.RaiseException, match="loaded, rejected or duplicate"):
            conn.execute("select staging.finish_batch(%s, 1, 0, 1, 'superseded', null, null)", (batch_id,))
        conn.rollback()
        with pytest.raises(psycopg.errors.UndefinedTable):
            conn.execute("select staging.replace_day('load_batch', '2020-01-01')")
        conn.rollback()
        conn.execute("select staging.replace_day('population_registry', '2020-01-01')")
        conn.commit()
    with psycopg.connect(warehouse.owner_dsn) as conn:
        kept = conn.execute(
            "select b.status, b.rows_received, count(r.*) from meta.load_batch b "
            "left join quarantine.rows r using (batch_id) where b.batch_id = %s group by 1, 2",
            (batch_id,),
        ).fetchone()
        current = conn.execute("select count(*) from quarantine.current_rows where batch_id = %s", (batch_id,))
        assert current.fetchone()[0] == 0
    assert kept == ("superseded", 1, 1), "a superseded batch keeps its counts and its quarantined rows"


def test_the_loader_cannot_drop_rows_of_an_earlier_load(warehouse: Warehouse) -> None:
    """Dropping repeated rows reaches only the calling transaction's batches (the full day loaded above)."""
    with psycopg.connect(warehouse.owner_dsn) as conn:
        batch_id, row_no = conn.execute(
            "select _batch_id, _row_no from staging.population_registry where _ds = %s limit 1", (DEMO_DAY,)
        ).fetchone()
    with psycopg.connect(warehouse.loader_dsn) as conn:
        dropped = conn.execute(
            "select staging.drop_duplicate_rows('population_registry', %s, array[%s]::bigint[], array[%s]::integer[])",
            (DEMO_DAY, batch_id, row_no),
        ).fetchone()[0]
        conn.commit()
    with psycopg.connect(warehouse.owner_dsn) as conn:
        still = conn.execute(
            "select count(*) from staging.population_registry where _batch_id = %s and _row_no = %s", (batch_id, row_no)
        ).fetchone()[0]
    assert (dropped, still) == (0, 1)


def _documented_matrix() -> dict[str, dict[str, str]]:
    """SECURITY.md's table under "### Privileges by schema"."""
    text = (Path(__file__).resolve().parents[2] / "SECURITY.md").read_text(encoding="utf-8")
    lines = text.split("### Privileges by schema", 1)[1].splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("|"))
    table = list(itertools.takewhile(lambda line: line.startswith("|"), lines[start:]))
    header = [cell.strip(" `") for cell in table[0].strip("|").split("|")][1:]
    matrix = {}
    for line in table[2:]:
        role, *cells = [cell.strip(" `") for cell in line.strip("|").split("|")]
        matrix[role] = dict(zip(header, cells, strict=True))
    return matrix


def test_security_md_states_the_grants_the_database_holds(warehouse: Warehouse) -> None:
    """Derived from the catalog of the database the full day ran in (every schema has tables)."""
    with psycopg.connect(warehouse.owner_dsn) as conn:
        derived = security.privilege_matrix(conn)
    schemas = list(security.PROJECT_SCHEMAS)
    table = "\n".join(
        [
            "| role | " + " | ".join(f"`{s}`" for s in schemas) + " |",
            "|---|" + "---|" * len(schemas),
            *(f"| `{role}` | " + " | ".join(row[s] for s in schemas) + " |" for role, row in derived.items()),
        ]
    )
    assert derived == _documented_matrix(), f"the grants as SECURITY.md's table:\n{table}"
