"""
### grassroots_scoring

One run per day partition of the warehouse's marts Asset, which only the warehouse DAG's
`announce` task emits, after `publish`, for a day with something published: scoring and the KPI
pages never read an unpublished day. The partition key is the day (`YYYY-MM-DD`); rerun one
day by triggering with it as partition key, or with `{"ds": "YYYY-MM-DD"}` as run conf.
After the `bootstrap` setup task both tasks work
as the `scorer` role. `score_residents`: features from the warehouse,
weighted standard scaling, KMeans with a fixed seed (k by silhouette), clusters ranked into
risk tiers by the documented rule in `grassroots.scoring.model`, written to `scoring.*`
(model registry, clusters, resident tiers with reasons, the grid workers' watchlist).
`build_kpi_report`: static KPI pages per district from `marts.kpi_*` into
`<reports_dir>/kpi/`.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, dag, task

from grassroots.orchestration.runs import (
    DEFAULT_ARGS,
    SCORING_ASSET_URI,
    TIMEZONE,
    WAREHOUSE_ASSET_URI,
    bootstrap_warehouse,
    partitioned_by,
)


@task(outlets=[Asset(SCORING_ASSET_URI)])
def score_residents(**context) -> dict:
    """Cluster the day's residents into risk tiers; refresh the watchlist."""
    from grassroots.orchestration.runs import announce, partition_date
    from grassroots.scoring import score_day
    from grassroots.warehouse.db import role_dsn
    from grassroots.warehouse.security import SCORER

    ds = partition_date(context)
    summary = score_day(role_dsn(SCORER), ds)
    announce(context, SCORING_ASSET_URI, ds, residents=summary["residents"])
    return summary


@task
def build_kpi_report(**context) -> dict:
    """Render the KPI pages for the run's day."""
    from grassroots import settings
    from grassroots.orchestration.runs import partition_date
    from grassroots.reports import kpi_pages
    from grassroots.warehouse.db import role_dsn
    from grassroots.warehouse.security import SCORER

    return kpi_pages.build(role_dsn(SCORER), partition_date(context), settings.reports_dir() / "kpi")


@dag(
    dag_id="grassroots_scoring",
    schedule=partitioned_by(WAREHOUSE_ASSET_URI),
    start_date=pendulum.datetime(2026, 11, 1, tz=TIMEZONE),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    doc_md=__doc__,
    tags=["grassroots", "scoring"],
)
def grassroots_scoring() -> None:
    ready = bootstrap_warehouse()
    ready >> score_residents()
    ready >> build_kpi_report()


grassroots_scoring()
