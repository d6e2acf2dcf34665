"""The day is an Airflow partition end to end, and each load waits for its feed's files first."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from grassroots.loading.contracts import all_contracts
from grassroots.orchestration.arrival import FeedArrivalSensor
from grassroots.orchestration.runs import DELIVERIES_ASSET_URI, WAREHOUSE_ASSET_URI

DAGS = Path(__file__).resolve().parents[2] / "dags"


def _bag() -> dict:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    return bag.dags


def _uris(condition: object) -> set[str]:
    from grassroots.local.pipeline import _asset_uris

    return _asset_uris(condition)


def test_ingest_runs_on_a_daily_partition_keyed_by_the_previous_shanghai_day() -> None:
    from airflow.sdk import CronPartitionTimetable
    from airflow.serialization.encoders import coerce_to_core_timetable

    ingest = _bag()["grassroots_ingest"]
    assert isinstance(ingest.timetable, CronPartitionTimetable)
    core = coerce_to_core_timetable(ingest.timetable)
    assert core.partitioned
    # The run at 06:00 Shanghai on the 27th is for the 26th, and its key is that day.
    run_at = dt.datetime(2026, 11, 26, 22, 0, tzinfo=dt.UTC)  # 2026-11-27 06:00 Asia/Shanghai
    assert core._get_partition_info(run_at)[1] == "2026-11-26"
    assert ingest.max_active_runs > 1, "a day waiting for its files would hold back a rerun of another day"


def test_warehouse_and_scoring_run_per_partition_of_the_right_asset() -> None:
    from airflow.sdk import PartitionedAssetTimetable

    dags = _bag()
    for dag_id, uri in (("grassroots_warehouse", DELIVERIES_ASSET_URI), ("grassroots_scoring", WAREHOUSE_ASSET_URI)):
        timetable = dags[dag_id].timetable
        assert isinstance(timetable, PartitionedAssetTimetable), dag_id
        assert _uris(timetable.asset_condition) == {uri}, dag_id
        assert timetable.default_partition_mapper.to_downstream("2026-11-26") == "2026-11-26"


def test_the_marts_asset_is_announced_only_after_publication() -> None:
    producers = [
        (dag.dag_id, task)
        for dag in _bag().values()
        for task in dag.tasks
        if WAREHOUSE_ASSET_URI in {getattr(outlet, "uri", None) for outlet in task.outlets}
    ]
    assert [(dag_id, task.task_id) for dag_id, task in producers] == [("grassroots_warehouse", "announce")]
    announce = producers[0][1]
    assert announce.upstream_task_ids == {"publish"}
    assert "dbt_build" in announce.get_flat_relative_ids(upstream=True)


def test_every_load_waits_for_its_feed_with_a_sensor() -> None:
    ingest = _bag()["grassroots_ingest"]
    for feed in all_contracts():
        wait = ingest.get_task(f"wait_{feed}")
        assert isinstance(wait, FeedArrivalSensor) and wait.feed == feed
        assert ingest.get_task(f"load_{feed}").upstream_task_ids == {f"wait_{feed}"}
        assert wait.upstream_task_ids == {"bootstrap"}
