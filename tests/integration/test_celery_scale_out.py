"""Scale-out on an existing engine: the same DAGs under the CeleryExecutor with two workers, two days.

The real components (api-server, scheduler, dag-processor, triggerer, two Celery workers on the
local Redis, a PostgreSQL metadata database; tests/airflow_cluster.py) run two generated days:
ingest is triggered for each day and its Assets start the warehouse and scoring runs. Every
run succeeds, the tasks ran on both workers (the hostname each task instance records) and
nowhere else, and the marts equal those of the same two days run in-process
(`pipeline.run_day`, the LocalExecutor path of `make demo`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest

from grassroots import db, feedapi, pipeline, settings, summary
from tests.airflow_cluster import DAG_IDS, DAGS, airflow_cluster
from tests.conftest import TEST_RESIDENTS, TEST_SEED

FIRST_DAY = dt.date(2026, 11, 24)
DAYS = [FIRST_DAY, FIRST_DAY + dt.timedelta(days=1)]
WORKERS = ("worker1", "worker2")


def _marts(dsn: str) -> dict[str, dict]:
    return {name: stats for name, stats in summary.table_stats(dsn).items() if name.startswith("marts.")}


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from grassroots.generator import generate

    folder = tmp_path_factory.mktemp("celery-landing")
    generate(folder, FIRST_DAY, len(DAYS), TEST_RESIDENTS, TEST_SEED)
    return folder


def test_two_days_on_two_celery_workers_equal_the_local_run(
    server_dsn: str, landing: Path, airflow_db: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local_name, celery_name = (f"grassroots_test_{uuid.uuid4().hex[:10]}" for _ in range(2))
    for name in (local_name, celery_name):
        db.ensure_database(server_dsn, name)
    local_dsn, celery_dsn = db.with_database(server_dsn, local_name), db.with_database(server_dsn, celery_name)
    server, url = feedapi.serve(landing)
    try:
        monkeypatch.setenv("GRASSROOTS_LANDING_DIR", str(landing))
        monkeypatch.setenv("GRASSROOTS_API_URL", url)

        # The reference: both days in-process, as `make demo` runs them.
        monkeypatch.setenv("WAREHOUSE_DSN", local_dsn)
        monkeypatch.setenv("GRASSROOTS_REPORTS_DIR", str(tmp_path / "local-reports"))
        for day in DAYS:
            states = pipeline.run_day(day, DAGS)
            assert [state for _, state in states] == ["success"] * 3, (day, states)

        env = {
            "WAREHOUSE_DSN": celery_dsn,
            "GRASSROOTS_LANDING_DIR": str(landing),
            "GRASSROOTS_API_URL": url,
            "GRASSROOTS_REPORTS_DIR": str(tmp_path / "celery-reports"),
            "GRASSROOTS_STATE_DIR": str(settings.state_dir()),
        }
        hostnames: dict[str, set[str]] = {}
        with airflow_cluster(server_dsn, env, executor="CeleryExecutor", workers=len(WORKERS)) as cluster:
            for day in DAYS:
                runs = cluster.run_day(day, "grassroots_ingest", DAG_IDS)
                states = {dag_id: [run["state"] for run in dag_runs] for dag_id, dag_runs in runs.items()}
                assert states == {dag_id: ["success"] for dag_id in DAG_IDS}, (day, states)
                for dag_id, dag_runs in runs.items():
                    for ti in cluster.task_instances(dag_id, dag_runs[0]["dag_run_id"]):
                        if ti["state"] == "success":
                            hostnames.setdefault(ti["hostname"], set()).add(f"{day} {dag_id}.{ti['task_id']}")
        assert set(hostnames) == set(WORKERS), {host: len(tasks) for host, tasks in hostnames.items()}

        local, celery = _marts(local_dsn), _marts(celery_dsn)
        assert local and sum(stats["rows"] for stats in local.values()) > 0
        assert celery == local, sorted(name for name in local if celery.get(name) != local[name])
    finally:
        server.shutdown()
        for name in (local_name, celery_name):
            db.drop_database(server_dsn, name)
