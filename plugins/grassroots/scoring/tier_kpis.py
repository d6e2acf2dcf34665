"""KPIs that use the day's risk tiers: dbt builds them into `marts` once scoring has written the tiers."""

from __future__ import annotations

import datetime as dt
import logging

import psycopg

from grassroots.warehouse import dbt_runner, locks, security

log = logging.getLogger(__name__)
SCHEMA = "marts"


def build(dsn: str, ds: dt.date) -> dict[str, object]:
    """`dbt build` the models tagged after_scoring for ds (as the role of `dsn`, which owns what dbt
    builds), under the warehouse lock; put each KPI table under row-level security like every marts
    table with an area code. Raises DbtFailed when a model or test failed; returns counts only.

    The warehouse's daily build leaves these models out (dbt_runner.DAILY_BUILD): they read
    scoring.resident_risk, which exists for a day only once its scoring ran.
    """
    with locks.held(dsn, locks.WAREHOUSE):
        result = dbt_runner.invoke("build", ds, *dbt_runner.AFTER_SCORING, dsn=dsn)
    nodes = list(getattr(result.result, "results", None) or [])
    failed = [n.node.unique_id for n in nodes if str(n.status) in ("error", "fail", "runtime error", "skipped")]
    if result.exception is not None or not result.success or failed:
        raise dbt_runner.DbtFailed(f"dbt build of the tier KPIs for {ds} failed: {failed or result.exception}")
    tables = sorted(n.node.alias for n in nodes if n.node.resource_type == "model" and n.node.schema == SCHEMA)
    with psycopg.connect(dsn) as conn:
        for table in tables:
            area_columns = [
                row[0]
                for row in conn.execute(
                    "select column_name from information_schema.columns where table_schema = %s "
                    "and table_name = %s and column_name = any(%s) order by ordinal_position",
                    (SCHEMA, table, list(security.AREA_COLUMNS)),
                )
            ]
            if area_columns:
                security.secure_table(conn, SCHEMA, table, area_columns)
    log.info("tier KPIs for %s: %d dbt nodes, tables %s", ds, len(nodes), ", ".join(tables))
    return {"ds": ds.isoformat(), "nodes": len(nodes), "tables": tables}
