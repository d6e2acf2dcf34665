"""Publication never shows BI a table without its row-level security, even when it re-creates one.

A KPI model whose columns changed is re-created in `marts` by publication (grassroots.quality.publish);
the new table must carry its policies in the same transaction, so a community user reading it right
after the commit (before the `secure` task re-applies grants) sees its own rows and no other.
"""

from __future__ import annotations

import datetime as dt
import uuid

import psycopg
from psycopg import sql

from grassroots.quality import publish
from grassroots.warehouse import db, security
from grassroots.warehouse.bootstrap import bootstrap

DAY = dt.date(2026, 11, 24)
MINE, OTHER = "330102001001", "330105001001"


def _as(dsn: str, role: str, query: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        conn.execute(sql.SQL("set role {}").format(sql.Identifier(role)))
        return conn.execute(query).fetchall()


def test_a_republished_table_with_new_columns_is_secured_in_the_publishing_transaction(warehouse_dsn: str) -> None:
    bootstrap(warehouse_dsn)
    transformer = db.role_dsn(security.TRANSFORMER, warehouse_dsn)
    rows = [("community", MINE, DAY, 0.5), ("community", OTHER, DAY, 0.9)]
    with psycopg.connect(transformer, autocommit=True) as conn:  # as dbt and publication work
        conn.execute("create table marts.kpi_demo_daily (area_level text, area_code text, kpi_date date)")
        conn.execute(
            "insert into marts.kpi_demo_daily values ('community', %s, %s), ('community', %s, %s)",
            (MINE, DAY, OTHER, DAY),
        )
        conn.execute(
            "create table marts_candidate.kpi_demo_daily "
            "(area_level text, area_code text, kpi_date date, rate numeric)"  # a column more: re-created
        )
        conn.cursor().executemany("insert into marts_candidate.kpi_demo_daily values (%s, %s, %s, %s)", rows)
    security.apply(warehouse_dsn)
    role = f"gr_test_area_{uuid.uuid4().hex[:6]}"
    security.grant_area(warehouse_dsn, role, "community", MINE)
    before = _as(warehouse_dsn, role, "select area_code from marts.kpi_demo_daily")
    assert before == [(MINE,)]

    with psycopg.connect(transformer) as conn:
        publish.apply_decision(conn, publish.Decision("kpi_demo_daily", "day", published=[DAY]))
    # Committed, and nothing else ran (no `secure` task): the new table is what BI reads now.
    seen = _as(warehouse_dsn, role, "select area_code, rate from marts.kpi_demo_daily")
    assert seen == [(MINE, 0.5)]
    with psycopg.connect(warehouse_dsn) as conn:
        assert conn.execute("select count(*) from marts.kpi_demo_daily").fetchone()[0] == 2
        forced = conn.execute(
            "select relrowsecurity, relforcerowsecurity from pg_class where oid = 'marts.kpi_demo_daily'::regclass"
        ).fetchone()
    assert forced == (True, True)
