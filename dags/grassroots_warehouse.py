"""
### grassroots_warehouse

Builds the warehouse with dbt once every feed's staging Asset has been updated (after the
`bootstrap` setup task; dbt, checks and publication work as the `transformer` role):
`dbt seed` then `dbt build` (models and their tests) for the partition day carried by
the triggering Asset events; every node's result is appended to `audit.dbt_result`.
Announces the marts Asset for the scoring DAG. Then write-audit-publish
(`grassroots.quality.publish`): the KPI build in `marts_candidate` is checked by the
mart suites, `publish` copies it to the BI-facing `marts` only if no `fail`-severity
check failed that day, `secure` re-applies roles, grants and row-level security
(`grassroots.security`), `report` writes the auditor's HTML report, and
`circuit_breaker` (as `auditor`) fails the run when the day was held.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, dag, task

from grassroots.contracts import all_contracts
from grassroots.orchestration import (
    DEFAULT_ARGS,
    TIMEZONE,
    WAREHOUSE_ASSET_URI,
    bootstrap_warehouse,
    staging_asset_uri,
)

FINAL = {"retries": 0, "trigger_rule": "all_done"}  # decisions are not transient: no retries


@task(outlets=[Asset(WAREHOUSE_ASSET_URI)])
def dbt_build(**context) -> dict:
    """Seed reference data, then build and test every model for the day."""
    from grassroots.db import role_dsn
    from grassroots.dbt_build import run_dbt
    from grassroots.orchestration import announce, partition_date
    from grassroots.security import TRANSFORMER

    ds, dsn = partition_date(context), role_dsn(TRANSFORMER)
    run_dbt("seed", ds, dsn=dsn)
    nodes = run_dbt("build", ds, "--exclude", "resource_type:seed", dsn=dsn)
    announce(context, WAREHOUSE_ASSET_URI, ds, nodes=len(nodes))
    return {"ds": ds.isoformat(), "nodes": len(nodes)}


@task
def validate_marts(**context) -> list[dict]:
    """Mart suites on the unpublished build (and any feed loaded since its last validation)."""
    from grassroots.quality.tasks import validate_warehouse

    return validate_warehouse(context)


@task(**FINAL)
def publish(**context) -> dict:
    """Copy marts_candidate to marts unless a fail-severity check (GX or dbt) failed; runs even if dbt failed."""
    from grassroots.quality.tasks import publish_marts

    return publish_marts(context)


@task(**FINAL)
def secure(**context) -> dict:
    """Roles, grants and forced row-level security on what is published (idempotent; the warehouse login)."""
    from grassroots.db import warehouse_dsn
    from grassroots.security import apply

    return apply(warehouse_dsn())


@task(**FINAL)
def report(**context) -> str:
    """The auditor's HTML report for this run and the index across days."""
    from grassroots.quality.tasks import render_report

    return render_report(context)


@task(**FINAL)
def circuit_breaker(**context) -> None:
    """Fail the run unless it published the day's marts."""
    from grassroots.quality.tasks import check_published

    check_published(context)


@dag(
    dag_id="grassroots_warehouse",
    schedule=[Asset(staging_asset_uri(feed)) for feed in all_contracts()],
    start_date=pendulum.datetime(2026, 11, 1, tz=TIMEZONE),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    doc_md=__doc__,
    tags=["grassroots", "dbt"],
)
def grassroots_warehouse() -> None:
    bootstrap_warehouse() >> dbt_build() >> validate_marts() >> publish() >> secure() >> report() >> circuit_breaker()


grassroots_warehouse()
