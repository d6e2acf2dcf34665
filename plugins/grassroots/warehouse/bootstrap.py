"""Idempotent warehouse bootstrap: roles, schemas, grants, the load ledger, quarantine and staging tables.

Runs as the warehouse login (the DAGs' `bootstrap` setup task, `python -m grassroots demo`):
every other task then works as its own role (grassroots.warehouse.security), which may write rows but
not create schemas or roles.
"""

from __future__ import annotations

import datetime as dt
import logging

import psycopg
from psycopg import sql

from grassroots.loading import owner_functions
from grassroots.loading.contracts import Contract, all_contracts
from grassroots.quality.audit import create_audit_tables
from grassroots.scoring import access
from grassroots.warehouse import locks, schemas, security

log = logging.getLogger(__name__)

# Created here as the login; the transformer's (security.BUILD_SCHEMAS) by security.ensure_build_schemas.
SCHEMAS = schemas.except_roles(*schemas.TRANSFORMER_OWNED)

LEDGER_DDL = (
    # Feed-day outcomes without a file (grassroots.loading.loader.record_outcome): `missing` and
    # `failed` rows have no file name or sha256, and say why in `reason`.
    """
    create table if not exists meta.load_batch (
        batch_id          bigserial primary key,
        feed              text not null,
        ds                date not null,
        file_name         text,
        sha256            char(64),
        bytes             bigint not null,
        rows_received     integer not null,
        rows_loaded       integer not null,
        rows_quarantined  integer not null,
        status            text not null
            check (status in ('loaded', 'rejected', 'duplicate', 'superseded', 'missing', 'failed')),
        rule              text,
        loaded_at         timestamptz not null,
        -- which person-key secret keyed the batch (settings.hmac_key_version), for rotation
        key_version       integer not null default 1,
        -- the role that loaded the batch (`loader` when the ingest DAG ran it)
        loaded_by         text not null default current_user,
        reason            text,
        -- the contract columns a file carried
        columns_present   text[],
        check (rows_received = rows_loaded + rows_quarantined)
    )
    """,
    "create index if not exists load_batch_feed_ds on meta.load_batch (feed, ds)",
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


def create_staging_table(conn: psycopg.Connection, contract: Contract) -> list[str]:
    """Create staging.<feed> from its contract unless it exists, partitioned by load day; add the
    columns a contract has gained since (nullable: earlier days' rows hold null); return those added.

    The loader creates each day's partition with the day's first load and replaces a day by
    truncating its partition: no index to maintain during COPY, no dead rows after a reload,
    and a query for one day reads one partition. A column added to the partitioned table reaches
    every partition. A column the contract dropped stays (null in later days); a changed type is
    left to a DBA (the load then fails on COPY, naming the column).
    """
    conn.execute(contract.staging_ddl())
    present = {
        name
        for (name,) in conn.execute(
            "select attname from pg_attribute where attrelid = %s::regclass and attnum > 0 and not attisdropped",
            (f"staging.{contract.feed}",),
        )
    }
    added = [(name, pg_type) for name, pg_type in contract.staging_columns() if name not in present]
    for name, pg_type in added:
        conn.execute(
            sql.SQL("alter table {} add column if not exists {} {}").format(
                sql.Identifier("staging", contract.feed), sql.Identifier(name), sql.SQL(pg_type)
            )
        )
        log.warning("staging.%s gained column %s %s from its contract", contract.feed, name, pg_type)
    return [name for name, _ in added]


def create_day_partition(conn: psycopg.Connection, contract: Contract, ds: dt.date) -> sql.Composable:
    """Create staging.<feed>'s partition for day `ds` unless it exists; return its name.

    Creating a partition locks the parent table until the transaction ends, so only a day's
    first load does it.
    """
    partition = sql.Identifier("staging", contract.day_partition(ds))
    conn.execute(
        sql.SQL("create table if not exists {} partition of {} for values in ({})").format(
            partition, sql.Identifier("staging", contract.feed), sql.Literal(ds)
        )
    )
    return partition


def bootstrap(dsn: str, contracts: dict[str, Contract] | None = None) -> None:
    """Roles, schemas, ledger, quarantine, one staging table per contract, audit and the grid
    workers' watchlist, then the grants every role needs (safe to repeat)."""
    contracts = all_contracts() if contracts is None else contracts
    with psycopg.connect(dsn, autocommit=True) as conn:
        # One grantor at a time (bootstraps of concurrent DAG runs, the `secure` task): concurrent GRANTs fail.
        conn.execute("select pg_advisory_lock(%s, %s)", locks.BOOTSTRAP)
        try:
            security.ensure_roles(conn)
            security.ensure_bi_login(conn)
            for schema in SCHEMAS:
                security.ensure_schema(conn, schema)
            for statement in LEDGER_DDL:
                conn.execute(statement)
            for contract in contracts.values():
                create_staging_table(conn, contract)
            create_audit_tables(conn)
            security.give_relations(conn, "staging", security.LOAD_OWNER)  # its functions add each day's partition
            security.ensure_build_schemas(conn)
            access.ensure_grid_worker_access(conn)
            security.give_relations(conn, "scoring", security.SCORER, keep=access.LOGIN_RELATIONS)
            security.grant_load_owner(conn)
            owner_functions.ensure_functions(conn)
            security.grant_roles(conn)
        finally:
            conn.execute("select pg_advisory_unlock(%s, %s)", locks.BOOTSTRAP)
