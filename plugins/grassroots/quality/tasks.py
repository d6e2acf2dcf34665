"""Bodies of the warehouse DAG's quality tasks, so the DAG file stays wiring only."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import psycopg

from grassroots.loading.contracts import all_contracts
from grassroots.orchestration.days import partition_date
from grassroots.quality import checks, publish, report
from grassroots.quality.audit import RunInfo
from grassroots.warehouse.db import role_dsn
from grassroots.warehouse.security import AUDITOR, TRANSFORMER


class DeliveriesIncomplete(RuntimeError):
    """A feed of the day is missing, lost a file or failed a fail-severity check."""


def unusable_feeds(ds: dt.date) -> dict[str, str]:
    """Feed → why its delivery of ds is not usable: no validation since its last load, or the failed checks."""
    with psycopg.connect(role_dsn(TRANSFORMER)) as conn:
        rows = conn.execute(
            "select f.feed, v.validation_id, v.success, v.checked_at < coalesce((select max(b.loaded_at) "
            "from meta.load_batch b where b.feed = f.feed and b.ds = %s), '-infinity'), "
            "(select string_agg(c.check_id || coalesce(': ' || c.detail, ''), '; ' order by c.check_id) "
            "from audit.check_result c where c.validation_id = v.validation_id and not c.success "
            "and c.severity = 'fail') "
            "from unnest(%s::text[]) as f(feed) left join audit.latest_validation v "
            "on v.kind = 'feed' and v.target = f.feed and v.ds = %s order by 1",
            (ds, list(all_contracts()), ds),
        ).fetchall()
    reasons = {}
    for feed, validation_id, success, stale, failed in rows:
        if validation_id is None or stale:
            reasons[feed] = "not validated since its last load"
        elif not success:
            reasons[feed] = failed or "a fail-severity check failed"
    return reasons


def delivery_summary(ds: dt.date) -> dict:
    """Counts for the deliveries Asset event (no data): feeds usable and not."""
    reasons = unusable_feeds(ds)
    return {"feeds": len(all_contracts()), "usable": len(all_contracts()) - len(reasons), "unusable": sorted(reasons)}


def check_deliveries(ds: dt.date) -> None:
    """Raise DeliveriesIncomplete naming every feed of ds that is not usable and why."""
    reasons = unusable_feeds(ds)
    if reasons:
        raise DeliveriesIncomplete(
            f"{len(reasons)} feed(s) of {ds} not usable: " + " | ".join(f"{f}: {r}" for f, r in reasons.items())
        )


def validate_stale_feeds(context: Mapping[str, Any]) -> list[dict]:
    """Before the build: validate every feed-day loaded since its last validation (a reload, a late file),
    then judge every feed's freshness for the day (`dbt source freshness`, kept in audit for the report)."""
    from grassroots.quality.freshness import run_freshness

    dsn, run = role_dsn(TRANSFORMER), RunInfo.from_context(context, partition_date(context))
    validated = checks.validate_feeds(dsn, [(run.with_ds(ds), feed) for feed, ds in checks.stale_feed_days(dsn)])
    run_freshness(dsn, run.ds)
    return validated


def validate_warehouse(context: Mapping[str, Any]) -> list[dict]:
    """The mart suites on the unpublished build, under the warehouse lock (no build changes it meanwhile)."""
    from grassroots.warehouse import locks

    dsn, run = role_dsn(TRANSFORMER), RunInfo.from_context(context, partition_date(context))
    with locks.held(dsn, locks.WAREHOUSE):
        return checks.validate_marts(dsn, run)


def publish_marts(context: Mapping[str, Any]) -> dict:
    """Publish the day's marts, or hold them (recorded in audit.publication), as the transformer."""
    return publish.publish_day(role_dsn(TRANSFORMER), partition_date(context), str(context["run_id"]))


def announce_publication(context: Mapping[str, Any], uri: str) -> dict:
    """Attach the day to the marts Asset event when this run published the day; skip (no event) otherwise."""
    from airflow.sdk.exceptions import AirflowSkipException

    from grassroots.orchestration.runs import announce

    ds, run_id = partition_date(context), str(context["run_id"])
    with psycopg.connect(role_dsn(TRANSFORMER)) as conn:
        row = conn.execute(
            "select status from audit.publication where ds = %s and run_id = %s "
            "order by decided_at desc, publication_id desc limit 1",
            (ds, run_id),
        ).fetchone()
    if row is None or row[0] == "held":
        raise AirflowSkipException(f"nothing of {ds} was published: scoring and KPI pages keep the last day")
    announce(context, uri, ds, publication=row[0])
    return {"ds": ds.isoformat(), "publication": row[0]}


def render_report(context: Mapping[str, Any]) -> str:
    """dbt docs (as the transformer), then the run's auditor report (as the auditor); return its path."""
    ds = partition_date(context)
    report.build_dbt_docs(role_dsn(TRANSFORMER), ds)
    return str(report.render_run(role_dsn(AUDITOR), ds, str(context["run_id"])))


def check_published(context: Mapping[str, Any]) -> None:
    """Raise when this run did not publish the day's marts."""
    publish.circuit_breaker(role_dsn(AUDITOR), partition_date(context), str(context["run_id"]))
