"""What a run built: row counts per schema, table checksums, a few KPI values."""

from __future__ import annotations

import datetime as dt

import psycopg
from psycopg import sql

from grassroots.warehouse import schemas

# What a run delivers: every schema but a build's working copies (the KPI candidate, dbt's test failures).
SCHEMAS = schemas.except_roles(*schemas.WORKING)
# Append-only history (every run adds rows by design): counted per schema, not checksummed.
HISTORY_SCHEMAS = schemas.names(schemas.QUALITY)


def tables(conn: psycopg.Connection) -> list[tuple[str, str, str]]:
    """(schema, name, kind) of every table and view in the project's schemas; a partitioned
    table stands for its partitions (staging's per-day ones), which are not listed again."""
    return conn.execute(
        "select t.table_schema, t.table_name, t.table_type from information_schema.tables t "
        "join pg_namespace n on n.nspname = t.table_schema "
        "join pg_class c on c.relnamespace = n.oid and c.relname = t.table_name "
        "where t.table_schema = any(%s) and not c.relispartition order by 1, 2",
        (list(SCHEMAS),),
    ).fetchall()


def checksum_query(schema: str, name: str, columns: list[str] | None = None) -> sql.Composed:
    """(rows, checksum) of a table, in any row order: the sums of two 60-bit slices of every row's md5.

    A sum, not a sorted concatenation: one pass, constant memory, no sort, no string that grows
    with the table (string_agg over a million-row snapshot of several days exceeded PostgreSQL's
    1 GB limit). Equal multisets of rows give equal checksums; a changed, added, removed or
    duplicated row changes them. `columns` (default: the whole row) leaves out what is not data.
    """
    row = (
        sql.SQL("t")
        if columns is None
        else sql.SQL("row({})").format(sql.SQL(", ").join(sql.Identifier("t", c) for c in columns))
    )
    return sql.SQL(
        "select count(*), coalesce(sum(('x' || substr(h, 1, 15))::bit(60)::bigint::numeric), 0) || ':' || "
        "coalesce(sum(('x' || substr(h, 16, 15))::bit(60)::bigint::numeric), 0) "
        "from (select md5({}::text) as h from {} t) r"
    ).format(row, sql.Identifier(schema, name))


def table_stats(dsn: str) -> dict[str, dict[str, object]]:
    """'schema.table' → {rows, checksum} (see checksum_query) of every base table outside HISTORY_SCHEMAS."""
    stats: dict[str, dict[str, object]] = {}
    with psycopg.connect(dsn) as conn:
        for schema, name, kind in tables(conn):
            if kind != "BASE TABLE" or schema in HISTORY_SCHEMAS:
                continue
            rows, checksum = conn.execute(checksum_query(schema, name)).fetchone()
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
