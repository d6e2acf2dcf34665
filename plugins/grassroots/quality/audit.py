"""The `audit` schema: append-only history of every check, load and dbt result, and of publication."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg

AUDIT_DDL = (
    """
    create table if not exists audit.validation_run (
        validation_id     bigserial primary key,
        run_id            text not null,
        dag_id            text not null,
        task_id           text not null,
        ds                date not null,
        kind              text not null check (kind in ('feed', 'model')),
        target            text not null,
        suite             text not null,
        success           boolean not null,
        failed_fail       integer not null,
        failed_warn       integer not null,
        data_docs         text,
        checked_at        timestamptz not null default now()
    )
    """,
    "create index if not exists validation_run_ds on audit.validation_run (ds, kind, target)",
    """
    create table if not exists audit.check_result (
        validation_id       bigint not null references audit.validation_run (validation_id),
        check_id            text not null,
        engine              text not null check (engine in ('gx', 'load')),
        expectation_type    text not null,
        column_name         text,
        severity            text not null check (severity in ('fail', 'warn')),
        success             boolean not null,
        observed_value      text,
        element_count       bigint,
        unexpected_count    bigint,
        unexpected_percent  numeric(7,3),
        detail              text,
        primary key (validation_id, check_id)
    )
    """,
    """
    create table if not exists audit.load_summary (
        validation_id     bigint not null references audit.validation_run (validation_id),
        feed              text not null,
        ds                date not null,
        files             integer not null,
        files_rejected    integer not null,
        rows_received     bigint not null,
        rows_loaded       bigint not null,
        rows_quarantined  bigint not null,
        -- the quarantine share's two counts (grassroots.quality.delivery.quarantine_share),
        -- recorded with the load so the report shows the share the check judged
        records_checked     bigint not null,
        records_quarantined bigint not null,
        primary key (validation_id)
    )
    """,
    """
    create table if not exists audit.quarantine_reason (
        validation_id     bigint not null references audit.validation_run (validation_id),
        feed              text not null,
        ds                date not null,
        level             text not null check (level in ('row', 'file')),
        rule              text not null,
        column_name       text not null default '',
        rows              bigint not null,
        files             integer not null,
        primary key (validation_id, level, rule, column_name)
    )
    """,
    """
    create table if not exists audit.dbt_result (
        dbt_result_id     bigserial primary key,
        invocation_id     text not null,
        ds                date not null,
        command           text not null,
        unique_id         text not null,
        resource_type     text not null,
        status            text not null,
        failures          integer,
        execution_seconds numeric(10,3),
        message           text,
        stored_failures   text,
        generated_at      timestamptz not null,
        recorded_at       timestamptz not null default now()
    )
    """,
    "create index if not exists dbt_result_ds on audit.dbt_result (ds, invocation_id)",
    """
    create table if not exists audit.publication (
        publication_id    bigserial primary key,
        ds                date not null,
        run_id            text not null,
        status            text not null check (status in ('published', 'partial', 'held')),
        failed_fail       integer not null,
        failed_warn       integer not null,
        reason            text,
        decided_at        timestamptz not null default now()
    )
    """,
    """
    create table if not exists audit.publication_hold (
        publication_id    bigint not null references audit.publication (publication_id),
        relation          text not null,
        period_grain      text not null check (period_grain in ('day', 'month', 'table')),
        period_start      date,
        reason            text not null,
        -- the hold counts in the run's status (one of its day's periods, held for the whole table
        -- or for a delivery of that day or earlier); false for other days' periods and for a
        -- period of the day held only for later days' deliveries
        own               boolean not null
    )
    """,
    "create index if not exists publication_hold_id on audit.publication_hold (publication_id)",
    """
    create table if not exists audit.build_lineage (
        invocation_id     text not null,
        ds                date not null,
        relation          text not null,
        node              text not null,
        feeds             text[] not null,
        upstream          text[] not null,
        recorded_at       timestamptz not null default now(),
        primary key (invocation_id, relation)
    )
    """,
    # `dbt source freshness` of every feed for the partition day (grassroots.quality.freshness):
    # how many days the feed's last delivery lags the day, and dbt's verdict (pass, warn, error).
    """
    create table if not exists audit.source_freshness (
        invocation_id     text not null,
        ds                date not null,
        feed              text not null,
        status            text not null,
        last_delivered    date,
        age_hours         numeric(12,1),
        warn_after_hours  numeric(12,1),
        error_after_hours numeric(12,1),
        message           text,
        recorded_at       timestamptz not null default now(),
        primary key (invocation_id, feed)
    )
    """,
    "create index if not exists source_freshness_ds on audit.source_freshness (ds, recorded_at)",
    """
    create or replace view audit.published_days as
    select distinct on (ds) ds, run_id, decided_at as published_at
    from audit.publication
    where status = 'published'
    order by ds, decided_at desc
    """,
    """
    create or replace view audit.latest_validation as
    select distinct on (ds, kind, target) *
    from audit.validation_run
    order by ds, kind, target, checked_at desc, validation_id desc
    """,
)


@dataclass(frozen=True)
class CheckResult:
    """One evaluated check, counts only: never a value from a row."""

    check_id: str
    engine: str
    expectation_type: str
    column_name: str | None
    severity: str
    success: bool
    observed_value: str | None = None
    element_count: int | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    detail: str | None = None


@dataclass(frozen=True)
class RunInfo:
    """Which Airflow run and task a validation belongs to."""

    run_id: str
    dag_id: str
    task_id: str
    ds: dt.date

    def with_ds(self, ds: dt.date) -> RunInfo:
        """The same run and task, validating another day (a late delivery found by a later run)."""
        return RunInfo(self.run_id, self.dag_id, self.task_id, ds)

    @classmethod
    def from_context(cls, context: Mapping[str, Any], ds: dt.date) -> RunInfo:
        """The run, DAG and task of an Airflow task context."""
        return cls(str(context["run_id"]), context["dag"].dag_id, context["task"].task_id, ds)


# The history the pipeline appends to (owned by the warehouse login; see grassroots.warehouse.security).
HISTORY = tuple(re.findall(r"(?:table if not exists|view) audit\.(\w+)", " ".join(AUDIT_DDL)))


def create_audit_tables(conn: psycopg.Connection) -> None:
    """Create the audit tables and views (safe to repeat)."""
    for statement in AUDIT_DDL:
        conn.execute(statement)


def record_validation(
    conn: psycopg.Connection,
    run: RunInfo,
    kind: str,
    target: str,
    suite: str,
    results: Iterable[CheckResult],
    data_docs: str | None = None,
) -> int:
    """Append one validation and its check results; return its validation_id."""
    results = list(results)
    failed = [r for r in results if not r.success]
    validation_id = conn.execute(
        "insert into audit.validation_run (run_id, dag_id, task_id, ds, kind, target, suite, success, "
        "failed_fail, failed_warn, data_docs) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "returning validation_id",
        (
            run.run_id,
            run.dag_id,
            run.task_id,
            run.ds,
            kind,
            target,
            suite,
            not any(r.severity == "fail" for r in failed),
            sum(r.severity == "fail" for r in failed),
            sum(r.severity == "warn" for r in failed),
            data_docs,
        ),
    ).fetchone()[0]
    with conn.cursor() as cur:
        cur.executemany(
            "insert into audit.check_result (validation_id, check_id, engine, expectation_type, column_name, "
            "severity, success, observed_value, element_count, unexpected_count, unexpected_percent, detail) "
            "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    validation_id,
                    r.check_id,
                    r.engine,
                    r.expectation_type,
                    r.column_name,
                    r.severity,
                    r.success,
                    r.observed_value,
                    r.element_count,
                    r.unexpected_count,
                    None if r.unexpected_percent is None else round(r.unexpected_percent, 3),
                    r.detail,
                )
                for r in results
            ],
        )
    return validation_id


def snapshot_load(conn: psycopg.Connection, validation_id: int, feed: str, ds: dt.date) -> None:
    """Copy the day's load counts and quarantine reasons (counts, never raw lines) into history."""
    from grassroots.quality.delivery import quarantine_share

    quarantined, checked, _ = quarantine_share(conn, feed, ds)
    conn.execute(
        "insert into audit.load_summary (validation_id, feed, ds, files, files_rejected, rows_received, "
        "rows_loaded, rows_quarantined, records_checked, records_quarantined) "
        "select %s, %s, %s, count(*), count(*) filter (where status in ('rejected', 'duplicate')), "
        "coalesce(sum(rows_received), 0), coalesce(sum(rows_loaded), 0), coalesce(sum(rows_quarantined), 0), %s, %s "
        "from meta.load_batch where feed = %s and ds = %s and status <> 'superseded'",
        (validation_id, feed, ds, checked, quarantined, feed, ds),
    )
    conn.execute(
        "insert into audit.quarantine_reason (validation_id, feed, ds, level, rule, column_name, rows, files) "
        "select %s, r.feed, r.ds, 'row', r.rule, coalesce(r.column_name, ''), count(*), count(distinct r.batch_id) "
        "from quarantine.current_rows r where r.feed = %s and r.ds = %s group by r.feed, r.ds, r.rule, r.column_name",
        (validation_id, feed, ds),
    )
    # File level from the ledger: rejected files and duplicate deliveries alike, with the rows they held.
    conn.execute(
        "insert into audit.quarantine_reason (validation_id, feed, ds, level, rule, column_name, rows, files) "
        "select %s, b.feed, b.ds, 'file', coalesce(b.rule, b.status), '', sum(b.rows_received), count(*) "
        "from meta.load_batch b where b.feed = %s and b.ds = %s and b.status in ('rejected', 'duplicate') "
        "group by b.feed, b.ds, coalesce(b.rule, b.status)",
        (validation_id, feed, ds),
    )
