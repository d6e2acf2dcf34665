"""Write-audit-publish for the BI-facing `marts` schema, one KPI period at a time.

write    dbt builds the `kpi` folder into `marts_candidate` (dbt_project.yml, by folder),
         where no BI role has access, from usable deliveries only (int_feed_days_assessed).
audit    feed suites (ingest DAG) decide which deliveries are usable; mart suites (warehouse
         DAG, on `marts_candidate`) and dbt's tests judge each built table.
publish  `publish_day` decides per table and per period (a `kpi_date` or a `kpi_month`):
         - a table is held whole when its model, an ancestor model or a test on them did not
           succeed in the day's latest dbt build, or a fail-severity check of its mart suite
           failed, or the build recorded no lineage for it;
         - otherwise a period is published when every feed the table reads (its dbt lineage)
           has a usable delivery for every day of the period the warehouse has run (from its
           first to its last day in the load ledger), and held otherwise, naming the feed, the
           day and the reason (missing, not loaded, failed checks and which).
         Each hold keeps the delivery days that cause it (none for a held table): a run for day
         ds answers only for ds and earlier days, so a period of ds held only for a later day's
         deliveries (its month, when the build already read a later day whose files are still
         due) stays held but does not count against ds; that later day's own run decides it.
         Published periods replace their rows in `marts`; held periods keep what BI saw before
         (the last good values, or nothing). A table whose columns changed is rebuilt beside the
         old one with its grants and row-level security and swapped in within the same
         transaction, so no reader ever sees it without its policies.

Every decision is appended to `audit.publication` (one row per run: published, partial or
held for the run's day, counting only the run's own holds) and `audit.publication_hold` (each
held table and period with its reason, and whether it is the run's own); `marts.kpi_period_status`
tells BI which periods are published and why others are not.
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
from collections import defaultdict
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from grassroots.quality.checks import CANDIDATE_SCHEMA
from grassroots.warehouse import locks, security

log = logging.getLogger(__name__)
PUBLISHED_SCHEMA = "marts"
PERIOD_COLUMNS = {"kpi_date": "day", "kpi_month": "month"}
STATUS_TABLE = "kpi_period_status"
OK_STATUSES = ("success", "pass", "warn")
STATUS_DDL = sql.SQL(
    "create table if not exists {} (relation text not null, period_grain text not null, period_start date, "
    "status text not null, reason text, decided_at timestamptz not null, primary key (relation, period_grain, "
    "period_start))"
).format(sql.Identifier(PUBLISHED_SCHEMA, STATUS_TABLE))


STATUS_COMMENT = "Which period of which KPI table BI can trust: published, or held with the reason (feed, day, check)"
STATUS_COLUMNS = {
    "relation": "KPI table in marts",
    "period_grain": "day (kpi_date) or month (kpi_month)",
    "period_start": "the day, or the first day of the month",
    "status": "published: the rows are this build's; held: BI keeps the rows last published (or none)",
    "reason": "why the period is held: the feed and day with the failed check, or the failed model or test",
    "decided_at": "when the period's status or reason last changed",
}


class PublicationHeld(RuntimeError):
    """The run's day was not (wholly) published: its reasons name tables, periods and feeds."""


