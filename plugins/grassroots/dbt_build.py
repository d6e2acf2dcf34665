"""Run dbt for one day against the warehouse and report every node's result."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
from pathlib import Path

from grassroots import db, settings

log = logging.getLogger(__name__)


class DbtFailed(RuntimeError):
    """dbt reported errors or failed tests."""


def dbt_args(command: str, ds: dt.date, *extra: str) -> list[str]:
    """Arguments for a dbt command over this project for day `ds`."""
    project = settings.dbt_project_dir()
    target_path = settings.state_dir() / "dbt-target"
    return [
        command,
        "--project-dir", str(project),
        "--profiles-dir", str(project),
        "--target-path", str(target_path),
        "--log-path", str(settings.state_dir() / "dbt-logs"),
        "--vars", json.dumps({"ds": ds.isoformat()}),
        *extra,
    ]  # fmt: skip


def run_dbt(command: str, ds: dt.date, *extra: str, dsn: str | None = None) -> list[dict]:
    """Invoke dbt in-process; return one dict per node (name, status, time, failures)."""
    from dbt.cli.main import dbtRunner

    os.environ.update(db.dbt_env(dsn or db.warehouse_dsn()))
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    started = time.time()
    result = dbtRunner().invoke(dbt_args(command, ds, *extra))
    _record_results(dsn or db.warehouse_dsn(), command, ds, started)
    nodes = []
    for node in getattr(result.result, "results", None) or []:
        nodes.append({
            "node": node.node.unique_id,
            "status": str(node.status),
            "seconds": round(node.execution_time, 2),
            "failures": node.failures,
        })  # fmt: skip
        log.info("dbt %-8s %-70s %s", command, node.node.unique_id, node.status)
    if not result.success:
        failed = [n["node"] for n in nodes if n["status"] in ("error", "fail", "runtime error")]
        raise DbtFailed(f"dbt {command} for {ds} failed: {failed or result.exception}")
    return nodes


def _record_results(dsn: str, command: str, ds: dt.date, started: float) -> None:
    """Keep every node's result of this invocation in audit.dbt_result (history)."""
    from grassroots.quality.dbt_results import record_run_results

    if command in ("build", "run", "test", "seed", "snapshot"):
        record_run_results(dsn, ds, command, run_results_path(), started)


def run_results_path() -> Path:
    """Where the last dbt invocation left its run_results.json."""
    return settings.state_dir() / "dbt-target" / "run_results.json"


def manifest_path() -> Path:
    """Where the last dbt run left its manifest."""
    return settings.state_dir() / "dbt-target" / "manifest.json"
