"""The demo's console: one line per stage with counts and seconds; Airflow, dbt and GX logs go to a file.

`quiet(log_path)` points the process's stdout and stderr (file descriptors 1 and 2, so Airflow's
structured task logs, dbt's output, warnings and child processes too) at the log file and hands
back a stream on the real terminal for the lines meant for people. On a terminal a stage longer
than a moment shows a ticking line (task counter, current task, seconds) that its result line
replaces; when stdout is not a terminal only the result lines are written.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import psycopg

TICK_SECONDS = 0.5
QUIET_SECONDS = 2.0  # a stage shorter than this never ticks
# dag.test logs each task it starts on this logger: "[DAG TEST] starting task_id=%s map_index=%s".
DAG_TEST_LOGGER = "airflow.sdk.definitions.dag"


@contextlib.contextmanager
def quiet(log_path: Path) -> Iterator[TextIO]:
    """Send fds 1 and 2 to log_path for the duration; yield a line-buffered stream on the original stdout."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    terminal = os.fdopen(os.dup(saved_out), "w", buffering=1, encoding="utf-8")
    logging.captureWarnings(True)  # warnings become log records in the file, never console lines
    try:
        yield terminal
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        terminal.flush()
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        os.close(saved_out)
        os.close(saved_err)
        terminal.close()


class _TaskWatch(logging.Handler):
    """Counts the tasks dag.test starts and remembers the current one (for the ticking line)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.started = 0
        self.current = ""

    def emit(self, record: logging.LogRecord) -> None:
        if str(record.msg).startswith("[DAG TEST] starting task_id") and record.args:
            self.started += 1
            self.current = str(record.args[0])


class Console:
    """Stage lines on the terminal stream: `with console.stage("ingest") as s: ...; s.done("counts")`."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()

    def line(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def begin(self, name: str, tasks: int | None = None) -> Stage:
        """Start a stage (its ticking line on a terminal); its `finish(result)` writes the result line."""
        return Stage(self, name, tasks)

    @contextlib.contextmanager
    def stage(self, name: str, tasks: int | None = None) -> Iterator[Stage]:
        """A stage around a block: `with console.stage("generate") as s: ...; s.done("counts")`."""
        stage = self.begin(name, tasks)
        try:
            yield stage
        finally:
            stage.finish()


class Stage:
    """One line on the console: ticking while it runs (terminal only), then its result and seconds."""

    def __init__(self, console: Console, name: str, tasks: int | None) -> None:
        self.console, self.name, self.tasks = console, name, tasks
        self.result = "failed"
        self.started = time.monotonic()
        self.watch = _TaskWatch()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        logging.getLogger(DAG_TEST_LOGGER).addHandler(self.watch)
        if console.tty:
            self._ticker = threading.Thread(target=self._tick, daemon=True)
            self._ticker.start()

    def _tick(self) -> None:
        while not self._stop.wait(TICK_SECONDS):
            seconds = time.monotonic() - self.started
            if seconds < QUIET_SECONDS:
                continue
            counter = f"task {self.watch.started}/{self.tasks} {self.watch.current}" if self.tasks else "running"
            self.console.out.write(f"\r\033[K  {self.name:<10} {counter} … {seconds:.0f}s")
            self.console.out.flush()

    def done(self, result: str) -> None:
        """The result the line will show (`failed` unless set)."""
        self.result = result

    def finish(self, result: str | None = None) -> None:
        """Stop ticking and write the stage's line (once)."""
        if self._stop.is_set():
            return
        self._stop.set()
        if result is not None:
            self.result = result
        if self._ticker is not None:
            self._ticker.join()
            self.console.out.write("\r\033[K")
        logging.getLogger(DAG_TEST_LOGGER).removeHandler(self.watch)
        self.console.line(f"  {self.name:<10} {self.result}  ({time.monotonic() - self.started:.1f}s)")


def _one(conn: psycopg.Connection, query: str, params: tuple) -> tuple:
    try:
        return conn.execute(query, params).fetchone() or ()
    except psycopg.Error:  # a stage that failed early leaves tables missing: say less, not crash
        conn.rollback()
        return ()


def ingest_counts(dsn: str, ds: dt.date, feeds: int) -> str:
    """Feeds loaded and rows received / loaded / quarantined for ds (from the load ledger)."""
    with psycopg.connect(dsn) as conn:
        row = _one(
            conn,
            "select count(distinct feed) filter (where status in ('loaded', 'duplicate')), "
            "coalesce(sum(rows_received), 0), coalesce(sum(rows_loaded), 0), coalesce(sum(rows_quarantined), 0) "
            "from meta.load_batch where ds = %s and status <> 'superseded'",
            (ds,),
        )
    if not row:
        return "no load recorded"
    return f"{row[0]}/{feeds} feeds loaded, rows {row[1]:,} received, {row[2]:,} loaded, {row[3]:,} quarantined"


def warehouse_counts(dsn: str, ds: dt.date) -> str:
    """dbt nodes, checks, freshness and the publication decision for ds (from `audit`)."""
    with psycopg.connect(dsn) as conn:
        dbt = _one(
            conn,
            "select count(*), count(*) filter (where status in ('error', 'fail', 'warn', 'skipped', 'runtime error')) "
            "from audit.dbt_result "
            "where invocation_id = (select invocation_id from audit.dbt_result where ds = %s and command = 'build' "
            "order by recorded_at desc, dbt_result_id desc limit 1)",
            (ds,),
        )
        checks = _one(
            conn,
            "select count(*), count(*) filter (where not c.success and c.severity = 'fail'), "
            "count(*) filter (where not c.success and c.severity = 'warn') "
            "from audit.latest_validation v join audit.check_result c on c.validation_id = v.validation_id "
            "where v.ds = %s",
            (ds,),
        )
        stale = _one(
            conn,
            "select count(*) filter (where status <> 'pass') from audit.source_freshness where ds = %s "
            "and invocation_id = (select invocation_id from audit.source_freshness where ds = %s "
            "order by recorded_at desc limit 1)",
            (ds, ds),
        )
        decision = _one(
            conn,
            "select p.status, (select count(*) from audit.publication_hold h "
            "where h.publication_id = p.publication_id) from audit.publication p where p.ds = %s "
            "order by p.decided_at desc, p.publication_id desc limit 1",
            (ds,),
        )
    parts = []
    if dbt:
        parts.append(f"dbt {dbt[0]:,} nodes ({dbt[1]} failed or skipped)")
    if checks:
        parts.append(f"{checks[0]:,} checks ({checks[1]} failed, {checks[2]} advisory failed)")
    if stale:
        parts.append(f"{stale[0]} stale feed(s)")
    if decision:
        parts.append(decision[0] + (f", {decision[1]} period(s) held" if decision[1] else ""))
    return ", ".join(parts) or "nothing recorded"


def scoring_counts(dsn: str, ds: dt.date, kpi_dir: Path) -> str:
    """Residents scored for ds and KPI pages written."""
    with psycopg.connect(dsn) as conn:
        scored = _one(conn, "select count(*) from scoring.resident_tiers where ds = %s", (ds,))
    pages = len(list(kpi_dir.rglob("*.html"))) if kpi_dir.exists() else 0
    return f"{scored[0] if scored else 0:,} residents scored, {pages} KPI pages"
