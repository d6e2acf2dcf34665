"""Airflow glue kept out of DAG files: Asset names, the partition day of a run, the setup task."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from grassroots.alerts import DayAlert

TIMEZONE = "Asia/Shanghai"
DEFAULT_ARGS = {
    "owner": "grassroots-data",
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=5),
    "execution_timeout": dt.timedelta(hours=2),  # no task may hang a day: a load, a pull, a dbt build
    # A task that fails for good (after its retries) alerts with the DAG, the day and the reason; the
    # task-level callback runs in the task's process, so it fires under the scheduler and dag.test alike.
    "on_failure_callback": [DayAlert()],
}


def staging_asset_uri(feed: str) -> str:
    """Asset URI announced when a feed's day is in staging."""
    return f"grassroots://warehouse/staging/{feed}"


# A day's deliveries are settled (every feed loaded, missing or failed): the warehouse builds the day.
DELIVERIES_ASSET_URI = "grassroots://warehouse/deliveries"
# A day's marts are published (announced by publication, never by the build): scoring and KPI pages run.
WAREHOUSE_ASSET_URI = "grassroots://warehouse/marts"
SCORING_ASSET_URI = "grassroots://warehouse/scoring"


def _local_date(value: Any) -> dt.date:
    """The Asia/Shanghai calendar day of an aware datetime."""
    from zoneinfo import ZoneInfo

    return value.astimezone(ZoneInfo(TIMEZONE)).date()


def partition_date(context: Mapping[str, Any]) -> dt.date:
    """The day a run is for, in order of precedence.

    1. `ds` in the run's conf (a manual rerun of one day);
    2. the latest `ds` carried by the triggering Asset events (data-aware runs);
    3. the start of the data interval, else the logical date, as a Shanghai day.
    """
    dag_run = context.get("dag_run")
    conf = getattr(dag_run, "conf", None) or {}
    requested = (context.get("params") or {}).get("ds") or conf.get("ds")
    if requested:
        return dt.date.fromisoformat(str(requested))
    events = context.get("triggering_asset_events") or {}
    days = [
        dt.date.fromisoformat(str(event.extra["ds"]))
        for asset_events in events.values()
        for event in asset_events
        if (event.extra or {}).get("ds")
    ]
    if days:
        return max(days)
    start = context.get("data_interval_start") or context.get("logical_date")
    if start is None:
        raise ValueError("run has no ds in conf, no triggering asset events and no logical date")
    return _local_date(start)


def announce(context: Mapping[str, Any], uri: str, ds: dt.date, **extra: object) -> None:
    """Attach the partition day (and counts, never personal data) to the outlet Asset event."""
    from airflow.sdk import Asset

    context["outlet_events"][Asset(uri)].extra = {"ds": ds.isoformat(), **extra}


def bootstrap_warehouse() -> Any:
    """The DAGs' setup task: roles, schemas, tables and grants, as the warehouse login (idempotent).

    Every other task works as its own role (grassroots.db.role_dsn), which cannot create them.
    """
    from airflow.sdk import setup

    @setup
    def bootstrap() -> dict:
        from grassroots.bootstrap import bootstrap as run_bootstrap
        from grassroots.db import warehouse_dsn

        run_bootstrap(warehouse_dsn())
        return {"bootstrapped": True}

    return bootstrap()
