"""Scale-out on an existing engine: the same DAGs under the CeleryExecutor with two workers, two days.

The real components (api-server, scheduler, dag-processor, triggerer, two Celery workers on the
local Redis, a PostgreSQL metadata database; tests/airflow_cluster.py) run two generated days:
ingest is triggered for each day and its Assets start the warehouse and scoring runs. Every
run succeeds, the tasks ran on both workers (the hostname each task instance records) and
nowhere else, and the marts equal those the same two days left in-process (`pipeline.run_day`,
dag.test, the path of `make demo` and `python -m grassroots run`): the session's `warehouse_days`
(tests/conftest.py), whose first two days these are, on the same landed files, measured right
after its second day.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from grassroots.warehouse import db
from tests.airflow_cluster import DAG_IDS, airflow_cluster, table_fingerprints
from tests.conftest import WAREHOUSE_DAYS, WarehouseDays

DAYS = WAREHOUSE_DAYS[:2]
WORKERS = ("worker1", "worker2")


def test_two_days_on_two_celery_workers_equal_the_local_run(
    server_dsn: str, warehouse_days: WarehouseDays, tmp_path: Path
) -> None:
    local = warehouse_days.after[DAYS[-1]]["marts"]  # the in-process run of the same days, as it stood after them
    celery_name = f"grassroots_test_{uuid.uuid4().hex[:10]}"
    db.ensure_database(server_dsn, celery_name)
    celery_dsn = db.with_database(server_dsn, celery_name)
    try:
        env = {
            "GRASSROOTS_LANDING_DIR": str(warehouse_days.landing),
            "GRASSROOTS_API_URL": warehouse_days.url,
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

        celery = table_fingerprints(celery_dsn, ("marts",))
        assert local and sum(rows for rows, _ in local.values()) > 0
        assert celery == local, sorted(name for name in local if celery.get(name) != local[name])
    finally:
        db.drop_database(server_dsn, celery_name)
