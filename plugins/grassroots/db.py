"""Connections to the warehouse: WAREHOUSE_DSN (or WAREHOUSE_DSN_FILE) when set, the embedded server otherwise."""

from __future__ import annotations

import os
import re

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from grassroots import embedded, settings

DEFAULT_DATABASE = "grassroots"


def warehouse_dsn() -> str:
    """The warehouse connection string.

    WAREHOUSE_DSN wins, then the file named by WAREHOUSE_DSN_FILE (docker-compose mounts it
    as a secret, so the password is in no container's environment; it is not exported
    either). Without both the project-local embedded PostgreSQL is started (or reused) and
    its `grassroots` database is created if missing; the resulting DSN is exported so child
    processes (Airflow tasks, dbt) reach the same server.
    """
    dsn = os.environ.get("WAREHOUSE_DSN") or settings.secret_from_file("WAREHOUSE_DSN_FILE")
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
    """The connection a task uses to work as `role` (see grassroots.security for what each may do).

    `WAREHOUSE_DSN_<ROLE>` (e.g. WAREHOUSE_DSN_LOADER) wins: in production each role is a login
    of its own, kept in the Airflow worker's environment or secrets backend. Otherwise the
    warehouse DSN's login (a member of every group role; a superuser locally) starts its
    session as `role` (libpq `options=-c role=...`, the same as SET ROLE), so the task holds
    exactly that role's privileges.
    """
    override = os.environ.get(f"WAREHOUSE_DSN_{role.upper()}")
    if override:
        return override
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
