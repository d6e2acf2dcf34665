"""Run the daily DAGs for one day through Airflow (`dag.test`), in the order their Assets dictate.

DAGs with a time schedule that announce Assets run first; then every DAG whose
Asset schedule consumes what has been announced, until nothing new is triggered.
Call `localenv.configure()` before importing this module.
"""

from __future__ import annotations

import datetime as dt
import logging
import subprocess
import sys
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


def run_day(ds: dt.date, dags_folder: Path) -> list[tuple[str, str]]:
    """Run every DAG for day `ds`; return (dag_id, state) and stop at the first failure."""
    dags = load_dags(dags_folder)
    logical = dt.datetime.combine(ds, dt.time(), ZoneInfo("Asia/Shanghai"))
    states = []
    for dag_id in run_order(dags):
        log.info("running %s for %s", dag_id, ds)
        for task in dags[dag_id].tasks:
            # A local run reports a failure at once; retries (and their minutes of delay) are for
            # the scheduler, where a flaky department API deserves another try.
            task.retries = 0
        run = dags[dag_id].test(logical_date=logical, run_conf={"ds": ds.isoformat()})
        state = str(getattr(run, "state", "unknown"))
        states.append((dag_id, state))
        if state != "success":
            break
    return states
