"""Run the daily DAGs for one day through Airflow (`dag.test`), in the order their Assets dictate.

Each run is a run of the day's partition, as under the scheduler: its partition key is the day
(`YYYY-MM-DD`), which is how its tasks know their day and what their Asset events carry.
`DAG.test` (Airflow 3.3) takes no partition key, so `run_day` stamps the key on the run that
`dag.test` creates (`_partition_key_on_test_runs`) before any task starts.
DAGs with a time schedule run first; then every DAG whose Asset schedule is satisfied by the
Asset events the day's runs actually emitted (as the scheduler would trigger it): the ingest
run may fail on a missing feed and still announce the day's deliveries, so the warehouse builds
and publishes what it can; a day with nothing published triggers no scoring.
Call `project_env.configure()` before importing this module.
"""

from __future__ import annotations

import datetime as dt
import logging
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

from grassroots import settings

log = logging.getLogger(__name__)


def migrate_metadata_db() -> None:
    """Create or upgrade Airflow's (SQLite) metadata database."""
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, stdout=subprocess.DEVNULL)


def load_dags(dags_folder: Path) -> dict:
    """Parse the DAG folder; fail loudly on any import error."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(dags_folder))
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    return bag.dags


def _asset_uris(condition: object) -> set[str]:
    """URIs inside an Asset condition (Asset, AssetAll, AssetAny, nested)."""
    if hasattr(condition, "objects"):
        return set().union(*(_asset_uris(child) for child in condition.objects))
    uri = getattr(condition, "uri", None)
    return {uri} if uri else set()


def _consumed(dag: object) -> set[str]:
    condition = getattr(dag.timetable, "asset_condition", None)
    return _asset_uris(condition) if condition is not None else set()


def _produced(dag: object) -> set[str]:
    return {outlet.uri for task in dag.tasks for outlet in task.outlets if hasattr(outlet, "uri")}


def run_order(dags: dict) -> list[str]:
    """DAG ids in Asset order: producers with a time schedule first, then their consumers."""
    pending = dict(dags)
    order = [d for d, dag in sorted(pending.items()) if not _consumed(dag)]
    announced = set().union(*(_produced(dags[d]) for d in order)) if order else set()
    for dag_id in order:
        pending.pop(dag_id)
    while pending:
        ready = [d for d, dag in sorted(pending.items()) if _consumed(dag) <= announced]
        if not ready:
            break
        for dag_id in ready:
            order.append(dag_id)
            announced |= _produced(pending.pop(dag_id))
    return order


def announced_by(run: object) -> set[str]:
    """URIs of the Asset events a DAG run emitted (from Airflow's metadata database)."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (
            session.query(AssetModel.uri)
            .join(AssetEvent, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetEvent.source_dag_id == run.dag_id, AssetEvent.source_run_id == run.run_id)
            .all()
        )
    return {row[0] for row in rows}


@contextmanager
def _partition_key_on_test_runs(key: str) -> Iterator[None]:
    """Within the block, every DAG run `dag.test` creates has partition key `key` (and its partition date).

    `dag.test` creates its run through `airflow.models.dagrun.get_or_create_dagrun`, imported when
    it is called; the run is stored with the key before its first task is scheduled, so the tasks,
    the Asset events they emit and the metadata database see a partitioned run, as the scheduler
    would create it.
    """
    from airflow.models import dagrun

    create = dagrun.get_or_create_dagrun

    def create_partitioned(*, dag: object, session: object, **kwargs: object) -> object:
        run = create(dag=dag, session=session, **kwargs)
        run.partition_key = key
        run.partition_date = dag.timetable.resolve_partition_date(key)
        session.commit()
        return run

    dagrun.get_or_create_dagrun = create_partitioned
    try:
        yield
    finally:
        dagrun.get_or_create_dagrun = create


def run_day(
    ds: dt.date,
    dags_folder: Path,
    *,
    only: tuple[str, ...] | None = None,
    conf: dict | None = None,
    on_stage: Callable[[str, object, str | None], None] | None = None,
) -> list[tuple[str, str]]:
    """Run every DAG the day triggers for day `ds`; return (dag_id, state) of each run, in order.

    A DAG whose Assets were not all announced by the day's earlier runs is not run (and not listed);
    `only` restricts the run to those DAGs; `conf` is every run's conf (e.g. {"force": true}). Each run's
    partition key is the day. `on_stage("start", dag, None)` and `on_stage("end", dag, state)` frame
    each run (the demo's console).
    """
    from grassroots.orchestration.days import day_key

    dags = load_dags(dags_folder)
    order = [dag_id for dag_id in run_order(dags) if only is None or dag_id in only]
    produced = set().union(*(_produced(dags[dag_id]) for dag_id in order))
    logical = dt.datetime.combine(ds, dt.time(), ZoneInfo(settings.TIMEZONE))
    states = []
    announced: set[str] = set()
    for dag_id in order:
        if (_consumed(dags[dag_id]) & produced) - announced:
            log.info(
                "%s not triggered for %s: %s not announced",
                dag_id,
                ds,
                (_consumed(dags[dag_id]) & produced) - announced,
            )
            continue
        log.info("running %s for %s", dag_id, ds)
        for task in dags[dag_id].tasks:
            # A local run reports a failure at once; retries (and their minutes of delay) are for
            # the scheduler, where a flaky department API deserves another try.
            task.retries = 0
        if on_stage:
            on_stage("start", dags[dag_id], None)
        with _partition_key_on_test_runs(day_key(ds)):
            run = dags[dag_id].test(logical_date=logical, run_conf=dict(conf or {}))
        states.append((dag_id, str(getattr(run, "state", "unknown"))))
        if on_stage:
            on_stage("end", dags[dag_id], states[-1][1])
        announced |= announced_by(run)
    return states
