"""`dbt source freshness` for the partition day, kept in `audit.source_freshness` for the auditor report.

Every feed source's `loaded_at_query` (dbt/macros/feed_day_freshness.sql) measures the days
between the partition day and the feed's last delivery up to it in the load ledger, so the
verdict is the same whenever the day runs (the demo's historical day, a backfill, today):
pass when the day's delivery arrived, warn when it did not, error after two days or more without
one (the thresholds are in the sources' `freshness:` configs). A delivery that arrived but failed
its checks is the delivery checks' business, not freshness.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from pathlib import Path

import psycopg

from grassroots import settings
from grassroots.warehouse import locks

log = logging.getLogger(__name__)
STALE = ("warn", "error", "runtime error")
_PERIOD_HOURS = {"minute": 1 / 60, "hour": 1, "day": 24}

LATEST_SQL = """
select feed, status, last_delivered, age_hours, warn_after_hours, error_after_hours, message
from audit.source_freshness
where ds = %(ds)s
  and invocation_id = (select invocation_id from audit.source_freshness where ds = %(ds)s
                       order by recorded_at desc limit 1)
order by status = 'pass', feed
"""


def sources_json_path() -> Path:
    """Where `dbt source freshness` writes its results for the last day judged."""
    return settings.state_dir() / "dbt-target" / "sources.json"


def _hours(threshold: dict | None) -> float | None:
    if not threshold or threshold.get("count") is None or threshold.get("period") is None:
        return None
    return float(threshold["count"]) * _PERIOD_HOURS[threshold["period"]]


def parse_sources_json(path: Path, ds: dt.date) -> list[tuple]:
    """Rows for audit.source_freshness (invocation, feed, status, last delivered day, ages) from sources.json."""
    data = json.loads(path.read_text(encoding="utf-8"))
    invocation = data.get("metadata", {}).get("invocation_id", "")
    rows = []
    for result in data.get("results", []):
        feed = str(result.get("unique_id", "")).split(".")[-2]  # source.<project>.<source>.<table>
        age = result.get("max_loaded_at_time_ago_in_s")
        # age is a whole number of days behind ds (see the macro); a feed never delivered is ~2000 years old
        days_behind = round(age / 86400) if age is not None else None
        last = ds - dt.timedelta(days=days_behind) if days_behind is not None and days_behind < 36500 else None
        criteria = result.get("criteria") or {}
        rows.append(
            (
                invocation,
                feed,
                str(result.get("status")),
                last,
                None if age is None else round(age / 3600, 1),
                _hours(criteria.get("warn_after")),
                _hours(criteria.get("error_after")),
                (result.get("error") or None) and str(result["error"])[:500],
            )
        )
    return rows


def run_freshness(dsn: str, ds: dt.date) -> list[dict]:
    """Run `dbt source freshness` for ds (as the login of `dsn`), record it in audit; return one dict per feed.

    A freshness run that cannot run at all is logged and recorded as nothing: freshness informs the
    auditor, it never stops the day (the delivery checks decide what is usable).
    """
    from grassroots.warehouse.dbt_runner import invoke

    output = sources_json_path()
    with locks.held(dsn, locks.WAREHOUSE):  # dbt's target folder is shared with the build
        started = time.time()
        result = invoke("source freshness", ds, dsn=dsn)  # writes <target>/sources.json
        fresh = output.exists() and output.stat().st_mtime >= started
        rows = parse_sources_json(output, ds) if fresh else []
    if result.exception is not None or not fresh:
        log.error("dbt source freshness for %s did not run: %s", ds, result.exception)
        return []
    ignored = {"meta", "audit"}  # the pipeline's own tables carry no freshness config
    rows = [r for r in rows if r[1] not in ignored]
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.executemany(
            "insert into audit.source_freshness (invocation_id, ds, feed, status, last_delivered, age_hours, "
            "warn_after_hours, error_after_hours, message) values (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "on conflict do nothing",
            [(r[0], ds, *r[1:]) for r in rows],
        )
    stale = sorted(r[1] for r in rows if r[2] in STALE)
    if stale:
        log.warning("source freshness for %s: %d stale feed(s): %s", ds, len(stale), ", ".join(stale))
    return [{"feed": r[1], "status": r[2], "last_delivered": r[3] and r[3].isoformat()} for r in rows]


def latest(conn: psycopg.Connection, ds: dt.date) -> list[dict]:
    """The day's last freshness verdicts, stale feeds first (rows as dicts: the connection's row factory)."""
    return conn.execute(LATEST_SQL, {"ds": ds}).fetchall()
