"""Two days under the real Airflow scheduler (tests/airflow_cluster.py, LocalExecutor), the second day's files late.

The scheduler runs on the machine's clock, so the days are placed against it. The ingest run at
06:00 Shanghai is for the day before (`orchestration.daily_partitions`): the latest day due now
is `latest_scheduled_day()` (yesterday in Shanghai after 06:00 there, the day before before it).
The cluster starts with every DAG unpaused and catch-up from the day before that one
(GRASSROOTS_CATCHUP_FROM), so the scheduler itself starts both days at once; the first day's
files are in, the second's arrive once the first is built and the second's waits have deferred
(its deadline, GRASSROOTS_DELIVER_BY, 45 minutes ahead). Each day's KPIs are checked against the
truth as that day is published (a later day's late records restate an earlier day's values).
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg

from grassroots.generator import Dirt, feed_server, scenarios
from tests.airflow_cluster import DAG_IDS, Cluster, airflow_cluster, day_env
from tests.conftest import TEST_RESIDENTS, TEST_SEED
from tests.kpi_truth import kpi_mismatches

SHANGHAI = ZoneInfo("Asia/Shanghai")


def latest_scheduled_day(now: dt.datetime | None = None) -> dt.date:
    """The day of the latest ingest run due by now: the latest 06:00 Shanghai tick is for the day before."""
    local = (now or dt.datetime.now(dt.UTC)).astimezone(SHANGHAI)
    tick = local.date() if local.hour >= 6 else local.date() - dt.timedelta(days=1)
    return tick - dt.timedelta(days=1)


def _file_feeds(day_folder: Path) -> list[Path]:
    """A generated day's file deliveries (one folder per feed); `_api` holds the API feeds' pages."""
    return sorted(p for p in day_folder.iterdir() if p.is_dir() and p.name != "_api")


def _wait_for(what: str, check, cluster: Cluster, timeout: float = 1800.0, poll: float = 5.0):
    deadline = time.monotonic() + timeout
    while not (found := check()):
        if cluster.dead() or time.monotonic() > deadline:
            raise TimeoutError(f"{what}; dead: {cluster.dead()}\n{cluster.log_tails()}")
        time.sleep(poll)
    return found


def _first_day_mismatches(database: str, truths: list[dict], days: list[dt.date]) -> list[str]:
    """The first day's published KPIs against the truth of what its build used: its own files and, if
    the scheduler pulled them first, the second day's API feeds, whose late records restate the first day."""
    with psycopg.connect(database) as conn:
        used = set(conn.execute("select feed, delivery_date from int.int_feed_days_assessed where is_usable"))
        early = {feed for feed, day in used if day == days[1]}
        assert {feed for feed, day in used if day == days[0]} == set(truths[0]["rows"]), used
        assert early <= {"pension_insurance", "service_applications"}, early  # the API feeds only
        expected = scenarios.expected_kpis(
            truths, lambda feed, day: (feed, day) in used, TEST_RESIDENTS, TEST_SEED, Dirt().late_rows
        )
        return kpi_mismatches(conn, expected[days[0]], days[0])


def test_two_days_under_the_scheduler_with_the_second_days_files_late(
    server_dsn: str, warehouse_dsn: str, tmp_path: Path
) -> None:
    database = warehouse_dsn
    second_day = latest_scheduled_day()
    days = [second_day - dt.timedelta(days=1), second_day]
    keys = [day.isoformat() for day in days]
    from grassroots.generator import generate

    generated, landing = tmp_path / "generated", tmp_path / "landing"
    truths = generate(generated, days[0], len(days), TEST_RESIDENTS, TEST_SEED)
    landing.mkdir()
    shutil.move(generated / keys[0], landing / keys[0])  # the first day's files are in
    (landing / keys[1]).mkdir()
    shutil.move(generated / keys[1] / "_api", landing / keys[1] / "_api")  # the departments' APIs serve the day
    server, url = feed_server.serve(landing)
    # The files are due within the test (they come well before): a deadline relative to now.
    env = day_env(database, landing, url, tmp_path, dt.datetime.now(dt.UTC) + dt.timedelta(minutes=45))
    env["GRASSROOTS_CATCHUP_FROM"] = keys[0]
    try:
        with airflow_cluster(server_dsn, env, paused=False) as cluster:
            ingest = "grassroots_ingest"

            def second_day_waiting() -> bool:
                runs = {r["partition_key"]: r for r in cluster.runs(ingest)}
                if set(keys) - runs.keys():
                    return False
                assert runs[keys[0]]["state"] != "failed", runs[keys[0]]
                if runs[keys[0]]["state"] != "success":
                    return False
                built = [r for r in cluster.runs("grassroots_warehouse") if r["partition_key"] == keys[0]]
                if not built or built[0]["state"] not in ("success", "failed"):
                    return False
                waits = [
                    ti["state"]
                    for ti in cluster.task_instances(ingest, runs[keys[1]]["dag_run_id"])
                    if ti["task_id"].startswith("wait_")
                ]
                return "deferred" in waits

            # The scheduler started both days; the first went through while the second's waits deferred.
            _wait_for("the first day built and the second waiting", second_day_waiting, cluster)
            first_day_mismatches = _first_day_mismatches(database, truths, days)  # before day 2's build
            for feed in _file_feeds(generated / keys[1]):  # the second day's files arrive, late
                shutil.move(feed, landing / keys[1] / feed.name)
            runs = cluster.wait_days(keys, {})
    finally:
        server.shutdown()

    assert {run["run_type"] for run in runs["grassroots_ingest"]} == {"scheduled"}
    assert [(run["partition_key"], run["state"]) for run in runs["grassroots_ingest"]] == [(k, "success") for k in keys]
    for dag_id in DAG_IDS[1:]:  # built, published and scored once per day, in day order
        assert [run["partition_key"] for run in runs[dag_id]] == keys, dag_id
        started = sorted(runs[dag_id], key=lambda run: run["start_date"])
        assert [run["partition_key"] for run in started] == keys, dag_id
        assert started[0]["end_date"] <= started[1]["start_date"], dag_id
    assert [run["state"] for run in runs["grassroots_warehouse"]] == ["success", "success"]
    assert [run["state"] for run in runs["grassroots_scoring"]] == ["success", "success"]
    with psycopg.connect(database) as conn:
        decisions = conn.execute(
            "select publication_id, ds, status, reason from audit.publication order by publication_id"
        ).fetchall()
        # The first day was built while the second's API feeds were in and its files were not: every
        # period of the first day was published, bar its month when the month reads the second day
        # (which the second day's own run decides): not the first day's own hold, no false alarm.
        assert [(ds, status, reason) for _, ds, status, reason in decisions] == [
            (days[0], "published", None),
            (days[1], "published", None),
        ], decisions
        held = conn.execute(
            "select period_grain, period_start, relation, own, reason from audit.publication_hold "
            "where publication_id = %s",
            (decisions[0][0],),
        ).fetchall()
        assert all(own is False for _, _, _, own, _ in held), held
        assert {(grain, start) for grain, start, *_ in held} <= {("day", days[1]), ("month", days[1].replace(day=1))}
        # The month is held when the build already read the second day's API feeds (the scheduler
        # decides whether they were loaded first); then only for the second day's deliveries.
        for _, _, relation, _, reason in (h for h in held if h[0] == "month"):
            named = {dt.date.fromisoformat(day) for day in re.findall(r"(?:^|; )\w+ (\d{4}-\d{2}-\d{2}): ", reason)}
            assert named == {days[1]}, (relation, reason)
        assert first_day_mismatches == []
        assert kpi_mismatches(conn, truths[1], days[1]) == []
