"""Backfills under the real Airflow scheduler (tests/airflow_cluster.py, LocalExecutor).

Two fixed past days (2026-11-24..25) through `Cluster.backfill_days`, the path of `python -m
grassroots backfill` (a one-day Airflow backfill per day, each day through scoring before the
next), then the first day again, so it is rebuilt after a later day was built: marts
and warehouse (its SCD2 `dim_resident_history` among the tables) are unchanged, compared row for
row without wall-clock columns, and every DAG ran each day of a backfill once, in day order. The scheduler
starts no day of its own (GRASSROOTS_CATCHUP_FROM far ahead): a latest day started on unpause
(Airflow starts no backfill run of a paused DAG) would load its API feeds and hold the month's
periods until its files came.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from pathlib import Path

import psycopg

from grassroots.generator import feed_server
from tests.airflow_cluster import DAG_IDS, Cluster, airflow_cluster, day_env, table_fingerprints
from tests.conftest import TEST_RESIDENTS, TEST_SEED
from tests.kpi_truth import kpi_mismatches

COMPARED_SCHEMAS = ("marts", "warehouse")  # the published KPIs; facts, dimensions and the SCD2 history
BACKFILL_DAYS = [dt.date(2026, 11, 24) + dt.timedelta(days=n) for n in range(2)]


def _differing(a: dict, b: dict) -> list[str]:
    return sorted(name for name in a.keys() | b.keys() if a.get(name) != b.get(name))


def _publications(dsn: str) -> list[tuple[dt.date, str]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute("select ds, status from audit.publication order by publication_id").fetchall()


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


def test_a_backfill_rebuilds_a_day_after_a_later_one_and_changes_nothing(
    server_dsn: str, warehouse_dsn: str, tmp_path: Path
) -> None:
    from grassroots.generator import generate

    database = warehouse_dsn

    landing = tmp_path / "landing"
    truths = generate(landing, BACKFILL_DAYS[0], len(BACKFILL_DAYS), TEST_RESIDENTS, TEST_SEED)
    server, url = feed_server.serve(landing)
    env = day_env(database, landing, url, tmp_path, dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
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
            first = table_fingerprints(database, COMPARED_SCHEMAS)
            assert mismatches == {day: [] for day in days}
            assert _publications(database) == [(day, "published") for day in days]

            # The first day again, after the later day was built: nothing changes.
            _backfill(cluster, days[:1])
            second = table_fingerprints(database, COMPARED_SCHEMAS)
    finally:
        server.shutdown()

    assert sum(rows for rows, _ in first.values()) > 0
    assert "warehouse.dim_resident_history" in first and first["warehouse.dim_resident_history"][0] > 0
    assert second == first, _differing(first, second)
    assert [ds for ds, status in _publications(database) if status == "published"] == [*days, days[0]]
