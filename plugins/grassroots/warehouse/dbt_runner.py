"""Run dbt for one day against the warehouse and report every node's result."""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import time
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
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(project),
        "--target-path",
        str(target_path),
        "--log-path",
        str(settings.state_dir() / "dbt-logs"),
        # The file log at info: node starts and results. At dbt's default (debug) it also took every
        # query's text and timing, ~5% of a build's time; the compiled SQL stays in the target folder.
        "--log-level-file",
        "info",
        # A flag, not DBT_SEND_ANONYMOUS_USAGE_STATS: dbt reads its flags from os.environ.
        "--no-send-anonymous-usage-stats",
        *extra,
    ]


def dbt_environment(dsn: str, ds: dt.date) -> dict[str, str]:
    """What dbt reads with `env_var()`: the connection (profiles.yml) and the partition day.

    The day is an environment variable (`env_var('GRASSROOTS_DS')` in the run_day and
    feed_day_freshness macros), not a `--vars` value: dbt re-parses the whole project whenever
    `--vars` changes (6 s here, every day's first invocation), but only the files that read an
    environment variable for a change of the variable (see invoke).
    """
    return {**db.dbt_env(dsn), DS_VARIABLE: ds.isoformat()}


class _InvocationEnvironment:
    """A dbtRunner callback that adds `values` to the environment of the invocation it runs in.

    dbt reads `env_var()` from its invocation context, not from os.environ: each invocation
    starts with a new context holding a copy of os.environ (dbt.cli.requires.preflight), then
    sets up its event logger with the runner's callbacks and fires its first event before it
    reads the profile or the project. On that first event this callback adds `values` to the
    context's copy, as preflight itself sets it (`_env`); the process's environment is never
    written. dbt's pool threads share the context, so every node sees the same values.
    """

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.applied = False

    def __call__(self, _event: object) -> None:
        if self.applied:
            return
        from dbt_common.context import get_invocation_context

        context = get_invocation_context()
        context._env = {**context.env, **self.values}
        self.applied = True


def invoke(command: str, ds: dt.date, *extra: str, dsn: str | None = None, callbacks: list | None = None):
    """Run `dbt <command> <extra>` in-process for day ds on `dsn` (default: the warehouse), without
    writing the process's environment: dbt sees the connection and the day (dbt_environment) in
    an environment of its own for this invocation (_InvocationEnvironment). Returns dbt's
    dbtRunnerResult; `callbacks` receive dbt's events.

    The invocation runs in a copy of the caller's context variables, so dbt's invocation
    context (and the password in it) ends with the call. dbt's partial parser compares the
    environment variables a file read with os.environ, where the day never is: each invocation
    re-parses the files that read the day (the run_day macro and what calls it), never the
    whole project.

    The one place that invokes dbt: the build (run_dbt), source freshness, docs, the CLI, tests.
    """
    from dbt.cli.main import dbtRunner

    environment = _InvocationEnvironment(dbt_environment(dsn or db.warehouse_dsn(), ds))
    runner = dbtRunner(callbacks=[environment, *(callbacks or [])])
    return contextvars.copy_context().run(runner.invoke, dbt_args(command, *extra))


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
        log.error(
            "dbt %s for %s: %d node(s) failed; publication holds what depends on them: %s",
            command,
            ds,
            len(failed),
            ", ".join(failed),
        )
    return nodes


def _record_results(dsn: str, command: str, ds: dt.date, started: float) -> None:
    """Keep every node's result of this invocation in audit.dbt_result (history)."""
    from grassroots.quality.checks import CANDIDATE_SCHEMA
    from grassroots.quality.dbt_results import record_lineage, record_run_results

    if command in ("build", "run", "test", "seed", "snapshot"):
        if record_run_results(dsn, ds, command, run_results_path(), started) and command == "build":
            record_lineage(dsn, ds, manifest_path(), run_results_path(), CANDIDATE_SCHEMA)


def run_results_path() -> Path:
    """Where the last dbt invocation left its run_results.json."""
    return settings.state_dir() / "dbt-target" / "run_results.json"


def manifest_path() -> Path:
    """Where the last dbt run left its manifest."""
    return settings.state_dir() / "dbt-target" / "manifest.json"
