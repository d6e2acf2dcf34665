"""Days under the real Airflow scheduler (tests/airflow_cluster.py, LocalExecutor): backfills and late files.

- Backfill: three fixed past days (2026-11-24..26) through `Cluster.backfill_days`, the path of
  `python -m grassroots backfill` (a one-day Airflow backfill per day, each day through scoring
  before the next), twice, then the middle day again: marts and warehouse (its SCD2
  `dim_resident_history` among the tables) are unchanged, compared row for row without
  wall-clock columns, and every DAG ran each day once, in day order. The scheduler starts no day
  of its own (GRASSROOTS_CATCHUP_FROM far ahead): a latest day started on unpause (Airflow starts
  no backfill run of a paused DAG) would load its API feeds and hold the month's periods until
  its files came.
- End to end: the scheduler runs on the machine's clock, so the days are placed against it. The
  ingest run at 06:00 Shanghai is for the day before (`orchestration.daily_partitions`): the
  latest day due now is `latest_scheduled_day()` (yesterday in Shanghai after 06:00 there, the day
  before before it). The cluster starts with every DAG unpaused and catch-up from the day before
  that one (GRASSROOTS_CATCHUP_FROM), so the scheduler itself starts both days at once; the first
  day's files are in, the second's arrive once the first is built and the second's waits have
  deferred (its deadline, GRASSROOTS_DELIVER_BY, 45 minutes ahead). Each day's KPIs are checked
  against the truth as that day is published (a later day may restate an earlier day's values).
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg import sql

from grassroots import db, feedapi, summary
from tests.airflow_cluster import DAG_IDS, Cluster, airflow_cluster
from tests.conftest import TEST_RESIDENTS, TEST_SEED
from tests.kpi_truth import kpi_mismatches

SHANGHAI = ZoneInfo("Asia/Shanghai")
WALL_CLOCK_COLUMNS = {"decided_at"}  # when a period's publication status last changed: bookkeeping, not data
COMPARED_SCHEMAS = ("marts", "warehouse")  # the published KPIs; facts, dimensions and the SCD2 history
BACKFILL_DAYS = [dt.date(2026, 11, 24) + dt.timedelta(days=n) for n in range(3)]


def latest_scheduled_day(now: dt.datetime | None = None) -> dt.date:
    """The day of the latest ingest run due by now: the latest 06:00 Shanghai tick is for the day before."""
    local = (now or dt.datetime.now(dt.UTC)).astimezone(SHANGHAI)
    tick = local.date() if local.hour >= 6 else local.date() - dt.timedelta(days=1)
    return tick - dt.timedelta(days=1)


def _tables(dsn: str) -> dict[str, tuple[int, str]]:
    """'schema.table' → (rows, md5 over the sorted md5s of its rows), wall-clock columns left out."""
    out = {}
    with psycopg.connect(dsn) as conn:
        for schema, name, kind in summary.tables(conn):
            if schema not in COMPARED_SCHEMAS or kind != "BASE TABLE":
                continue
            columns = [
                row[0]
                for row in conn.execute(
                    "select column_name from information_schema.columns where table_schema = %s and table_name = %s "
                    "order by ordinal_position",
                    (schema, name),
                )
                if row[0] not in WALL_CLOCK_COLUMNS
            ]
            query = sql.SQL(
                "select count(*), md5(coalesce(string_agg(h, '' order by h), '')) "
                "from (select md5(row({})::text) as h from {} t) r"
            ).format(sql.SQL(", ").join(sql.Identifier("t", c) for c in columns), sql.Identifier(schema, name))
            out[f"{schema}.{name}"] = conn.execute(query).fetchone()
    return out


def _differing(a: dict, b: dict) -> list[str]:
    return sorted(name for name in a.keys() | b.keys() if a.get(name) != b.get(name))


def _publications(dsn: str) -> list[tuple[dt.date, str]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute("select ds, status from audit.publication order by publication_id").fetchall()


@pytest.fixture
def database(server_dsn: str) -> Iterator[str]:
    name = f"grassroots_test_{uuid.uuid4().hex[:10]}"
    db.ensure_database(server_dsn, name)
    yield db.with_database(server_dsn, name)
    db.drop_database(server_dsn, name)


def _env(dsn: str, landing: Path, url: str, work: Path, deliver_by: dt.datetime) -> dict[str, str]:
    return {
        "WAREHOUSE_DSN": dsn,
        "GRASSROOTS_LANDING_DIR": str(landing),
        "GRASSROOTS_API_URL": url,
        "GRASSROOTS_STATE_DIR": str(work / "state"),
        "GRASSROOTS_REPORTS_DIR": str(work / "reports"),
        "GRASSROOTS_DELIVER_BY": deliver_by.astimezone(dt.UTC).isoformat(timespec="seconds"),
        "GRASSROOTS_ARRIVAL_POLL_SECONDS": "5",
    }


def _file_feeds(day_folder: Path) -> list[Path]:
    """A generated day's file deliveries (one folder per feed); `_api` holds the API feeds' pages."""
    return sorted(p for p in day_folder.iterdir() if p.is_dir() and p.name != "_api")


def _in_order(runs: list[dict], keys: list[str]) -> None:
    """One successful run per day, started in day order, each after the previous one ended."""
    assert [run["partition_key"] for run in runs] == keys, [(r["partition_key"], r["dag_run_id"]) for r in runs]
    assert all(run["state"] == "success" for run in runs), [(r["partition_key"], r["state"]) for r in runs]
    started = sorted(runs, key=lambda run: run["start_date"])
    assert [run["partition_key"] for run in started] == keys
    for earlier, later in itertools.pairwise(started):
        assert earlier["end_date"] <= later["start_date"], (earlier["dag_run_id"], later["dag_run_id"])


def _failures(cluster: Cluster, runs: dict[str, list[dict]], dsn: str) -> str:
    """What failed (task, the end of its log) and the publication decisions with their reasons."""
    lines = []
    for dag_id, dag_runs in runs.items():
        for run in dag_runs:
            for ti in cluster.task_instances(dag_id, run["dag_run_id"]):
                if ti["state"] not in ("success", "skipped"):
                    lines.append(f"{run['partition_key']} {dag_id}.{ti['task_id']}: {ti['state']}")
                    for log in sorted(
                        (cluster.home / "logs").glob(
                            f"dag_id={dag_id}/run_id={run['dag_run_id']}/task_id={ti['task_id']}/*.log"
                        )
                    ):
                        lines += log.read_text(errors="replace").splitlines()[-8:]
    with psycopg.connect(dsn) as conn:
        lines += [str(row) for row in conn.execute("select ds, status, reason from audit.publication").fetchall()]
        lines += [str(row) for row in conn.execute("select * from audit.publication_hold").fetchall()]
    return "\n".join(lines)


def _backfill(
    cluster: Cluster, days: list[dt.date], on_day: Callable[[dict], None] | None = None
) -> dict[str, list[dict]]:
    """`Cluster.backfill_days` (what `python -m grassroots backfill` runs): each day once, in day
    order, in every DAG, every run successful."""
    keys = [day.isoformat() for day in days]
    runs = cluster.backfill_days(days[0], days[-1], on_day=on_day)
    assert {run["run_type"] for run in runs["grassroots_ingest"]} == {"backfill"}
    failed = [run for dag_runs in runs.values() for run in dag_runs if run["state"] != "success"]
    assert not failed, _failures(cluster, runs, cluster.env["WAREHOUSE_DSN"])
    for dag_id in DAG_IDS:
        _in_order(runs[dag_id], keys)
    return runs


def test_backfill_twice_and_a_day_rerun_after_later_days_change_nothing(
    server_dsn: str, database: str, tmp_path: Path
) -> None:
    from grassroots.generator import generate

    landing = tmp_path / "landing"
    truths = generate(landing, BACKFILL_DAYS[0], len(BACKFILL_DAYS), TEST_RESIDENTS, TEST_SEED)
    server, url = feedapi.serve(landing)
    env = _env(database, landing, url, tmp_path, dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
    env["GRASSROOTS_CATCHUP_FROM"] = "2099-12-31"  # the scheduler starts no day of its own: only the backfills run
    days = BACKFILL_DAYS
    try:
        with airflow_cluster(server_dsn, env) as cluster:
            mismatches = {}

            def check_truth(done: dict[str, list[dict]]) -> None:
                # Each day as soon as it is published: a later day may restate an earlier one's values.
                day = dt.date.fromisoformat(done["grassroots_warehouse"][0]["partition_key"])
                with psycopg.connect(database) as conn:
                    mismatches[day] = kpi_mismatches(conn, truths[days.index(day)], day)

            _backfill(cluster, days, on_day=check_truth)
            first = _tables(database)
            assert mismatches == {day: [] for day in days}
            assert _publications(database) == [(day, "published") for day in days]

            _backfill(cluster, days)  # the same range again: every day rebuilt once more, nothing changes
            second = _tables(database)

            _backfill(cluster, days[1:2])  # a day again after the later ones
            rerun = _tables(database)
    finally:
        server.shutdown()

    assert sum(rows for rows, _ in first.values()) > 0
    assert "warehouse.dim_resident_history" in first and first["warehouse.dim_resident_history"][0] > 0
    assert second == first, _differing(first, second)
    assert rerun == first, _differing(first, rerun)
    assert [ds for ds, status in _publications(database) if status == "published"] == days * 2 + days[1:2]


def _wait_for(what: str, check, cluster: Cluster, timeout: float = 1800.0, poll: float = 5.0):
    deadline = time.monotonic() + timeout
    while not (found := check()):
        if cluster.dead() or time.monotonic() > deadline:
            raise TimeoutError(f"{what}; dead: {cluster.dead()}\n{cluster.log_tails()}")
        time.sleep(poll)
    return found


def test_two_days_under_the_scheduler_with_the_second_days_files_late(
    server_dsn: str, database: str, tmp_path: Path
) -> None:
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
    server, url = feedapi.serve(landing)
    # The files are due within the test (they come well before): a deadline relative to now.
    env = _env(database, landing, url, tmp_path, dt.datetime.now(dt.UTC) + dt.timedelta(minutes=45))
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
            with psycopg.connect(database) as conn:  # as published, before a later day may restate it
                first_day_mismatches = kpi_mismatches(conn, truths[0], days[0])
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
            (days[0], "published", None), (days[1], "published", None)
        ], decisions  # fmt: skip
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
