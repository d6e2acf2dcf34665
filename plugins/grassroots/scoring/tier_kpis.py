"""KPIs that use the day's risk tiers: dbt builds them once scoring has written the tiers, and the day
is published to `marts` only when every model and test of the build passed (write-audit-publish)."""

from __future__ import annotations

import datetime as dt
import logging

import psycopg
from psycopg import sql

from grassroots.warehouse import dbt_runner, locks, security

log = logging.getLogger(__name__)
CANDIDATE, PUBLISHED = "marts_candidate", "marts"
DAY_COLUMN = "kpi_date"  # dbt_project.yml: the risk KPIs' +day_column


def build(dsn: str, ds: dt.date) -> dict[str, object]:
    """`dbt build` the models tagged after_scoring for ds into marts_candidate (as the role of `dsn`,
    which owns what dbt builds), under the warehouse lock; when every model and test passed, replace
    the day's rows of each table in `marts`, under row-level security like every marts table with an
    area code. Raises DbtFailed (and publishes nothing) when a model or test failed; returns counts only.

    The warehouse's daily build leaves these models out (dbt_runner.DAILY_BUILD): they read
    scoring.resident_risk, which exists for a day only once its scoring ran.
    """
    with locks.held(dsn, locks.WAREHOUSE):
        result = dbt_runner.invoke("build", ds, *dbt_runner.AFTER_SCORING, dsn=dsn)
    nodes = list(getattr(result.result, "results", None) or [])
    failed = [n.node.unique_id for n in nodes if str(n.status) in ("error", "fail", "runtime error", "skipped")]
    if result.exception is not None or not result.success or failed:
        raise dbt_runner.DbtFailed(f"dbt build of the tier KPIs for {ds} failed: {failed or result.exception}")
    tables = sorted(n.node.alias for n in nodes if n.node.resource_type == "model" and n.node.schema == CANDIDATE)
    with psycopg.connect(dsn) as conn:  # one transaction: BI sees the day before or after, never half of it
        for table in tables:
            _publish_day(conn, table, ds)
    log.info("tier KPIs for %s: %d dbt nodes, tables %s", ds, len(nodes), ", ".join(tables))
    return {"ds": ds.isoformat(), "nodes": len(nodes), "tables": tables}


def _publish_day(conn: psycopg.Connection, table: str, ds: dt.date) -> None:
    """Replace ds's rows of marts.<table> with the candidate's (the table is made like the candidate's, once)."""
    candidate, published = sql.Identifier(CANDIDATE, table), sql.Identifier(PUBLISHED, table)
    day = sql.Identifier(DAY_COLUMN)
    exists = conn.execute("select to_regclass(%s) is not null", (f"{PUBLISHED}.{table}",)).fetchone()[0]
    if not exists:  # its key, column comments and the table's comment too (LIKE does not copy the last)
        conn.execute(sql.SQL("create table {} (like {} including all)").format(published, candidate))
        comment = conn.execute("select obj_description(%s::regclass, 'pg_class')", (f"{CANDIDATE}.{table}",))
        conn.execute(sql.SQL("comment on table {} is {}").format(published, sql.Literal(comment.fetchone()[0])))
    conn.execute(sql.SQL("delete from {} where {} = %s").format(published, day), (ds,))
    conn.execute(sql.SQL("insert into {} select * from {} where {} = %s").format(published, candidate, day), (ds,))
    area_columns = [
        row[0]
        for row in conn.execute(
            "select column_name from information_schema.columns where table_schema = %s "
            "and table_name = %s and column_name = any(%s) order by ordinal_position",
            (PUBLISHED, table, list(security.AREA_COLUMNS)),
        )
    ]
    if area_columns:
        security.secure_table(conn, PUBLISHED, table, area_columns)
