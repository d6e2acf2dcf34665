"""Shared fixtures: a private state folder, Airflow home and PostgreSQL database per test session.

The warehouse server is WAREHOUSE_DSN's when set, the embedded one otherwise; every
session creates its own database on it and drops it afterwards, so test runs never
touch the demo's data or each other's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import os
import socket
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="grassroots-tests-"))
os.environ["GRASSROOTS_STATE_DIR"] = str(_SESSION_DIR / "state")
os.environ.setdefault("GRASSROOTS_HMAC_SECRET", "test-secret-not-for-production")
os.environ.setdefault("GRASSROOTS_BI_PASSWORD", "bi-test-password-not-for-production")


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# The session's embedded server listens on a port of its own, never the demo's (54329).
os.environ["GRASSROOTS_EMBEDDED_PORT"] = str(free_port())
for _key in ("AIRFLOW_HOME", "AIRFLOW__CORE__DAGS_FOLDER", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"):
    os.environ.pop(_key, None)

from grassroots.local import project_env  # noqa: E402

project_env.configure()

# The longest files first, so that `make test`'s workers (pytest-xdist, a file's group at a time) start
# them at once and finish together instead of one worker running a long file alone at the end.
LONGEST_FIRST = (
    # with every file reading warehouse_days (test_incremental_work, test_celery_scale_out): one group,
    # the days built once, the longest (460 s alone on this 2-core machine under load; the fault matrix 300 s)
    "integration/test_warehouse.py",
    "integration/test_celery_scale_out.py",
    "integration/test_incremental_work.py",
    "integration/test_fault_matrix.py",
    "integration/test_airflow_backfill.py",
    "integration/test_airflow_late_files.py",
    "integration/test_quality.py",
    "integration/test_scoring.py",
    "integration/test_alerts.py",
    "integration/test_daily_pipeline.py",  # with every file reading demo_run: one group, the day built once
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.path.as_posix()
        return next((n for n, name in enumerate(LONGEST_FIRST) if path.endswith(name)), len(LONGEST_FIRST))

    items.sort(key=rank)  # stable: the rest keep their order


# A session fixture that several files read → their xdist group: every file that asks for it runs on
# one worker, so the fixture's days run once instead of on each worker.
SHARED_RUNS = ("demo_run", "warehouse_days")


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """`make test`'s scheduling (pytest-xdist, --dist loadfile): a file at a time per worker, so a file's
    module fixtures build their days once, and every file that reads one of the session's SHARED_RUNS
    on the same worker, so those days run once instead of on each worker. (xdist's own loadgroup cannot
    do this with pytest 9: it renames a node id attribute pytest no longer reads.)"""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    root = config.rootpath

    class FilesAndSharedRuns(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            shared = _shared_run(root / path)
            return f"files reading {shared}" if shared else path

    return FilesAndSharedRuns(config, log)


@functools.cache  # the scheduler asks once per test
def _shared_run(path: Path) -> str | None:
    """The SHARED_RUNS fixture a test file asks for (by its name, the only way pytest can), if any."""
    try:
        text = path.read_text(encoding="utf-8") if path.name != "conftest.py" else ""
    except OSError:
        return None
    return next((fixture for fixture in SHARED_RUNS if fixture in text), None)


DEMO_DAY = dt.date(2026, 11, 24)
TEST_RESIDENTS = 600
TEST_SEED = 7


@pytest.fixture(scope="session")
def server_dsn() -> Iterator[str]:
    """A maintenance DSN on the warehouse server (WAREHOUSE_DSN's or the embedded one)."""
    from grassroots import settings
    from grassroots.local import embedded
    from grassroots.warehouse import db

    given = os.environ.get("WAREHOUSE_DSN")
    if given:
        yield db.with_database(given, "postgres")
        return
    pgdata = embedded.pgdata_dir(settings.state_dir())
    yield embedded.start(pgdata)
    embedded.stop(pgdata)


@pytest.fixture
def warehouse_dsn(server_dsn: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh, empty database for one test, exported as WAREHOUSE_DSN."""
    from grassroots.warehouse import db

    name = f"grassroots_test_{uuid.uuid4().hex[:10]}"
    db.ensure_database(server_dsn, name)
    dsn = db.with_database(server_dsn, name)
    monkeypatch.setenv("WAREHOUSE_DSN", dsn)
    yield dsn
    db.drop_database(server_dsn, name)


@pytest.fixture(scope="session")
def demo_landing() -> Path:
    """One generated demo day (shared, read-only for tests)."""
    from grassroots.generator import generate

    landing = _SESSION_DIR / "landing"
    generate(landing, DEMO_DAY, 1, TEST_RESIDENTS, TEST_SEED)
    return landing


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Airflow's SQLite metadata database for this session."""
    from grassroots.local import pipeline

    pipeline.migrate_metadata_db()


@dataclass(frozen=True)
class DemoRun:
    """The demo day through the three DAGs, once per session, in a database of its own."""

    dsn: str
    reports: Path
    states: list[tuple[str, str]]  # (DAG, state) of each run, in run order
    output: str  # what the run wrote to stdout and stderr and logged (`watched_output`)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.getMessage()} {record.exc_text or ''}")


@contextlib.contextmanager
def watched_output() -> Iterator[list[str]]:
    """What the block writes to stdout and stderr (file descriptors 1 and 2 and sys's streams, as
    pytest's capfd sees them) and every log record that reaches the root logger, whichever stream an
    earlier logging setup bound its handlers to: the yielded list holds it as one text once the block
    ends. If the block raises, the end of the text goes to stderr (pytest's report) first."""
    records, watched = _Collect(), []
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    with tempfile.TemporaryFile() as sink:
        for fd in saved:
            os.dup2(sink.fileno(), fd)
        text = open(os.dup(1), "w", buffering=1, encoding="utf-8", errors="replace")  # noqa: SIM115
        logging.getLogger().addHandler(records)
        try:
            with contextlib.redirect_stdout(text), contextlib.redirect_stderr(text):
                yield watched
        except BaseException:
            failed = True
            raise
        else:
            failed = False
        finally:
            logging.getLogger().removeHandler(records)
            text.close()
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
            sink.seek(0)
            watched.append(sink.read().decode("utf-8", errors="replace") + "\n" + "\n".join(records.lines))
            if failed:
                sys.stderr.write(watched[0][-20000:])


def clone_database(server_dsn: str, source_dsn: str, name: str) -> str:
    """A copy of `source_dsn`'s database as a new database `name` (CREATE DATABASE … TEMPLATE); its DSN.

    For a test that changes what a shared run built: it works on the copy. PostgreSQL copies only
    a database no session is connected to, so the source's idle sessions (this test process's:
    an in-process run's connection pools nobody closed) are ended first."""
    import time

    import psycopg
    from psycopg import sql

    from grassroots.warehouse import db

    source = psycopg.conninfo.conninfo_to_dict(source_dsn)["dbname"]
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        for attempt in range(20):
            conn.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity where datname = %s and state = 'idle' "
                "and pid <> pg_backend_pid()",
                (source,),
            )
            try:
                conn.execute(
                    sql.SQL("create database {} template {}").format(sql.Identifier(name), sql.Identifier(source))
                )
                break
            except psycopg.errors.ObjectInUse:
                if attempt == 19:
                    raise
                time.sleep(0.5)
    return db.with_database(server_dsn, name)


@pytest.fixture(scope="session")
def demo_run(server_dsn: str, demo_landing: Path, airflow_db: None) -> Iterator[DemoRun]:
    """One real run shared by the tests that only read what it built (roles, BI access, KPI pages,
    the end-to-end counts of test_daily_pipeline).

    Tests that change a run's data work on a copy (`clone_database`: test_daily_pipeline's rerun);
    its output and logs are kept (test_no_personal_data_in_logs); tests that run it under other
    settings run their own.
    """
    from grassroots.generator import feed_server
    from grassroots.local import pipeline
    from grassroots.warehouse import db

    name = f"grassroots_test_{uuid.uuid4().hex[:10]}"
    db.ensure_database(server_dsn, name)
    dsn, reports = db.with_database(server_dsn, name), _SESSION_DIR / "demo-run-reports"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WAREHOUSE_DSN", dsn)
        patch.setenv("GRASSROOTS_LANDING_DIR", str(demo_landing))
        patch.setenv("GRASSROOTS_REPORTS_DIR", str(reports))
        server, url = feed_server.serve(demo_landing)
        patch.setenv("GRASSROOTS_API_URL", url)
        try:
            with watched_output() as output:  # for test_no_personal_data_in_logs
                states = pipeline.run_day(DEMO_DAY, Path(__file__).resolve().parents[1] / "dags")
        finally:
            server.shutdown()
    assert [state for _, state in states] == ["success"] * 3, (states, output[0][-5000:])
    yield DemoRun(dsn, reports, list(states), output[0])
    db.drop_database(server_dsn, name)


# The days of `warehouse_days`: four, so a model that re-reads its history reads twice on the last
# what it read on the second (test_incremental_work).
WAREHOUSE_DAYS = [dt.date(2026, 11, 23) + dt.timedelta(days=n) for n in range(4)]
# The residents and identity models built incrementally: rows read after each day (tests/node_work.py).
INCREMENTAL_MODELS = (
    "int_registry_daily",
    "int_residents_daily",
    "int_participants_matched",
    "int_complaint_callers_matched",
)


@dataclass(frozen=True)
class WarehouseDays:
    """WAREHOUSE_DAYS generated (TEST_RESIDENTS, TEST_SEED) and run in order through ingest → warehouse
    → scoring, then the last day twice at once (ingest and warehouse): what each step left behind."""

    dsn: str
    landing: Path
    url: str  # the API feeds of `landing`, served for the whole session
    truths: list[dict]
    after: dict[dt.date, dict]  # per day, right after its run: see `warehouse_days`
    rerun: list[dict[str, str]]  # the DAG states of the two concurrent reruns of the last day
    marts_before_rerun: dict[str, dict]
    marts_after_rerun: dict[str, dict]
    decisions: list[tuple]  # audit.publication's statuses of the last day, in order


def _marts_stats(dsn: str) -> dict[str, dict]:
    from grassroots.local import summary

    return {name: stats for name, stats in summary.table_stats(dsn).items() if name.startswith("marts.")}


@pytest.fixture(scope="session")
def warehouse_days(server_dsn: str, airflow_db: None) -> Iterator[WarehouseDays]:
    """Four days through the real DAGs, shared by the files that read them (one xdist group):
    test_warehouse (the KPIs and identities against the truth, the concurrent reruns), test_incremental_work
    (rows each incremental model read per day; a restatement on a copy) and test_celery_scale_out (the
    marts after the first two days, the in-process reference of its cluster run).

    After each day, `after[day]` holds: "mismatches" (kpi_mismatches with the day's truth), "links"
    (the day's identity links), "cases_first_day" (the first day's community service cases),
    "rows_read" (INCREMENTAL_MODELS → rows their compiled query read) and "marts" (table_fingerprints
    of the marts). Tests that change what it built work on a copy (`clone_database`).
    """
    import psycopg

    from grassroots.generator import feed_server, generate
    from grassroots.local import pipeline
    from grassroots.warehouse import db
    from tests.airflow_cluster import table_fingerprints
    from tests.concurrent import run_at_once
    from tests.kpi_truth import kpi_mismatches
    from tests.node_work import rows_read

    dags, first = Path(__file__).resolve().parents[1] / "dags", WAREHOUSE_DAYS[0]
    landing = _SESSION_DIR / "warehouse-days-landing"
    truths = generate(landing, first, len(WAREHOUSE_DAYS), TEST_RESIDENTS, TEST_SEED)
    name = f"grassroots_test_{uuid.uuid4().hex[:10]}"
    db.ensure_database(server_dsn, name)
    dsn = db.with_database(server_dsn, name)
    server, url = feed_server.serve(landing)
    after: dict[dt.date, dict] = {}
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("WAREHOUSE_DSN", dsn)
            patch.setenv("GRASSROOTS_LANDING_DIR", str(landing))
            patch.setenv("GRASSROOTS_API_URL", url)
            for n, day in enumerate(WAREHOUSE_DAYS):
                states = pipeline.run_day(day, dags)
                assert all(state == "success" for _, state in states), (day, states)
                with psycopg.connect(dsn) as conn:
                    after[day] = {
                        "mismatches": kpi_mismatches(conn, truths[n], day),
                        "links": conn.execute(
                            "select feed, file_name, row_no, person_key from int.int_identity_links_unioned "
                            "where delivery_date = %s",
                            (day,),
                        ).fetchall(),
                        "cases_first_day": dict(
                            conn.execute(
                                "select area_code, cases from marts.kpi_service_cases_daily "
                                "where area_level = 'community' and kpi_date = %s",
                                (first,),
                            ).fetchall()
                        ),
                    }
                after[day]["rows_read"] = {model: rows_read(dsn, model) for model in INCREMENTAL_MODELS}
                after[day]["marts"] = table_fingerprints(dsn, ("marts",))
        marts_before_rerun = _marts_stats(dsn)
        # The last day again, twice at once (ingest and warehouse): the runs take turns on the feed-day
        # and warehouse locks; neither fails nor holds, and nothing changes.
        work = _SESSION_DIR / "warehouse-days-reruns"
        work.mkdir()
        env = {"WAREHOUSE_DSN": dsn, "GRASSROOTS_LANDING_DIR": str(landing), "GRASSROOTS_API_URL": url}
        rerun = run_at_once(WAREHOUSE_DAYS[-1], dags, work, env, ("grassroots_ingest", "grassroots_warehouse"))
        with psycopg.connect(dsn) as conn:
            decisions = conn.execute(
                "select status from audit.publication where ds = %s order by publication_id", (WAREHOUSE_DAYS[-1],)
            ).fetchall()
        yield WarehouseDays(dsn, landing, url, truths, after, rerun, marts_before_rerun, _marts_stats(dsn), decisions)
    finally:
        server.shutdown()
        db.drop_database(server_dsn, name)
