"""Warehouse logins per role come from Airflow Connections inside a task, WAREHOUSE_DSN otherwise.

A real task (`dag.test`, the Task SDK's runner and its in-process Execution API) asks
`grassroots.warehouse.db.role_dsn(loader)` for its connection and reports what PostgreSQL saw: the
session user (the login) and the current user (the role the session works as).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from grassroots.warehouse import db, security


@pytest.fixture
def role_login(warehouse_dsn: str) -> Iterator[str]:
    """A login of its own, a member of `loader` (as production gives each role a login)."""
    name = f"gr_conn_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(warehouse_dsn, autocommit=True) as conn:
        security.create_role(conn, security.LOADER)
        conn.execute(sql.SQL("create role {} login").format(sql.Identifier(name)))
        conn.execute(sql.SQL("grant {} to {}").format(sql.Identifier(security.LOADER), sql.Identifier(name)))
    yield name
    with psycopg.connect(warehouse_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("drop role {}").format(sql.Identifier(name)))


def _connection_json(dsn: str, login: str) -> str:
    """AIRFLOW_CONN_* in Airflow's JSON form (a Unix-socket host has no place in a URI's hostname)."""
    params = conninfo_to_dict(dsn)
    return json.dumps(
        {
            "conn_type": "postgres",
            "host": params.get("host") or "127.0.0.1",
            "port": int(params.get("port") or 5432),
            "login": login,
            "schema": params["dbname"],
        }
    )


PROBE_DAG = """
import json, os
import pendulum
import psycopg
from airflow.sdk import dag, task


@task
def who_am_i() -> None:
    from grassroots.warehouse.db import role_dsn
    from grassroots.warehouse.security import LOADER

    with psycopg.connect(role_dsn(LOADER)) as conn:
        users = conn.execute("select session_user, current_user").fetchone()
    with open(os.environ["GRASSROOTS_PROBE_OUT"], "w") as out:
        json.dump(list(users), out)


@dag(dag_id="grassroots_conn_probe", schedule=None, start_date=pendulum.datetime(2026, 11, 1))
def probe() -> None:
    who_am_i()


probe()
"""


def _users_seen_by_a_task(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """Run a one-task DAG; its task connects with role_dsn(loader) and writes what PostgreSQL says."""
    from grassroots.local import pipeline

    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "probe.py").write_text(PROBE_DAG)
    out = tmp_path / "users.json"
    monkeypatch.setenv("GRASSROOTS_PROBE_OUT", str(out))
    # dag.test serialises the DAG from the configured DAG folder: point it at the probe's. Airflow
    # reads the setting into airflow.settings.DAGS_FOLDER once, when an earlier test imported it.
    import airflow.settings

    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(folder))
    monkeypatch.setattr(airflow.settings, "DAGS_FOLDER", str(folder))
    run = pipeline.load_dags(folder)["grassroots_conn_probe"].test()
    assert str(run.state) == "success", run.state
    session_user, current_user = json.loads(out.read_text())
    return session_user, current_user


def test_a_task_logs_in_with_the_roles_airflow_connection(
    warehouse_dsn: str, role_login: str, airflow_db: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WAREHOUSE_DSN_LOADER", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_GRASSROOTS_LOADER", _connection_json(warehouse_dsn, role_login))
    assert _users_seen_by_a_task(tmp_path, monkeypatch) == (role_login, security.LOADER)


def test_a_task_finds_a_connection_made_in_the_ui_through_the_execution_api(
    warehouse_dsn: str, role_login: str, airflow_db: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Connection stored in Airflow's metadata database (the UI, `airflow connections add`):
    the task reaches it through its supervisor, never the database itself."""
    from airflow.models.connection import Connection  # the ORM row the UI writes
    from airflow.utils.session import create_session

    monkeypatch.delenv("WAREHOUSE_DSN_LOADER", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_GRASSROOTS_LOADER", raising=False)
    fields = json.loads(_connection_json(warehouse_dsn, role_login))
    with create_session() as session:
        session.add(Connection(conn_id=db.conn_id(security.LOADER), **fields))
    try:
        assert _users_seen_by_a_task(tmp_path, monkeypatch) == (role_login, security.LOADER)
    finally:
        with create_session() as session:
            session.query(Connection).filter(Connection.conn_id == db.conn_id(security.LOADER)).delete()


def test_without_a_connection_a_task_derives_the_role_from_warehouse_dsn(
    warehouse_dsn: str, airflow_db: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WAREHOUSE_DSN_LOADER", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_GRASSROOTS_LOADER", raising=False)
    with psycopg.connect(warehouse_dsn, autocommit=True) as conn:
        security.create_role(conn, security.LOADER)
        login = conn.execute("select session_user").fetchone()[0]
    assert _users_seen_by_a_task(tmp_path, monkeypatch) == (login, security.LOADER)


def test_the_connection_of_a_role_becomes_a_libpq_dsn_that_works_as_the_role() -> None:
    from airflow.sdk import Connection

    connection = Connection(
        conn_id="grassroots_scorer",
        conn_type="postgres",
        host="db.example",
        port=6543,
        login="scorer_login",
        password="s3cret pass",
        schema="grassroots",
        extra=json.dumps({"sslmode": "require", "cursor": "dictcursor"}),
    )
    params = conninfo_to_dict(db.connection_dsn(connection, security.SCORER))
    assert params == {
        "host": "db.example",
        "port": "6543",
        "user": "scorer_login",
        "password": "s3cret pass",
        "dbname": "grassroots",
        "sslmode": "require",  # a libpq keyword from the extra; the provider's `cursor` is not one
        "options": "-c role=scorer",
    }
    assert db.dsn_role(db.connection_dsn(connection, security.SCORER)) == security.SCORER
