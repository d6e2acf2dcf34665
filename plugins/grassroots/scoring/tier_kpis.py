"""KPIs that use the day's risk tiers: dbt builds them once scoring has written the tiers, and the day
is published to `marts` only when every model and test of the build passed (write-audit-publish)."""

from __future__ import annotations

import datetime as dt
import logging

import psycopg

from grassroots.quality import publish
from grassroots.warehouse import dbt_runner, locks

log = logging.getLogger(__name__)


def build(dsn: str, ds: dt.date) -> dict[str, object]:
    """`dbt build` the models tagged after_scoring for ds into marts_candidate (as the role of `dsn`,
    which owns what dbt builds); when every model and test passed, publish the day of each table to
    `marts` the way the warehouse's publication copies a published period (publish.apply_decision:
    the table made like the candidate's, under row-level security), all under the warehouse lock.
    Raises DbtFailed (and publishes nothing) when a model or test failed; returns counts only.

    The warehouse's daily build leaves these models out (dbt_runner.DAILY_BUILD): they read
    scoring.resident_tiers, which has a day only once its scoring ran.
    """
    with locks.held(dsn, locks.WAREHOUSE):
        result = dbt_runner.invoke("build", ds, *dbt_runner.AFTER_SCORING, dsn=dsn)
        nodes = list(getattr(result.result, "results", None) or [])
        failed = [n.node.unique_id for n in nodes if str(n.status) in ("error", "fail", "runtime error", "skipped")]
        if result.exception is not None or not result.success or failed:
            raise dbt_runner.DbtFailed(f"dbt build of the tier KPIs for {ds} failed: {failed or result.exception}")
        tables = sorted(
            n.node.alias for n in nodes if n.node.resource_type == "model" and n.node.schema == publish.CANDIDATE_SCHEMA
        )
        with psycopg.connect(dsn) as conn:  # one transaction: BI sees the day before or after, never half of it
            for table in tables:
                publish.apply_decision(conn, publish.Decision(table, "day", published=[ds]))
    log.info("tier KPIs for %s: %d dbt nodes, tables %s", ds, len(nodes), ", ".join(tables))
    return {"ds": ds.isoformat(), "nodes": len(nodes), "tables": tables}