@dataclass
class Decision:
    """What publication decided for one candidate table.

    `held_days` keeps, per held period, the delivery days whose feeds hold it; None (or no entry)
    when a reason concerns no particular day: a failed model, test or suite holds the whole table.
    """

    relation: str
    grain: str  # day | month | table
    published: list[dt.date | None] = field(default_factory=list)
    held: dict[dt.date | None, list[str]] = field(default_factory=dict)
    held_days: dict[dt.date | None, set[dt.date] | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Inputs:
    """Everything the decisions read, fetched once: the build, its lineage, the deliveries, the checks."""

    build: str | None
    statuses: dict[str, str]
    lineage: dict[str, tuple[list[str], list[str], str]]  # relation → (feeds, upstream, node)
    usable: set[tuple[str, dt.date]]
    not_usable: dict[tuple[str, dt.date], str]
    first_day: dt.date | None
    last_day: dt.date | None
    failed_suites: dict[str, list[str]]


def _inputs(conn: psycopg.Connection) -> Inputs:
    # The candidate tables are whatever the latest build (of any day) left: judge that build.
    build = conn.execute(
        "select invocation_id from audit.dbt_result where command = 'build' "
        "order by recorded_at desc, dbt_result_id desc limit 1"
    ).fetchone()
    invocation = build[0] if build else None
    statuses = dict(
        conn.execute("select unique_id, status from audit.dbt_result where invocation_id = %s", (invocation,))
    )
    lineage = {
        relation: (feeds, upstream, node)
        for relation, feeds, upstream, node in conn.execute(
            "select relation, feeds, upstream, node from audit.build_lineage where invocation_id = %s", (invocation,)
        )
    }
    usable, not_usable = set(), {}
    days: list[dt.date] = []
    if conn.execute("select to_regclass('int.int_feed_days_assessed') is not null").fetchone()[0]:
        for feed, day, is_usable, status, reason in conn.execute(
            "select feed, delivery_date, is_usable, delivery_status, reason from int.int_feed_days_assessed"
        ):
            days.append(day)
            if is_usable:
                usable.add((feed, day))
            else:
                not_usable[(feed, day)] = f"{status}: {reason}" if reason else status
    return Inputs(
        invocation,
        statuses,
        lineage,
        usable,
        not_usable,
        min(days, default=None),
        max(days, default=None),
        _failed_suites(conn, invocation),
    )


def _failed_suites(conn: psycopg.Connection, build: str | None) -> dict[str, list[str]]:
    """Mart suite → its fail-severity checks that failed on this build, or that it was not run on it."""
    from grassroots.quality.suites import mart_suites

    built = conn.execute("select max(recorded_at) from audit.dbt_result where invocation_id = %s", (build,))
    built_at = built.fetchone()[0]
    failed: dict[str, list[str]] = defaultdict(list)
    latest = conn.execute(
        "select distinct on (target) validation_id, target, checked_at from audit.validation_run "
        "where kind = 'model' order by target, checked_at desc, validation_id desc"
    ).fetchall()
    validated = {target: checked for _, target, checked in latest}
    for target in mart_suites():
        if built_at is not None and (validated.get(target) is None or validated[target] < built_at):
            failed[target].append("mart suite not run on the latest build")
    for target, check_id, detail in conn.execute(
        "select v.target, c.check_id, c.detail from audit.validation_run v "
        "join audit.check_result c on c.validation_id = v.validation_id "
        "where v.validation_id = any(%s) and not c.success and c.severity = 'fail' order by 1, 2",
        ([validation_id for validation_id, *_ in latest],),
    ):
        failed[target].append(f"check {check_id}" + (f": {detail}" if detail else ""))
    return dict(failed)


def _table_reasons(inputs: Inputs, relation: str) -> list[str]:
    """Why a whole table cannot be published from this build (empty when it can)."""
    if inputs.build is None:
        return ["no dbt build of the day recorded"]
    if relation not in inputs.lineage:
        return ["not built by the day's latest dbt build (no lineage recorded)"]
    _, upstream, node = inputs.lineage[relation]
    reasons = [
        f"dbt {name.split('.')[2] if name.count('.') >= 2 else name}: {inputs.statuses.get(name, 'not run')}"
        for name in (node, *upstream)
        if inputs.statuses.get(name, "not run") not in OK_STATUSES
    ]
    return reasons + inputs.failed_suites.get(relation, [])


def period_days(start: dt.date, grain: str, first: dt.date | None, last: dt.date | None) -> list[dt.date]:
    """The days of a period the warehouse has run (between its first and last ledger day)."""
    if first is None or last is None:
        return []
    end = start if grain == "day" else start.replace(day=calendar.monthrange(start.year, start.month)[1])
    return [
        start + dt.timedelta(days=i)
        for i in range((end - start).days + 1)
        if first <= start + dt.timedelta(days=i) <= last
    ]


def calendar_periods(grain: str, first: dt.date | None, last: dt.date | None) -> set[dt.date]:
    """Every day (or month) the warehouse has run: each gets a decision, even one with no rows at
    all (a day whose only delivery was unusable must show as held, not vanish)."""
    if first is None or last is None:
        return set()
    days = {first + dt.timedelta(days=i) for i in range((last - first).days + 1)}
    return days if grain == "day" else {day.replace(day=1) for day in days}


def _period_reasons(
    inputs: Inputs, feeds: list[str], start: dt.date, grain: str
) -> tuple[list[str], set[dt.date] | None]:
    """Why one period of a table cannot be published (empty when it can), and the delivery days
    those reasons concern (None when a reason concerns no delivery day)."""
    days = period_days(start, grain, inputs.first_day, inputs.last_day)
    if not days:
        return [f"outside the days the warehouse has run ({inputs.first_day} to {inputs.last_day})"], None
    unusable = [(feed, day) for feed in feeds for day in days if (feed, day) not in inputs.usable]
    reasons = [f"{feed} {day}: {inputs.not_usable.get((feed, day), 'no delivery recorded')}" for feed, day in unusable]
    return reasons, {day for _, day in unusable}


def _columns(conn: psycopg.Connection, schema: str, table: str) -> list[tuple[str, str]]:
    return conn.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = %s and table_name = %s order by ordinal_position",
        (schema, table),
    ).fetchall()


