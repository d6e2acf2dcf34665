"""Run dbt for one day against the warehouse and report every node's result."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
from pathlib import Path

from grassroots import db, locks, settings

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


def run_dbt(command: str, ds: dt.date, *extra: str, dsn: str | None = None, strict: bool = True) -> list[dict]:
    """Invoke dbt in-process under the WAREHOUSE lock (one build at a time, no load mid-build);
    record every node's result and the KPI tables' lineage; return one dict per node.

    Raises DbtFailed when dbt could not run (connection, compilation) and, if `strict`, when a
    node failed; with `strict=False` failed models and tests are left to publication, which
    holds what depends on them.
    """
    from dbt.cli.main import dbtRunner

    dsn = dsn or db.warehouse_dsn()
    os.environ.update(db.dbt_env(dsn))
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    with locks.held(dsn, locks.WAREHOUSE):
        started = time.time()
        result = dbtRunner().invoke(dbt_args(command, ds, *extra))
        _record_results(dsn, command, ds, started)
    nodes = []
    for node in getattr(result.result, "results", None) or []:
        nodes.append({
            "node": node.node.unique_id,
            "status": str(node.status),
            "seconds": round(node.execution_time, 2),
            "failures": node.failures,
        })  # fmt: skip
        log.info("dbt %-8s %-70s %s", command, node.node.unique_id, node.status)
    failed = [n["node"] for n in nodes if n["status"] in ("error", "fail", "runtime error")]
    if result.exception is not None or result.result is None or (strict and not result.success):
        raise DbtFailed(f"dbt {command} for {ds} failed: {failed or result.exception}")
    if failed:
        log.error("dbt %s for %s: %d node(s) failed; publication holds what depends on them: %s",
                  command, ds, len(failed), ", ".join(failed))  # fmt: skip
    return nodes


def _record_results(dsn: str, command: str, ds: dt.date, started: float) -> None:
    """Keep every node's result of this invocation in audit.dbt_result (history)."""
    from grassroots.quality.checks import CANDIDATE_SCHEMA
    from grassroots.quality.dbt_results import record_lineage, record_run_results

    if command in ("build", "run", "test", "seed", "snapshot"):
        if record_run_results(dsn, ds, command, run_results_path(), started) and command == "build":
            record_lineage(dsn, ds, manifest_path(), CANDIDATE_SCHEMA)


def run_results_path() -> Path:
    """Where the last dbt invocation left its run_results.json."""
    return settings.state_dir() / "dbt-target" / "run_results.json"


def manifest_path() -> Path:
    """Where the last dbt run left its manifest."""
    return settings.state_dir() / "dbt-target" / "manifest.json"
