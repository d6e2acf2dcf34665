"""Run the daily DAGs for one day through Airflow (`dag.test`), in the order their Assets dictate.

DAGs with a time schedule run first; then every DAG whose Asset schedule is satisfied by the
Asset events the day's runs actually emitted (as the scheduler would trigger it): the ingest
run may fail on a missing feed and still announce the day's deliveries, so the warehouse builds
and publishes what it can; a day with nothing published triggers no scoring.
Call `localenv.configure()` before importing this module.
"""

from __future__ import annotations

import datetime as dt
import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

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
    `only` restricts the run to those DAGs; `conf` is added to every run's conf (e.g. {"force": true});
    `on_stage("start", dag, None)` and `on_stage("end", dag, state)` frame each run (the demo's console).
    """
    dags = load_dags(dags_folder)
    order = [dag_id for dag_id in run_order(dags) if only is None or dag_id in only]
    produced = set().union(*(_produced(dags[dag_id]) for dag_id in order))
    logical = dt.datetime.combine(ds, dt.time(), ZoneInfo("Asia/Shanghai"))
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
        run = dags[dag_id].test(logical_date=logical, run_conf={**(conf or {}), "ds": ds.isoformat()})
        states.append((dag_id, str(getattr(run, "state", "unknown"))))
        if on_stage:
            on_stage("end", dags[dag_id], states[-1][1])
        announced |= announced_by(run)
    return states