def _period_column(columns: list[tuple[str, str]]) -> str | None:
    return next((name for name, _ in columns if name in PERIOD_COLUMNS), None)


def decide(conn: psycopg.Connection, inputs: Inputs, relation: str) -> Decision:
    """The decision for one candidate table (reads the candidate's and the published periods)."""
    column = _period_column(_columns(conn, CANDIDATE_SCHEMA, relation))
    grain = PERIOD_COLUMNS.get(column, "table")
    if column is None:
        return judge(inputs, relation, grain, set())
    periods = calendar_periods(grain, inputs.first_day, inputs.last_day) | {
        row[0]
        for schema in (CANDIDATE_SCHEMA, PUBLISHED_SCHEMA)
        if _columns(conn, schema, relation)
        for row in conn.execute(
            sql.SQL("select distinct {} from {}").format(sql.Identifier(column), sql.Identifier(schema, relation))
        )
    }
    return judge(inputs, relation, grain, periods)


def judge(inputs: Inputs, relation: str, grain: str, periods: set[dt.date]) -> Decision:
    """The decision for one table over its periods (a table without a period column: grain 'table', none)."""
    decision = Decision(relation, grain)
    table_reasons = _table_reasons(inputs, relation)
    if grain == "table":
        if table_reasons:
            decision.held[None] = table_reasons
        else:
            decision.published.append(None)
        return decision
    feeds = inputs.lineage.get(relation, ([], [], ""))[0]
    for start in sorted(periods):
        # A period held for the whole table (a failed model or suite) also names its own unusable
        # inputs: an empty table's failed row-count check is then traced to the missing feed.
        reasons, days = _period_reasons(inputs, feeds, start, decision.grain)
        if reasons or table_reasons:
            decision.held[start] = reasons + table_reasons
            decision.held_days[start] = None if table_reasons else days
        else:
            decision.published.append(start)
    return decision


def _rebuild(conn: psycopg.Connection, relation: str, column: str | None, keep: list[dt.date]) -> None:
    """Replace marts.<relation> by a copy of the candidate's shape (its comments and constraints too),
    keeping the held periods' published rows where their columns still exist, secured before commit."""
    target, source = sql.Identifier(PUBLISHED_SCHEMA, relation), sql.Identifier(CANDIDATE_SCHEMA, relation)
    fresh = sql.Identifier(PUBLISHED_SCHEMA, f"{relation}__publishing")
    conn.execute(sql.SQL("drop table if exists {}").format(fresh))
    conn.execute(sql.SQL("create table {} (like {} including all)").format(fresh, source))
    old = {name for name, _ in _columns(conn, PUBLISHED_SCHEMA, relation)}
    shared = [name for name, _ in _columns(conn, CANDIDATE_SCHEMA, relation) if name in old]
    if column and keep and column in shared:
        names = sql.SQL(", ").join(map(sql.Identifier, shared))
        conn.execute(
            sql.SQL("insert into {} ({}) select {} from {} where {} = any(%s)").format(
                fresh, names, names, target, sql.Identifier(column)
            ),
            (keep,),
        )
    conn.execute(sql.SQL("drop table if exists {}").format(target))
    conn.execute(sql.SQL("alter table {} rename to {}").format(fresh, sql.Identifier(relation)))
    # The constraints keep the names LIKE gave them (<relation>__publishing_pkey): name them after
    # the table; and LIKE copies column comments, not the table's own.
    for (name,) in conn.execute(
        "select conname from pg_constraint where conrelid = %s::regclass and conname like %s",
        (f"{PUBLISHED_SCHEMA}.{relation}", f"{relation}\\_\\_publishing%"),
    ).fetchall():
        renamed = relation + name.removeprefix(f"{relation}__publishing")
        conn.execute(
            sql.SQL("alter table {} rename constraint {} to {}").format(
                target, sql.Identifier(name), sql.Identifier(renamed)
            )
        )
    comment = conn.execute("select obj_description(%s::regclass, 'pg_class')", (f"{CANDIDATE_SCHEMA}.{relation}",))
    conn.execute(sql.SQL("comment on table {} is {}").format(target, sql.Literal(comment.fetchone()[0])))
    area_columns = [name for name, _ in _columns(conn, PUBLISHED_SCHEMA, relation) if name in security.AREA_COLUMNS]
    if area_columns:
        security.secure_table(conn, PUBLISHED_SCHEMA, relation, area_columns)


