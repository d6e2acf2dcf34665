"""The end-of-run table checksums (grassroots.local.summary.table_stats) day after day, in one run.

    .venv/bin/python bench/summary_checksums.py --residents 200000 --days 5

Into a scratch database on the warehouse server (WAREHOUSE_DSN, else the embedded one) it writes,
day after day, a staging registry partition of `--residents` rows (with its ledger row, as the
loader leaves it) and a scored day of `--residents` resident tiers (with its model_run row, in one
transaction, as scoring leaves it), the rows made in SQL. After each day it prints the wall
seconds of table_stats, how many parts (staging partitions, scored days) it read and reused, and
the seconds of the whole-table checksum_query of the same two tables, which grow with history.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))

from grassroots.local import summary  # noqa: E402
from grassroots.scoring import store  # noqa: E402
from grassroots.warehouse import db  # noqa: E402
from grassroots.warehouse.bootstrap import bootstrap  # noqa: E402

FIRST_DAY = dt.date(2026, 11, 24)
FEED = "population_registry"

_REGISTRY = """
insert into staging.{partition} (id_number, name, community_code, attention_level, person_key, _ds, _batch_id, _row_no)
select 'id' || i, 'name' || i, '330106001001', i %% 4, md5(i::text), %(ds)s, %(batch)s, i
from generate_series(1, %(n)s) as i"""
_RISK = """
insert into scoring.resident_detail
select %(ds)s, md5(i::text), i %% 5, (i %% 997) / 10.0, i %% 7
from generate_series(1, %(n)s) as i"""
_RUN = """
insert into scoring.model_run values (%(ds)s, 'bench', 'kmeans', 'k-means++', 0, '[]', '{}', 5, '{}', %(n)s, 0, 0,
'{}', 'rule', '{}', null, 0)"""


def write_day(dsn: str, ds: dt.date, n: int) -> None:
    """The day's registry partition and ledger row, then its scored day and model_run row."""
    with psycopg.connect(dsn) as conn:
        partition = conn.execute("select staging.day_partition(%s, %s)", (FEED, ds)).fetchone()[0]
        batch = conn.execute(
            "insert into meta.load_batch (feed, ds, file_name, sha256, bytes, rows_received, rows_loaded, "
            "rows_quarantined, status, loaded_at) values (%s, %s, 'bench.csv', repeat('0', 64), 0, %s, %s, 0, "
            "'loaded', now()) returning batch_id",
            (FEED, ds, n, n),
        ).fetchone()[0]
        conn.execute(sql.SQL(_REGISTRY).format(partition=sql.Identifier(partition)), {"ds": ds, "batch": batch, "n": n})
        conn.commit()
        conn.execute(_RUN, {"ds": ds, "n": n})
        conn.execute(_RISK, {"ds": ds, "n": n})
        conn.commit()
        conn.autocommit = True
        conn.execute("vacuum analyze scoring.resident_detail")


def seconds(call: object) -> tuple[float, object]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--residents", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    os.environ.setdefault("GRASSROOTS_STATE_DIR", str(Path(tempfile.gettempdir()) / "grassroots-bench"))
    server = db.warehouse_dsn()
    scratch = f"grassroots_bench_summary_{os.getpid()}"
    db.ensure_database(server, scratch)
    dsn = db.with_database(server, scratch)
    try:
        bootstrap(dsn)
        with psycopg.connect(dsn) as conn:
            store.ensure_schema(conn)
        print(f"residents: {args.residents:,}; load average: {os.getloadavg()[0]:.2f} before")
        for n in range(args.days):
            write_day(dsn, FIRST_DAY + dt.timedelta(days=n), args.residents)
            parts = summary.Cache()
            stats_s, _ = seconds(lambda parts=parts: summary.table_stats(dsn, parts))
            again = summary.Cache()
            again_s, _ = seconds(lambda again=again: summary.table_stats(dsn, again))
            with psycopg.connect(dsn) as conn:
                whole_s, _ = seconds(
                    lambda conn=conn: [
                        conn.execute(summary.checksum_query(*name)).fetchone()
                        for name in (("staging", FEED), ("scoring", "resident_detail"))
                    ]
                )
            print(
                f"day {n + 1}: table_stats {stats_s:6.2f} s ({len(parts.misses)} parts read, {len(parts.hits)} "
                f"reused); again {again_s:6.2f} s ({len(again.misses)} read); whole-table checksums of the "
                f"two tables {whole_s:6.2f} s"
            )
        print(f"load average: {os.getloadavg()[0]:.2f} after")
    finally:
        db.drop_database(server, scratch)


if __name__ == "__main__":
    main()
