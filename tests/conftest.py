"""Shared fixtures: a private state folder, Airflow home and PostgreSQL database per test session.

The warehouse server is WAREHOUSE_DSN's when set, the embedded one otherwise; every
session creates its own database on it and drops it afterwards, so test runs never
touch the demo's data or each other's.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import socket
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
    "integration/test_airflow_backfill.py",
    "integration/test_fault_matrix.py",
    "integration/test_celery_scale_out.py",
    "integration/test_airflow_late_files.py",
    "integration/test_warehouse.py",
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


DEMO_RUN_GROUP = "files reading demo_run"


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """`make test`'s scheduling (pytest-xdist, --dist loadfile): a file at a time per worker, so a file's
    module fixtures build their days once, and every file that reads the session's `demo_run` on the
    same worker, so that day runs once instead of on each worker. (xdist's own loadgroup cannot do
    this with pytest 9: it renames a node id attribute pytest no longer reads.)"""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    root = config.rootpath

    class FilesAndSharedRun(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return DEMO_RUN_GROUP if _reads_demo_run(root / path) else path

    return FilesAndSharedRun(config, log)


@functools.cache  # the scheduler asks once per test
def _reads_demo_run(path: Path) -> bool:
    """Whether a test file asks for the `demo_run` fixture (by its name, the only way pytest can)."""
    try:
        return "demo_run" in path.read_text(encoding="utf-8") and path.name != "conftest.py"
    except OSError:
        return False


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
    tests that watch the run itself (logs, other settings) run their own.
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
            states = pipeline.run_day(DEMO_DAY, Path(__file__).resolve().parents[1] / "dags")
        finally:
            server.shutdown()
    assert [state for _, state in states] == ["success"] * 3, states
    yield DemoRun(dsn, reports, list(states))
    db.drop_database(server_dsn, name)
