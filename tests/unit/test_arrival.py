"""A feed's wait for its files: at once when they are there, deferred to the triggerer until they
arrive or the contract's deadline passes; and the day of a run comes from its partition key."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from grassroots.orchestration import arrival
from grassroots.orchestration.arrival import FeedArrivalSensor, FeedArrivalTrigger
from grassroots.orchestration.days import partition_date

DAY = dt.date(2026, 11, 24)
FEED = "population_registry"  # a file feed, csv


@pytest.fixture
def landing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GRASSROOTS_LANDING_DIR", str(tmp_path))
    monkeypatch.delenv(arrival.DELIVER_BY_ENV, raising=False)
    monkeypatch.delenv(arrival.POLL_ENV, raising=False)
    return tmp_path


def _context(key: str = DAY.isoformat()) -> dict:
    return {"partition_key": key, "dag_run": SimpleNamespace(partition_key=key, conf={})}


def _deliver(landing: Path, name: str = "population_registry_20261124.csv") -> Path:
    folder = landing / DAY.isoformat() / FEED
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("公民身份号码\n", encoding="utf-8")
    return path


def test_the_deadline_is_deliver_by_after_the_shanghai_day_and_can_be_overridden() -> None:
    due = arrival.deadline(dt.timedelta(hours=10), DAY, environ={})
    assert due == dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.UTC)  # 10:00 Shanghai the next morning
    assert arrival.deadline(dt.timedelta(hours=10), DAY, environ={arrival.DELIVER_BY_ENV: "1d"}) == dt.datetime(
        2026, 11, 25, 16, 0, tzinfo=dt.UTC
    )
    at = "2030-01-01T08:00:00+08:00"
    assert arrival.deadline(dt.timedelta(hours=10), DAY, environ={arrival.DELIVER_BY_ENV: at}) == dt.datetime(
        2030, 1, 1, 0, 0, tzinfo=dt.UTC
    )
    with pytest.raises(ValueError, match="UTC offset"):
        arrival.deadline(dt.timedelta(hours=10), DAY, environ={arrival.DELIVER_BY_ENV: "2030-01-01T08:00:00"})


def test_files_already_there_return_at_once(landing: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _deliver(landing)
    _deliver(landing, "population_registry_20261124.csv.part")  # still being written: not a delivery
    monkeypatch.setenv(arrival.DELIVER_BY_ENV, (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat())
    sensor = FeedArrivalSensor(task_id="wait_population_registry", feed=FEED)
    assert sensor.execute(_context()) == {"feed": FEED, "ds": "2026-11-24", "status": "arrived", "files": 1}


def test_a_day_past_its_deadline_without_files_goes_on_at_once(landing: Path) -> None:
    sensor = FeedArrivalSensor(task_id="wait_population_registry", feed=FEED)
    # 2026-11-24's files were due 2026-11-25 10:00 Shanghai (the contract's deliver_by: 10h).
    assert sensor.execute(_context())["status"] == "deadline"


def test_an_api_feed_is_available_at_pull_time(landing: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(arrival.DELIVER_BY_ENV, (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat())
    sensor = FeedArrivalSensor(task_id="wait_pension_insurance", feed="pension_insurance")
    assert sensor.execute(_context())["status"] == "pull"


def _deferred_trigger(sensor: FeedArrivalSensor) -> tuple[FeedArrivalTrigger, object]:
    """Run the sensor until it defers; rebuild its trigger from what it serialised, as the triggerer does."""
    from airflow.sdk.exceptions import TaskDeferred
    from airflow.sdk.module_loading import import_string

    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(_context())
    classpath, kwargs = deferred.value.trigger.serialize()
    rebuilt = import_string(classpath)(**json.loads(json.dumps(kwargs)))  # plain JSON round trip
    return rebuilt, deferred.value


async def _first_event(trigger: FeedArrivalTrigger) -> dict:
    async for event in trigger.run():
        return event.payload
    raise AssertionError("the trigger ended without an event")


def test_absent_files_defer_and_the_trigger_fires_when_a_file_is_dropped(
    landing: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(arrival.DELIVER_BY_ENV, (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)).isoformat())
    monkeypatch.setenv(arrival.POLL_ENV, "0.05")
    sensor = FeedArrivalSensor(task_id="wait_population_registry", feed=FEED)
    trigger, deferred = _deferred_trigger(sensor)
    assert deferred.method_name == "execute_complete"
    assert deferred.timeout > dt.timedelta(minutes=9)  # bounded by the deadline (plus grace), not a week
    assert Path(trigger.folder) == landing / "2026-11-24" / FEED

    dropped = threading.Timer(0.3, _deliver, args=(landing,))
    dropped.start()
    event = asyncio.run(asyncio.wait_for(_first_event(trigger), timeout=60))
    dropped.join()
    assert event == {"feed": FEED, "status": "arrived", "files": 1}
    assert sensor.execute_complete(_context(), event)["status"] == "arrived"


def test_the_trigger_fires_at_the_deadline_when_nothing_arrives(landing: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(arrival.DELIVER_BY_ENV, (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)).isoformat())
    monkeypatch.setenv(arrival.POLL_ENV, "0.05")
    sensor = FeedArrivalSensor(task_id="wait_population_registry", feed=FEED)
    trigger, _ = _deferred_trigger(sensor)
    event = asyncio.run(asyncio.wait_for(_first_event(trigger), timeout=60))
    assert event == {"feed": FEED, "status": "deadline", "files": 0}
    assert dt.datetime.now(dt.UTC) >= dt.datetime.fromisoformat(trigger.deadline)
    assert sensor.execute_complete(_context(), event)["status"] == "deadline"


def test_the_partition_key_is_the_day_and_wins_over_conf_and_dates() -> None:
    other = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    run = SimpleNamespace(partition_key="2026-11-24", conf={"ds": "2026-11-20"})
    assert partition_date({"dag_run": run, "logical_date": other}) == DAY
    unpartitioned = SimpleNamespace(partition_key=None, conf={"ds": "2026-11-20"})
    assert partition_date({"dag_run": unpartitioned, "logical_date": other}) == dt.date(2026, 11, 20)
    with pytest.raises(ValueError, match="not a day"):
        partition_date({"dag_run": SimpleNamespace(partition_key="us|2026", conf={})})


def test_deliver_by_is_a_duration_in_the_contract() -> None:
    from grassroots.loading.contracts import ContractError, all_contracts, parse_contract

    assert all_contracts()["grid_incidents"].deliver_by == dt.timedelta(hours=8)
    base = {"feed": "x", "department": "d", "description": "x", "format": "csv", "load_mode": "delta"}
    base["primary_key"] = ["a"]
    base["columns"] = [{"name": "a", "type": "text"}]
    assert parse_contract({**base, "deliver_by": "1d6h30m"}).deliver_by == dt.timedelta(days=1, hours=6, minutes=30)
    with pytest.raises(ContractError, match="deliver_by"):
        parse_contract({**base, "deliver_by": "soon"})
