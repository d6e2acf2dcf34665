"""The three DAGs run for one day through Airflow against real PostgreSQL.

The day is the session's `demo_run` (tests/conftest.py), the same generated day and settings this
file once ran for itself; the rerun works on a copy of its database, so the run the other files
read stays as it was built.
"""

import json
import shutil
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from grassroots.generator import feed_server
from grassroots.local import pipeline, summary
from grassroots.warehouse import db
from tests.conftest import DEMO_DAY, DemoRun, clone_database

DAGS = Path(__file__).resolve().parents[2] / "dags"


def _truth(demo_landing: Path) -> dict:
    return json.loads((demo_landing / "_truth" / f"{DEMO_DAY}.json").read_text())


def test_one_day_end_to_end_matches_the_generator_truth(demo_run: DemoRun, demo_landing: Path) -> None:
    truth = _truth(demo_landing)
    assert demo_run.states == [
        ("grassroots_ingest", "success"),
        ("grassroots_warehouse", "success"),
        ("grassroots_scoring", "success"),
    ]

    with psycopg.connect(demo_run.dsn) as conn:
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


@pytest.fixture
def copy_of_demo_run(server_dsn: str, demo_run: DemoRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The demo run's database and reports copied; WAREHOUSE_DSN and GRASSROOTS_REPORTS_DIR set to the copies."""
    name = f"grassroots_test_{uuid.uuid4().hex[:10]}"
    dsn = clone_database(server_dsn, demo_run.dsn, name)
    reports = tmp_path / "reports"
    if demo_run.reports.exists():
        shutil.copytree(demo_run.reports, reports)
    monkeypatch.setenv("WAREHOUSE_DSN", dsn)
    monkeypatch.setenv("GRASSROOTS_REPORTS_DIR", str(reports))
    yield dsn
    db.drop_database(server_dsn, name)


def test_a_rerun_of_the_same_day_changes_no_table(
    copy_of_demo_run: str, demo_landing: Path, airflow_db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    truth = _truth(demo_landing)
    monkeypatch.setenv("GRASSROOTS_LANDING_DIR", str(demo_landing))
    server, url = feed_server.serve(demo_landing)
    monkeypatch.setenv("GRASSROOTS_API_URL", url)

    first = summary.table_stats(copy_of_demo_run)
    assert first["staging.population_registry"]["rows"] == truth["rows"]["population_registry"]
    assert not [name for name in first if name.startswith("staging.") and "__" in name], "partitions count once"
    try:
        assert pipeline.run_day(DEMO_DAY, DAGS)[-1] == ("grassroots_scoring", "success")
    finally:
        server.shutdown()
    assert summary.table_stats(copy_of_demo_run) == first, "a rerun of the same day changed tables"


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
