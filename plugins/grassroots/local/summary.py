"""What a run built: row counts per schema, table checksums, a few KPI values."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from grassroots.warehouse import schemas

# What a run delivers: every schema but a build's working copies (the KPI candidate, dbt's test failures).
SCHEMAS = schemas.except_roles(*schemas.WORKING)
# Append-only history (every run adds rows by design): counted per schema, not checksummed.
HISTORY_SCHEMAS = schemas.names(schemas.QUALITY)


# The summary's own cache of part figures (partitions, days, batches): its bookkeeping, not what a run
# delivers, so never in its own figures. In `meta`, which no BI role reads (warehouse.security).
CACHE = ("meta", "summary_checksum")
_CACHE_DDL = """
create table if not exists meta.summary_checksum (
    relation   text not null,    -- schema.table the part belongs to
    part       text not null,    -- a partition's name, or a key (day, batch) of a PART_TABLES table
    proof      text not null,    -- what proves the part unchanged since its figure was taken
    rows       bigint not null,
    sum_high   numeric not null,
    sum_low    numeric not null,
    primary key (relation, part)
)"""


def tables(conn: psycopg.Connection) -> list[tuple[str, str, str]]:
    """(schema, name, kind) of every table and view in the project's schemas but CACHE; a partitioned
    table stands for its partitions (staging's per-day ones), which are not listed again."""
    return conn.execute(
        "select t.table_schema, t.table_name, t.table_type from information_schema.tables t "
        "join pg_namespace n on n.nspname = t.table_schema "
        "join pg_class c on c.relnamespace = n.oid and c.relname = t.table_name "
        "where t.table_schema = any(%s) and not c.relispartition "
        "and (t.table_schema, t.table_name) <> (%s, %s) order by 1, 2",
        (list(SCHEMAS), *CACHE),
    ).fetchall()


def checksum_query(schema: str, name: str, columns: list[str] | None = None) -> sql.Composed:
    """(rows, checksum) of a table, in any row order: the sums of two 60-bit slices of every row's md5.

    A sum, not a sorted concatenation: one pass, constant memory, no sort, no string that grows
    with the table (string_agg over a million-row snapshot of several days exceeded PostgreSQL's
    1 GB limit). Equal multisets of rows give equal checksums; a changed, added, removed or
    duplicated row changes them. `columns` (default: the whole row) leaves out what is not data.
    """
    return sql.SQL("select n, s1 || ':' || s2 from ({}) as q (n, s1, s2)").format(sums_query(schema, name, columns))


def sums_query(
    schema: str, name: str, columns: list[str] | None = None, where: sql.Composable | None = None
) -> sql.Composed:
    """(rows, first slice sum, second slice sum) of checksum_query, over the rows `where` selects:
    sums, so the figures of disjoint parts of a table (partitions, days) add up to the table's."""
    row = (
        sql.SQL("t")
        if columns is None
        else sql.SQL("row({})").format(sql.SQL(", ").join(sql.Identifier("t", c) for c in columns))
    )
    return sql.SQL(
        "select count(*), coalesce(sum(('x' || substr(h, 1, 15))::bit(60)::bigint::numeric), 0), "
        "coalesce(sum(('x' || substr(h, 16, 15))::bit(60)::bigint::numeric), 0) "
        "from (select md5({}::text) as h from {} t where {}) r"
    ).format(row, sql.Identifier(schema, name), where if where is not None else sql.SQL("true"))


# Staging's feed tables: a partition per day, written only by the loader, which replaces a day by
# truncating its partition (a new relfilenode) and superseding the day's ledger rows
# (meta.load_batch) in the transaction that loads the new rows (grassroots.loading.owner_functions).
LOADED_BY_DAY = "staging"
# Tables summed part by part along a key column whose every part is written whole by one transaction
# together with the part's ledger row (one per key, its primary key), which any later rewrite of the
# part rewrites too: (schema, table) → (key column, ledger table with the same column). The table
# needs an index led by the key column (its primary key here): the keys are found through it.
# - a scored day: resident_detail's and reason_set's day with its scoring.model_run row, written in
#   one transaction (grassroots.scoring.store; days past its DETAIL_DAYS are deleted: gone parts are
#   forgotten). The tier history's intervals span days and are read whole (they grow with changes);
# - a batch's quarantined rows and file: inserted only by the load that wrote and finished the
#   batch's meta.load_batch row (grassroots.loading.loader; evidence is never deleted).
PART_TABLES = {
    ("scoring", "resident_detail"): ("ds", ("scoring", "model_run")),
    ("scoring", "reason_set"): ("ds", ("scoring", "model_run")),
    ("quarantine", "rows"): ("batch_id", ("meta", "load_batch")),
    ("quarantine", "files"): ("batch_id", ("meta", "load_batch")),
}
_LIST_BOUND = re.compile(r"^FOR VALUES IN \('(\d{4}-\d{2}-\d{2})'\)$")


@dataclass
class Cache:
    """The part figures read (misses) and reused (hits) by one table_stats call."""

    hits: list[str] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)


