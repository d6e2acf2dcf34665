"""
### grassroots_scoring

One run per day partition of the warehouse's marts Asset, which only the warehouse DAG's
`announce` task emits, after `publish`, for a day with something published: scoring and the KPI
pages never read an unpublished day. The partition key is the day (`YYYY-MM-DD`); rerun one
day by triggering with it as partition key, or with `{"ds": "YYYY-MM-DD"}` as run conf.
After the `bootstrap` setup task `score_residents` and
`build_kpi_report` work as the `scorer` role. `score_residents`: the residents' features as dbt
computed them for the day (`warehouse.fct_resident_risk_features`), weighted standard scaling,
KMeans with a fixed seed (k by silhouette), clusters ranked into
risk tiers by the documented rule in `grassroots.scoring.model`, written to `scoring.*`
(model registry, clusters, the residents' tier history as changes, the recent days' scores and
reasons, the grid workers' watchlist).
`build_risk_kpis` (as the `transformer`, which owns what dbt builds): dbt builds the KPI tables
that use the day's tiers (tag `after_scoring`, e.g. `marts.kpi_top_tier_follow_up_daily`)
straight into `marts`, under row-level security like the other KPI tables. `build_kpi_report`,
after it (and even when scoring failed): static KPI pages per district from `marts.kpi_*` into
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
    from grassroots.orchestration.days import partition_date
    from grassroots.orchestration.runs import announce
    from grassroots.scoring import score_day
    from grassroots.warehouse.db import role_dsn
    from grassroots.warehouse.security import SCORER

    ds = partition_date(context)
    summary = score_day(role_dsn(SCORER), ds)
    announce(context, SCORING_ASSET_URI, ds, residents=summary["residents"])
    return summary


@task
def build_risk_kpis(**context) -> dict:
    """dbt builds the KPI tables that use the day's risk tiers."""
    from grassroots.orchestration.days import partition_date
    from grassroots.scoring import tier_kpis
    from grassroots.warehouse.db import role_dsn
    from grassroots.warehouse.security import TRANSFORMER

    return tier_kpis.build(role_dsn(TRANSFORMER), partition_date(context))


@task(trigger_rule="all_done")
def build_kpi_report(**context) -> dict:
    """Render the KPI pages for the run's day."""
    from grassroots import settings
    from grassroots.orchestration.days import partition_date
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
    ready >> score_residents() >> build_risk_kpis() >> build_kpi_report()


grassroots_scoring()
