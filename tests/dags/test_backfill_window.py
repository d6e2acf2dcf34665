"""Which runs Airflow's backfill makes of the ingest DAG, and where the scheduler starts.

`python -m grassroots backfill` and the tests' `Cluster.backfill` hand Airflow the window of
`airflow_stack.backfill_window`; Airflow turns it into runs with the ingest DAG's own
timetable (`iter_dagrun_infos_between`, as `airflow.models.backfill._get_info_list` does).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pendulum

from grassroots.local.airflow_stack import backfill_window
from grassroots.orchestration.runs import CATCHUP_ENV, ingest_schedule_start

DAGS = Path(__file__).resolve().parents[2] / "dags"
SHANGHAI = "Asia/Shanghai"


def _core_timetable():
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.encoders import coerce_to_core_timetable

    bag = DagBag(dag_folder=str(DAGS / "grassroots_ingest.py"))
    assert bag.import_errors == {}
    return coerce_to_core_timetable(bag.dags["grassroots_ingest"].timetable)


def _keys(first: str, last: str) -> list[tuple[str, str]]:
    infos = _core_timetable().iter_partition_dagrun_infos(earliest=pendulum.parse(first), latest=pendulum.parse(last))
    return [(info.partition_key, info.partition_date.in_timezone(SHANGHAI).isoformat()) for info in infos]


def test_the_backfill_window_is_one_run_per_day_keyed_by_the_day() -> None:
    keys = _keys(*backfill_window(dt.date(2026, 11, 24), dt.date(2026, 11, 26)))
    assert keys == [
        ("2026-11-24", "2026-11-24T06:00:00+08:00"),
        ("2026-11-25", "2026-11-25T06:00:00+08:00"),
        ("2026-11-26", "2026-11-26T06:00:00+08:00"),
    ]
    assert [key for key, _ in _keys(*backfill_window(dt.date(2026, 11, 25), dt.date(2026, 11, 25)))] == ["2026-11-25"]


def test_a_bare_to_date_leaves_the_last_day_out() -> None:
    # What the issue saw: `--from-date 2026-11-26 --to-date 2026-11-27` plans the 26th only.
    assert [key for key, _ in _keys("2026-11-26T00:00:00Z", "2026-11-27T00:00:00Z")] == ["2026-11-26"]


def test_a_backfill_run_and_the_scheduled_run_of_a_day_are_the_same_partition() -> None:
    # Airflow tells an existing run of a day by its partition date (models/backfill.py): the
    # scheduled run of the 26th (06:00 on the 27th) and the backfill's run of the 26th must agree.
    core = _core_timetable()
    scheduled_date, scheduled_key = core._get_partition_info(pendulum.datetime(2026, 11, 27, 6, tz=SHANGHAI))
    backfilled = _keys(*backfill_window(dt.date(2026, 11, 26), dt.date(2026, 11, 26)))
    assert backfilled == [(scheduled_key, scheduled_date.in_timezone(SHANGHAI).isoformat())]


def test_catch_up_from_a_day_starts_the_scheduler_at_that_day() -> None:
    from airflow.timetables.base import TimeRestriction

    start, catchup = ingest_schedule_start({CATCHUP_ENV: "2026-11-28"})
    assert catchup
    core = _core_timetable()
    first = core.next_dagrun_info_v2(
        last_dagrun_info=None, restriction=TimeRestriction(earliest=start, latest=None, catchup=True)
    )
    second = core.next_dagrun_info_v2(
        last_dagrun_info=first, restriction=TimeRestriction(earliest=start, latest=None, catchup=True)
    )
    assert (first.partition_key, second.partition_key) == ("2026-11-28", "2026-11-29")
    assert ingest_schedule_start({})[1] is False  # by default unpausing runs only the latest day


def test_a_first_day_ahead_starts_no_day_even_after_a_backfill() -> None:
    from airflow.timetables.base import DagRunInfo, TimeRestriction

    start, catchup = ingest_schedule_start({CATCHUP_ENV: "2099-12-31"})
    assert not catchup
    backfilled = DagRunInfo(
        run_after=pendulum.datetime(2026, 11, 24, 6, tz=SHANGHAI),
        data_interval=None,
        partition_date=pendulum.datetime(2026, 11, 24, 6, tz=SHANGHAI),
        partition_key="2026-11-24",
    )
    core = _core_timetable()
    following = core.next_dagrun_info_v2(
        last_dagrun_info=backfilled, restriction=TimeRestriction(earliest=start, latest=None, catchup=catchup)
    )
    assert following.run_after >= start  # nothing before 2100-01-01
