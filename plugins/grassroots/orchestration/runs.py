"""Airflow glue kept out of DAG files: default task arguments, Asset names and timetables, the setup task."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from grassroots.orchestration.alerts import DayAlert
from grassroots.orchestration.days import day_key
from grassroots.settings import TIMEZONE

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


def daily_partitions() -> Any:
    """The ingest DAG's timetable: a run at 06:00 Shanghai each day for the previous day's partition.

    `run_offset=-1` keys each run by the cron tick before its own (yesterday 06:00), formatted as
    that day, so the run of 2026-11-27 06:00 has partition key `2026-11-26`.
    """
    from airflow.sdk import CronPartitionTimetable

    return CronPartitionTimetable("0 6 * * *", timezone=TIMEZONE, run_offset=-1, key_format="%Y-%m-%d")


CATCHUP_ENV = "GRASSROOTS_CATCHUP_FROM"
FIRST_DAY = dt.date(2026, 10, 31)  # the ingest DAG's first partition (its start_date is the next morning)


def ingest_schedule_start(environ: Mapping[str, str] | None = None) -> tuple[Any, bool]:
    """(start_date, catchup) of the ingest DAG.

    By default no catch-up: unpausing runs only the latest day (yesterday's partition), and
    earlier days are rebuilt with a backfill (`python -m grassroots backfill`). With
    `GRASSROOTS_CATCHUP_FROM=YYYY-MM-DD` the scheduler itself runs every day from that one on,
    in day order, as it would have had it been running since: the start date is the next
    midnight, so the first cron tick after it (06:00) is keyed by that day. The end-to-end test
    starts the real scheduler this way on the latest two days. A day after today starts no day
    at all until then (tests that trigger or backfill their own days).
    """
    import os

    import pendulum

    value = (os.environ if environ is None else environ).get(CATCHUP_ENV, "").strip()
    first = dt.date.fromisoformat(value) if value else FIRST_DAY
    start = first + dt.timedelta(days=1)
    # A day ahead of today: no catch-up, so the scheduler starts nothing before that day. With
    # catch-up Airflow would count on from the latest run, a backfill's too, and ignore the start.
    catchup = bool(value) and start <= pendulum.now(TIMEZONE).date()
    return pendulum.datetime(start.year, start.month, start.day, tz=TIMEZONE), catchup


def partitioned_by(uri: str) -> Any:
    """A timetable that runs a DAG once per day partition announced on the Asset `uri` (same key)."""
    from airflow.sdk import Asset, IdentityMapper, PartitionedAssetTimetable

    return PartitionedAssetTimetable(assets=Asset(uri), default_partition_mapper=IdentityMapper())


def announce(context: Mapping[str, Any], uri: str, ds: dt.date, **extra: object) -> None:
    """Emit the outlet Asset event for day partition `ds`, with the day (and counts, never personal data)
    in its extra.

    The event carries the day as its partition key even when the run has none (a manual rerun
    with conf `ds`), so the DAGs partitioned by this Asset run for that day.
    """
    from airflow.sdk import Asset

    event = context["outlet_events"][Asset(uri)]
    event.extra = {"ds": ds.isoformat(), **extra}
    event.add_partitions(day_key(ds))


def bootstrap_warehouse() -> Any:
    """The DAGs' setup task: roles, schemas, tables and grants, as the warehouse login (idempotent).

    Every other task works as its own role (grassroots.warehouse.db.role_dsn), which cannot create them.
    """
    from airflow.sdk import setup

    @setup
    def bootstrap() -> dict:
        from grassroots.warehouse.bootstrap import bootstrap as run_bootstrap
        from grassroots.warehouse.db import warehouse_dsn

        run_bootstrap(warehouse_dsn())
        return {"bootstrapped": True}

    return bootstrap()
