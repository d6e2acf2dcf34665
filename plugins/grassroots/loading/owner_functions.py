"""The loader's one path to change what is already written: narrow functions owned by `load_owner`.

The `loader` role only inserts: staging rows, quarantine rows and files, ledger rows. It never
updates or deletes, and creates nothing. What a reload must change goes through four
SECURITY DEFINER functions owned by `load_owner` (NOLOGIN, no members but the warehouse
login; owner of the `staging` schema and everything in it), each with `search_path` pinned
and every name schema-qualified:

- `staging.replace_day(feed, ds)`: empty the day's partition and mark the day's earlier ledger
  rows `superseded` (their quarantine rows stay: evidence is never deleted; readers take the
  current batches' through `quarantine.current_rows`);
- `staging.day_partition(feed, ds)`: create the day's partition if missing, return its name;
- `staging.finish_batch(batch_id, ...)`: set the counts and status of a ledger row written by
  the calling transaction (another transaction's rows cannot be changed);
- `staging.drop_duplicate_rows(feed, ds, batch_ids, row_nos)`: delete repeated rows of the
  day's partition, only rows of batches the calling transaction wrote.

`feed` must name a partitioned table of `staging`; identifiers are quoted with format('%I').

A partition changes only in a transaction that writes the day's ledger rows, and a reload
truncates it (a new relfilenode): the end-of-run summary (grassroots.local.summary) reuses a
partition's checksum while both are unchanged, so a new way to change a partition must keep that.
"""

from __future__ import annotations

import datetime as dt

import psycopg
from psycopg import sql

from grassroots.warehouse.security import LOAD_OWNER, LOADER

_FEED_TABLE = """
create or replace function staging.feed_table(feed text) returns regclass
language plpgsql stable set search_path = pg_catalog, pg_temp as $$
declare
    found regclass;
begin
    select c.oid::regclass into found
    from pg_catalog.pg_class as c join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
    where n.nspname = 'staging' and c.relname = feed and c.relkind = 'p';
    if found is null then
        raise exception 'staging has no feed table %', feed using errcode = '42P01';
    end if;
    return found;
end
$$"""

_PARTITION = """
create or replace function staging.existing_partition(feed text, ds date) returns text
language plpgsql stable set search_path = pg_catalog, pg_temp as $$
declare
    parent regclass := staging.feed_table(feed);
    name text := feed || '__' || pg_catalog.to_char(ds, 'YYYYMMDD');
    child regclass := pg_catalog.to_regclass(pg_catalog.format('staging.%I', name));
begin
    if child is null then
        return null;
    end if;
    if not exists (select 1 from pg_catalog.pg_inherits where inhrelid = child and inhparent = parent) then
        raise exception 'staging.% is not a partition of staging.%', name, feed;
    end if;
    return name;
end
$$"""

_REPLACE_DAY = """
create or replace function staging.replace_day(feed text, ds date) returns void
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
    name text := staging.existing_partition(feed, ds);
begin
    if name is not null then
        execute pg_catalog.format('truncate table staging.%I', name);
    end if;
    update meta.load_batch as b set status = 'superseded'
    where b.feed = replace_day.feed and b.ds = replace_day.ds and b.status <> 'superseded';
end
$$"""

_DAY_PARTITION = """
create or replace function staging.day_partition(feed text, ds date) returns text
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
    name text := staging.existing_partition(feed, ds);
begin
    if name is null then
        name := feed || '__' || pg_catalog.to_char(ds, 'YYYYMMDD');
        execute pg_catalog.format(
            'create table staging.%I partition of staging.%I for values in (%L)', name, feed, ds
        );
    end if;
    return name;
end
$$"""

# A row this transaction wrote (outside a savepoint) carries its transaction id as xmin.
_FINISH_BATCH = """
create or replace function staging.finish_batch(
    batch_id bigint, rows_received integer, rows_loaded integer, rows_quarantined integer,
    status text, rule text, columns_present text[]
) returns void
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
    if status not in ('loaded', 'rejected', 'duplicate') then
        raise exception 'a finished batch is loaded, rejected or duplicate, not %', status;
    end if;
    update meta.load_batch as b
    set rows_received = finish_batch.rows_received, rows_loaded = finish_batch.rows_loaded,
        rows_quarantined = finish_batch.rows_quarantined, status = finish_batch.status,
        rule = finish_batch.rule, columns_present = finish_batch.columns_present
    where b.batch_id = finish_batch.batch_id and b.xmin = pg_catalog.pg_current_xact_id()::xid
      and b.status <> 'superseded';
    if not found then
        raise exception 'batch % was not written by this transaction', batch_id using errcode = '42501';
    end if;
end
$$"""