def _columns(conn: psycopg.Connection, relid: int) -> list[tuple[str, str]]:
    return conn.execute(
        "select attname, format_type(atttypid, atttypmod) from pg_attribute "
        "where attrelid = %s and attnum > 0 and not attisdropped order by attnum",
        (relid,),
    ).fetchall()


def _part(
    conn: psycopg.Connection, cache: Cache, relation: str, part: str, proof: str | None, query: sql.Composed
) -> tuple[int, int, int]:
    """The part's (rows, sums): the cached figure when its proof is the cached one, else read and cached.

    The proof also holds the query's text, so a changed column list or formula never reuses a figure."""
    if proof is not None:
        proof = f"{proof}|{hashlib.sha256(query.as_string(conn).encode()).hexdigest()}"
        cached = conn.execute(
            "select rows, sum_high, sum_low from meta.summary_checksum "
            "where relation = %s and part = %s and proof = %s",
            (relation, part, proof),
        ).fetchone()
        if cached is not None:
            cache.hits.append(f"{relation}/{part}")
            return int(cached[0]), int(cached[1]), int(cached[2])
    rows, high, low = conn.execute(query).fetchone()
    cache.misses.append(f"{relation}/{part}")
    if proof is not None:
        conn.execute(
            "insert into meta.summary_checksum values (%s, %s, %s, %s, %s, %s) on conflict (relation, part) "
            "do update set proof = excluded.proof, rows = excluded.rows, sum_high = excluded.sum_high, "
            "sum_low = excluded.sum_low",
            (relation, part, proof, rows, high, low),
        )
    return int(rows), int(high), int(low)


def _forget_others(conn: psycopg.Connection, relation: str, parts: list[str]) -> None:
    """Drop the cached figures of a table's parts that are gone (a dropped partition, a deleted day)."""
    conn.execute("delete from meta.summary_checksum where relation = %s and part <> all(%s)", (relation, parts))


def _oid(conn: psycopg.Connection, schema: str, name: str) -> tuple[int, str, int] | None:
    """(oid, relkind, relfilenode) of a table, None if there is none."""
    return conn.execute(
        "select c.oid, c.relkind, c.relfilenode from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = %s and c.relname = %s",
        (schema, name),
    ).fetchone()


def _partitions(conn: psycopg.Connection, cache: Cache, schema: str, name: str) -> list[tuple[int, int, int]] | None:
    """Figures of a staging feed table's day partitions, each proven unchanged by its oid, relfilenode and
    columns and its day's ledger rows (every batch id with its status); None for any other table."""
    oid, kind, _ = _oid(conn, schema, name)
    if schema != LOADED_BY_DAY or kind != "p":
        return None
    parts = conn.execute(
        "select c.relname, c.oid, c.relkind, c.relfilenode, pg_get_expr(c.relpartbound, c.oid) "
        "from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent = %s order by 1",
        (oid,),
    ).fetchall()
    if any(kind != "r" or not _LIST_BOUND.match(bound) for _, _, kind, _, bound in parts):
        return None
    ledger = dict(
        conn.execute(
            "select ds::text, string_agg(batch_id || ':' || status, ',' order by batch_id) "
            "from meta.load_batch where feed = %s group by ds",
            (name,),
        ).fetchall()
    )
    relation = f"{schema}.{name}"
    columns = [c for c, _ in _columns(conn, oid)]  # the parent's row, as the whole-table checksum sees it
    figures = []
    for partition, part_oid, _, relfilenode, bound in parts:
        ds = _LIST_BOUND.match(bound).group(1)
        signature = ",".join(f"{c} {t}" for c, t in _columns(conn, part_oid))
        # a partition no load wrote (no ledger row for its day) has nothing to prove it: read every time
        proof = f"{part_oid}|{relfilenode}|{signature}|{ds}|{ledger[ds]}" if ds in ledger else None
        figures.append(_part(conn, cache, relation, partition, proof, sums_query(schema, partition, columns)))
    _forget_others(conn, relation, [partition for partition, *_ in parts])
    return figures


