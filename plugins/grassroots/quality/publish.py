"""Write-audit-publish for the BI-facing `marts` schema.

write    dbt builds the `kpi` folder into `marts_candidate` (dbt_project.yml, by folder),
         where no BI role has access.
audit    the day's feed suites (ingest DAG) and mart suites (warehouse DAG, on
         `marts_candidate`) append their results to `audit.validation_run` /
         `audit.check_result`.
publish  `publish_day` looks at the latest validation of ds for every feed and mart
         suite. No failed `fail`-severity check: every table of `marts_candidate` is
         copied into `marts` in one transaction and `audit.publication` records
         `published`. Otherwise nothing in `marts` changes (BI keeps the last good
         day's tables) and `audit.publication` records `held` with the failing checks;
         the warehouse DAG's `circuit_breaker` task then fails the run. `warn` failures
         publish and are counted in the same row and in the report.

`audit.published_days` lists the days whose build is (or was) visible in `marts`. A held
day's data reaches BI only when that day is rerun and passes, or when a later day's
build (which contains every day up to it) passes its own checks.
"""

from __future__ import annotations

import datetime as dt
import logging

import psycopg
from psycopg import sql

from grassroots.quality.checks import CANDIDATE_SCHEMA

log = logging.getLogger(__name__)
PUBLISHED_SCHEMA = "marts"


class PublicationHeld(RuntimeError):
    """A fail-severity check failed for the day: its marts were not published."""


FAILING_SQL = """
select c.severity, v.kind, v.target, c.check_id
from audit.latest_validation v
join audit.check_result c on c.validation_id = v.validation_id
where v.ds = %(ds)s and not c.success
union all
select case when r.status = 'warn' then 'warn' else 'fail' end, 'dbt', r.resource_type, r.unique_id
from audit.dbt_result r
where r.ds = %(ds)s and r.command = 'build' and r.status in ('warn', 'fail', 'error', 'runtime error')
  and r.invocation_id = (select invocation_id from audit.dbt_result where ds = %(ds)s and command = 'build'
                         order by recorded_at desc, dbt_result_id desc limit 1)
order by 1, 2, 3, 4
"""


def failing_checks(conn: psycopg.Connection, ds: dt.date) -> list[tuple[str, str, str, str]]:
    """(severity, kind, target, check) that failed for ds: the latest validation of every suite, plus the
    latest dbt build's failed models/tests (dbt `error` is fail severity, dbt `warn` is warn)."""
    return conn.execute(FAILING_SQL, {"ds": ds}).fetchall()


def _relations(conn: psycopg.Connection, schema: str) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "select table_name from information_schema.tables where table_schema = %s order by 1", (schema,)
        )
    ]


def _columns(conn: psycopg.Connection, schema: str, table: str) -> list[tuple[str, str]]:
    return conn.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = %s and table_name = %s order by ordinal_position",
        (schema, table),
    ).fetchall()


def copy_candidate(conn: psycopg.Connection) -> list[str]:
    """Replace every `marts` table that has a candidate with the candidate's rows (same transaction)."""
    copied = []  # schema `marts` comes from the bootstrap, owned by the transformer
    for table in _relations(conn, CANDIDATE_SCHEMA):
        source, target = sql.Identifier(CANDIDATE_SCHEMA, table), sql.Identifier(PUBLISHED_SCHEMA, table)
        if _columns(conn, CANDIDATE_SCHEMA, table) == _columns(conn, PUBLISHED_SCHEMA, table):
            # Same shape: keep the table (and its grants, dependent views), swap its rows.
            conn.execute(sql.SQL("truncate {}").format(target))
            conn.execute(sql.SQL("insert into {} select * from {}").format(target, source))
        else:
            conn.execute(sql.SQL("drop table if exists {}").format(target))
            conn.execute(sql.SQL("create table {} as select * from {}").format(target, source))
        copied.append(table)
    return copied


def _missing_build(conn: psycopg.Connection, ds: dt.date) -> list[str]:
    """A reason to hold when no dbt build of ds was recorded after the day's latest feed validation."""
    row = conn.execute(
        "select (select max(recorded_at) from audit.dbt_result where ds = %s and command = 'build'), "
        "(select max(checked_at) from audit.validation_run where ds = %s and kind = 'feed')",
        (ds, ds),
    ).fetchone()
    built, validated = row
    if built is None or (validated is not None and built < validated):
        return ["dbt:build:no dbt build recorded after the day's feeds were validated"]
    return []


def publish_day(dsn: str, ds: dt.date, run_id: str) -> dict:
    """Publish ds's marts unless a fail-severity check failed; record the decision either way."""
    with psycopg.connect(dsn) as conn:
        conn.execute("select pg_advisory_xact_lock(36902, 0)")  # one publication at a time
        failed = failing_checks(conn, ds)
        fails = [f"{kind}:{target}:{check}" for severity, kind, target, check in failed if severity == "fail"]
        fails += _missing_build(conn, ds)
        warns = [f"{kind}:{target}:{check}" for severity, kind, target, check in failed if severity == "warn"]
        status = "held" if fails else "published"
        tables = [] if fails else copy_candidate(conn)
        conn.execute(
            "insert into audit.publication (ds, run_id, status, failed_fail, failed_warn, reason) "
            "values (%s, %s, %s, %s, %s, %s)",
            (ds, run_id, status, len(fails), len(warns), "; ".join(fails)[:2000] or None),
        )
    if fails:
        log.error("marts for %s HELD: %d fail-severity check(s) failed: %s", ds, len(fails), ", ".join(fails))
    else:
        log.info("marts for %s published (%d tables); %d warn-severity check(s) failed", ds, len(tables), len(warns))
    return {"ds": ds.isoformat(), "status": status, "tables": tables, "failed_fail": fails, "failed_warn": warns}


def circuit_breaker(dsn: str, ds: dt.date, run_id: str) -> None:
    """Raise PublicationHeld unless this run published ds (held, or never got to the decision)."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "select status, reason from audit.publication where ds = %s and run_id = %s "
            "order by decided_at desc, publication_id desc limit 1",
            (ds, run_id),
        ).fetchone()
    if row is None:
        raise PublicationHeld(f"marts for {ds} not published: this run made no publication decision")
    if row[0] != "published":
        raise PublicationHeld(f"marts for {ds} held: {row[1]}")
