"""A delivery is compared with the last day that passed its checks, so a fault sent two days running
fails both days (compared with the day it broke, the second would look unchanged and publish)."""

from __future__ import annotations

import datetime as dt

import psycopg

from grassroots.quality import delivery
from grassroots.warehouse.bootstrap import bootstrap

D1, D2, D3 = (dt.date(2026, 11, 21) + dt.timedelta(days=i) for i in range(3))
FEED = "population_registry"


def _ledger(conn: psycopg.Connection, ds: dt.date, rows: int, passed: bool) -> None:
    conn.execute(
        "insert into meta.load_batch (feed, ds, file_name, sha256, bytes, rows_received, rows_loaded, "
        "rows_quarantined, status, loaded_at) values (%s, %s, %s, %s, 1, %s, %s, 0, 'loaded', now())",
        (FEED, ds, f"{FEED}_{ds:%Y%m%d}.csv", f"{ds:%Y%m%d}".ljust(64, "0"), rows, rows),
    )
    conn.execute(
        "insert into audit.validation_run (run_id, dag_id, task_id, ds, kind, target, suite, success, failed_fail, "
        "failed_warn) values ('r', 'grassroots_ingest', 'validate', %s, 'feed', %s, 's', %s, %s, 0)",
        (ds, FEED, passed, 0 if passed else 1),
    )


def test_a_snapshot_cut_short_two_days_running_fails_on_both(warehouse_dsn: str) -> None:
    bootstrap(warehouse_dsn)
    with psycopg.connect(warehouse_dsn, autocommit=True) as conn:
        _ledger(conn, D1, 300, passed=True)
        _ledger(conn, D2, 150, passed=False)  # cut in half: row_count.drop failed it
        _ledger(conn, D3, 150, passed=True)  # validated below; the row only makes the day loaded
        assert delivery.reference_day(conn, FEED, D3) == D1
        outcome = delivery.row_count_drop_at_most(conn, FEED, D3, {"max_drop": 0.2})
        assert not outcome.success and "against 300" in outcome.detail
        conn.execute("update audit.validation_run set success = true where ds = %s", (D2,))  # had D2 passed
        assert delivery.reference_day(conn, FEED, D3) == D2
        assert delivery.row_count_drop_at_most(conn, FEED, D3, {"max_drop": 0.2}).success