def _keyed(conn: psycopg.Connection, cache: Cache, schema: str, name: str) -> list[tuple[int, int, int]] | None:
    """Figures of a PART_TABLES table, key by key (a day, a batch): a part is proven unchanged by the
    table's oid, relfilenode and columns and by its ledger row and the transaction (its full id) that
    last wrote that row. A part without a ledger row, and rows without a key, are read every time.
    The keys come from the index led by the key column (a loose index scan), so the cost follows the
    number of parts, not of rows. None when the ledger table does not exist."""
    column, (ledger_schema, ledger_name) = PART_TABLES[(schema, name)]
    relation = f"{schema}.{name}"
    if _oid(conn, ledger_schema, ledger_name) is None:
        return None  # no ledger, no proof: read whole
    oid, _, relfilenode = _oid(conn, schema, name)
    signature = ",".join(f"{c} {t}" for c, t in _columns(conn, oid))
    current = int(conn.execute("select pg_current_xact_id()::text").fetchone()[0])
    ledger = {
        value: (int(xmin), row)
        for value, xmin, row in conn.execute(
            sql.SQL("select {}::text, xmin::text, md5(l::text) from {} l where {} is not null").format(
                sql.Identifier(column), sql.Identifier(ledger_schema, ledger_name), sql.Identifier(column)
            )
        )
    }
    key, table = sql.Identifier(column), sql.Identifier(schema, name)
    keys = conn.execute(
        sql.SQL(
            "with recursive k (key) as ((select {key} from {table} where {key} is not null order by 1 limit 1) "
            "union all select (select {key} from {table} where {key} > k.key order by 1 limit 1) from k "
            "where k.key is not null) select key::text from k where key is not null"
        ).format(key=key, table=table)
    ).fetchall()
    figures: list[tuple[int, int, int]] = []
    for (value,) in keys:
        proof = None
        if value in ledger:
            # xmin is the low 32 bits of the writer's id, which is within 2**31 of the current one until
            # frozen (PostgreSQL keeps a frozen row's xmin): the full id, with the ledger row itself
            xmin, row = ledger[value]
            writer = current - ((current - xmin) % 2**32)
            proof = f"{oid}|{relfilenode}|{signature}|{writer}|{row}"
        where = sql.SQL("{} = {}").format(sql.Identifier("t", column), sql.Literal(value))
        figures.append(_part(conn, cache, relation, value, proof, sums_query(schema, name, where=where)))
    _forget_others(conn, relation, [value for (value,) in keys])
    nulls = sql.SQL("{} is null").format(sql.Identifier("t", column))  # an index lookup, not a part
    figures.append(conn.execute(sums_query(schema, name, where=nulls)).fetchone())
    return figures


