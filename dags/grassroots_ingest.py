"""
### grassroots_ingest

Daily extract of every department feed into `staging.<feed>`, one run per day partition: the
run at 06:00 Asia/Shanghai is for the previous day, and its partition key is that day
(`YYYY-MM-DD`, shown in the runs list). The `bootstrap` setup task creates roles, schemas,
tables and grants; then three tasks per feed contract (`plugins/grassroots/loading/contracts/*.yml`);
adding a department is adding a contract. `wait_<feed>` waits for the feed's files of the day
in the triggerer (deferred: no worker slot is held) until the contract's `deliver_by` deadline
(`grassroots.orchestration.arrival`); API feeds are pulled by their load. `load_<feed>` pulls API feeds,
validates every row, loads good rows with COPY, quarantines the rest with feed, file, line and
rule, records the batch in `meta.load_batch` (a feed with no file by its deadline is recorded
`missing`, a failed delivery `failed`) and announces the feed's staging Asset. `validate_<feed>`
runs the feed's suite on the day whatever the load did (`all_done`): its fail-severity checks
decide whether the warehouse may use the delivery (missing, lost file, drifted or emptied
column, shrunk snapshot, bulk quarantine). `close_day` then announces the day's partition of
the deliveries Asset, so the warehouse builds every day, complete or not; `all_feeds_loaded`
fails the run (and alerts) when a feed is not usable. Load tasks work as `loader`, the others
as `transformer` (see SECURITY.md).

Rerun one day: trigger with the day as partition key (UI "Trigger" form or REST
`POST /api/v2/dags/grassroots_ingest/dagRuns` with `"partition_key": "2026-11-26"`), or with
`{"ds": "2026-11-26"}` as run conf (`airflow dags trigger grassroots_ingest -c ...`; the CLI has
no partition-key option; the day's Asset events still carry it as their partition key). A
partition key wins over conf `ds`. `{"force": true}` reloads files that were already loaded.
Several days may run at once (a day waiting for its files never holds back another day); the
loads of one feed-day, and loads against a warehouse build, take turns on advisory locks.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Asset, Param, dag, task

from grassroots.loading.contracts import all_contracts
from grassroots.orchestration.arrival import FeedArrivalSensor
from grassroots.orchestration.runs import (
    DEFAULT_ARGS,
    DELIVERIES_ASSET_URI,
    bootstrap_warehouse,
    daily_partitions,
    ingest_schedule_start,
    staging_asset_uri,
)

START_DATE, CATCHUP = ingest_schedule_start()
SETTLED = {"trigger_rule": "all_done"}  # runs whatever the loads did: a missing feed is recorded, not skipped


@task
def load_feed(feed: str, **context) -> dict:
    """Load one feed's day as `loader`; return counts only (no personal data reaches XCom).

    A feed with no file once its wait is over is recorded `missing` and fails this task without
    retries: its deadline has passed, so trying again in minutes would find nothing new.
    """
    from airflow.sdk.exceptions import AirflowFailException

    from grassroots.loading.ingest import FeedMissing, ingest
    from grassroots.orchestration.days import partition_date
    from grassroots.orchestration.runs import announce

    ds = partition_date(context)
    try:
        result = ingest(feed, ds, force=bool(context["params"]["force"]))
    except FeedMissing as exc:
        raise AirflowFailException(str(exc)) from None
    announce(context, staging_asset_uri(feed), ds, rows_loaded=result.rows_loaded)
    return result.summary()


@task(retries=1, retry_delay=dt.timedelta(seconds=30), **SETTLED)
def validate_feed(feed: str, **context) -> dict:
    """Run the feed's suite on the day's delivery; results go to `audit` (fail checks make it unusable)."""
    from grassroots.orchestration.days import partition_date
    from grassroots.quality.audit import RunInfo
    from grassroots.quality.checks import validate_feed as run_suite
    from grassroots.warehouse.db import role_dsn
    from grassroots.warehouse.security import TRANSFORMER

    return run_suite(role_dsn(TRANSFORMER), RunInfo.from_context(context, partition_date(context)), feed)


@task(outlets=[Asset(DELIVERIES_ASSET_URI)], **SETTLED)
def close_day(**context) -> dict:
    """Announce that the day's deliveries are settled, usable or not: the warehouse builds the day."""
    from grassroots.orchestration.days import partition_date
    from grassroots.orchestration.runs import announce
    from grassroots.quality.tasks import delivery_summary

    ds = partition_date(context)
    summary = delivery_summary(ds)
    announce(context, DELIVERIES_ASSET_URI, ds, **summary)
    return summary


@task(retries=0, **SETTLED)
def all_feeds_loaded(**context) -> None:
    """Fail the run (and so alert) when a feed of the day is missing, lost a file or failed its checks."""
    from grassroots.orchestration.days import partition_date
    from grassroots.quality.tasks import check_deliveries

    check_deliveries(partition_date(context))


@dag(
    dag_id="grassroots_ingest",
    schedule=daily_partitions(),
    start_date=START_DATE,  # 2026-11-01, the morning of the first day's run
    catchup=CATCHUP,  # off unless GRASSROOTS_CATCHUP_FROM (orchestration.ingest_schedule_start)
    max_active_runs=4,  # a day waiting for late files (deferred, no slot held) must not queue a rerun of another
    default_args=DEFAULT_ARGS,
    params={"force": Param(False, type="boolean"), "ds": Param(None, type=["null", "string"])},
    doc_md=__doc__,
    tags=["grassroots", "ingest"],
)
def grassroots_ingest() -> None:
    ready = bootstrap_warehouse()
    validated = []
    for feed in all_contracts():
        arrived = FeedArrivalSensor(task_id=f"wait_{feed}", feed=feed)
        loaded = load_feed.override(task_id=f"load_{feed}", outlets=[Asset(staging_asset_uri(feed))])(feed)
        validated.append(validate_feed.override(task_id=f"validate_{feed}")(feed))
        ready >> arrived >> loaded >> validated[-1]
    validated >> close_day() >> all_feeds_loaded()


grassroots_ingest()
