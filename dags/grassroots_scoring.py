"""
### grassroots_scoring

Resident risk clusters, triggered by the warehouse's marts Asset: features from
`warehouse.dim_residents`, standard scaling, KMeans with a fixed seed, clusters ranked
into risk tiers by the documented rule in `grassroots.scoring`, written to `scoring.*`
with each resident's reasons.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, dag, task

from grassroots.orchestration import DEFAULT_ARGS, SCORING_ASSET_URI, TIMEZONE, WAREHOUSE_ASSET_URI


@task(outlets=[Asset(SCORING_ASSET_URI)])
def score_residents(**context) -> dict:
    """Cluster the day's residents into risk tiers."""
    from grassroots.db import warehouse_dsn
    from grassroots.orchestration import announce, partition_date
    from grassroots.scoring import score_day

    ds = partition_date(context)
    summary = score_day(warehouse_dsn(), ds)
    announce(context, SCORING_ASSET_URI, ds, residents=summary["residents"])
    return summary


@dag(
    dag_id="grassroots_scoring",
    schedule=[Asset(WAREHOUSE_ASSET_URI)],
    start_date=pendulum.datetime(2026, 11, 1, tz=TIMEZONE),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    doc_md=__doc__,
    tags=["grassroots", "scoring"],
)
def grassroots_scoring() -> None:
    score_residents()


grassroots_scoring()