def table_stats(dsn: str, cache: Cache | None = None) -> dict[str, dict[str, object]]:
    """'schema.table' → {rows, checksum} (see checksum_query) of every base table outside HISTORY_SCHEMAS.

    Bounded by the day, not by history: a staging feed table is summed partition by partition and
    a PART_TABLES table key by key (a scored day, a load batch), each part's figure kept in CACHE and
    read again only when what proves it unchanged changed (see _partitions, _keyed); the sums equal
    the whole table's.
    Other tables are read whole. `cache` collects which parts were read (misses) or reused (hits).

    The proofs cover every way the pipeline changes a part (a load of the day, a scoring run of the
    day), a table's columns, its rewrite or re-creation, and the checksum's own query; not rows
    written around the pipeline into an old part (an administrator's UPDATE, or the loader role's
    INSERT into an earlier day outside load_day), which no catalog figure records transactionally.
    Deleting CACHE's rows makes the next call read every part again.
    """
    cache = Cache() if cache is None else cache
    stats: dict[str, dict[str, object]] = {}
    with psycopg.connect(dsn) as conn:
        # One snapshot for proofs and rows; the lock keeps a reload from truncating a partition meanwhile.
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        cached = conn.execute("select to_regclass('meta.load_batch') is not null").fetchone()[0]
        listed = [t for t in tables(conn) if t[2] == "BASE TABLE" and t[0] not in HISTORY_SCHEMAS]
        if cached:
            conn.execute(_CACHE_DDL)
            staged = [sql.Identifier(s, n) for s, n, _ in listed if s == LOADED_BY_DAY]
            if staged:
                conn.execute(sql.SQL("lock table {} in access share mode").format(sql.SQL(", ").join(staged)))
        for schema, name, _ in listed:
            figures = None
            if cached and (schema, name) in PART_TABLES:
                figures = _keyed(conn, cache, schema, name)
            elif cached:
                figures = _partitions(conn, cache, schema, name)
            if figures is None:
                rows, checksum = conn.execute(checksum_query(schema, name)).fetchone()
            else:
                rows = sum(int(f[0]) for f in figures)
                checksum = f"{sum(int(f[1]) for f in figures)}:{sum(int(f[2]) for f in figures)}"
            stats[f"{schema}.{name}"] = {"rows": rows, "checksum": checksum}
    return stats


def rows_per_schema(stats: dict[str, dict[str, object]]) -> dict[str, int]:
    """Total rows per schema."""
    totals: dict[str, int] = {}
    for key, value in stats.items():
        schema = key.split(".", 1)[0]
        totals[schema] = totals.get(schema, 0) + int(value["rows"])
    return totals


def kpi_sample(dsn: str, limit: int = 5) -> list[tuple]:
    """The latest day's proactive discovery rate for a few communities."""
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "select area_code, kpi_date, incidents, proactive_incidents, proactive_discovery_rate "
            "from marts.kpi_proactive_discovery_daily where area_level = 'community' "
            "and kpi_date = (select max(kpi_date) from marts.kpi_proactive_discovery_daily) "
            "order by area_code limit %s",
            (limit,),
        ).fetchall()


def tier_sizes(dsn: str) -> list[tuple]:
    """Residents per risk tier on the latest scored day."""
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "select risk_tier, count(*) from scoring.resident_tiers "
            "where ds = (select max(ds) from scoring.model_run) group by 1 order by 2"
        ).fetchall()


def day_status(dsn: str, ds: dt.date) -> str:
    """A day's deliveries (usable or why not) and its publication (held periods with reasons), as text."""
    with psycopg.connect(dsn) as conn:
        feeds = conn.execute(
            "select feed, delivery_status, coalesce(reason, '') from int.int_feed_days_assessed "
            "where delivery_date = %s order by feed",
            (ds,),
        ).fetchall()
        decision = conn.execute(
            "select publication_id, status, decided_at from audit.publication where ds = %s "
            "order by decided_at desc, publication_id desc limit 1",
            (ds,),
        ).fetchone()
        holds = (
            conn.execute(
                "select relation, period_grain, period_start, reason from audit.publication_hold "
                "where publication_id = %s order by period_start nulls first, relation",
                (decision[0],),
            ).fetchall()
            if decision
            else []
        )
    lines = [f"Deliveries of {ds}:"]
    lines += [f"  {feed:<26} {status:<13} {reason}" for feed, status, reason in feeds] or ["  (none recorded)"]
    if decision is None:
        lines.append(f"Publication of {ds}: no decision recorded (the warehouse has not run the day)")
    else:
        lines.append(f"Publication of {ds}: {decision[1]} at {decision[2]:%Y-%m-%d %H:%M:%S %Z}")
        lines += [f"  held {relation} {grain} {start or ''}: {reason}" for relation, grain, start, reason in holds]
    return "\n".join(lines)