def apply_decision(conn: psycopg.Connection, decision: Decision) -> None:
    """Copy the published periods of one table from the candidate into marts (same transaction)."""
    if not decision.published:
        return
    relation = decision.relation
    candidate_columns = _columns(conn, CANDIDATE_SCHEMA, relation)
    column = _period_column(candidate_columns)
    target, source = sql.Identifier(PUBLISHED_SCHEMA, relation), sql.Identifier(CANDIDATE_SCHEMA, relation)
    if candidate_columns != _columns(conn, PUBLISHED_SCHEMA, relation):
        _rebuild(conn, relation, column, [p for p in decision.held if p is not None])
    if column is None:
        conn.execute(sql.SQL("delete from {}").format(target))
        conn.execute(sql.SQL("insert into {} select * from {}").format(target, source))
        return
    where = sql.SQL("{} = any(%s)").format(sql.Identifier(column))
    conn.execute(sql.SQL("delete from {} where {}").format(target, where), (decision.published,))
    conn.execute(
        sql.SQL("insert into {} select * from {} where {}").format(target, source, where), (decision.published,)
    )


def _of_day(decision: Decision, period: dt.date | None, ds: dt.date) -> bool:
    """Whether a period is one of ds's: the whole table, the day, or the month that contains it."""
    return period is None or period == ds or (decision.grain == "month" and period == ds.replace(day=1))


def _own(decision: Decision, period: dt.date | None, ds: dt.date) -> bool:
    """Whether a held period counts against ds's run: one of ds's periods held for the whole table
    or for a delivery of ds or earlier. A period held only for later days' deliveries (not yet
    settled when ds was built) is left to those days' runs."""
    days = decision.held_days.get(period)
    return _of_day(decision, period, ds) and (not days or min(days) <= ds)


def run_status(decisions: list[Decision], ds: dt.date) -> tuple[str, list[str]]:
    """The run's status for ds (published, partial or held) and its own holds as reasons.

    Only the run's own holds count (`_own`): a period of ds held only for a later day's deliveries
    is recorded as held but neither makes the day partial nor trips the circuit breaker.
    """
    own = [
        f"{d.relation} {period or ''}: {'; '.join(reasons)}".replace(" :", ":")
        for d in decisions
        for period, reasons in d.held.items()
        if _own(d, period, ds)
    ]
    published_own = any(_of_day(d, p, ds) for d in decisions for p in d.published)
    waiting = any(_of_day(d, p, ds) and not _own(d, p, ds) for d in decisions for p in d.held)  # on later days
    if not decisions:
        own = ["no KPI table was built (no candidate in marts_candidate)"]
    status = "published" if (published_own or waiting) and not own else ("partial" if published_own else "held")
    return status, own


def _record(
    conn: psycopg.Connection, ds: dt.date, run_id: str, decisions: list[Decision], warns: int
) -> tuple[str, list[str]]:
    """Append the run's decision and its holds to audit; refresh marts.kpi_period_status; return (status, reasons).

    The holds keep whether each is the run's own (`_own`); the status counts only those (`run_status`).
    """
    status, own = run_status(decisions, ds)
    publication_id = conn.execute(
        "insert into audit.publication (ds, run_id, status, failed_fail, failed_warn, reason) "
        "values (%s, %s, %s, %s, %s, %s) returning publication_id",
        (ds, run_id, status, len(own), warns, "; ".join(own)[:4000] or None),
    ).fetchone()[0]
    holds = [
        (publication_id, d.relation, d.grain, period, "; ".join(reasons)[:4000], _own(d, period, ds))
        for d in decisions
        for period, reasons in d.held.items()
    ]
    with conn.cursor() as cur:
        cur.executemany(
            "insert into audit.publication_hold (publication_id, relation, period_grain, period_start, reason, own) "
            "values (%s, %s, %s, %s, %s, %s)",
            holds,
        )
    _refresh_status(conn, decisions)
    return status, own


