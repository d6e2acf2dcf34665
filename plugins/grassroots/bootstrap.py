"""Idempotent warehouse bootstrap: roles, schemas, grants, the load ledger, quarantine and staging tables.

Runs as the warehouse login (the DAGs' `bootstrap` setup task, `python -m grassroots demo`):
every other task then works as its own role (grassroots.security), which may write rows but
not create schemas or roles.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from grassroots import security
from grassroots.contracts import Contract, all_contracts
from grassroots.quality.audit import HISTORY, create_audit_tables
from grassroots.scoring import access

SCHEMAS = ("staging", "quarantine", "meta", "audit", "scoring")  # plus security.BUILD_SCHEMAS (the transformer's)

LEDGER_DDL = (
    """
    create table if not exists meta.load_batch (
        batch_id          bigserial primary key,
        feed              text not null,
        ds                date not null,
        file_name         text not null,
        sha256            char(64) not null,
        bytes             bigint not null,
        rows_received     integer not null,
        rows_loaded       integer not null,
        rows_quarantined  integer not null,
        status            text not null
            check (status in ('loaded', 'rejected', 'duplicate', 'superseded')),
        rule              text,
        loaded_at         timestamptz not null,
        check (rows_received = rows_loaded + rows_quarantined)
    )
    """,
    "create index if not exists load_batch_feed_ds on meta.load_batch (feed, ds)",
    # Which person-key secret keyed the batch (settings.hmac_key_version), for rotation.
    "alter table meta.load_batch add column if not exists key_version integer not null default 1",
    # The role that loaded the batch (`loader` when the ingest DAG ran it).
    "alter table meta.load_batch add column if not exists loaded_by text not null default current_user",
    """
    create table if not exists quarantine.rows (
        feed            text not null,
        ds              date not null,
        batch_id        bigint not null references meta.load_batch (batch_id),
        file_name       text not null,
        line_no         integer not null,
        column_name     text,
        rule            text not null,
        raw_line        text not null,
        primary key (batch_id, line_no)
    )
    """,
    """
    create table if not exists quarantine.files (
        feed            text not null,
        ds              date not null,
        batch_id        bigint not null references meta.load_batch (batch_id),
        file_name       text not null,
        sha256          char(64) not null,
        line_no         integer not null,
        rule            text not null,
        detail          text not null,
        primary key (batch_id)
    )
    """,
)


def create_staging_table(conn: psycopg.Connection, contract: Contract) -> None:
    """Create staging.<feed> from its contract, with a BRIN index on the load day.

    A day's rows arrive together, so the day's block ranges are contiguous: BRIN finds them
    for the day's delete and dbt's look-back at almost no cost to COPY (a btree on `_ds`
    cost a fifth of the server's COPY time).

    Tables from earlier versions keep working: their `_ds` btree is dropped, `_loaded_at`
    gets its default now() and `_file_name` (now only in the ledger) may stay null. The
    catalog is read first, so a repeated bootstrap takes no lock on the table.
    """
    conn.execute(contract.staging_ddl())
    table = sql.SQL("{}.{}").format(sql.Identifier("staging"), sql.Identifier(contract.feed))
    columns = dict(
        conn.execute(
            "select column_name, column_default is null and is_nullable = 'NO' from information_schema.columns "
            "where table_schema = 'staging' and table_name = %s and column_name in ('_loaded_at', '_file_name')",
            (contract.feed,),
        ).fetchall()
    )
    if columns.get("_loaded_at"):
        conn.execute(sql.SQL("alter table {} alter column _loaded_at set default now()").format(table))
    if columns.get("_file_name"):
        conn.execute(sql.SQL("alter table {} alter column _file_name drop not null").format(table))
    conn.execute(
        sql.SQL("drop index if exists {}.{}").format(sql.Identifier("staging"), sql.Identifier(f"{contract.feed}__ds"))
    )
    conn.execute(
        sql.SQL("create index if not exists {} on {} using brin (_ds) with (autosummarize = on)").format(
            sql.Identifier(f"{contract.feed}__ds_brin"), table
        )
    )


def bootstrap(dsn: str, contracts: dict[str, Contract] | None = None) -> None:
    """Roles, schemas, ledger, quarantine, one staging table per contract, audit and the grid
    workers' watchlist, then the grants every role needs (safe to repeat)."""
    contracts = all_contracts() if contracts is None else contracts
    with psycopg.connect(dsn, autocommit=True) as conn:
        # One grantor at a time (bootstraps of concurrent DAG runs, the `secure` task): concurrent GRANTs fail.
        conn.execute("select pg_advisory_lock(36900, 0)")
        try:
            for schema in SCHEMAS:
                conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
            for statement in LEDGER_DDL:
                conn.execute(statement)
            for contract in contracts.values():
                create_staging_table(conn, contract)
            create_audit_tables(conn)
            security.ensure_roles(conn)
            security.ensure_build_schemas(conn, HISTORY)
            access.ensure_grid_worker_access(conn)
            security.give_relations(conn, "scoring", security.SCORER, keep=access.LOGIN_RELATIONS)
            security.grant_roles(conn)
        finally:
            conn.execute("select pg_advisory_unlock(36900, 0)")
