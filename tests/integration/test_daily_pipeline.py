"""The three DAGs run for one day through Airflow against real PostgreSQL."""

import json
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from grassroots.generator import feed_server
from grassroots.local import pipeline, summary
from tests.conftest import DEMO_DAY

DAGS = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture
def api_url(demo_landing: Path, monkeypatch: pytest.MonkeyPatch):
    server, url = feed_server.serve(demo_landing)
    monkeypatch.setenv("GRASSROOTS_API_URL", url)
    yield url
    server.shutdown()


def test_one_day_end_to_end_matches_the_generator_truth(
    warehouse_dsn: str, demo_landing: Path, api_url: str, airflow_db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRASSROOTS_LANDING_DIR", str(demo_landing))
    truth = json.loads((demo_landing / "_truth" / f"{DEMO_DAY}.json").read_text())

    states = pipeline.run_day(DEMO_DAY, DAGS)
    assert states == [
        ("grassroots_ingest", "success"),
        ("grassroots_warehouse", "success"),
        ("grassroots_scoring", "success"),
    ]

    with psycopg.connect(warehouse_dsn) as conn:
        for feed, expected in truth["rows"].items():
            query = sql.SQL("select count(*) from staging.{} where _ds = %s").format(sql.Identifier(feed))
            loaded = conn.execute(query, (DEMO_DAY,)).fetchone()[0]
            assert loaded == expected, feed
        batches = conn.execute(
            "select feed, rows_received, rows_loaded, rows_quarantined from meta.load_batch where ds = %s",
            (DEMO_DAY,),
        ).fetchall()
        assert {b[0] for b in batches} == set(truth["rows"])
        assert all(received == loaded + quarantined for _, received, loaded, quarantined in batches)
        residents = conn.execute("select count(*) from warehouse.dim_residents").fetchone()[0]
        assert residents == truth["residents"]
        kpis = {
            row[0]: (row[1], row[2], float(row[3]))
            for row in conn.execute(
                "select area_code, incidents, proactive_incidents, proactive_discovery_rate "
                "from marts.kpi_proactive_discovery_daily where area_level = 'community' and kpi_date = %s",
                (DEMO_DAY,),
            )
        }
        scored = conn.execute("select count(*) from scoring.resident_risk where ds = %s", (DEMO_DAY,)).fetchone()[0]
    expected_kpis = {
        code: (k["incidents"], k["proactive_incidents"], k["proactive_discovery_rate"])
        for code, k in truth["kpi_proactive_discovery"].items()
    }
    assert kpis == expected_kpis
    assert scored == truth["residents"]

    first = summary.table_stats(warehouse_dsn)
    assert first["staging.population_registry"]["rows"] == truth["rows"]["population_registry"]
    assert not [name for name in first if name.startswith("staging.") and "__" in name], "partitions count once"
    assert pipeline.run_day(DEMO_DAY, DAGS)[-1] == ("grassroots_scoring", "success")
    assert summary.table_stats(warehouse_dsn) == first, "a rerun of the same day changed tables"


def test_the_table_checksum_sees_any_changed_value_and_ignores_row_order(warehouse_dsn: str) -> None:
    with psycopg.connect(warehouse_dsn, autocommit=True) as conn:
        conn.execute("create schema marts")
        conn.execute("create table marts.kpi_x (area_code text, rate numeric)")
        conn.execute("insert into marts.kpi_x values ('a', 0.5), ('b', 0.25)")
        first = summary.table_stats(warehouse_dsn)["marts.kpi_x"]
        conn.execute("delete from marts.kpi_x")
        conn.execute("insert into marts.kpi_x values ('b', 0.25), ('a', 0.5)")  # same rows, other order
        assert summary.table_stats(warehouse_dsn)["marts.kpi_x"] == first
        conn.execute("update marts.kpi_x set rate = 0.51 where area_code = 'a'")
        changed = summary.table_stats(warehouse_dsn)["marts.kpi_x"]
    assert changed["rows"] == first["rows"] == 2 and changed["checksum"] != first["checksum"]
