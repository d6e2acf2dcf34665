"""Real Airflow for tests: every component on a temporary AIRFLOW_HOME and a private PostgreSQL metadata database.

    with airflow_cluster(server_dsn, env={...}, executor="CeleryExecutor", workers=2) as cluster:
        runs = cluster.run_day(day, "grassroots_ingest", DAG_IDS)   # trigger, wait for every DAG it starts
        cluster.task_instances(dag_id, run_id)                       # states, hostnames

The components are those of `python -m grassroots airflow` (grassroots.local.airflow_stack.Cluster):
api-server, scheduler, dag-processor, triggerer and, under the CeleryExecutor, Celery workers
on a Redis database of the tests' own. Whatever happens in the block, every component (and
its task processes) is stopped, the metadata database dropped and the Redis database emptied.
How a run is tied to a day lives in one place, `Cluster.trigger_day`. `day_env` is the
settings a cluster's DAGs need for generated days; `table_fingerprints` compares what two runs
left in the warehouse.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import psycopg

from grassroots.local import summary
from grassroots.local.airflow_stack import DAG_IDS, Cluster
from grassroots.warehouse import db

__all__ = ["DAGS", "DAG_IDS", "REDIS_URL", "Cluster", "airflow_cluster", "day_env", "table_fingerprints"]

DAGS = Path(__file__).resolve().parents[1] / "dags"
# The Redis at 127.0.0.1:6379; the tests' broker is a database of its own (never 0, the default's).
REDIS_URL = os.environ.get("GRASSROOTS_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
# When a period's publication status last changed: wall-clock bookkeeping, not data.
WALL_CLOCK_COLUMNS = frozenset({"decided_at"})


def day_env(dsn: str, landing: Path, url: str, work: Path, deliver_by: dt.datetime) -> dict[str, str]:
    """What the DAGs need for days generated into `landing` (API feeds served at `url`), every
    feed due by `deliver_by`, their state and reports under `work`."""
    return {
        "WAREHOUSE_DSN": dsn,
        "GRASSROOTS_LANDING_DIR": str(landing),
        "GRASSROOTS_API_URL": url,
        "GRASSROOTS_STATE_DIR": str(work / "state"),
        "GRASSROOTS_REPORTS_DIR": str(work / "reports"),
        "GRASSROOTS_DELIVER_BY": deliver_by.astimezone(dt.UTC).isoformat(timespec="seconds"),
        "GRASSROOTS_ARRIVAL_POLL_SECONDS": "5",
    }


def table_fingerprints(dsn: str, schemas: tuple[str, ...]) -> dict[str, tuple[int, str]]:
    """'schema.table' → (rows, checksum) (grassroots.local.summary.checksum_query) for the base tables of
    `schemas`, wall-clock columns left out: equal fingerprints, equal tables in any row order."""
    out = {}
    with psycopg.connect(dsn) as conn:
        for schema, name, kind in summary.tables(conn):
            if schema not in schemas or kind != "BASE TABLE":
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
            query = summary.checksum_query(schema, name, columns)
            out[f"{schema}.{name}"] = conn.execute(query).fetchone()
    return out


def _flush(broker_url: str) -> None:
    """Empty the tests' Redis database: no message of an earlier (failed) run reaches these workers."""
    import redis

    client = redis.Redis.from_url(broker_url)
    try:
        client.flushdb()
    finally:
        client.close()


@contextlib.contextmanager
def airflow_cluster(
    server_dsn: str,
    env: Mapping[str, str],
    *,
    executor: str = "LocalExecutor",
    workers: int = 0,
    broker_url: str = REDIS_URL,
    timeout: float = 600.0,
    paused: bool = True,
) -> Iterator[Cluster]:
    """Start Airflow (healthy, the project's DAGs parsed) for the block; stop and clean up after it.

    `server_dsn`: a maintenance DSN of the PostgreSQL server that gets the private metadata
    database; `env`: the settings the DAGs need (WAREHOUSE_DSN, GRASSROOTS_LANDING_DIR, …);
    `paused=False`: the DAGs are unpaused as soon as they are parsed (the scheduler starts at once).
    """
    home = Path(tempfile.mkdtemp(prefix="grassroots-airflow-"))
    name = f"airflow_test_{uuid.uuid4().hex[:10]}"
    db.ensure_database(server_dsn, name)
    celery = executor == "CeleryExecutor"
    cluster = Cluster(
        home=home,
        metadata_dsn=db.with_database(server_dsn, name),
        dags_folder=DAGS,
        env=env,
        executor=executor,
        workers=workers if celery else 0,
        broker_url=broker_url if celery else None,
        paused_at_creation=paused,
    )
    try:
        if celery:
            _flush(broker_url)
        cluster.start()
        cluster.wait_healthy(timeout=timeout, dag_ids=DAG_IDS)
        yield cluster
    finally:
        cluster.stop()
        if celery:
            _flush(broker_url)
        db.drop_database(server_dsn, name)
        shutil.rmtree(home, ignore_errors=True)
