"""
### grassroots_warehouse

Builds the warehouse with dbt once every feed's staging Asset has been updated:
`dbt seed` then `dbt build` (models and their tests) for the partition day carried by
the triggering Asset events. Every node's result is in the task log; a failing model
or test fails the task. Announces the marts Asset for the scoring DAG.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, dag, task

from grassroots.contracts import all_contracts
from grassroots.orchestration import DEFAULT_ARGS, TIMEZONE, WAREHOUSE_ASSET_URI, staging_asset_uri


@task(outlets=[Asset(WAREHOUSE_ASSET_URI)])
def dbt_build(**context) -> dict:
    """Seed reference data, then build and test every model for the day."""
    from grassroots.dbt_build import run_dbt
    from grassroots.orchestration import announce, partition_date

    ds = partition_date(context)
    run_dbt("seed", ds)
    nodes = run_dbt("build", ds, "--exclude", "resource_type:seed")
    announce(context, WAREHOUSE_ASSET_URI, ds, nodes=len(nodes))
    return {"ds": ds.isoformat(), "nodes": len(nodes)}


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
    dbt_build()


grassroots_warehouse()
