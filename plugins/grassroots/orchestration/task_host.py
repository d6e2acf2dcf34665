"""Start an Airflow component that forks task processes with the tasks' libraries already imported.

    python -m grassroots.orchestration.task_host scheduler        # LocalExecutor: its workers fork the tasks
    python -m grassroots.orchestration.task_host celery worker    # CeleryExecutor: its pool forks the tasks

Under the LocalExecutor and the CeleryExecutor every task instance is a process forked from a
long-lived one (the scheduler's executor workers, a Celery worker's pool), which then parses its
DAG file and imports what its callable needs: Great Expectations (~2.7 s on this project's kind
of machine), dbt (~2 s), scikit-learn (~1.6 s), the loader. A day of the three DAGs is ~50
tasks, so a day paid ~60 CPU-seconds of imports
(`bench/task_startup.py` prints the figures). The component started here imports them once,
before Airflow starts: the forked tasks inherit them, the way a pre-forking web server preloads
its application. Nothing else changes: the same Airflow command line runs, with the same
configuration; no connection, thread or file is opened by the preloading (a fork copies none).

`grassroots.local.airflow_stack.Cluster` (`python -m grassroots airflow`, the real-Airflow tests) starts
its scheduler and Celery workers this way; docker-compose.yml's worker too.
"""

from __future__ import annotations

import importlib
import logging
import sys
import threading

# What task callables import, heaviest first (see bench/task_startup.py's IMPORTS).
TASK_MODULES = (
    "great_expectations",
    "grassroots.quality.checks",
    "grassroots.quality.tasks",
    "dbt.cli.main",
    "grassroots.warehouse.dbt_runner",
    "sklearn.cluster",
    "grassroots.scoring",
    "grassroots.reports.kpi_pages",
    "grassroots.loading.ingest",
)


def preload() -> list[str]:
    """Import TASK_MODULES; return the modules imported.

    Raises RuntimeError if importing left a thread running: a fork would copy the process
    without it (a lock it held stays held forever in the child)."""
    # GX logs a line per API function it registers while importing, at INFO: not the scheduler's business.
    logging.getLogger("great_expectations._docs_decorators").setLevel(logging.WARNING)
    for name in TASK_MODULES:
        importlib.import_module(name)
    running = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    if running:
        raise RuntimeError(f"preloading the task modules started threads {running}: a forked task would inherit them")
    return list(TASK_MODULES)


def main(argv: list[str]) -> None:
    """Preload, then run `airflow <argv>` in this process."""
    preload()
    from airflow.__main__ import main as airflow_main

    sys.argv = ["airflow", *argv]
    airflow_main()


if __name__ == "__main__":
    main(sys.argv[1:])
