"""Run dbt for one day against the warehouse and report every node's result."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

from grassroots import settings
from grassroots.warehouse import db, locks

log = logging.getLogger(__name__)


class DbtFailed(RuntimeError):
    """dbt reported errors or failed tests."""


DS_VARIABLE = "GRASSROOTS_DS"

# dbt's unit tests check the models' logic on fixed inputs; they say nothing about a day's data.
# They run in CI (tests/integration/test_warehouse.py runs every one of them), not in every day's
# build, where they were 13 of ~460 nodes and ~3 s of node time (dbt's advice for production too).
# The models tagged after_scoring read the scoring DAG's tiers: the scoring DAG builds them
# (AFTER_SCORING) once it has written the day's tiers, so the warehouse's build leaves them out.
DAILY_BUILD = ("--exclude-resource-type", "unit_test", "--exclude", "tag:after_scoring")
AFTER_SCORING = ("--select", "tag:after_scoring", "--exclude-resource-type", "unit_test")


def dbt_args(command: str, *extra: str) -> list[str]:
    """Arguments for a dbt command over this project (`command` may be two words: "docs generate")."""
    project = settings.dbt_project_dir()
    target_path = settings.state_dir() / "dbt-target"
    return [
        *command.split(),
        "--project-dir", str(project),
        "--profiles-dir", str(project),
        "--target-path", str(target_path),
        "--log-path", str(settings.state_dir() / "dbt-logs"),
        # The file log at info: node starts and results. At dbt's default (debug) it also took every
        # query's text and timing, ~5% of a build's time; the compiled SQL stays in the target folder.
        "--log-level-file", "info",
        *extra,
    ]  # fmt: skip


def dbt_environment(dsn: str, ds: dt.date) -> dict[str, str]:
    """What dbt reads from the environment: the connection (profiles.yml) and the partition day.

    The day is an environment variable (`env_var('GRASSROOTS_DS')` in the run_day and
    feed_day_freshness macros), not a `--vars` value: dbt re-parses the whole project whenever
    `--vars` changes (6 s here, every day's first invocation), but only the files that read an
    environment variable when that variable changes.
    """
    return {**db.dbt_env(dsn), DS_VARIABLE: ds.isoformat(), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """os.environ with `values` for the block (dbt reads its env vars from there), as it was after it."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def invoke(command: str, ds: dt.date, *extra: str, dsn: str | None = None, callbacks: list | None = None):
    """Run `dbt <command> <extra>` in-process for day ds on `dsn` (default: the warehouse); the
    process's environment is as it was afterwards. Returns dbt's dbtRunnerResult; `callbacks`
    receive dbt's events.

    The one place that invokes dbt: the build (run_dbt), source freshness, docs, the CLI, tests.
    """
    from dbt.cli.main import dbtRunner

    with _environment(dbt_environment(dsn or db.warehouse_dsn(), ds)):
        return dbtRunner(callbacks=callbacks or []).invoke(dbt_args(command, *extra))


def run_dbt(command: str, ds: dt.date, *extra: str, dsn: str | None = None, strict: bool = True) -> list[dict]:
    """Invoke dbt in-process under the WAREHOUSE lock (one build at a time, no load mid-build);
    record every node's result and the KPI tables' lineage; return one dict per node.

    Raises DbtFailed when dbt could not run (connection, compilation) and, if `strict`, when a
    node failed; with `strict=False` failed models and tests are left to publication, which
    holds what depends on them.
    """
    dsn = dsn or db.warehouse_dsn()
    with locks.held(dsn, locks.WAREHOUSE):
        started = time.time()
        result = invoke(command, ds, *extra, dsn=dsn)
        _record_results(dsn, command, ds, started)
    nodes = []
    for node in getattr(result.result, "results", None) or []:
        nodes.append(
            {
                "node": node.node.unique_id,
                "status": str(node.status),
                "seconds": round(node.execution_time, 2),
                "failures": node.failures,
            }
        )
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
