"""Run a feed's or a mart's suite for one day and append the results to `audit`."""

from __future__ import annotations

import datetime as dt
import logging

import psycopg
from psycopg import sql

from grassroots.loading.contracts import get_contract
from grassroots.quality import audit, data_docs, delivery, gx_runner
from grassroots.quality.suites import Check, Suite, feed_suite, mart_suites

log = logging.getLogger(__name__)
CANDIDATE_SCHEMA = "marts_candidate"  # where dbt writes the kpi folder; see grassroots.quality.publish


def _day_rows(conn: psycopg.Connection, feed: str, ds: dt.date) -> int:
    """Staging rows loaded for ds."""
    query = sql.SQL("select count(*) from {} where _ds = %s").format(sql.Identifier("staging", feed))
    return conn.execute(query, (ds,)).fetchone()[0]


# Quarantine counts leave out duplicate deliveries (an identical file sent again is not bad data).
LEDGER_SQL = (
    "select coalesce(sum(rows_received), 0), "
    "coalesce(sum(rows_received) filter (where status <> 'duplicate'), 0), "
    "coalesce(sum(rows_quarantined) filter (where status <> 'duplicate'), 0) from meta.load_batch "
    "where feed = %s and ds = %s and status <> 'superseded'"
)
PREVIOUS_DAY_SQL = "select max(ds) from meta.load_batch where feed = %s and ds < %s and status <> 'superseded'"


def _ledger(conn: psycopg.Connection, feed: str, ds: dt.date) -> tuple[int, int, int]:
    """(rows received, rows received outside duplicate deliveries, rows quarantined outside them)."""
    row = conn.execute(LEDGER_SQL, (feed, ds)).fetchone()
    return int(row[0]), int(row[1]), int(row[2])


def _evaluate(conn: psycopg.Connection, feed: str, ds: dt.date, check: Check, ledger: tuple[int, int, int]):
    """(success, observed, unexpected rows or None) of one ledger check."""
    kwargs = check.kwargs
    received, fresh, quarantined = ledger
    if check.type == "id_validity_rate_at_least":
        bad = conn.execute(
            "select count(*) from quarantine.current_rows where feed = %s and ds = %s and column_name = %s",
            (feed, ds, kwargs.get("column")),
        ).fetchone()[0]
        rate = 1.0 if received == 0 else 1 - bad / received
        return rate >= float(kwargs.get("min_rate", 0.98)), f"{rate:.4f}", bad
    if check.type == "rows_received_at_least":
        return received >= int(kwargs.get("min_rows", 1)), str(received), None
    previous_day = conn.execute(PREVIOUS_DAY_SQL, (feed, ds)).fetchone()[0]
    if previous_day is None:
        return True, "no earlier day", None
    previous = _ledger(conn, feed, previous_day)[0]
    change = abs(received - previous) / previous if previous else (0.0 if received == 0 else 1.0)
    return change <= float(kwargs.get("max_change", 0.5)), f"{change:.4f} vs {previous_day}", None


def load_check(conn: psycopg.Connection, feed: str, ds: dt.date, check: Check) -> audit.CheckResult:
    """Evaluate a ledger/quarantine check (see suites.LOAD_CHECKS) on the feed's day."""
    ledger = _ledger(conn, feed, ds)
    received = ledger[0]
    detail = None
    if check.type in delivery.EVALUATORS:
        outcome = delivery.EVALUATORS[check.type](conn, feed, ds, check.kwargs)
        success, observed, unexpected, detail = outcome.success, outcome.observed, outcome.unexpected, outcome.detail
        # A share among fewer records than were received (the quarantine share) keeps its own whole.
        received = received if outcome.checked is None else outcome.checked
    else:
        success, observed, unexpected = _evaluate(conn, feed, ds, check, ledger)
        if not success:
            detail = f"{check.type} {observed} (limit {check.kwargs})"
    percent = None if unexpected is None else (0.0 if received == 0 else 100.0 * unexpected / received)
    return audit.CheckResult(
        check.id,
        "load",
        check.type,
        check.kwargs.get("column"),
        check.severity,
        success,
        observed,
        received,
        unexpected,
        percent,
        detail,
    )


def validate_feed(dsn: str, run: audit.RunInfo, feed: str, session: gx_runner.Session | None = None) -> dict:
    """Evaluate the feed's suite on its staging rows of run.ds; append results and the load snapshot to audit.

    `session`: the GX session of a task that validates several feed-days (one of its own otherwise).
    """
    suite = feed_suite(get_contract(feed))
    with psycopg.connect(dsn) as conn:
        rows = _day_rows(conn, feed, run.ds)
        load_results = [load_check(conn, feed, run.ds, c) for c in suite.by_engine("load")]
    gx_checks = suite.by_engine("gx")
    if session is None and gx_checks:
        session = gx_runner.Session(dsn)
    results = session.run_checks(suite.name, gx_checks, "staging", feed, run.ds, ds=run.ds) if gx_checks else []
    results += load_results
    docs = str(data_docs.site_dir(run.ds) / "index.html")
    with psycopg.connect(dsn) as conn:
        validation_id = audit.record_validation(conn, run, "feed", feed, suite.name, results, docs)
        audit.snapshot_load(conn, validation_id, feed, run.ds)
    return _summary(suite, rows, results)


def validate_feeds(dsn: str, days: list[tuple[audit.RunInfo, str]]) -> list[dict]:
    """validate_feed on each (run with its day, feed), in order, sharing one GX session."""
    session = gx_runner.Session(dsn) if days else None
    return [validate_feed(dsn, run, feed, session) for run, feed in days]


def validate_marts(dsn: str, run: audit.RunInfo) -> list[dict]:
    """Evaluate every mart suite on the unpublished build (marts_candidate); append results to audit."""
    summaries = []
    docs = str(data_docs.site_dir(run.ds) / "index.html")
    session = gx_runner.Session(dsn)  # one GX context and engine for every mart
    for model, suite in mart_suites().items():
        results = session.run_checks(suite.name, list(suite.checks), CANDIDATE_SCHEMA, model, run.ds)
        with psycopg.connect(dsn) as conn:
            audit.record_validation(conn, run, "model", model, suite.name, results, docs)
        summaries.append(_summary(suite, None, results))
    return summaries


def _summary(suite: Suite, rows: int | None, results: list[audit.CheckResult]) -> dict:
    """Counts only, for logs and XCom."""
    failed = [r for r in results if not r.success]
    return {
        "suite": suite.name,
        "rows": rows,
        "checks": len(results),
        "failed_fail": sorted(r.check_id for r in failed if r.severity == "fail"),
        "failed_warn": sorted(r.check_id for r in failed if r.severity == "warn"),
    }


def stale_feed_days(dsn: str) -> list[tuple[str, dt.date]]:
    """(feed, day) of every delivery recorded since the feed-day's latest validation (or never validated)."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "select b.feed, b.ds from meta.load_batch b group by b.feed, b.ds "
            "having max(b.loaded_at) >= coalesce((select max(v.checked_at) from audit.validation_run v "
            "where v.kind = 'feed' and v.target = b.feed and v.ds = b.ds), '-infinity') order by 2, 1"
        ).fetchall()
    return [(feed, ds) for feed, ds in rows]