_DROP_DUPLICATES = """
create or replace function staging.drop_duplicate_rows(feed text, ds date, batch_ids bigint[], row_nos integer[])
returns bigint
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
    name text := staging.existing_partition(feed, ds);
    dropped bigint;
begin
    if name is null then
        return 0;
    end if;
    execute pg_catalog.format(
        'delete from staging.%I as p '
        'using rows from (pg_catalog.unnest($1), pg_catalog.unnest($2)) as d (batch_id, row_no) '
        'where p._batch_id = d.batch_id and p._row_no = d.row_no and p._batch_id in ('
        '    select b.batch_id from meta.load_batch as b '
        '    where b.xmin = pg_catalog.pg_current_xact_id()::xid and b.feed = $3 and b.ds = $4)',
        name
    ) using batch_ids, row_nos, feed, ds;
    get diagnostics dropped = row_count;
    return dropped;
end
$$"""

FUNCTIONS = {
    "feed_table(text)": _FEED_TABLE,
    "existing_partition(text, date)": _PARTITION,
    "replace_day(text, date)": _REPLACE_DAY,
    "day_partition(text, date)": _DAY_PARTITION,
    "finish_batch(bigint, integer, integer, integer, text, text, text[])": _FINISH_BATCH,
    "drop_duplicate_rows(text, date, bigint[], integer[])": _DROP_DUPLICATES,
}
CALLABLE = tuple(name for name in FUNCTIONS if not name.startswith(("feed_table", "existing_partition")))

# The current batches' quarantined records (a reload keeps the superseded batches' rows as evidence),
# without the raw line, which its readers (the transformer's checks) may not see.
CURRENT_ROWS_VIEW = """
create or replace view quarantine.current_rows with (security_invoker = true) as
select r.feed, r.ds, r.batch_id, r.file_name, r.line_no, r.column_name, r.rule from quarantine.rows as r
where exists (select 1 from meta.load_batch as b where b.batch_id = r.batch_id and b.status <> 'superseded')
"""


def ensure_functions(conn: psycopg.Connection) -> None:
    """Create (or replace) the functions as `load_owner`; only the loader may execute the four it calls.

    The caller (the bootstrap, as the warehouse login, a member of load_owner) has made load_owner
    the owner of `staging` and granted it `select, update` on meta.load_batch."""
    with conn.transaction():
        conn.execute(sql.SQL("set local role {}").format(sql.Identifier(LOAD_OWNER)))
        for statement in FUNCTIONS.values():
            conn.execute(statement)
        for signature in FUNCTIONS:  # signatures are constants of this module
            conn.execute(sql.SQL("revoke all on function staging." + signature + " from public"))
        for signature in CALLABLE:
            conn.execute(
                sql.SQL("grant execute on function staging." + signature + " to {}").format(sql.Identifier(LOADER))
            )
    conn.execute(CURRENT_ROWS_VIEW)


def replace_day(conn: psycopg.Connection, feed: str, ds: dt.date) -> None:
    """Empty the day's staging partition and supersede its ledger rows."""
    conn.execute("select staging.replace_day(%s, %s)", (feed, ds))


def day_partition(conn: psycopg.Connection, feed: str, ds: dt.date) -> str:
    """The name of the day's staging partition, created if missing."""
    return conn.execute("select staging.day_partition(%s, %s)", (feed, ds)).fetchone()[0]


def finish_batch(
    conn: psycopg.Connection,
    batch_id: int,
    counts: tuple[int, int, int],
    status: str,
    rule: str | None,
    columns_present: list[str] | None,
) -> None:
    """Set (received, loaded, quarantined) counts and the status of a ledger row this transaction wrote."""
    conn.execute(
        "select staging.finish_batch(%s, %s, %s, %s, %s, %s, %s)", (batch_id, *counts, status, rule, columns_present)
    )


def drop_duplicate_rows(
    conn: psycopg.Connection, feed: str, ds: dt.date, batch_ids: list[int], row_nos: list[int]
) -> int:
    """Delete rows (batch id, row number) of this transaction's batches from the day's partition."""
    return conn.execute(
        "select staging.drop_duplicate_rows(%s, %s, %s::bigint[], %s::integer[])", (feed, ds, batch_ids, row_nos)
    ).fetchone()[0]
