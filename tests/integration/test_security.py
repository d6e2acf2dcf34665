"""Roles see exactly what they need: grants per schema and row-level security per area."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from grassroots.warehouse import security
from grassroots.warehouse.bootstrap import bootstrap

ROWS = [("330102001001", "330102001", 0.5), ("330102001002", "330102001", 0.25), ("330105001001", "330105001", 1.0)]


@pytest.fixture
def secured(warehouse_dsn: str) -> str:
    bootstrap(warehouse_dsn)
    with psycopg.connect(warehouse_dsn, autocommit=True) as conn:
        for schema in ("int", "warehouse", "marts", "audit"):
            conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
        conn.execute("create table int.residents_matched (person_key text, name text)")
        conn.execute("create table warehouse.dim_people (person_key text, community_code text)")
        conn.execute("create table audit.failing_rows (id_number text)")
        conn.execute("create table marts.kpi_demo (community_code text, street_code text, rate numeric)")
        conn.execute("create table marts.kpi_street_demo (street_code text, rate numeric)")
        conn.cursor().executemany("insert into marts.kpi_demo values (%s, %s, %s)", ROWS)
        conn.execute("insert into marts.kpi_street_demo values ('330102001', 0.4), ('330105001', 0.9)")
        conn.execute("create view marts.kpi_demo_bi with (security_invoker = true) as select * from marts.kpi_demo")
    security.apply(warehouse_dsn)
    return warehouse_dsn


def _as(dsn: str, role: str, query: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        conn.execute(sql.SQL("set role {}").format(sql.Identifier(role)))
        return conn.execute(query).fetchall()


@pytest.mark.parametrize(
    "table",
    [
        "staging.population_registry",
        "quarantine.rows",
        "meta.load_batch",
        "int.residents_matched",
        "warehouse.dim_people",
        "audit.failing_rows",
    ],
)
def test_bi_reader_is_denied_everything_outside_marts(secured: str, table: str) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        _as(secured, security.BI_READER, f"select * from {table}")  # noqa: S608 (fixed names)


def test_bi_reader_reads_marts_and_public_gets_nothing(secured: str) -> None:
    assert len(_as(secured, security.BI_READER, "select * from marts.kpi_demo_bi")) == 3
    with psycopg.connect(secured, autocommit=True) as conn:
        conn.execute("drop role if exists gr_test_nobody")
        conn.execute("create role gr_test_nobody nologin")
    try:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            _as(secured, "gr_test_nobody", "select * from marts.kpi_demo")
    finally:
        with psycopg.connect(secured, autocommit=True) as conn:
            conn.execute("drop role gr_test_nobody")


def test_auditor_reads_the_ledger_but_no_raw_rows(secured: str) -> None:
    assert _as(secured, security.AUDITOR, "select count(*) from meta.load_batch") == [(0,)]
    assert _as(secured, security.AUDITOR, "select count(*) from quarantine.files") == [(0,)]
    for table in ("quarantine.rows", "staging.population_registry", "marts.kpi_demo"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            _as(secured, security.AUDITOR, f"select * from {table}")  # noqa: S608 (fixed names)


def test_an_area_user_sees_only_its_own_community_through_tables_and_views(secured: str) -> None:
    security.grant_area(secured, "gr_test_community_a", "community", "330102001001")
    security.grant_area(secured, "gr_test_street_b", "street", "330105001")
    community = _as(secured, "gr_test_community_a", "select community_code from marts.kpi_demo_bi")
    street = _as(secured, "gr_test_street_b", "select community_code from marts.kpi_demo order by 1")
    street_level = _as(secured, "gr_test_community_a", "select * from marts.kpi_street_demo")
    assert community == [("330102001001",)]
    assert street == [("330105001001",)]
    assert street_level == [], "a community user sees no street aggregate"
    with psycopg.connect(secured) as conn:
        forced = conn.execute(
            "select relrowsecurity and relforcerowsecurity from pg_class where oid = 'marts.kpi_demo'::regclass"
        ).fetchone()[0]
    assert forced


def test_apply_is_idempotent(secured: str) -> None:
    first = security.apply(secured)
    assert security.apply(secured) == first
    assert len(_as(secured, security.BI_READER, "select * from marts.kpi_demo")) == 3


def test_an_area_user_reads_only_its_own_area_grants(secured: str) -> None:
    security.grant_area(secured, "gr_test_community_a", "community", "330102001001")
    security.grant_area(secured, "gr_test_street_b", "street", "330105001")
    own = _as(secured, "gr_test_community_a", "select role_name, area_code from meta.area_access")
    assert own == [("gr_test_community_a", "330102001001")]
    assert len(_as(secured, security.TRANSFORMER, "select * from meta.area_access")) >= 2
    assert _as(secured, security.LOADER, "select * from meta.area_access") == []


def test_the_transformer_reads_quarantine_but_not_the_raw_line(secured: str) -> None:
    assert _as(secured, security.TRANSFORMER, "select count(*) from quarantine.current_rows") == [(0,)]
    assert _as(secured, security.TRANSFORMER, "select count(rule) from quarantine.rows") == [(0,)]
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        _as(secured, security.TRANSFORMER, "select raw_line from quarantine.rows")
    assert _as(secured, security.LOADER, "select count(raw_line) from quarantine.rows") == [(0,)]


def test_dbt_failures_have_a_schema_of_their_own_and_the_transformer_only_appends_to_audit(secured: str) -> None:
    """dbt's failing rows of tests go to dbt_test_failures (the transformer's); in `audit` the transformer
    may insert, not create, update or delete."""
    with psycopg.connect(secured) as conn:
        failures_owner = conn.execute(
            "select pg_get_userbyid(nspowner) from pg_namespace where nspname = %s", (security.FAILURES_SCHEMA,)
        ).fetchone()
    assert failures_owner == (security.TRANSFORMER,)
    assert _as(
        secured,
        security.TRANSFORMER,
        "insert into audit.validation_run (run_id, dag_id, task_id, ds, kind, target, suite, success, "
        "failed_fail, failed_warn) values ('r', 'd', 't', '2026-11-24', 'feed', 'f', 's', true, 0, 0) "
        "returning run_id",
    ) == [("r",)]
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        _as(secured, security.TRANSFORMER, "create table audit.made_by_transformer (a int)")
    for statement in ("update audit.validation_run set success = false", "delete from audit.validation_run"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            _as(secured, security.TRANSFORMER, statement)
    for role in (security.BI_READER, security.AUDITOR, security.AREA_USER):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            _as(secured, role, f"create table {security.FAILURES_SCHEMA}.x (a int)")  # noqa: S608 (fixed names)
