"""Idempotent warehouse bootstrap: schemas, the load ledger, quarantine and staging tables."""

from __future__ import annotations

import psycopg
from psycopg import sql

from grassroots.contracts import Contract, all_contracts
from grassroots.quality.audit import create_audit_tables
from grassroots.security import AUDITOR, create_role

SCHEMAS = ("staging", "quarantine", "meta", "audit", "scoring")

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
    """Create staging.<feed> from its contract, with an index on the load day.

    A table created before `_loaded_at` had its default (now(), which the loader no longer
    sends) gets it; the check keeps a repeated bootstrap from taking the table's lock.
    """
    conn.execute(contract.staging_ddl())
    missing_default = conn.execute(
        "select 1 from information_schema.columns where table_schema = 'staging' and table_name = %s "
        "and column_name = '_loaded_at' and column_default is null",
        (contract.feed,),
    ).fetchone()
    if missing_default:
        conn.execute(
            sql.SQL("alter table {}.{} alter column _loaded_at set default now()").format(
                sql.Identifier("staging"), sql.Identifier(contract.feed)
            )
        )
    conn.execute(
        sql.SQL("create index if not exists {} on {}.{} (_ds)").format(
            sql.Identifier(f"{contract.feed}__ds"), sql.Identifier("staging"), sql.Identifier(contract.feed)
        )
    )


AUDITOR_ROLE = AUDITOR


def ensure_auditor_role(conn: psycopg.Connection, role: str = AUDITOR_ROLE) -> None:
    """The `auditor` role (no login; grant it to people): reads `audit` and the load ledger, nothing else.

    `audit` holds counts, rules and check results only (never raw lines or ID numbers);
    default privileges cover tables created later in `audit` by this user (dbt's stored
    test failures, new history tables). staging, quarantine (raw lines) and the
    warehouse schemas are not granted. Idempotent; roles are cluster-wide, so a
    concurrent creation from another database is tolerated.
    """
    create_role(conn, role)
    ident = sql.Identifier(role)
    conn.execute(sql.SQL("grant usage on schema audit to {}").format(ident))
    conn.execute(sql.SQL("grant select on all tables in schema audit to {}").format(ident))
    conn.execute(sql.SQL("alter default privileges in schema audit grant select on tables to {}").format(ident))
    conn.execute(sql.SQL("grant usage on schema meta to {}").format(ident))
    conn.execute(sql.SQL("grant select on meta.load_batch to {}").format(ident))


def bootstrap(dsn: str, contracts: dict[str, Contract] | None = None) -> None:
    """Create schemas, ledger, quarantine and one staging table per contract (safe to repeat)."""
    contracts = all_contracts() if contracts is None else contracts
    with psycopg.connect(dsn, autocommit=True) as conn:
        # Serialise concurrent bootstraps (parallel ingest tasks) on one lock.
        conn.execute("select pg_advisory_lock(36900, 0)")
        try:
            for schema in SCHEMAS:
                conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
            for statement in LEDGER_DDL:
                conn.execute(statement)
            for contract in contracts.values():
                create_staging_table(conn, contract)
            create_audit_tables(conn)
            ensure_auditor_role(conn)
        finally:
            conn.execute("select pg_advisory_unlock(36900, 0)")
