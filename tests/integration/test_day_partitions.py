"""A day as an Airflow partition through the real DAGs: the run's partition key is the day processed,
the Asset events carry it to the warehouse and scoring, and a feed whose files never came by its
deadline is recorded missing while the day goes on with the KPI periods that need it held."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest

from grassroots.generator import feed_server
from grassroots.local import pipeline
from grassroots.orchestration.runs import DELIVERIES_ASSET_URI, WAREHOUSE_ASSET_URI
from tests.conftest import DEMO_DAY

DAGS = Path(__file__).resolve().parents[2] / "dags"
ABSENT = "satisfaction_surveys"  # a file feed whose department sends nothing for the day
KEY = DEMO_DAY.isoformat()


def _runs_and_events(dag_ids: tuple[str, ...]) -> tuple[dict[str, str | None], dict[str, set[str | None]]]:
    """The latest run's partition key per DAG, and the partition keys of the Asset events those runs emitted."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    keys, events = {}, {}
    with create_session() as session:
        for dag_id in dag_ids:
            run = session.query(DagRun).filter(DagRun.dag_id == dag_id).order_by(DagRun.id.desc()).first()
            keys[dag_id] = run.partition_key
            for uri, key in (
                session.query(AssetModel.uri, AssetEvent.partition_key)
                .join(AssetEvent, AssetEvent.asset_id == AssetModel.id)
                .filter(AssetEvent.source_dag_id == dag_id, AssetEvent.source_run_id == run.run_id)
            ):
                events.setdefault(uri, set()).add(key)
    return keys, events


def test_the_partition_key_is_the_day_processed_and_a_feed_missing_at_its_deadline_is_held(
    warehouse_dsn: str, demo_landing: Path, airflow_db: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    landing = tmp_path / "landing"
    shutil.copytree(demo_landing, landing)
    shutil.rmtree(landing / KEY / ABSENT)  # nothing came, and the contract's deadline (10:00 the next day) is past
    monkeypatch.setenv("GRASSROOTS_LANDING_DIR", str(landing))
    monkeypatch.setenv("GRASSROOTS_REPORTS_DIR", str(tmp_path / "reports"))
    server, url = feed_server.serve(landing)
    monkeypatch.setenv("GRASSROOTS_API_URL", url)
    try:
        ingest = pipeline.load_dags(DAGS)["grassroots_ingest"]
        for task in ingest.tasks:
            task.retries = 0
        # The run's logical date is another day, with no conf: only the partition key names the day.
        elsewhere = dt.datetime.combine(DEMO_DAY - dt.timedelta(days=5), dt.time(), ZoneInfo("Asia/Shanghai"))
        with pipeline._partition_key_on_test_runs(KEY):
            ingest.test(logical_date=elsewhere, run_conf={})
        downstream = pipeline.run_day(DEMO_DAY, DAGS, only=("grassroots_warehouse", "grassroots_scoring"))
    finally:
        server.shutdown()

    keys, events = _runs_and_events(("grassroots_ingest", "grassroots_warehouse", "grassroots_scoring"))
    assert keys == dict.fromkeys(keys, KEY)
    assert events[DELIVERIES_ASSET_URI] == {KEY} and events[WAREHOUSE_ASSET_URI] == {KEY}
    assert dict(downstream)["grassroots_scoring"] == "success", downstream  # the day went on and published

    with psycopg.connect(warehouse_dsn) as conn:
        batches = conn.execute("select distinct ds from meta.load_batch").fetchall()
        absent = conn.execute(
            "select status, rule from meta.load_batch where feed = %s and ds = %s", (ABSENT, DEMO_DAY)
        ).fetchall()
        assessed = conn.execute(
            "select delivery_status, reason from int.int_feed_days_assessed where feed = %s and delivery_date = %s",
            (ABSENT, DEMO_DAY),
        ).fetchone()
        lineage = dict(
            conn.execute(
                "select relation, feeds from audit.build_lineage where invocation_id = (select invocation_id "
                "from audit.build_lineage order by recorded_at desc limit 1)"
            ).fetchall()
        )
        # The day's period of each KPI table: the day, or its month for the monthly tables.
        status = {
            relation: (state, reason)
            for relation, state, reason in conn.execute(
                "select relation, status, reason from marts.kpi_period_status where period_start = "
                "case when relation like '%%\\_monthly' then %s else %s end",
                (DEMO_DAY.replace(day=1), DEMO_DAY),
            )
        }
        scored = conn.execute("select count(*) from scoring.resident_risk where ds = %s", (DEMO_DAY,)).fetchone()[0]
    assert batches == [(DEMO_DAY,)]
    assert absent == [("missing", "missing")]
    assert assessed[0] == "not_loaded" and "missing" in assessed[1]
    needing = {relation for relation, feeds in lineage.items() if ABSENT in feeds}
    assert needing and needing <= set(status)
    for relation, (state, reason) in status.items():
        if relation in needing:
            assert state == "held" and f"{ABSENT} {KEY}" in reason, (relation, state, reason)
        else:
            assert state == "published", (relation, state, reason)
    assert scored > 0
