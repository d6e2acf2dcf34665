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
from grassroots.quality.audit import HISTORY, create_audit_tables
from grassroots.scoring import access
from grassroots.warehouse import locks, schemas, security

log = logging.getLogger(__name__)
# Created here as the login; the transformer's (security.BUILD_SCHEMAS) by security.ensure_build_schemas.
SCHEMAS = schemas.except_roles(*schemas.TRANSFORMER_OWNED)

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
            check (status in ('loaded', 'rejected', 'duplicate', 'superseded', 'missing', 'failed')),
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
    # Feed-day outcomes without a file (grassroots.loading.loader.record_outcome): `missing` and `failed`
    # rows have no file name or sha256, and say why in `reason`; `columns_present` lists the
    # contract columns a file carried. Applied once to a ledger of an earlier version.
    """
    do $$
    begin
        if not exists (
            select 1 from information_schema.columns
            where table_schema = 'meta' and table_name = 'load_batch' and column_name = 'columns_present'
        ) then
            alter table meta.load_batch
                alter column file_name drop not null,
                alter column sha256 drop not null,
                add column reason text,
                add column columns_present text[],
                drop constraint if exists load_batch_status_check,
                add constraint load_batch_status_check
                    check (status in ('loaded', 'rejected', 'duplicate', 'superseded', 'missing', 'failed'));
        end if;
    end
    $$
    """,
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
    """Create staging.<feed> from its contract, partitioned by load day.

    The loader creates each day's partition with the day's first load and replaces a day by
    truncating its partition: no index to maintain during COPY, no dead rows after a reload,
    and a query for one day reads one partition.

    A table from an earlier version (not partitioned) is rebuilt as a partitioned one with
    its rows; views on it (dbt's staging models) go with the old table and come back with
    the next dbt build. The catalog is read first, so a repeated bootstrap takes no lock.
    """
    kind = conn.execute(
        "select c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = 'staging' and c.relname = %s",
        (contract.feed,),
    ).fetchone()
    if kind is None:
        conn.execute(contract.staging_ddl())
    elif kind[0] == "r":
        _partition_by_day(conn, contract)


def _partition_by_day(conn: psycopg.Connection, contract: Contract) -> None:
    """Rebuild an unpartitioned staging.<feed> as one partition per load day, rows kept."""
    feed = contract.feed
    old = sql.Identifier("staging", f"{feed}__unpartitioned")
    with conn.transaction():
        conn.execute(
            sql.SQL("alter table {} rename to {}").format(
                sql.Identifier("staging", feed), sql.Identifier(f"{feed}__unpartitioned")
            )
        )
        conn.execute(contract.staging_ddl())
        days = [row[0] for row in conn.execute(sql.SQL("select distinct _ds from {} order by 1").format(old))]
        for ds in days:
            create_day_partition(conn, contract, ds)
        kept = {
            row[0]
            for row in conn.execute(
                "select column_name from information_schema.columns where table_schema = 'staging' and table_name = %s",
                (f"{feed}__unpartitioned",),
            )
        }
        columns = sql.SQL(", ").join(sql.Identifier(name) for name, _ in contract.staging_columns() if name in kept)
        conn.execute(
            sql.SQL("insert into {} ({}) select {} from {}").format(
                sql.Identifier("staging", feed), columns, columns, old
            )
        )
        conn.execute(sql.SQL("drop table {} cascade").format(old))
    log.warning(
        "staging.%s now has a partition per load day (%d days); dbt's next build remakes its views", feed, len(days)
    )


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
            security.ensure_build_schemas(conn, HISTORY)
            access.ensure_grid_worker_access(conn)
            security.give_relations(conn, "scoring", security.SCORER, keep=access.LOGIN_RELATIONS)
            security.grant_load_owner(conn)
            owner_functions.ensure_functions(conn)
            security.grant_roles(conn)
        finally:
            conn.execute("select pg_advisory_unlock(%s, %s)", locks.BOOTSTRAP)
