"""A crafted feed cannot run SQL or change a schema: hostile headers reject the whole file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg
import pytest

from grassroots.loading.contracts import get_contract
from grassroots.loading.loader import load_day
from grassroots.warehouse.bootstrap import bootstrap

DAY = dt.date(2026, 11, 24)
GOOD = "事件编号,来源,类别,社区编码,上报时间"
ROW = "GI1,grid_patrol,垃圾堆积,330106001001,2026-11-24 08:00:00"
HOSTILE = {
    "quote": (GOOD + ',"x"" text); drop table staging.grid_incidents; --"', "unknown_column"),
    "semicolon": (GOOD + ",a;create table public.pwned(x int)", "unknown_column"),
    "long name": (GOOD + "," + "c" * 70, "unknown_column"),
    "duplicate": (GOOD + ",来源", "duplicate_column"),
    "alias twice": ("事件编号,来源,source,类别,社区编码,上报时间", "duplicate_column"),
}


def _schema(dsn: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "select table_schema, table_name, column_name, data_type from information_schema.columns "
            "where table_schema not in ('pg_catalog', 'information_schema') order by 1, 2, 3"
        ).fetchall()


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_header_is_rejected_whole_and_changes_no_schema(warehouse_dsn: str, tmp_path: Path, kind: str) -> None:
    header, rule = HOSTILE[kind]
    bootstrap(warehouse_dsn)
    before = _schema(warehouse_dsn)
    fields = len(header.split(","))
    path = tmp_path / "grid_incidents_20261124.csv"
    path.write_text(f"{header}\n{ROW}{',x' * (fields - 5)}\n", encoding="utf-8")

    result = load_day(warehouse_dsn, get_contract("grid_incidents"), DAY, [path], b"k")

    assert [(f.status, f.rule) for f in result.files] == [("rejected", rule)]
    assert result.rows_loaded == 0 and result.rows_received == result.rows_quarantined == 1
    assert _schema(warehouse_dsn) == before
    with psycopg.connect(warehouse_dsn) as conn:
        assert conn.execute("select count(*) from staging.grid_incidents").fetchone()[0] == 0
        detail = conn.execute("select detail from quarantine.files").fetchone()[0]
    hostile_part = header.removeprefix(GOOD + ",")
    assert hostile_part not in detail and "c" * 20 not in detail, "the error names the header position, not its text"
