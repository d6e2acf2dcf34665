"""
### grassroots_warehouse

Builds and publishes the warehouse for a day once its deliveries are settled: one run per day
partition of the ingest DAG's deliveries Asset (announced whether every feed arrived or not),
with the same partition key, the day (`YYYY-MM-DD`). After the `bootstrap` setup
task, as the `transformer` role: `validate_feeds` checks any delivery loaded since its last
validation (a late or re-sent file); `dbt_build` builds every model and data test from the usable
deliveries only (`int_feed_days_assessed`; dbt's unit tests are CI's) and records every node's
result and the KPI tables' lineage in `audit`; `validate_marts` runs the mart suites on the unpublished build; `publish`
(`grassroots.quality.publish`) copies each KPI table's periods whose inputs are all usable and
checked into the BI-facing `marts` and holds the others with their reasons (BI keeps the last
good values); `announce`, after `publish` and the only producer of the marts Asset, emits the
day's partition of it when something of the day was published (so scoring and the KPI pages
never read an unpublished day); `secure`
re-applies roles, grants and row-level security; `report` writes the auditor's HTML report;
`circuit_breaker` (as `auditor`) fails the run when any of the day's own periods was held: the
whole table (a failed model, test or suite), the day, or its month held for a delivery of the day
or earlier. A month held only for a later day's deliveries (built while that day's files were
still due) stays held for BI but is left to that day's run: it does not fail this one.

Rebuild one day: trigger with the day as partition key (UI or REST `"partition_key"`), or with
`{"ds": "YYYY-MM-DD"}` as run conf. Runs take the days one at a time (`max_active_runs=1`, and
builds and publications hold the warehouse advisory lock).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, dag, task

from grassroots.orchestration.runs import (
    DEFAULT_ARGS,
    DELIVERIES_ASSET_URI,
    TIMEZONE,
    WAREHOUSE_ASSET_URI,
    bootstrap_warehouse,
    partitioned_by,
)

FINAL = {"retries": 0, "trigger_rule": "all_done"}  # decisions are not transient: no retries


@task
def validate_feeds(**context) -> list[dict]:
    """Validate every delivery loaded since its last validation, so the build judges fresh verdicts."""
    from grassroots.quality.tasks import validate_stale_feeds

    return validate_stale_feeds(context)


@task
def dbt_build(**context) -> dict:
    """Seed reference data, build and test every model; failed nodes are left to publication to hold."""
    from grassroots.orchestration.days import partition_date
    from grassroots.warehouse.db import role_dsn
    from grassroots.warehouse.dbt_runner import DAILY_BUILD, run_dbt
    from grassroots.warehouse.security import TRANSFORMER

    ds = partition_date(context)
    nodes = run_dbt("build", ds, *DAILY_BUILD, dsn=role_dsn(TRANSFORMER), strict=False)
    failed = sum(n["status"] in ("error", "fail", "skipped") for n in nodes)
    return {"ds": ds.isoformat(), "nodes": len(nodes), "failed_or_skipped": failed}


@task(**FINAL)
def validate_marts(**context) -> list[dict]:
    """Mart suites on the unpublished build."""
    from grassroots.quality.tasks import validate_warehouse

    return validate_warehouse(context)


@task(**FINAL)
def publish(**context) -> dict:
    """Publish every KPI period whose inputs are usable and checked; hold the rest with reasons."""
    from grassroots.quality.tasks import publish_marts

    return publish_marts(context)


@task(outlets=[Asset(WAREHOUSE_ASSET_URI)])
def announce(**context) -> dict:
    """Announce the day's publication (skipped when nothing of the day was published)."""
    from grassroots.quality.tasks import announce_publication

    return announce_publication(context, WAREHOUSE_ASSET_URI)


@task(**FINAL)
def secure() -> dict:
    """Roles, grants and forced row-level security on what is published (idempotent; the warehouse login)."""
    from grassroots.warehouse.db import warehouse_dsn
    from grassroots.warehouse.security import apply

    return apply(warehouse_dsn())


@task(**FINAL)
def report(**context) -> str:
    """The auditor's HTML report for this run and the index across days."""
    from grassroots.quality.tasks import render_report

    return render_report(context)


@task(**FINAL)
def circuit_breaker(**context) -> None:
    """Fail the run unless it published every period of the day (bar those waiting on later days)."""
    from grassroots.quality.tasks import check_published

    check_published(context)


@dag(
    dag_id="grassroots_warehouse",
    schedule=partitioned_by(DELIVERIES_ASSET_URI),
    start_date=pendulum.datetime(2026, 11, 1, tz=TIMEZONE),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    doc_md=__doc__,
    tags=["grassroots", "dbt"],
)
def grassroots_warehouse() -> None:
    published = bootstrap_warehouse() >> validate_feeds() >> dbt_build() >> validate_marts() >> publish()
    published >> announce()
    published >> secure() >> report() >> circuit_breaker()


grassroots_warehouse()
