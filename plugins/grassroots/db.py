"""Connections to the warehouse: WAREHOUSE_DSN when set, the embedded server otherwise."""

from __future__ import annotations

import os

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from grassroots import embedded, settings

DEFAULT_DATABASE = "grassroots"


def warehouse_dsn() -> str:
    """The warehouse connection string.

    WAREHOUSE_DSN wins. Without it the project-local embedded PostgreSQL is started (or
    reused) and its `grassroots` database is created if missing; the resulting DSN is
    exported so child processes (Airflow tasks, dbt) reach the same server.
    """
    dsn = os.environ.get("WAREHOUSE_DSN")
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


def dbt_env(dsn: str) -> dict[str, str]:
    """Environment variables dbt's profiles.yml reads, derived from a DSN."""
    params = conninfo_to_dict(dsn)
    return {
        "GRASSROOTS_PG_HOST": str(params.get("host") or "localhost"),
        "GRASSROOTS_PG_PORT": str(params.get("port") or "5432"),
        "GRASSROOTS_PG_USER": str(params.get("user") or "postgres"),
        "GRASSROOTS_PG_PASSWORD": str(params.get("password") or ""),
        "GRASSROOTS_PG_DATABASE": str(params.get("dbname") or DEFAULT_DATABASE),
    }
