"""Connections to the warehouse.

Inside an Airflow task the logins come from Airflow Connections (`grassroots_warehouse`, and
`grassroots_<role>` per task role: `grassroots_loader`, `grassroots_transformer`, …), looked up
through the Task SDK, so `AIRFLOW_CONN_*` variables, a secrets backend or the UI work as data
engineers expect. Without them: WAREHOUSE_DSN (or WAREHOUSE_DSN_FILE) when set, the embedded
server otherwise, and each role's session derived from that login.
"""

from __future__ import annotations

import os
import re
import sys

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from grassroots import settings
from grassroots.local import embedded

DEFAULT_DATABASE = "grassroots"
WAREHOUSE_CONN_ID = "grassroots_warehouse"


def conn_id(role: str | None = None) -> str:
    """The Airflow Connection id of a role's login (`grassroots_loader`), or of the warehouse login."""
    return f"grassroots_{role}" if role else WAREHOUSE_CONN_ID


def _in_task() -> bool:
    """True inside an Airflow task (the Task SDK's runner talks to its supervisor)."""
    runner = sys.modules.get("airflow.sdk.execution_time.task_runner")
    return getattr(runner, "SUPERVISOR_COMMS", None) is not None


def _libpq_keywords() -> frozenset[str]:
    return frozenset(d.keyword.decode() for d in psycopg.pq.Conninfo.get_defaults())


def connection_dsn(connection: object, role: str | None = None) -> str:
    """A libpq DSN from an Airflow Connection: host, port, login, password, schema (the database)
    and any libpq keyword in its extra (sslmode, options, …). For a role's connection the session
    starts as that role (as the derived DSNs do) unless the extra sets `options` itself."""
    keywords = _libpq_keywords()
    extra = {k: str(v) for k, v in (connection.extra_dejson or {}).items() if k in keywords}
    params = {
        "host": connection.host or None,
        "port": str(connection.port) if connection.port else None,
        "user": connection.login or None,
        "password": connection.password or None,
        "dbname": connection.schema or DEFAULT_DATABASE,
        **extra,
    }
    if role and "options" not in extra and connection.login != role:
        params["options"] = f"-c role={role}"
    return make_conninfo(**{k: v for k, v in params.items() if v is not None})


def airflow_connection_dsn(role: str | None = None) -> str | None:
    """The DSN of the role's (or the warehouse's) Airflow Connection, or None when it is not defined.

    Looked up through the Task SDK inside a task (AIRFLOW_CONN_* variables, the secrets backend,
    then the Execution API: never the metadata database), and elsewhere only when its
    AIRFLOW_CONN_* variable is set (the CLI and the tests run without Airflow's services).
    """
    name = conn_id(role)
    if not (_in_task() or os.environ.get(f"AIRFLOW_CONN_{name.upper()}")):
        return None
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        connection = Connection.get(name)
    except AirflowNotFoundException:
        return None
    return connection_dsn(connection, role)


def warehouse_dsn() -> str:
    """The warehouse connection string.

    The Airflow Connection `grassroots_warehouse` wins inside a task (see airflow_connection_dsn);
    then WAREHOUSE_DSN, then the file named by WAREHOUSE_DSN_FILE (docker-compose mounts it as a
    secret, so the password is in no container's environment; it is not exported either).
    Without any of them the project-local embedded PostgreSQL is started (or reused) and
    its `grassroots` database is created if missing; the resulting DSN is exported so child
    processes (Airflow tasks, dbt) reach the same server.
    """
    dsn = airflow_connection_dsn() or os.environ.get("WAREHOUSE_DSN") or settings.secret_from_file("WAREHOUSE_DSN_FILE")
    if dsn:
        return dsn
    base = embedded.start(embedded.pgdata_dir(settings.state_dir()))
    ensure_database(base, DEFAULT_DATABASE)
    dsn = with_database(base, DEFAULT_DATABASE)
    os.environ["WAREHOUSE_DSN"] = dsn
    return dsn


def with_database(dsn: str, dbname: str) -> str:
    """The same server, another database."""
    params = conninfo_to_dict(dsn)
    params["dbname"] = dbname
    return make_conninfo(**params)


def ensure_database(dsn: str, dbname: str) -> None:
    """Create `dbname` on the server of `dsn` unless it exists."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(dbname)))


def drop_database(dsn: str, dbname: str) -> None:
    """Drop `dbname` (closing its sessions) on the server of `dsn`."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(dbname)))


def connect(dsn: str | None = None, **kwargs: object) -> psycopg.Connection:
    """Open a connection to the warehouse."""
    return psycopg.connect(dsn or warehouse_dsn(), **kwargs)


ROLE_OPTION = re.compile(r"-c\s*role=(\w+)")


def role_dsn(role: str, dsn: str | None = None) -> str:
    """The connection a task uses to work as `role` (see grassroots.warehouse.security for what each may do).

    `WAREHOUSE_DSN_<ROLE>` (e.g. WAREHOUSE_DSN_LOADER) wins, then the role's Airflow Connection
    `grassroots_<role>` (inside a task, or with its AIRFLOW_CONN_* variable set): in production each
    role is a login of its own, kept in a Connection (UI, secrets backend, AIRFLOW_CONN_GRASSROOTS_LOADER).
    Otherwise the warehouse DSN's login (a member of every group role; a superuser locally) starts its
    session as `role` (libpq `options=-c role=...`, the same as SET ROLE), so the task holds
    exactly that role's privileges.
    """
    override = os.environ.get(f"WAREHOUSE_DSN_{role.upper()}")
    if override:
        return override
    connection = airflow_connection_dsn(role)
    if connection:
        return connection
    params = conninfo_to_dict(dsn or warehouse_dsn())
    options = ROLE_OPTION.sub("", str(params.get("options") or "")).strip()
    params["options"] = f"{options} -c role={role}".strip()
    return make_conninfo(**params)


def dsn_role(dsn: str) -> str:
    """The role a DSN's session starts as (`options=-c role=...`), or "" for its login role."""
    match = ROLE_OPTION.search(str(conninfo_to_dict(dsn).get("options") or ""))
    return match.group(1) if match else ""


def dbt_env(dsn: str) -> dict[str, str]:
    """Environment variables dbt's profiles.yml reads, derived from a DSN (the role included)."""
    params = conninfo_to_dict(dsn)
    return {
        "GRASSROOTS_PG_ROLE": dsn_role(dsn),
        "GRASSROOTS_PG_HOST": str(params.get("host") or "localhost"),
        "GRASSROOTS_PG_PORT": str(params.get("port") or "5432"),
        "GRASSROOTS_PG_USER": str(params.get("user") or "postgres"),
        "GRASSROOTS_PG_PASSWORD": str(params.get("password") or ""),
        "GRASSROOTS_PG_DATABASE": str(params.get("dbname") or DEFAULT_DATABASE),
    }