def _refresh_status(conn: psycopg.Connection, decisions: list[Decision]) -> None:
    """marts.kpi_period_status: the latest decision for every table and period BI can see.

    `decided_at` is when a period's status or reason last changed, so a rerun that decides the
    same leaves the table as it was (reruns leave identical tables).
    """
    conn.execute(STATUS_DDL)
    target = sql.Identifier(PUBLISHED_SCHEMA, STATUS_TABLE)
    conn.execute(sql.SQL("comment on table {} is {}").format(target, sql.Literal(STATUS_COMMENT)))
    for column, text in STATUS_COLUMNS.items():
        conn.execute(sql.SQL("comment on column {}.{} is {}").format(target, sql.Identifier(column), sql.Literal(text)))
    rows = [(d.relation, d.grain, p, "published", None) for d in decisions for p in d.published]
    rows += [(d.relation, d.grain, p, "held", "; ".join(r)[:4000]) for d in decisions for p, r in d.held.items()]
    with conn.cursor() as cur:
        cur.executemany(
            sql.SQL(
                "insert into {t} values (%s, %s, %s, %s, %s, now()) on conflict (relation, period_grain, period_start) "
                "do update set status = excluded.status, reason = excluded.reason, decided_at = excluded.decided_at "
                "where ({t}.status, {t}.reason) is distinct from (excluded.status, excluded.reason)"
            ).format(t=target),
            [row for row in rows if row[2] is not None],
        )


def _warn_count(conn: psycopg.Connection, ds: dt.date, build: str | None) -> int:
    """Warn-severity failures of the day: its suites' latest validations plus the build's dbt warnings."""
    suites = conn.execute(
        "select count(*) from audit.latest_validation v join audit.check_result c using (validation_id) "
        "where v.ds = %s and not c.success and c.severity = 'warn'",
        (ds,),
    ).fetchone()[0]
    dbt = conn.execute("select count(*) from audit.dbt_result where invocation_id = %s and status = 'warn'", (build,))
    return int(suites) + int(dbt.fetchone()[0])


def publish_day(dsn: str, ds: dt.date, run_id: str) -> dict:
    """Publish what can be published for ds's build; record every decision; return counts (no data)."""
    with psycopg.connect(dsn) as conn:
        locks.xact(conn, locks.WAREHOUSE)
        inputs = _inputs(conn)
        # The tables of the judged build: the risk KPIs (scoring.tier_kpis) share the candidate schema
        # but are built and published by the scoring DAG after the tiers, outside this build.
        relations = [
            row[0]
            for row in conn.execute(
                "select table_name from information_schema.tables where table_schema = %s "
                "and table_type = 'BASE TABLE' order by 1",
                (CANDIDATE_SCHEMA,),
            )
            if inputs.build is None or row[0] in inputs.lineage
        ]
        decisions = [decide(conn, inputs, relation) for relation in relations]
        decisions += [
            Decision(relation, "table", held={None: [f"not built: {'; '.join(_table_reasons(inputs, relation))}"]})
            for relation in sorted(set(inputs.lineage) - set(relations))
        ]
        for decision in decisions:
            apply_decision(conn, decision)
        status, own = _record(conn, ds, run_id, decisions, _warn_count(conn, ds, inputs.build))
    held = sum(len(d.held) for d in decisions)
    published = sum(len(d.published) for d in decisions)
    if own:
        log.error("marts for %s %s: %d table period(s) of the day held: %s", ds, status, len(own), " | ".join(own))
    log.info("marts for %s: %d table period(s) published, %d held in all", ds, published, held)
    return {"ds": ds.isoformat(), "status": status, "published_periods": published, "held_periods": held}


def circuit_breaker(dsn: str, ds: dt.date, run_id: str) -> None:
    """Raise PublicationHeld unless this run published ds's periods of every table, bar periods held
    only for later days' deliveries (not the run's own: see `_own`)."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "select status, reason from audit.publication where ds = %s and run_id = %s "
            "order by decided_at desc, publication_id desc limit 1",
            (ds, run_id),
        ).fetchone()
    if row is None:
        raise PublicationHeld(f"marts for {ds} not published: this run made no publication decision")
    if row[0] != "published":
        raise PublicationHeld(f"marts for {ds} {row[0]}: {row[1]}")
