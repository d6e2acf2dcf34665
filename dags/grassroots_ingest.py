"""
### grassroots_ingest

Daily extract of every department feed into `staging.<feed>`. The `bootstrap` setup task
creates roles, schemas, tables and grants; then one task per feed
contract (`plugins/grassroots/contracts/*.yml`); adding a department is adding a
contract. Each task pulls API feeds, validates every row, loads good rows with COPY,
quarantines the rest with feed, file, line and rule, records the batch in
`meta.load_batch`, and announces the feed's staging Asset with the day it loaded.
Then `validate_<feed>` runs the feed's Great Expectations suite (`expectations/`) on
the day's staging rows and appends results and load counts to `audit`. Load tasks work as
the `loader` role, validation as `transformer` (see SECURITY.md).

Rerun one day with `{"ds": "YYYY-MM-DD"}` as run conf; `{"force": true}` reloads
files that were already loaded.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import Asset, Param, dag, task

from grassroots.contracts import all_contracts
from grassroots.orchestration import DEFAULT_ARGS, TIMEZONE, bootstrap_warehouse, staging_asset_uri


@task
def load_feed(feed: str, **context) -> dict:
    """Load one feed's day as `loader`; return counts only (no personal data reaches XCom)."""
    from grassroots.ingest import ingest
    from grassroots.orchestration import announce, partition_date

    ds = partition_date(context)
    result = ingest(feed, ds, force=bool(context["params"]["force"]))
    announce(context, staging_asset_uri(feed), ds, rows_loaded=result.rows_loaded)
    return result.summary()


@task(retries=1, retry_delay=dt.timedelta(seconds=30))
def validate_feed(feed: str, **context) -> dict:
    """Run the feed's suite on the day's staging rows; results go to `audit` (a failure here holds publication)."""
    from grassroots.db import role_dsn
    from grassroots.orchestration import partition_date
    from grassroots.quality.audit import RunInfo
    from grassroots.quality.checks import validate_feed as run_suite
    from grassroots.security import TRANSFORMER

    return run_suite(role_dsn(TRANSFORMER), RunInfo.from_context(context, partition_date(context)), feed)


@dag(
    dag_id="grassroots_ingest",
    schedule="0 6 * * *",
    start_date=pendulum.datetime(2026, 11, 1, tz=TIMEZONE),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params={"force": Param(False, type="boolean"), "ds": Param(None, type=["null", "string"])},
    doc_md=__doc__,
    tags=["grassroots", "ingest"],
)
def grassroots_ingest() -> None:
    ready = bootstrap_warehouse()
    for feed in all_contracts():
        loaded = load_feed.override(task_id=f"load_{feed}", outlets=[Asset(staging_asset_uri(feed))])(feed)
        ready >> loaded >> validate_feed.override(task_id=f"validate_{feed}")(feed)


grassroots_ingest()
