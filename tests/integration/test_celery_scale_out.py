"""Scale-out on an existing engine: the same DAGs under the CeleryExecutor with two workers, two days.

The real components (api-server, scheduler, dag-processor, triggerer, two Celery workers on the
local Redis, a PostgreSQL metadata database; tests/airflow_cluster.py) run two generated days:
ingest is triggered for each day and its Assets start the warehouse and scoring runs. Every
run succeeds, the tasks ran on both workers (the hostname each task instance records) and
nowhere else, and the marts equal those of the same two days run in-process (`pipeline.run_day`
through `python -m grassroots run`, the path of `make demo`), which runs meanwhile in a process
of its own.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from grassroots.generator import feed_server
from grassroots.warehouse import db
from tests.airflow_cluster import DAG_IDS, DAGS, airflow_cluster, table_fingerprints
from tests.conftest import TEST_RESIDENTS, TEST_SEED

FIRST_DAY = dt.date(2026, 11, 24)
DAYS = [FIRST_DAY, FIRST_DAY + dt.timedelta(days=1)]
WORKERS = ("worker1", "worker2")


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from grassroots.generator import generate

    folder = tmp_path_factory.mktemp("celery-landing")
    generate(folder, FIRST_DAY, len(DAYS), TEST_RESIDENTS, TEST_SEED)
    return folder


def _reference_run(env: dict[str, str], log: Path) -> subprocess.Popen:
    """Both days in-process (`python -m grassroots run`, dag.test, as `make demo` runs them), in a
    process of its own with its own state folder and SQLite Airflow home, while the cluster runs."""
    child = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    child.update(env)
    command = [sys.executable, "-m", "grassroots", "run", "--date", str(DAYS[0]), "--to", str(DAYS[-1])]
    with open(log, "wb") as out:
        return subprocess.Popen(command, env=child, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def test_two_days_on_two_celery_workers_equal_the_local_run(server_dsn: str, landing: Path, tmp_path: Path) -> None:
    local_name, celery_name = (f"grassroots_test_{uuid.uuid4().hex[:10]}" for _ in range(2))
    for name in (local_name, celery_name):
        db.ensure_database(server_dsn, name)
    local_dsn, celery_dsn = db.with_database(server_dsn, local_name), db.with_database(server_dsn, celery_name)
    server, url = feed_server.serve(landing)
    feeds = {"GRASSROOTS_LANDING_DIR": str(landing), "GRASSROOTS_API_URL": url}
    reference_log = tmp_path / "reference.log"
    reference = _reference_run(
        {
            **feeds,
            "WAREHOUSE_DSN": local_dsn,
            "GRASSROOTS_STATE_DIR": str(tmp_path / "local-state"),
            "GRASSROOTS_REPORTS_DIR": str(tmp_path / "local-reports"),
            "AIRFLOW_HOME": str(tmp_path / "local-airflow"),
            "PYTHONPATH": os.pathsep.join(filter(None, (str(DAGS.parent / "plugins"), os.environ.get("PYTHONPATH")))),
        },
        reference_log,
    )
    try:
        env = {
            **feeds,
            "WAREHOUSE_DSN": celery_dsn,
            "GRASSROOTS_STATE_DIR": str(tmp_path / "celery-state"),
            "GRASSROOTS_REPORTS_DIR": str(tmp_path / "celery-reports"),
            # The test triggers its two days; the scheduler starts no day of its own (its latest
            # day would have no files and build a day the in-process reference does not have).
            "GRASSROOTS_CATCHUP_FROM": "2099-12-31",
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

        assert reference.wait(timeout=1800) == 0, reference_log.read_text(errors="replace")[-5000:]
        local, celery = (table_fingerprints(dsn, ("marts",)) for dsn in (local_dsn, celery_dsn))
        assert local and sum(rows for rows, _ in local.values()) > 0
        assert celery == local, sorted(name for name in local if celery.get(name) != local[name])
    finally:
        if reference.poll() is None:
            reference.kill()
            reference.wait()
        server.shutdown()
        for name in (local_name, celery_name):
            db.drop_database(server_dsn, name)
